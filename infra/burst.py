"""Burst test through the local pipeline: many concurrent uploads, valid and invalid.

Afterwards every upload must have exactly one result, every valid image an ``ok`` result,
every invalid one an error result, and nothing may be left unprocessed.

    python -m infra.burst --uploads 2000 --threads 8
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from moto import mock_aws
from PIL import Image

from .local import LocalDeployment, use_stand_in_environment
from .local_pipeline import default_images

INVALID_KINDS = ("empty", "random", "truncated")


def make_uploads(n: int, invalid_fraction: float, seed: int = 0) -> list[tuple[str, bytes, bool]]:
    """(name, bytes, valid) for n uploads: sample faces re-encoded with noise, and broken files."""
    rng = np.random.default_rng(seed)
    faces = [Image.open(p).convert("L") for p in default_images() if p.suffix.lower() in (".jpg", ".png")
             and p.name != "not-a-photo.jpg"]
    uploads = []
    for i in range(n):
        base = faces[i % len(faces)]
        noisy = np.clip(np.asarray(base, dtype=np.int16) + rng.integers(-8, 9, base.size[::-1]), 0, 255)
        buf = io.BytesIO()
        fmt = ("JPEG", "PNG", "WEBP")[i % 3]
        Image.fromarray(noisy.astype(np.uint8)).save(buf, format=fmt)
        data, ext = buf.getvalue(), {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
        if rng.random() < invalid_fraction:
            kind = INVALID_KINDS[i % len(INVALID_KINDS)]
            data = {"empty": b"", "random": rng.bytes(len(data)), "truncated": data[: len(data) // 3]}[kind]
            uploads.append((f"bad-{kind}-{i:05d}.{ext}", data, False))
        else:
            uploads.append((f"face-{i:05d}.{ext}", data, True))
    return uploads


def run_burst(n: int, threads: int, invalid_fraction: float = 0.2) -> dict:
    use_stand_in_environment()
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    uploads = make_uploads(n, invalid_fraction)
    with mock_aws():
        deployment = LocalDeployment("burst-uploads")
        keys = {name: f"{deployment.prefix}burst/{name}" for name, _, _ in uploads}
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda u: deployment.upload(keys[u[0]], u[1]), uploads))
        upload_s = time.perf_counter() - started
        started = time.perf_counter()
        # Powertools prints metric lines to stdout; keep the summary readable.
        with contextlib.redirect_stdout(io.StringIO()):
            deployment.drain()
        process_s = time.perf_counter() - started

        listed = []
        for page in deployment.s3.get_paginator("list_objects_v2").paginate(Bucket=deployment.bucket):
            listed += [o["Key"] for o in page.get("Contents", [])]
        results = [k for k in listed if k.endswith(".json")]
        result_counts = Counter(results)
        wrong = []
        for name, _, valid in uploads:
            body = json.loads(deployment.s3.get_object(Bucket=deployment.bucket, Key=keys[name] + ".json")["Body"].read())
            if (body["status"] == "ok") != valid:
                wrong.append(name)
        summary = {
            "uploads": n, "valid": sum(v for _, _, v in uploads), "invalid": sum(not v for _, _, v in uploads),
            "uploader_threads": threads, "results": len(results),
            "uploads_without_exactly_one_result": sum(1 for k in keys.values() if result_counts[k + ".json"] != 1),
            "wrong_outcomes": len(wrong), "handler_invocations": deployment.invocations,
            "events_left": deployment.pending_events(),
            "failure_queue": len(deployment.sqs.receive_message(QueueUrl=deployment.failure_queue_url,
                                                                 MaxNumberOfMessages=10).get("Messages", [])),
            "upload_seconds": round(upload_s, 2), "process_seconds": round(process_s, 2),
            "uploads_per_second": round(n / upload_s, 1), "processed_per_second": round(n / process_s, 1),
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=2000, help="number of uploads (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=8, help="concurrent uploader threads (default: %(default)s)")
    parser.add_argument("--invalid-fraction", type=float, default=0.2,
                        help="share of broken files among the uploads (default: %(default)s)")
    args = parser.parse_args(argv)
    summary = run_burst(args.uploads, args.threads, args.invalid_fraction)
    print(json.dumps(summary, indent=2))
    ok = (summary["results"] == summary["uploads"] and summary["uploads_without_exactly_one_result"] == 0
          and summary["wrong_outcomes"] == 0 and summary["events_left"] == 0 and summary["failure_queue"] == 0
          and summary["handler_invocations"] == summary["uploads"])
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
