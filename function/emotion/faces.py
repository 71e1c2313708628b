"""Face detection with MediaPipe's BlazeFace TFLite models, run by the same LiteRT runtime.

The detector sees a gray, letterboxed copy of the photo (at most 192 px); boxes are mapped back
to the full-size image, from which each face is cropped for classification.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .classifier import ModelIntegrityError
from .runtime import load_model


@dataclass(frozen=True)
class DetectorSpec:
    """Anchor and decoding parameters, as in MediaPipe's face_detection graphs."""
    input_size: int
    strides: tuple[int, ...]
    anchors_per_layer: int  # 2 with interpolated scale, 1 without
    min_score: float


SPECS = {
    "short_range": DetectorSpec(128, (8, 16, 16, 16), 2, 0.5),
    "full_range": DetectorSpec(192, (4,), 1, 0.6),
}
NMS_IOU = 0.3
# Two passes (measured on composites of FER2013 faces, bench/detection.py): a permissive first
# pass finds candidates, including faces the model scores only 0.3-0.5 when they are small in
# its input; each candidate is then looked at again in a crop where it fills about 43% of the
# detector's input, where a real face scores high and textured background does not.
CANDIDATE_MIN_SCORE = 0.3
# Raw detections down to this score join the clusters (support, box average) of both passes:
# faces the model sees weakly at several anchors gather enough support to become candidates.
RAW_MIN_SCORE = 0.2
# Crop side / candidate box side. Measured on the composites and on JPEG copies of the real photos
# (bench/detection.py): 2.6 found fewer composite faces; 1.7 more, but also a collar; a second
# look in a wider crop when the first is unsure added little for the time.
VERIFY_CONTEXT = 2.3
VERIFY_MIN_SCORE = 0.5
# A candidate the first pass is already sure of keeps its box without a second look: the same
# faces are found, in less time, and framed as the framing constants below were measured.
CONFIDENT_SCORE = 0.75
# On textured backgrounds the model sometimes calls the whole window a face with a low score;
# a window-sized box is kept only when the model is sure (measured on composites).
LARGE_BOX = 0.6  # share of the window's longer side
LARGE_BOX_MIN_SCORE = 0.75
# A real face lights up several neighbouring anchors; a cluster of fewer raw detections was a
# false face in most measured cases (composites and the astronaut photo's flag). Counted from
# RAW_MIN_SCORE, 6 rather than 3 found about as many composite faces, fewer false ones in the
# real photos' JPEG copies, and leaves fewer candidates to look at twice.
MIN_SUPPORT = 6
# FER2013 crops frame more of the head than BlazeFace's box (forehead, some margin). Measured on
# the tuning composites (python -m bench.detection --calibrate): the crop's side is about 1.2x
# the detector box's (median 1.19 with the two-look detector; 1.22 first measured, and either
# finds the same faces), and its center about 0.10 of that box's side higher.
FRAMING_SCALE = 1.22
FRAMING_SHIFT_UP = 0.10
# The photo detectors (MTCNN, RetinaFace) draw WIDER FACE's tight box, taller than wide: the
# classifier gets the square on the box's height (scale 1, no shift). Measured for MTCNN with
# python -m bench.detection --calibrate on composites: median scale 0.98, shift 0.007 over 119
# faces for MTCNN; 1.002 and 0.011 over 134 faces for RetinaFace.
TIGHT_BOX_FRAMING = (1.0, 0.0)


@dataclass
class Face:
    x0: float  # pixels in the (oriented) image
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def framed(self, scale: float = FRAMING_SCALE, shift_up: float = FRAMING_SHIFT_UP) -> "Face":
        """The square region a training crop would show around this detection (other rules:
        the benchmark measures them)."""
        side = max(self.x1 - self.x0, self.y1 - self.y0)
        cx, cy = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2 - shift_up * side
        half = side * scale / 2
        return Face(cx - half, cy - half, cx + half, cy + half, self.score)

    def clipped(self, width: int, height: int) -> "Face":
        return Face(max(0.0, self.x0), max(0.0, self.y0), min(float(width), self.x1), min(float(height), self.y1),
                    self.score)


