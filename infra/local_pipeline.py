"""The main job, with no AWS account: upload images to an S3 stand-in and classify them.

moto plays S3 and SQS in-process. The bucket gets the template's own trigger (prefix and
suffix rules), each upload's notification is handed to the handler as Lambda would, and the
result JSON is read back from beside each image.

    python -m infra.local_pipeline                  # the bundled samples
    python -m infra.local_pipeline photo.jpg ...    # your own images
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

from moto import mock_aws

from .local import LocalDeployment, use_stand_in_environment

SAMPLES = Path(__file__).resolve().parent / "samples"
MODEL_DIR = Path(__file__).resolve().parents[1] / "function" / "model"


def shipped_models() -> list[str]:
    sys.path.insert(0, str(MODEL_DIR.parent))
    from emotion.classifier import shipped_emotion_models
    return shipped_emotion_models(MODEL_DIR)


def default_images() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.name != "README.md")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m infra.local_pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", type=Path,
                        help="image files to upload (default: every file in infra/samples/)")
    parser.add_argument("--model", default="emotion4", choices=shipped_models(),
                        help="shipped model in function/model/, as the template's ModelName parameter "
                             "(default: %(default)s)")
    parser.add_argument("--bucket", default="emotion-local-uploads", help="stand-in bucket name (default: %(default)s)")
    parser.add_argument("--no-face-detection", action="store_true",
                        help="classify each image whole, as the template's FaceDetection=Disabled does")
    parser.add_argument("--json", action="store_true", help="also print each result document")
    parser.add_argument("--verbose", action="store_true",
                        help="show the function's structured logs and metrics (hidden by default for a readable table)")
    return parser.parse_args(argv)


def run(images: list[Path], model: str, bucket: str, verbose: bool = False, face_detection: bool = True) -> list[dict]:
    use_stand_in_environment({"ModelName": model, "FaceDetection": "Enabled" if face_detection else "Disabled"})
    if not verbose:
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    with mock_aws():
        deployment = LocalDeployment(bucket)
        keys = []
        for path in images:
            key = f"{deployment.prefix}samples/{path.name}"
            deployment.upload(key, path.read_bytes())
            keys.append(key)
        started = time.perf_counter()
        # Metrics are printed as CloudWatch EMF lines: hide them unless asked for.
        with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO()):
            deployment.drain()
        elapsed = time.perf_counter() - started
        leftover = deployment.pending_events()  # results must not have triggered anything
        rows = [{"file": p.name, "key": k, "result": deployment.result(k)} for p, k in zip(images, keys)]
    print_table(rows)
    print(f"\n{len(images)} uploads, {deployment.invocations} handler invocations, {sum(r['result'] is not None for r in rows)} "
          f"results, {leftover} events raised by results, {elapsed:.2f} s")
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'file':<34} {'status':<7} {'faces':>5} {'emotion':<12} {'confidence':>10}  result key"
    print(header)
    print("-" * len(header))
    for row in rows:
        r = row["result"]
        if r is None:
            print(f"{row['file']:<34} {'-':<7} {'-':>5} {'-':<12} {'-':>10}  (no result)")
        elif r["status"] == "ok":
            emotion, confidence = (r["emotion"], f"{r['confidence']:.3f}") if r["faces"] else ("(no face)", "")
            print(f"{row['file']:<34} {'ok':<7} {len(r['faces']):>5} {emotion:<12} {confidence:>10}  {row['key']}.json")
        else:
            print(f"{row['file']:<34} {'error':<7} {'':>5} {r['error']['code']:<12} {'':>10}  {row['key']}.json")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    images = args.images or default_images()
    missing = [p for p in images if not p.is_file()]
    if missing:
        print(f"error: not a file: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    rows = run(images, args.model, args.bucket, args.verbose, not args.no_face_detection)
    if args.json:
        for row in rows:
            print(json.dumps(row["result"], indent=2, ensure_ascii=False))
    return 0 if all(r["result"] is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
