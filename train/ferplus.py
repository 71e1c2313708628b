"""FER+'s ten annotator votes per FER2013 image (``ferplus.csv`` beside the dataset) as targets.

FER2013's folder labels are one person's call; FER+ asked ten (Barsoum et al. 2016), and their
majority agrees with the folder on 63% of the matched files. Two ways to use the votes:
``soft``: the target is the share of votes for each of the model's classes (Barsoum's
"probabilistic label distribution"), the one-hot folder label where the votes name none of them;
``drop``: the one-hot folder label, but images whose FER+ majority names another emotion, or no
face, leave the training set; ``majority``: FER+'s majority is the label (Barsoum's "majority
voting"), for the faces of every FER2013 folder (``majority_split``): a fear-folder face most
annotators read as surprise trains a four-emotion model as surprise, one whose majority names
none of the model's classes leaves. Files FER+ has no row for keep their folder label.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .data import Split

FILE_NAME = "ferplus.csv"
MODES = ("off", "soft", "drop", "majority")
# FER+'s columns under the project's label names; contempt, unknown and NF (not a face) have none.
COLUMNS = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
           "anger": "angry", "disgust": "disgust", "fear": "fear"}
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")


def read_votes(data_dir: Path) -> dict[str, dict[str, int]]:
    """``split/emotion/file.jpg`` -> vote count per FER+ column."""
    path = Path(data_dir) / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(f"no FER+ votes at {path}")
    with path.open() as f:
        return {row["file"]: {c: int(row[c]) for c in VOTE_COLUMNS} for row in csv.DictReader(f)}


def vote_key(path: Path) -> str:
    """A file's row name in ferplus.csv: ``split/emotion/file.jpg``."""
    return "/".join(Path(path).parts[-3:])


def majority_label(row: dict[str, int]) -> str | None:
    """The project's label for FER+'s majority column (ties: the first in VOTE_COLUMNS, neutral
    before the rest); None when the majority is contempt, unknown or not a face."""
    return COLUMNS.get(max(VOTE_COLUMNS, key=lambda c: row[c]))


def majority_split(split: Split, data_dir: Path, classes: tuple[str, ...]) -> tuple[Split, dict]:
    """``split`` (loaded with every FER2013 folder) relabelled to ``classes`` by FER+'s majority:
    each face under the class most of its annotators chose, if that is one of ``classes``; a face
    without votes under its folder's label, if that is one of them; every other face left out."""
    votes = read_votes(data_dir)
    keep, labels = [], []
    stats = {"mode": "majority", "images": len(split), "with_votes": 0, "majority_disagrees": 0,
             "recruited": 0, "relabelled": 0}
    for i, path in enumerate(split.paths):
        folder = split.classes[split.labels[i]]
        row = votes.get(vote_key(path))
        if row is not None:
            stats["with_votes"] += 1
        label = folder if row is None else majority_label(row)
        stats["majority_disagrees"] += label != folder
        if label not in classes:
            continue
        stats["recruited"] += folder not in classes
        stats["relabelled"] += folder in classes and label != folder
        keep.append(i)
        labels.append(classes.index(label))
    stats["kept"] = len(keep)
    out = Split(split.images[keep], np.asarray(labels, dtype=np.int32), tuple(classes),
                [split.paths[i] for i in keep], split.preprocessing, labels_from="ferplus majority")
    return out, stats


def targets(split: Split, data_dir: Path, mode: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Training targets (N, classes) float32 and the indices of the images kept, plus counts for the log."""
    n_classes = len(split.classes)
    onehot = np.eye(n_classes, dtype=np.float32)[split.labels]
    if mode not in MODES:
        raise ValueError(f"unknown FER+ mode {mode!r}: use one of {', '.join(MODES)}")
    if (mode == "majority") != (split.labels_from == "ferplus majority"):
        raise ValueError(f"FER+ mode {mode!r} on a split labelled by {split.labels_from}: "
                         "'majority' needs the split majority_split made, the other modes the folders' labels")
    if mode in ("off", "majority"):
        return onehot, np.arange(len(split)), {}
    votes = read_votes(data_dir)
    own = {label: column for column, label in COLUMNS.items()}
    y, keep = onehot.copy(), []
    matched = disagree = 0
    for i, path in enumerate(split.paths):
        row = votes.get(vote_key(path))
        if row is None:
            keep.append(i)
            continue
        matched += 1
        agrees = majority_label(row) == split.classes[split.labels[i]]
        disagree += not agrees
        if mode == "drop":
            if agrees:
                keep.append(i)
            continue
        counts = np.array([row[own[c]] for c in split.classes], dtype=np.float32)
        if counts.sum() > 0:
            y[i] = counts / counts.sum()
        keep.append(i)
    keep = np.asarray(keep)
    stats = {"mode": mode, "images": len(split), "with_votes": matched, "majority_disagrees": disagree,
             "kept": int(len(keep))}
    return y[keep], keep, stats
