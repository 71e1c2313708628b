"""Whose labels does a four-emotion model follow: FER2013's folders or FER+'s annotators?

    python -m bench.ferplus_labels --model-dir function/model --model-dir <candidate>/q [--out DIR]

FER2013's validation labels are one person's call per face; FER+ (``ferplus.csv`` beside the
dataset) asked ten. Each ``emotion4`` model (int8, through the function's classifier with its own
preprocessing and views) is scored twice on FER2013's validation faces: against the folders'
labels (the four folders' 2,570 faces: the figure the model card gives), and against FER+'s
majority (the faces of all seven folders whose majority is one of the four, under that majority;
ties as ``train.ferplus.majority_label``). Writes ``ferplus_labels.json`` and ``.md`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from train.config import DEFAULT_DATA_DIR, EMOTIONS

ROOT = Path(__file__).resolve().parents[1]
FOUR = ("happy", "neutral", "sad", "surprise")


def labelled_faces(data: Path) -> list[tuple[Path, str, str | None]]:
    """Every validation face of the seven folders: (path, folder label, FER+ majority or None)."""
    from train.ferplus import majority_label, read_votes, vote_key
    votes = read_votes(data)
    faces = []
    for folder in EMOTIONS:
        for path in sorted((data / "validation" / folder).glob("*.jpg")):
            row = votes.get(vote_key(path))
            faces.append((path, folder, None if row is None else majority_label(row)))
    return faces


def scores(model_dir: Path, faces: list[tuple[Path, str, str | None]], log=print) -> dict:
    """One model's accuracy against each set of labels, and its version."""
    sys.path.insert(0, str(ROOT / "function"))
    from PIL import Image

    from emotion.classifier import EmotionClassifier
    model = EmotionClassifier.load(model_dir, "emotion4")
    by_folder, by_crowd = [], []
    for i, (path, folder, crowd) in enumerate(faces):
        if folder not in FOUR and crowd not in FOUR:
            continue
        with Image.open(path) as im:
            said = model.predict(np.asarray(im.convert("L"), np.float32)).emotion
        if folder in FOUR:
            by_folder.append(said == folder)
        if crowd in FOUR:
            by_crowd.append(said == crowd)
        if (i + 1) % 1000 == 0:
            log(f"{model_dir}: {i + 1}/{len(faces)} faces")
    return {"version": model.version, "folders": {"faces": len(by_folder), "accuracy": round(float(np.mean(by_folder)), 4)},
            "ferplus_majority": {"faces": len(by_crowd), "accuracy": round(float(np.mean(by_crowd)), 4)}}


def markdown(report: dict) -> str:
    lines = ["# Whose labels a four-emotion model follows", "",
             "By `python -m bench.ferplus_labels`: FER2013's validation faces, int8 through the function's "
             "classifier. Folders: the four folders' faces under their folder's label. FER+ majority: the faces "
             "of all seven folders whose ten annotators' majority is one of the four, under that majority.", "",
             "| model | version | folders' labels | FER+ majority |", "|---|---|---|---|"]
    for name, row in report["models"].items():
        lines.append(f"| {name} | {row['version']} | {row['folders']['accuracy']:.4f} ({row['folders']['faces']:,} faces) "
                     f"| {row['ferplus_majority']['accuracy']:.4f} ({row['ferplus_majority']['faces']:,} faces) |")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ferplus_labels", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, action="append", required=True,
                        help="a folder holding emotion4.tflite and .json (the function's own, or a candidate's); "
                             "give it once per model")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                        help="FER2013 class folders with ferplus.csv beside them (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="folder for ferplus_labels.json and .md")
    args = parser.parse_args(argv)
    faces = labelled_faces(args.data)
    log = lambda m: print(f"[ferplus_labels] {m}", file=sys.stderr, flush=True)  # noqa: E731
    report = {"models": {str(d): scores(d, faces, log) for d in args.model_dir}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ferplus_labels.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "ferplus_labels.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