def ssd_anchors(spec: DetectorSpec) -> np.ndarray:
    """(N, 2) anchor centers in 0..1; layers with the same stride share one grid."""
    centers = []
    i = 0
    while i < len(spec.strides):
        stride, layers = spec.strides[i], 1
        while i + layers < len(spec.strides) and spec.strides[i + layers] == stride:
            layers += 1
        grid = -(-spec.input_size // stride)
        per_cell = layers * spec.anchors_per_layer
        ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        cell = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centers.append(np.repeat(cell, per_cell, axis=0))
        i += layers
    return np.concatenate(centers).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box a (4,) with boxes b (N, 4), boxes as x0, y0, x1, y1."""
    ix0, iy0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    ix1, iy1 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = NMS_IOU) -> list[tuple[np.ndarray, float, int]]:
    """MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score.
    Returns (box, best score, number of raw detections merged)."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out = []
    remaining = np.ones(len(boxes), dtype=bool)
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        cluster = remaining & (iou(boxes[i], boxes) > threshold)
        cluster[i] = True
        weights = scores[cluster]
        out.append(((boxes[cluster] * weights[:, None]).sum(0) / weights.sum(), float(scores[i]), int(cluster.sum())))
        remaining &= ~cluster
    return out


class FaceDetector:
    wants_color = False  # BlazeFace's thresholds here were measured on gray
    framing = (FRAMING_SCALE, FRAMING_SHIFT_UP)

    def __init__(self, model_path: Path, metadata_path: Path, num_threads: int = 1, backend: str = "auto"):
        meta = json.loads(Path(metadata_path).read_text())
        actual = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
        if actual != meta["sha256"]:
            raise ModelIntegrityError(f"{Path(model_path).name} has sha256 {actual}, expected {meta['sha256']}")
        self.spec = SPECS[meta["variant"]]
        self.verify = meta["variant"] == "short_range"  # the two-pass thresholds were measured for it
        self.name = meta["name"]
        self.model = load_model(model_path, num_threads, backend)
        # Two outputs: per anchor, 16 box and keypoint values, and one score logit.
        self._boxes = max(range(2), key=lambda i: self.model.outputs[i].shape[-1])
        self.anchors = ssd_anchors(self.spec)

    @classmethod
    def load(cls, model_dir: Path, name: str, num_threads: int = 1, backend: str = "auto") -> "FaceDetector":
        return cls(Path(model_dir) / f"{name}.tflite", Path(model_dir) / f"{name}.json", num_threads, backend)

    def detect(self, gray: Image.Image, tiles: int = 2) -> list[Face]:
        """Faces in ``gray`` (mode L), largest first, in its pixel coordinates.

        The whole image is searched, then a ``tiles`` x ``tiles`` grid of overlapping windows
        (60% of each side), so that small faces in a big photo are seen large enough.
        """
        w, h = gray.size
        windows = [(0, 0, w, h)]
        if tiles > 1:
            tw, th = round(w * 0.6), round(h * 0.6)
            for j in range(tiles):
                for i in range(tiles):
                    x, y = round(i * (w - tw) / (tiles - 1)), round(j * (h - th) / (tiles - 1))
                    windows.append((x, y, x + tw, y + th))
        first_pass_min = CANDIDATE_MIN_SCORE if self.verify else self.spec.min_score
        # The permissive raw threshold was measured with the second look (short range) only.
        raw_min = RAW_MIN_SCORE if self.verify else first_pass_min
        found = [self._detect_window(gray, window, raw_min) for window in windows]
        boxes, scores, cut = (np.concatenate(parts) for parts in zip(*found))
        whole = ~cut
        candidates = [(box, score) for box, score, support in weighted_nms(boxes[whole], scores[whole])
                      if support >= MIN_SUPPORT and score >= first_pass_min]
        faces = []
        for box, score in candidates:
            face = Face(*box, score)
            if self.verify and face.score < CONFIDENT_SCORE:
                face = self._verify(gray, face)
            if face is not None:
                faces.append(face)
        if self.verify:
            faces += self._rescue_cut_faces(gray, boxes[cut], scores[cut], [box for box, _ in candidates])
        faces = [face.clipped(w, h) for face in faces]
        return sorted(_merge_duplicates([f for f in faces if f.area > 0]), key=lambda f: f.area, reverse=True)

    def _rescue_cut_faces(self, gray: Image.Image, boxes: np.ndarray, scores: np.ndarray,
                          taken: list[np.ndarray]) -> list[Face]:
        """Faces seen only cut by windows' inner edges: a face that straddles them is cut in
        every window, and the whole photo may show it too small to score (measured: 4 and 3 of
        150 composite faces). Where such detections gather away from every candidate, the
        second look, centred on them, decides."""
        rescued = []
        for box, score, support in weighted_nms(boxes, scores):
            if support < MIN_SUPPORT or score < CANDIDATE_MIN_SCORE:
                continue
            if taken and iou(box, np.array(taken)).max() > NMS_IOU:
                continue  # part of a face another window saw whole
            face = self._verify(gray, Face(*box, score))
            if face is not None:
                rescued.append(face)
        return rescued

    def _verify(self, gray: Image.Image, candidate: Face) -> Face | None:
        """Look again at ``candidate`` in a crop around it; the refined face, or None."""
        side = round(max(candidate.x1 - candidate.x0, candidate.y1 - candidate.y0) * VERIFY_CONTEXT)
        cx, cy = (candidate.x0 + candidate.x1) / 2, (candidate.y0 + candidate.y1) / 2
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        target = np.array([candidate.x0, candidate.y0, candidate.x1, candidate.y1])
        near = [(box, score) for box, score in self.look(gray, (x0, y0, x0 + side, y0 + side))
                if score >= VERIFY_MIN_SCORE and iou(target, box[None])[0] > 0.3]
        if not near:
            return None
        box, score = max(near, key=lambda bs: bs[1])
        return Face(*box, score)

    def look(self, gray: Image.Image, window: tuple[int, int, int, int],
             min_score: float = RAW_MIN_SCORE) -> list[tuple[np.ndarray, float]]:
        """What the model sees in ``window`` alone (it may reach past the image): merged boxes
        in image pixels, with their best scores."""
        boxes, scores, _ = self._detect_window(gray, window, min_score)
        return [(box, score) for box, score, _ in weighted_nms(boxes, scores)]

    def _detect_window(self, gray: Image.Image, window: tuple[int, int, int, int],
                       min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections inside ``window`` (which may reach past the image): boxes (N, 4) in image
        pixels, scores (N,), and whether each box is cut by the window's inner edges (another
        window may see that face whole)."""
        size = self.spec.input_size
        wx0, wy0, wx1, wy1 = window
        w, h = wx1 - wx0, wy1 - wy0
        scale = size / max(w, h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
        gw, gh = gray.size
        if wx0 >= 0 and wy0 >= 0 and wx1 <= gw and wy1 <= gh:
            # Resizing straight from the window saves copying it out first.
            region = gray.resize((new_w, new_h), Image.Resampling.BILINEAR, box=window, reducing_gap=3.0)
        else:
            region = crop_face(gray, Face(wx0, wy0, wx1, wy1, 0.0)).resize(
                (new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0)
        canvas = Image.new("L", (size, size), 0)
        canvas.paste(region, (pad_x, pad_y))
        x = np.asarray(canvas, dtype=np.float32) / 127.5 - 1.0
        outputs = self.model.run(np.repeat(x[None, :, :, None], 3, axis=3))
        raw = outputs[self._boxes][0]
        logits = np.clip(outputs[1 - self._boxes][0, :, 0], -100, 100)
        scores = 1 / (1 + np.exp(-logits.astype(np.float64)))
        keep = scores >= min_score
        if not keep.any():
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=bool)
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        cx, cy = raw[:, 0] / size + anchors[:, 0], raw[:, 1] / size + anchors[:, 1]
        bw, bh = raw[:, 2] / size, raw[:, 3] / size
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) * size
        # Letterboxed detector pixels -> window pixels -> image pixels.
        boxes = (boxes - [pad_x, pad_y, pad_x, pad_y]) / scale + [wx0, wy0, wx0, wy0]
        edge = 0.02 * max(w, h)
        cut = (((boxes[:, 0] < wx0 + edge) & (wx0 > 0)) | ((boxes[:, 1] < wy0 + edge) & (wy0 > 0))
               | ((boxes[:, 2] > wx1 - edge) & (wx1 < gw)) | ((boxes[:, 3] > wy1 - edge) & (wy1 < gh)))
        large = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) > LARGE_BOX * max(w, h)
        keep = ~(large & (scores < LARGE_BOX_MIN_SCORE))
        return boxes[keep], scores[keep], cut[keep]


def load_detector(model_dir: Path, name: str, num_threads: int = 1, backend: str = "auto"):
    """The detector ``name`` names: ``retinaface`` (photographs, emotion/retinaface.py), ``mtcnn``
    (photographs, emotion/mtcnn.py) or a BlazeFace
    model file's name."""
    if name == "mtcnn":
        from .mtcnn import MtcnnDetector
        return MtcnnDetector(model_dir, num_threads, backend)
    if name == "retinaface":
        from .retinaface import RetinaFaceDetector
        return RetinaFaceDetector(model_dir, num_threads, backend)
    return FaceDetector.load(model_dir, name, num_threads, backend)


def _merge_duplicates(faces: list[Face]) -> list[Face]:
    """Two candidates can verify to the same face: keep the higher-scoring one. Nor is a box
    another face when it holds a surer face's center (a group boxed as one) or its center lies
    in a surer face (part of that face)."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.score, reverse=True):
        box = np.array([face.x0, face.y0, face.x1, face.y1])
        if kept and iou(box, np.array([[k.x0, k.y0, k.x1, k.y1] for k in kept])).max() > NMS_IOU:
            continue
        if any(_holds_center(face, k) or _holds_center(k, face) for k in kept):
            continue
        kept.append(face)
    return kept


def _holds_center(outer: Face, inner: Face) -> bool:
    cx, cy = (inner.x0 + inner.x1) / 2, (inner.y0 + inner.y1) / 2
    return outer.x0 < cx < outer.x1 and outer.y0 < cy < outer.y1


def crop_face(gray: Image.Image, region: Face) -> Image.Image:
    """Crop ``region`` (may reach past the image: the edge pixels are repeated there)."""
    box = (round(region.x0), round(region.y0), round(region.x1), round(region.y1))
    w, h = gray.size
    if box[0] >= 0 and box[1] >= 0 and box[2] <= w and box[3] <= h:
        return gray.crop(box)
    # Crop the part inside the image, then repeat its edges outwards (much cheaper than
    # indexing every pixel of a large region).
    x0, x1, left, right = _inside(box[0], box[2], w)
    y0, y1, top, bottom = _inside(box[1], box[3], h)
    arr = np.asarray(gray.crop((x0, y0, x1, y1)))
    return Image.fromarray(np.pad(arr, ((top, bottom), (left, right)), mode="edge"))


def _inside(start: int, stop: int, size: int) -> tuple[int, int, int, int]:
    """For pixels start..stop of a row of ``size``: the part inside (at least the nearest edge
    pixel) and how many pixels to repeat before and after it."""
    if stop <= 0 or start >= size:  # entirely outside: one edge pixel, repeated
        lo = 0 if stop <= 0 else size - 1
        return lo, lo + 1, 0, stop - start - 1
    lo, hi = max(start, 0), min(stop, size)
    return lo, hi, lo - start, stop - hi
