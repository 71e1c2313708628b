"""From image bytes to faces with emotions: decode, find the faces, classify each.

No AWS here: the handler wraps this with S3, the benchmarks and the CLI call it directly.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from .classifier import EmotionClassifier
from .faces import Face, crop_face
from .imaging import decode_image, preprocess_face
from .settings import Settings

WHOLE_IMAGE_CROP = "face_crop"  # the upload is itself a face crop
DETECTION_OFF = "disabled"
# A picture whose face fills it shows the detector no chin or hairline to frame, and MTCNN's
# smallest pyramid level still sees the face larger than its windows: nothing is found. Such a
# picture, when nothing is found in it, is looked at again shrunk to this share of a canvas
# (padded with mid-gray), where the face is of an ordinary size.
SECOND_LOOK_SHARE = 0.5
# Pictures that are face crops by their shape: roughly square or portrait (height / width in
# this range) and at most this many pixels on the short side (the crops of common face sets are
# 48-350 px; a phone photo is thousands). One with no face found even at the second look is
# classified whole rather than reported faceless.
FACE_CROP_ASPECT = (0.8, 1.6)
FACE_CROP_LIKE_MAX_SIDE = 512


@dataclass
class Analysis:
    image: dict[str, Any]
    faces: list[dict[str, Any]]  # largest first
    method: str
    timing_ms: dict[str, float] = field(default_factory=dict)


def _pixels(face: Face) -> dict[str, int]:
    return {"x": round(face.x0), "y": round(face.y0), "width": round(face.x1 - face.x0),
            "height": round(face.y1 - face.y0)}


def _box(face: Face, width: int, height: int, crop: Face | None = None) -> dict[str, Any]:
    out = {
        "box": _pixels(face),
        "box_fraction": {"x": round(face.x0 / width, 4), "y": round(face.y0 / height, 4),
                         "width": round((face.x1 - face.x0) / width, 4), "height": round((face.y1 - face.y0) / height, 4)},
    }
    if crop is not None:
        out["crop"] = _pixels(crop)
    return out


def is_face_crop_like(width: int, height: int) -> bool:
    """Whether a picture's shape and size say it is a face crop (FACE_CROP_ASPECT and
    FACE_CROP_LIKE_MAX_SIDE)."""
    lo, hi = FACE_CROP_ASPECT
    return min(width, height) <= FACE_CROP_LIKE_MAX_SIDE and lo <= height / width <= hi


def classified_whole(size: tuple[int, int], settings: Settings) -> bool:
    """Whether a picture this size is a face crop too small to search, classified whole."""
    return min(size) <= settings.face_crop_max_side


def second_look(detector, image) -> list[Face]:
    """Faces found in ``image`` shrunk to SECOND_LOOK_SHARE of a mid-gray canvas of its own
    size, mapped back to its pixels."""
    w, h = image.size
    small = image.resize((max(1, round(w * SECOND_LOOK_SHARE)), max(1, round(h * SECOND_LOOK_SHARE))),
                         Image.Resampling.BILINEAR)
    canvas = Image.new(image.mode, (w, h), (128,) * len(image.getbands()) if len(image.getbands()) > 1 else 128)
    ox, oy = (w - small.width) // 2, (h - small.height) // 2
    canvas.paste(small, (ox, oy))
    sx, sy = w / small.width, h / small.height
    return [Face((f.x0 - ox) * sx, (f.y0 - oy) * sy, (f.x1 - ox) * sx, (f.y1 - oy) * sy, f.score).clipped(w, h)
            for f in detector.detect(canvas)]


def find_faces(detector, image) -> tuple[list[Face], bool]:
    """The faces the detector finds in ``image``, with the second look for a face-crop-like
    picture where none is found; and whether the picture should be classified whole instead."""
    faces = detector.detect(image)
    if faces or not is_face_crop_like(*image.size):
        return faces, False
    faces = second_look(detector, image)
    return faces, not faces


def analyze(data: bytes, settings: Settings, classifier: EmotionClassifier, detector=None) -> Analysis:
    """Raises ``ImageError`` for a bad upload."""
    timing: dict[str, float] = {}
    started = time.perf_counter()
    size = classifier.image_size
    use_detector = detector is not None
    color = use_detector and getattr(detector, "wants_color", False)
    image = decode_image(data, settings.max_image_pixels,
                         draft_size=settings.detection_draft_side if use_detector else size, color=color)
    gray = image.gray
    timing["decode"] = _ms_since(started)

    started = time.perf_counter()
    whole = not use_detector or classified_whole(gray.size, settings)
    if not whole:
        found, whole = find_faces(detector, image.color if color else gray)
    if not whole:
        method = detector.name
        faces = [f.clipped(*gray.size) for f in found[: settings.max_faces]]
        regions = [f.framed(*detector.framing) for f in faces]
        crops = [crop_face(gray, r) for r in regions]
    else:
        # Whole image: an upload that is already a face crop, or detection switched off.
        method = WHOLE_IMAGE_CROP if use_detector else DETECTION_OFF
        w, h = gray.size
        side = min(w, h)
        faces = [Face((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2, score=float("nan"))]
        regions = [None]
        crops = [gray]
    timing["detection"] = _ms_since(started)

    started = time.perf_counter()
    results = []
    # Boxes are in the decoded image's pixels; a JPEG decoded at reduced scale is mapped back.
    scale_x, scale_y = image.oriented_width / gray.size[0], image.oriented_height / gray.size[1]
    def full(f: Face | None) -> Face | None:
        return None if f is None else Face(f.x0 * scale_x, f.y0 * scale_y, f.x1 * scale_x, f.y1 * scale_y, f.score)

    for face, region, crop in zip(faces, regions, crops):
        prediction = classifier.predict(preprocess_face(crop, size))
        results.append({
            **_box(full(face), image.oriented_width, image.oriented_height, full(region)),
            "detector_score": None if face.score != face.score else round(face.score, 4),  # NaN: no detector
            "emotion": prediction.emotion,
            "confidence": round(prediction.confidence, 6),
            "scores": prediction.scores,
        })
    timing["inference"] = _ms_since(started)
    info = {"width": image.width, "height": image.height, "format": image.format, "frames": image.frames}
    return Analysis(image=info, faces=results, method=method, timing_ms=timing)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
