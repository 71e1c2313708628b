"""The seven-emotion model read as four emotions, beside the four-emotion model: a comparison.

    python -m bench.seven_as_four [--results reports/realphotos/realphotos.json] [--data ../shared/data/fer2013]

The seven-emotion network learned from every FER2013 face, the three emotions the four-emotion
model never sees among them. Read as four emotions (the four highest of its scores: happy,
neutral, sad, surprise, as ``bench.realphotos`` reads `fer`'s), could it serve that task? Real
photographs: the answers ``python -m bench.realphotos`` stored for each model (the largest face;
no face found counts wrong). FER2013: every four-emotion validation face through the function's
classifier, with each model's own preprocessing and views. A third row divides the four classes'
training shares out as ``emotion4``'s metadata records them (its ``prior_adjustment``), applied to
the view-averaged scores: near what folding them into the network would give. Writes
``seven_as_four.json``, ``.md`` and ``.png`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bench.realphotos import DEFAULT_OUT, TASKS
from train.config import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "function" / "model"
FOUR = TASKS["emotion4"]
ROWS = ("emotion4", "emotion7 read as four", "emotion7 read as four, shares divided out")


def read_as_four(scores: dict | None, offsets: dict[str, float] | None = None) -> str | None:
    """The highest of ``scores``' four emotions (each multiplied by exp(its offset) first), or None
    when no face was found."""
    if not scores:
        return None
    offsets = offsets or {}
    return max(FOUR, key=lambda c: scores[c] * np.exp(offsets.get(c, 0.0)))


def photo_accuracies(results: dict, offsets: dict[str, float]) -> dict[str, dict[str, float]]:
    """``{row: {set: accuracy}}`` over the photos labelled with one of the four emotions."""
    right: dict[str, dict[str, list[bool]]] = {row: {} for row in ROWS}
    for path, answer in results.items():
        parts = Path(path).parts
        name, label = parts[-3], parts[-2]
        if label not in FOUR:
            continue
        seven = (answer.get("emotion7") or {}).get("scores")
        four = (answer.get("emotion4") or {}).get("scores")
        answers = (read_as_four(four), read_as_four(seven), read_as_four(seven, offsets))
        for row, said in zip(ROWS, answers):
            right[row].setdefault(name, []).append(said == label)
    return {row: {name: round(float(np.mean(v)), 4) for name, v in sorted(sets.items())} for row, sets in right.items()}


def fer_accuracies(data: Path, offsets: dict[str, float], limit: int | None = None, log=print) -> dict:
    """Each row's accuracy on FER2013's four-emotion validation faces, through the function's classifier."""
    sys.path.insert(0, str(ROOT / "function"))
    from PIL import Image

    from emotion.classifier import EmotionClassifier
    models = {task: EmotionClassifier.load(MODEL_DIR, task) for task in ("emotion4", "emotion7")}
    right = {row: 0 for row in ROWS}
    total = 0
    for label in FOUR:
        files = sorted((data / "validation" / label).glob("*.jpg"))[:limit]
        for path in files:
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("L"), np.float32)
            four, seven = (models[t].predict(pixels).scores for t in ("emotion4", "emotion7"))
            for row, said in zip(ROWS, (read_as_four(four), read_as_four(seven), read_as_four(seven, offsets))):
                right[row] += said == label
            total += 1
        log(f"fer2013 validation/{label}: {len(files)} faces")
    return {"faces": total, **{row: round(right[row] / total, 4) for row in ROWS}}


def markdown(report: dict) -> str:
    sets = list(report["photos"][ROWS[0]])
    lines = ["# The seven-emotion model read as four emotions", "",
             f"By `python -m bench.seven_as_four` from `{report['results']}` (models "
             + ", ".join(f"{t} {v}" for t, v in report["versions"].items()) + ") and "
             f"FER2013's {report['fer2013']['faces']:,} four-emotion validation faces. The shares divided out: "
             + ", ".join(f"{c} {o:+.3f}" for c, o in report["offsets"].items()) + " (emotion4's metadata).", "",
             "| four emotions, int8 | FER2013 val | " + " | ".join(sets) + " |", "|---|---|" + "---|" * len(sets)]
    for row in ROWS:
        lines.append(f"| {row} | {report['fer2013'][row]:.4f} | "
                     + " | ".join(f"{report['photos'][row][s]:.3f}" for s in sets) + " |")
    return "\n".join(lines + ["", "![accuracies](seven_as_four.png)", ""])


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = ["FER2013 val", *report["photos"][ROWS[0]]]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(ROWS)
    for i, row in enumerate(ROWS):
        values = [report["fer2013"][row], *report["photos"][row].values()]
        ax.bar(np.arange(len(columns)) + i * width, values, width, label=row)
    ax.set_xticks(np.arange(len(columns)) + width * (len(ROWS) - 1) / 2, columns)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("accuracy (four emotions)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seven_as_four", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=DEFAULT_OUT / "realphotos.json",
                        help="realphotos.json written by python -m bench.realphotos with the shipped models "
                             "(default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                        help="FER2013 class-folder tree holding validation/ (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many validation faces per class (tests)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for seven_as_four.json, .md and .png (default: %(default)s)")
    args = parser.parse_args(argv)

    source = json.loads(args.results.read_text())
    shipped = {t: json.loads((MODEL_DIR / f"{t}.json").read_text())["version"] for t in ("emotion4", "emotion7")}
    if source.get("versions") != shipped:
        raise SystemExit(f"{args.results} holds the answers of {source.get('versions')}, not of the shipped {shipped}: "
                         "run python -m bench.realphotos first")
    prior = json.loads((MODEL_DIR / "emotion4.json").read_text())["output"].get("prior_adjustment") or {}
    offsets = prior.get("logit_offsets", {})
    report = {"results": args.results.name, "versions": shipped, "offsets": offsets,
              "photos": photo_accuracies(source["service"]["results"], offsets),
              "fer2013": fer_accuracies(args.data, offsets, args.limit,
                                        log=lambda m: print(f"[seven_as_four] {m}", file=sys.stderr, flush=True))}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "seven_as_four.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, args.out / "seven_as_four.png")
    (args.out / "seven_as_four.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
