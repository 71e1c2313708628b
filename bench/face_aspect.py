"""The shape of the faces the detector finds: FER2013's training faces beside each real set.

    python -m bench.face_aspect [--data ../shared/data/fer2013] [--real ../shared/data/real]

A face's aspect is its detector box's width over its height (RetinaFace draws WIDER FACE's tight
box, forehead to chin). A photograph stretched sideways (taiwanese-dev: a 480x600 database
published at 256x256, its README) shows wider faces than FER2013's. FER2013's aspect is measured
on its training split only, each 48-px face enlarged to 96 px on a mid-gray canvas of 144 px (the
detector needs some picture around a face; a face that fills the picture is not found). Its median
is the aspect that ``python -m bench.realphotos --face-aspect`` gives every photo's largest face, a
diagnosis of whether faces shaped as in training are read better. Writes ``face_aspect.json``,
``.md`` and ``.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from train.config import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
FUNCTION = ROOT / "function"
DEFAULT_OUT = ROOT / "reports" / "realphotos"
DETECTOR = "retinaface"  # the shipped detector; its boxes' shape is what is measured
FER_SHOWN, FER_CANVAS = 96, 144  # a training face's side on its canvas, and the canvas's
# A diagnosis corrects a face's width by at most this factor either way: beyond it a box's shape
# says more about pose (a face turned aside) than about a stretched photo.
MAX_CORRECTION = 1.25


def load_detector():
    sys.path.insert(0, str(FUNCTION))
    from emotion.faces import load_detector as load
    return load(FUNCTION / "model", DETECTOR)


def box_aspect(faces: list) -> float | None:
    """Width over height of the first (largest) face's box, or None when there is none."""
    if not faces:
        return None
    face = faces[0]
    return (face.x1 - face.x0) / (face.y1 - face.y0)


def largest_face_aspect(detector, image: Image.Image) -> float | None:
    """Width over height of the largest face's box in ``image``, or None when none is found."""
    return box_aspect(detector.detect(image.convert("RGB")))


@cache
def function_settings():
    """The function's settings, read once (as its module does at import)."""
    from emotion.settings import Settings
    return Settings.from_env()


def photo_aspect(detector, path: Path) -> float | None:
    """The largest face's aspect in the photo at ``path``, decoded and searched as the function
    does it (its decoder, EXIF orientation and second look); None when no face is searched for
    or found."""
    from emotion.analysis import classified_whole, find_faces
    from emotion.imaging import decode_image

    settings = function_settings()
    color = getattr(detector, "wants_color", False)
    image = decode_image(path.read_bytes(), settings.max_image_pixels,
                         draft_size=settings.detection_draft_side, color=color)
    if classified_whole(image.gray.size, settings):
        return None  # never searched
    faces, whole = find_faces(detector, image.color if color else image.gray)
    return None if whole else box_aspect(faces)


def training_face_aspect(detector, path: Path) -> float | None:
    canvas = Image.new("L", (FER_CANVAS, FER_CANVAS), 128)
    offset = (FER_CANVAS - FER_SHOWN) // 2
    with Image.open(path) as face:
        canvas.paste(face.convert("L").resize((FER_SHOWN, FER_SHOWN), Image.Resampling.BILINEAR), (offset, offset))
    return largest_face_aspect(detector, canvas)


def width_scale_to(aspect: float | None, target: float) -> float:
    """How much wider a photo must be made for a face of ``aspect`` to have ``target`` (1 where
    no face was found), within MAX_CORRECTION either way."""
    if aspect is None:
        return 1.0
    return float(np.clip(target / aspect, 1 / MAX_CORRECTION, MAX_CORRECTION))


def summary(values: list[float]) -> dict:
    v = np.asarray(values, np.float64)
    return {"faces": int(v.size), "median": round(float(np.median(v)), 4),
            "quartiles": [round(float(q), 4) for q in np.percentile(v, [25, 75])]}


