"""Data report: counts and imbalance, samples and mean face per class, pixel statistics,
near-constant images, and exact duplicates within and across splits. Markdown, JSON, PNG."""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from .data import Split
from .plots import plot_gallery, plot_image_grid

NEAR_CONSTANT_STD = 3.0  # gray levels; below this an image carries no face
IMBALANCE_RATIO = 1.5  # largest class over smallest class worth calling out
SAMPLES_PER_CLASS = 8


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def find_duplicates(splits: dict[str, Split]) -> dict:
    """Groups of identical pixel arrays; ``within`` one split and ``across`` splits."""
    seen: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name, split in splits.items():
        for i, image in enumerate(split.images):
            seen[_digest(image)].append((name, i))
    groups = [g for g in seen.values() if len(g) > 1]
    within = defaultdict(int)
    across, conflicting = [], 0
    for group in groups:
        names = {s for s, _ in group}
        labels = {splits[s].classes[splits[s].labels[i]] for s, i in group}
        conflicting += len(labels) > 1
        if len(names) > 1:
            across.append([f"{s}/{splits[s].paths[i].parent.name}/{splits[s].paths[i].name}" for s, i in group])
        for s in names:
            extra = sum(1 for n, _ in group if n == s) - 1
            within[s] += extra
    return {"groups": len(groups), "extra_copies_within": dict(within), "groups_across_splits": len(across),
            "groups_with_conflicting_labels": conflicting, "across_examples": across[:10]}


def data_report(splits: dict[str, Split], out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    classes = next(iter(splits.values())).classes
    report: dict = {"classes": list(classes), "splits": {}}
    for name, split in splits.items():
        counts = split.counts()
        largest, smallest = max(counts.values()), max(min(counts.values()), 1)
        stds = split.images.reshape(len(split), -1).std(1)
        near_constant = [str(split.paths[i]) for i in np.flatnonzero(stds < NEAR_CONSTANT_STD)]
        report["splits"][name] = {
            "images": len(split),
            "per_class": counts,
            "imbalance_ratio": round(largest / smallest, 2),
            "pixel_mean": round(float(split.images.mean()), 2),
            "pixel_std": round(float(split.images.std()), 2),
            "per_class_pixel_mean": {c: round(float(split.images[split.labels == k].mean()), 2)
                                     for k, c in enumerate(classes) if counts[c]},
            "near_constant": len(near_constant),
            "near_constant_examples": near_constant[:10],
        }
    report["duplicates"] = find_duplicates(splits)

    train = splits.get("train", next(iter(splits.values())))
    rng = np.random.default_rng(0)
    samples, means = [], []
    for k, c in enumerate(classes):
        idx = np.flatnonzero(train.labels == k)
        pick = rng.choice(idx, size=min(SAMPLES_PER_CLASS, len(idx)), replace=False)
        samples.append((c, train.images[pick, ..., 0]))
        means.append(train.images[idx, ..., 0].mean(0))
    plot_image_grid(samples, out / "samples.png", "Random training samples per class")
    plot_gallery(means, list(classes), out / "mean_faces.png", "Mean face per class (train)")

    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(_markdown(report))
    print(f"data report written to {out}/report.md")
    return report


def _markdown(r: dict) -> str:
    classes = r["classes"]
    lines = ["# Data report", "", "## Images per class", "",
             "| split | " + " | ".join(classes) + " | total | largest/smallest |",
             "|---" * (len(classes) + 3) + "|"]
    for name, s in r["splits"].items():
        lines.append(f"| {name} | " + " | ".join(str(s["per_class"][c]) for c in classes)
                     + f" | {s['images']} | {s['imbalance_ratio']} |")
    lines.append("")
    for name, s in r["splits"].items():
        if s["imbalance_ratio"] >= IMBALANCE_RATIO:
            small = min(s["per_class"], key=s["per_class"].get)
            big = max(s["per_class"], key=s["per_class"].get)
            lines.append(f"- **Imbalance in {name}**: {big} has {s['imbalance_ratio']}x the images of {small}; "
                         "consider class weights (`--class-weights`) and read per-class recall, not accuracy alone.")
    lines += ["", "## Pixels", "", "| split | mean | std | near-constant images (std < "
              f"{NEAR_CONSTANT_STD}) |", "|---|---|---|---|"]
    for name, s in r["splits"].items():
        lines.append(f"| {name} | {s['pixel_mean']} | {s['pixel_std']} | {s['near_constant']} |")
    d = r["duplicates"]
    lines += ["", "## Exact duplicates (identical pixels)", "",
              f"- groups of identical images: {d['groups']}",
              f"- extra copies within a split: {d['extra_copies_within']}",
              f"- groups spanning splits (train/validation leakage): {d['groups_across_splits']}",
              f"- groups whose copies carry different labels: {d['groups_with_conflicting_labels']}", "",
              "![samples](samples.png)", "", "![mean faces](mean_faces.png)", "",
              f"Regenerate: `python -m train report --classes {','.join(classes)}`.", ""]
    return "\n".join(lines)
