"""Face detection in photographs with MTCNN (Zhang et al. 2016), run by the same LiteRT runtime.

Three small networks in a cascade: P-Net slides over an image pyramid and proposes 12x12 windows,
R-Net (24x24) and O-Net (48x48) look again at each proposal and refine its box. Trained on WIDER
FACE, so its boxes are the tight forehead-to-chin boxes WIDER (and Rekognition) draw. The networks
come from the `mtcnn` wheel, converted to fixed-shape TFLite at build time (infra/convert_mtcnn.py).

The thresholds are the reference implementation's (P-Net 0.6, R-Net 0.7, O-Net 0.7, pyramid
factor 0.709, NMS 0.5/0.7/0.7); only the final score a face must reach (``MIN_SCORE``) was
chosen here, on the WIDER photos of bench.detection (docs/face-detection.md).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .classifier import ModelIntegrityError
from .faces import TIGHT_BOX_FRAMING, Face
from .runtime import load_model

PYRAMID_FACTOR = 0.709
PNET_MIN_SCORE, RNET_MIN_SCORE, ONET_MIN_SCORE = 0.6, 0.7, 0.7
NMS_LEVEL, NMS_PYRAMID, NMS_RNET, NMS_ONET = 0.5, 0.7, 0.7, 0.7
# O-Net's score a face must reach to be reported. 0.7 (the reference) finds a few more small
# faces but about three times as many false ones on WIDER (bench.detection --sweep).
MIN_SCORE = 0.9
# The smallest face looked for, in pixels of the image searched. P-Net's cost grows with
# (12 / MIN_FACE)^2; 20 is the reference implementation's.
MIN_FACE = 32
# Photos are searched at most this large (long side): a 24-pixel face in a 4000-pixel photo is
# still 12 px here. Bigger photos lose their smallest faces; time and memory stay bounded.
MAX_SIDE = 2048
CELL, STRIDE = 12, 2



class MtcnnDetector:
    name = "mtcnn"
    wants_color = True
    framing = TIGHT_BOX_FRAMING

    def __init__(self, model_dir: Path, num_threads: int = 1, backend: str = "auto",
                 min_score: float = MIN_SCORE, min_face: int = MIN_FACE):
        model_dir = Path(model_dir)
        spec = json.loads((model_dir / "mtcnn.json").read_text())
        lock_path = model_dir / "mtcnn.lock.json"
        if not lock_path.exists():
            raise ModelIntegrityError("mtcnn.lock.json is missing: run python -m infra.convert_mtcnn")
        lock = json.loads(lock_path.read_text())["files"]

        def load(name):
            actual = hashlib.sha256((model_dir / name).read_bytes()).hexdigest()
            if actual != lock.get(name):
                raise ModelIntegrityError(f"{name} has sha256 {actual}, expected {lock.get(name)}")
            return load_model(model_dir / name, num_threads, backend)

        self.pnets = {side: load(f"mtcnn_pnet_{side}.tflite") for side in sorted(spec["pnet_sides"])}
        self.rnet, self.onet = load("mtcnn_rnet.tflite"), load("mtcnn_onet.tflite")
        self.rnet_batch, self.onet_batch = spec["rnet_batch"], spec["onet_batch"]
        self.min_score, self.min_face = min_score, min_face

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces in ``image`` (RGB; gray works, with fewer faces found), largest first, in its
        pixel coordinates: the tight box, forehead to chin."""
        image = image.convert("RGB") if image.mode != "RGB" else image
        w, h = image.size
        shrink = min(1.0, MAX_SIDE / max(w, h))
        if shrink < 1:
            image = image.resize((max(1, round(w * shrink)), max(1, round(h * shrink))), Image.Resampling.BOX,
                                 reducing_gap=3.0)
        boxes = self._propose(image)
        boxes = self._refine(image, boxes, self.rnet, 24, self.rnet_batch, RNET_MIN_SCORE, NMS_RNET, "union")
        boxes = self._refine(image, boxes, self.onet, 48, self.onet_batch, ONET_MIN_SCORE, NMS_ONET, "min",
                             to_square=False)
        faces = [Face(*(b[:4] / shrink), float(b[4])) for b in boxes if b[4] >= self.min_score]
        faces = [f.clipped(w, h) for f in faces]
        return sorted((f for f in faces if f.area > 0), key=lambda f: f.area, reverse=True)

    def _propose(self, image: Image.Image) -> np.ndarray:
        """P-Net over the pyramid: (N, 5) square boxes x0, y0, x1, y1, score in image pixels."""
        w, h = image.size
        scale = CELL / self.min_face
        found = []
        while min(w, h) * scale >= CELL:
            lw, lh = max(1, round(w * scale)), max(1, round(h * scale))
            level = image.resize((lw, lh), Image.Resampling.BOX, reducing_gap=3.0) if scale != 1 else image
            x = (np.asarray(level, dtype=np.float32) - 127.5) / 128
            boxes = self._pnet_level(x)
            if len(boxes):
                boxes = boxes[nms(boxes, NMS_LEVEL)]
                boxes[:, :4] /= scale
                found.append(boxes)
            scale *= PYRAMID_FACTOR
        if not found:
            return np.zeros((0, 5))
        boxes = np.concatenate(found)
        return square(boxes[nms(boxes, NMS_PYRAMID)])

    def _pnet_level(self, x: np.ndarray) -> np.ndarray:
        """P-Net on one pyramid level (H, W, 3), cut into tiles of the fixed sides converted;
        tiles step by whole output cells, so no window is scored twice or skipped."""
        lh, lw = x.shape[:2]
        side = next((s for s in self.pnets if s >= max(lw, lh)), max(self.pnets))
        model = self.pnets[side]
        cells = (side - 2) // 2 - 4  # conv3, pool2, conv3, conv3 (valid)
        step = STRIDE * cells
        out = []
        for oy in range(0, max(lh - CELL, 0) + 1, step):
            for ox in range(0, max(lw - CELL, 0) + 1, step):
                tile = np.zeros((side, side, 3), np.float32)
                part = x[oy:oy + side, ox:ox + side]
                tile[:part.shape[0], :part.shape[1]] = part
                outputs = model.run(tile[None])
                prob, reg = sorted(outputs, key=lambda o: o.shape[-1])
                prob, reg = prob[0, :, :, 1], reg[0]
                iy, ix = np.nonzero(prob > PNET_MIN_SCORE)
                # Only windows wholly inside the level (the tile's padding is not image).
                y0, x0 = oy + iy * STRIDE, ox + ix * STRIDE
                inside = (y0 + CELL <= lh) & (x0 + CELL <= lw)
                iy, ix, y0, x0 = iy[inside], ix[inside], y0[inside], x0[inside]
                if not len(iy):
                    continue
                r = reg[iy, ix]
                # As the reference: the window spans pixels +1..+12 of its cell, 11 wide.
                bx0, by0, bx1, by1 = x0 + 1, y0 + 1, x0 + CELL, y0 + CELL
                span = CELL - 1
                out.append(np.stack([bx0 + r[:, 0] * span, by0 + r[:, 1] * span, bx1 + r[:, 2] * span,
                                     by1 + r[:, 3] * span, prob[iy, ix]], axis=1))
        return np.concatenate(out) if out else np.zeros((0, 5))

    def _refine(self, image, boxes, model, size, batch, min_score, threshold, method,
                to_square: bool = True) -> np.ndarray:
        """R-Net or O-Net on each box's patch: new scores, regressed boxes, NMS."""
        if not len(boxes):
            return boxes
        scores, offsets = [], []
        for start in range(0, len(boxes), batch):
            chunk = boxes[start:start + batch]
            x = np.zeros((batch, size, size, 3), np.float32)
            for i, b in enumerate(chunk):
                x[i] = patch(image, b, size)
            outputs = model.run(x)
            by_width = {o.shape[-1]: o for o in outputs}
            scores.append(by_width[2][:len(chunk), 1])
            offsets.append(by_width[4][:len(chunk)])
        scores, offsets = np.concatenate(scores), np.concatenate(offsets)
        keep = scores >= min_score
        boxes, scores, offsets = boxes[keep].copy(), scores[keep], offsets[keep]
        sides = np.stack([boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1] * 2, axis=1)
        boxes[:, :4] += offsets * sides
        boxes[:, 4] = scores
        boxes = boxes[nms(boxes, threshold, method)]
        return square(boxes) if to_square else boxes


def patch(image: Image.Image, box: np.ndarray, size: int) -> np.ndarray:
    """The box's pixels (zeros past the image's edges, as the reference pads), resized to
    size x size, normalized."""
    x0, y0, x1, y1 = (int(round(v)) for v in box[:4])
    crop = image.crop((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))  # Pillow pads outside with black
    crop = crop.resize((size, size), Image.Resampling.BILINEAR)
    return (np.asarray(crop, dtype=np.float32) - 127.5) / 128


def square(boxes: np.ndarray) -> np.ndarray:
    """Each box made square about its center, on its longer side."""
    boxes = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    boxes[:, 0] += (w - side) / 2
    boxes[:, 1] += (h - side) / 2
    boxes[:, 2], boxes[:, 3] = boxes[:, 0] + side, boxes[:, 1] + side
    return boxes


def nms(boxes: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first; ``min`` divides the
    overlap by the smaller box (drops a box inside another)."""
    x0, y0, x1, y1, s = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order = np.argsort(-s)
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1, 0, None)
        ih = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1, 0, None)
        inter = iw * ih
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / denom <= threshold]
    return np.array(keep, dtype=int)
