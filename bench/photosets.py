"""The shared photograph sets the detection benchmark scores, and how it scores them.

WIDER FACE (`shared/data/faces/wider-train`): photos with every face boxed tight, forehead to
chin. A face counts as found when one detection overlaps it at IoU >= 0.4 (one detection per
face, best overlaps first). A detection that overlaps no annotated face at all, of any size and
including those WIDER marks invalid, is a false one: an unannotated face in the background can
be a real face, but the set's annotators boxed even 10-pixel faces, so most are not.

Headshots (`shared/data/real/headshots`): tight face crops; a picture counts when a face is found.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WIDER = SHARED / "faces" / "wider-train"
HEADSHOTS = SHARED / "real" / "headshots"
HEADSHOT_EMOTIONS = ("happy", "neutral", "sad", "surprise")  # the four-emotion model's, as in bench.realphotos
MATCH_IOU = 0.4
# Face height bins (pixels, in the photo as annotated), as the issue reports them.
HEIGHT_BINS = ((24, 32), (32, 64), (64, 128), (128, None))


@dataclass(frozen=True)
class Truth:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    invalid: bool

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def wider_photos(root: Path = WIDER, limit: int | None = None) -> list[tuple[Path, list[Truth]]]:
    """(photo path, annotated faces), in the csv's order of first appearance."""
    faces: dict[str, list[Truth]] = defaultdict(list)
    with open(root / "boxes.csv", newline="") as f:
        for row in csv.DictReader(f):
            x, y, w, h = (float(row[k]) for k in "xywh")
            faces[row["image"]].append(Truth((x, y, x + w, y + h), row["invalid"] == "1"))
    photos = [(root / "images" / name, truth) for name, truth in faces.items()]
    return photos[:limit] if limit else photos


def headshots(root: Path = HEADSHOTS, emotions=HEADSHOT_EMOTIONS) -> list[Path]:
    return [p for e in emotions for p in sorted((root / e).iterdir()) if p.is_file()]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(truth: list[Truth], found: list[tuple[float, float, float, float]]) -> tuple[list[bool], int]:
    """Greedy one-to-one matching, best IoU first: which faces were found, and how many
    detections match no face."""
    t = np.array([f.box for f in truth], dtype=float).reshape(-1, 4)
    d = np.array(found, dtype=float).reshape(-1, 4)
    m = iou_matrix(t, d)
    hit = [False] * len(truth)
    used = np.zeros(len(d), dtype=bool)
    for flat in np.argsort(-m, axis=None):
        i, j = divmod(int(flat), len(d))
        if m[i, j] < MATCH_IOU:
            break
        if not hit[i] and not used[j]:
            hit[i], used[j] = True, True
    return hit, int((~used).sum())


class WiderScore:
    """Accumulates found faces by height and false detections over photos."""

    def __init__(self):
        self.total = {b: 0 for b in HEIGHT_BINS}
        self.found = {b: 0 for b in HEIGHT_BINS}
        self.false = 0
        self.photos = 0
        self.detections = 0

    def add(self, truth: list[Truth], found) -> None:
        hit, false = match(truth, found)
        self.photos += 1
        self.false += false
        self.detections += len(found)
        for face, h in zip(truth, hit):
            if face.invalid:
                continue  # WIDER's evaluation does not count them either way
            for lo, hi in HEIGHT_BINS:
                if face.height >= lo and (hi is None or face.height < hi):
                    self.total[(lo, hi)] += 1
                    self.found[(lo, hi)] += h

    def summary(self) -> dict:
        def share(found, total):
            return round(found / total, 4) if total else None
        bins = {f"{lo}-{hi}" if hi else f">={lo}": {"faces": self.total[(lo, hi)], "found": self.found[(lo, hi)],
                                                     "recall": share(self.found[(lo, hi)], self.total[(lo, hi)])}
                for lo, hi in HEIGHT_BINS}
        big = [b for b in HEIGHT_BINS if b[0] >= 32]
        total32, found32 = sum(self.total[b] for b in big), sum(self.found[b] for b in big)
        return {"photos": self.photos, "by_height": bins,
                ">=32": {"faces": total32, "found": found32, "recall": share(found32, total32)},
                "false_detections": self.false, "false_per_photo": round(self.false / max(self.photos, 1), 3),
                "detections_per_photo": round(self.detections / max(self.photos, 1), 2)}
