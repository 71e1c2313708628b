"""What every photo detector must do (RetinaFace, the default, and MTCNN, still selectable):
one tight face in each real portrait, none in a faceless photo."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion.faces import load_detector  # noqa: E402
from emotion.settings import MODEL_DIR  # noqa: E402

from composites import astronaut, background, grace_hopper, iou  # noqa: E402


@pytest.fixture(scope="module", params=["retinaface", "mtcnn"])
def detector(request):
    return load_detector(MODEL_DIR, request.param)


@pytest.mark.parametrize("photo,region", [
    (astronaut, (175, 60, 265, 180)),   # her face, forehead to chin, in the 512x512 photo
    (grace_hopper, (165, 100, 360, 360)),
])
def test_real_portraits_have_exactly_one_tight_face(detector, photo, region):
    faces = detector.detect(photo().convert("RGB"))
    assert len(faces) == 1
    f = faces[0]
    assert iou((f.x0, f.y0, f.x1, f.y1), region) > 0.5
    assert f.y1 - f.y0 >= f.x1 - f.x0  # WIDER-style: taller than wide, not a square crop


def test_a_photo_without_faces_has_none(detector):
    assert detector.detect(background((640, 480), seed=1).convert("RGB")) == []
