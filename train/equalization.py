"""How far FER2013's files and real-photo faces are from equalized, and how one OpenCV pass settles.

    python -m train.equalization [--data ../shared/data/fer2013] [--real ../shared/data/real] [--every 3]

Prints one JSON object: per source, the mean grey-level change that equalizing makes (near 0 for
files already equalized, as FER2013's README says its files are), the share of images that one
OpenCV ``equalizeHist`` pass leaves not idempotent (a second pass changes them), the passes needed
to settle, and how far the settled image is from one pass. The figures in
``function/emotion/preprocessing.py`` and ``docs/training.md`` come from here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from .config import DEFAULT_DATA_DIR, IMAGE_SIZE
from .function_code import preprocessing

DEFAULT_REAL = DEFAULT_DATA_DIR.parent / "real"


def measure(files: list[Path]) -> dict:
    changes, passes, settled_vs_once = [], [], []
    for path in files:
        with Image.open(path) as im:
            face = np.asarray(im.convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))
        once = preprocessing.opencv_equalize_hist(face)
        settled, n = once, 1
        while not np.array_equal(again := preprocessing.opencv_equalize_hist(settled), settled):
            settled, n = again, n + 1
        changes.append(np.abs(once.astype(int) - face).mean())
        passes.append(n)
        settled_vs_once.append(np.abs(settled.astype(int) - once).mean())
    passes = np.array(passes)
    return {"images": len(files), "mean_change_by_equalizing": round(float(np.mean(changes)), 3),
            "median_change_by_equalizing": round(float(np.median(changes)), 3),
            "not_idempotent_after_one_pass": round(float((passes > 1).mean()), 4),
            "max_passes": int(passes.max()),
            "settled_minus_one_pass_mean_levels": round(float(np.mean(settled_vs_once)), 4),
            "settled_minus_one_pass_max_levels": round(float(np.max(settled_vs_once)), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.equalization", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="FER2013 tree (default: %(default)s)")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="real-photo sets (default: %(default)s)")
    parser.add_argument("--every", type=int, default=3, help="take every N-th file, sorted (default: %(default)s)")
    args = parser.parse_args(argv)
    sources = {"fer2013 validation": sorted(args.data.glob("validation/*/*.jpg")),
               "real photos (whole image)": sorted(p for p in args.real.glob("*/*/*") if p.is_file())}
    out = {}
    for name, files in sources.items():
        files = files[::args.every]
        print(f"{name}: {len(files)} images", file=sys.stderr, flush=True)
        out[name] = measure(files)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
