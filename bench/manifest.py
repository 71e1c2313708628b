"""Scale check of the backfill's manifest: a bucket listing of N images (half of them with a
result beside them) streamed through infra.backfill into a CSV manifest on disk.

    python -m bench.manifest                      # 100,000 images, and 10,000 to show memory stays flat
    python -m bench.manifest --objects 1000000

The listing is made up page by page (1,000 keys, as ListObjectsV2 returns them) so that the time
and memory measured are the backfill's own, not an S3 stand-in's. Each size runs in a fresh process.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.worker import peak_rss_mb  # VmHWM: ru_maxrss would carry over a large parent's peak

ROOT = Path(__file__).resolve().parents[1]


class ListingOnly:
    """The one S3 call the manifest makes: list_objects_v2 pages, generated on the fly."""

    def __init__(self, images: int):
        self.images = images

    def get_paginator(self, name: str):
        assert name == "list_objects_v2"
        return self

    def paginate(self, Bucket: str, Prefix: str):
        page = []
        for i in range(self.images):
            key = f"{Prefix}{i // 1000:04d}/photo-{i:07d}.jpg"
            page.append({"Key": key, "Size": 150_000})
            if i % 2 == 0:  # every other image already has its result
                page.append({"Key": key + ".json", "Size": 2_000})
            if len(page) >= 1000:
                yield {"Contents": page}
                page = []
        if page:
            yield {"Contents": page}


def measure(images: int, mode: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from infra.backfill import Target, plan_manifest
    target = Target("bench-bucket", "uploads/", "backfill/")

    def once():
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as out:
            plan = plan_manifest(ListingOnly(images), target, mode, out)
            out.flush()
            return plan, out.tell()
    started = time.perf_counter()
    plan, manifest_bytes = once()
    seconds = time.perf_counter() - started
    # A second pass under tracemalloc (which slows it) for the peak of Python's own allocations.
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"images": images, "mode": mode, "objects_listed": plan.listed, "tasks": plan.selected,
            "manifest_mb": round(manifest_bytes / 2**20, 2), "seconds": round(seconds, 3),
            "objects_per_s": round(plan.listed / seconds), "python_peak_mb": round(peak / 2**20, 2),
            "peak_rss_mb": peak_rss_mb()}


def run(sizes: list[int], mode: str) -> list[dict]:
    """Each size in its own process, so that its peak RSS is its own."""
    out = []
    for n in sizes:
        proc = subprocess.run([sys.executable, "-m", "bench.manifest", "--worker", "--objects", str(n), "--mode", mode],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.manifest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, action="append",
                        help="images in the made-up listing; repeat for several sizes (default: 10000 and 100000)")
    parser.add_argument("--mode", default="outdated", choices=("only-missing", "outdated", "force"),
                        help="the backfill's selection (default: %(default)s)")
    parser.add_argument("--worker", action="store_true", help="measure one size in this process (used by run)")
    parser.add_argument("--results", type=Path, default=None,
                        help="also store the figures as 'manifest_scale' in this results.json (bench/results.json "
                             "for `python -m bench.run --render-only`)")
    args = parser.parse_args(argv)
    sizes = args.objects or [10_000, 100_000]
    if args.worker:
        print(json.dumps(measure(sizes[0], args.mode)))
        return 0
    figures = run(sizes, args.mode)
    print(json.dumps(figures, indent=2))
    if args.results:
        results = json.loads(args.results.read_text())
        results["manifest_scale"] = figures
        args.results.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