def measure(fer: Path, real: Path, per_class: int, seed: int, log) -> dict:
    from .realphotos import list_images
    detector = load_detector()
    found: dict[str, dict[str, list[float]]] = {"fer2013 train": {}}
    started = time.monotonic()
    for folder in sorted(p for p in (fer / "train").iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        for path in random.Random(seed).sample(files, min(per_class, len(files))):
            aspect = training_face_aspect(detector, path)
            if aspect is not None:
                found["fer2013 train"].setdefault(folder.name, []).append(aspect)
        log(f"fer2013 train/{folder.name}: {len(found['fer2013 train'].get(folder.name, []))} faces "
            f"({time.monotonic() - started:.0f} s)")
    for name, files in list_images(real, None).items():
        for path, label in files:
            aspect = photo_aspect(detector, path)
            if aspect is not None:
                found.setdefault(name, {}).setdefault(label, []).append(aspect)
        log(f"{name}: {sum(len(v) for v in found.get(name, {}).values())} faces ({time.monotonic() - started:.0f} s)")
    return {name: {"all": summary([a for v in by_label.values() for a in v]),
                   "by_label": {label: summary(v) for label, v in sorted(by_label.items())},
                   "values": [round(a, 4) for v in by_label.values() for a in v]}
            for name, by_label in found.items()}


def markdown(result: dict) -> str:
    sets = result["sets"]
    target = result["target"]
    labels = sorted({label for s in sets.values() for label in s["by_label"]})
    lines = ["# The shape of the faces found: FER2013 beside the real photographs", "",
             f"Measured {result['date']} with `python -m bench.face_aspect` (detector `{DETECTOR}`): each "
             "photo's largest face's box, width over height. FER2013: up to "
             f"{result['per_class']} training faces per class, each enlarged to {FER_SHOWN} px on a "
             f"{FER_CANVAS}-px gray canvas. FER2013's median, **{target:.3f}**, is the aspect "
             "`python -m bench.realphotos --face-aspect` gives the faces of every photo.", "",
             "| set | faces | median | quartiles | median / FER2013's | " + " | ".join(labels) + " |",
             "|---|---|---|---|---|" + "---|" * len(labels)]
    for name, s in sets.items():
        a = s["all"]
        cells = [f"{s['by_label'][lab]['median']:.3f}" if lab in s["by_label"] else "" for lab in labels]
        lines.append(f"| {name} | {a['faces']} | {a['median']:.3f} | {a['quartiles'][0]:.3f}-{a['quartiles'][1]:.3f} "
                     f"| {a['median'] / target:.3f} | " + " | ".join(cells) + " |")
    lines += ["", "Per-label columns: each label's median.", "", "![face aspects](face_aspect.png)", ""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.linspace(0.55, 1.05, 41)
    for name, s in result["sets"].items():
        ax.hist(s["values"], bins=bins, density=True, histtype="step", linewidth=1.5, label=f"{name} ({s['all']['faces']})")
    ax.axvline(result["target"], color="k", linestyle="--", linewidth=1)
    ax.set_xlabel("face box width / height (largest face)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from .realphotos import DEFAULT_REAL
    parser = argparse.ArgumentParser(prog="python -m bench.face_aspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="FER2013 class folders, train/<emotion>/ "
                        "(default: %(default)s)")
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of real sets (default: %(default)s)")
    parser.add_argument("--per-class", type=int, default=300, help="training faces drawn per class (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draw (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for face_aspect.json, .md and .png (default: %(default)s)")
    args = parser.parse_args(argv)

    def log(msg):
        print(f"[face_aspect] {msg}", file=sys.stderr, flush=True)

    sets = measure(args.data, args.real, args.per_class, args.seed, log)
    result = {"date": date.today().isoformat(), "detector": DETECTOR, "per_class": args.per_class, "seed": args.seed,
              "target": sets["fer2013 train"]["all"]["median"], "sets": sets}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "face_aspect.json").write_text(json.dumps(result, separators=(",", ":")) + "\n")
    plot(result, args.out / "face_aspect.png")
    (args.out / "face_aspect.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
