"""From image bytes to faces with emotions: decode, find the faces, classify each.

No AWS here: the handler wraps this with S3, the benchmarks and the CLI call it directly.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .classifier import EmotionClassifier
from .faces import Face, FaceDetector, crop_face
from .imaging import decode_image, preprocess_face
from .settings import Settings

WHOLE_IMAGE_CROP = "face_crop"  # the upload is itself a face crop
DETECTION_OFF = "disabled"


@dataclass
class Analysis:
    image: dict[str, Any]
    faces: list[dict[str, Any]]  # largest first
    method: str
    timing_ms: dict[str, float] = field(default_factory=dict)


def _box(face: Face, width: int, height: int) -> dict[str, Any]:
    x, y = round(face.x0), round(face.y0)
    w, h = round(face.x1 - face.x0), round(face.y1 - face.y0)
    return {
        "box": {"x": x, "y": y, "width": w, "height": h},
        "box_fraction": {"x": round(face.x0 / width, 4), "y": round(face.y0 / height, 4),
                         "width": round((face.x1 - face.x0) / width, 4), "height": round((face.y1 - face.y0) / height, 4)},
    }


def analyze(data: bytes, settings: Settings, classifier: EmotionClassifier, detector: FaceDetector | None) -> Analysis:
    """Raises ``ImageError`` for a bad upload."""
    timing: dict[str, float] = {}
    started = time.perf_counter()
    size = classifier.image_size
    use_detector = detector is not None
    image = decode_image(data, settings.max_image_pixels,
                         draft_size=settings.detection_draft_side if use_detector else size)
    gray = image.gray
    timing["decode"] = _ms_since(started)

    started = time.perf_counter()
    if use_detector and min(gray.size) > settings.face_crop_max_side:
        method = detector.name
        regions = [f.framed() for f in detector.detect(gray)[: settings.max_faces]]
        crops = [crop_face(gray, r) for r in regions]
        faces = [r.clipped(*gray.size) for r in regions]
    else:
        # Whole image: an upload that is already a face crop, or detection switched off.
        method = WHOLE_IMAGE_CROP if use_detector else DETECTION_OFF
        w, h = gray.size
        side = min(w, h)
        faces = [Face((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2, score=float("nan"))]
        crops = [gray]
    timing["detection"] = _ms_since(started)

    started = time.perf_counter()
    results = []
    # Boxes are in the decoded image's pixels; a JPEG decoded at reduced scale is mapped back.
    scale_x, scale_y = image.oriented_width / gray.size[0], image.oriented_height / gray.size[1]
    for face, crop in zip(faces, crops):
        prediction = classifier.predict(preprocess_face(crop, size))
        full = Face(face.x0 * scale_x, face.y0 * scale_y, face.x1 * scale_x, face.y1 * scale_y, face.score)
        results.append({
            **_box(full, image.oriented_width, image.oriented_height),
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
