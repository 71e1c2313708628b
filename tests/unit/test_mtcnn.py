"""MTCNN on LiteRT (the previous photo detector, still selectable) and the rule for pictures that
are face crops. The default detector's tests are in test_retinaface.py."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion.analysis import WHOLE_IMAGE_CROP, analyze, find_faces, is_face_crop_like  # noqa: E402
from emotion.classifier import EmotionClassifier, ModelIntegrityError  # noqa: E402
from emotion.faces import load_detector  # noqa: E402
from emotion.mtcnn import MtcnnDetector, nms, square  # noqa: E402
from emotion.settings import MODEL_DIR, Settings  # noqa: E402

from composites import astronaut, background, grace_hopper, iou  # noqa: E402
from images import encode, face  # noqa: E402

SETTINGS = Settings()


@pytest.fixture(scope="module")
def detector():
    return load_detector(MODEL_DIR, "mtcnn")


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier.load(MODEL_DIR, SETTINGS.model_name)


def test_nms_keeps_the_best_of_overlapping_boxes_and_min_drops_a_box_inside_another():
    boxes = np.array([[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.8], [50, 50, 60, 60, 0.7], [2, 2, 5, 5, 0.6]])
    assert list(nms(boxes, 0.5)) == [0, 2, 3]
    assert list(nms(boxes, 0.5, "min")) == [0, 2]
    sq = square(np.array([[0.0, 0.0, 10.0, 20.0, 1.0]]))
    np.testing.assert_allclose(sq[0, :4], [-5, 0, 15, 20])


def test_a_changed_model_file_is_refused(tmp_path):
    for p in MODEL_DIR.glob("mtcnn*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    (tmp_path / "mtcnn_rnet.tflite").write_bytes(b"x" + (tmp_path / "mtcnn_rnet.tflite").read_bytes()[1:])
    with pytest.raises(ModelIntegrityError):
        MtcnnDetector(tmp_path)


def test_face_crop_shape_rule():
    assert is_face_crop_like(350, 350) and is_face_crop_like(250, 300) and is_face_crop_like(178, 218)
    assert not is_face_crop_like(640, 480)       # landscape
    assert not is_face_crop_like(3000, 4000)     # a phone photo: too big to be a crop
    assert not is_face_crop_like(200, 400)       # a tall strip


def test_a_face_that_fills_the_picture_is_found_by_the_second_look(detector):
    # The portrait cropped to her face: no chin or hairline around it.
    tight = astronaut().crop((170, 40, 280, 200)).resize((350, 350), Image.Resampling.BICUBIC)
    faces, whole = find_faces(detector, tight)
    assert faces and not whole
    f = faces[0]
    assert 0 <= f.x0 < f.x1 <= 350 and 0 <= f.y0 < f.y1 <= 350


def test_a_crop_like_picture_without_a_face_is_classified_whole(classifier):
    class Blind:
        name, wants_color, framing = "blind", True, (1.0, 0.0)

        def detect(self, image):
            return []
    data = encode(background((300, 300), seed=4), "PNG")
    analysis = analyze(data, SETTINGS, classifier, Blind())
    assert analysis.method == WHOLE_IMAGE_CROP and len(analysis.faces) == 1
    assert analysis.faces[0]["box"] == {"x": 0, "y": 0, "width": 300, "height": 300}
    # A landscape photo with no face stays faceless.
    assert analyze(encode(background((640, 480), seed=4), "PNG"), SETTINGS, classifier, Blind()).faces == []


def test_analysis_reports_the_tight_box_and_the_crop_classified(detector, classifier):
    analysis = analyze(encode(grace_hopper(), "JPEG"), dataclasses.replace(SETTINGS, face_detector="mtcnn"),
                       classifier, detector)
    assert analysis.method == "mtcnn" and len(analysis.faces) == 1
    f = analysis.faces[0]
    b, c = f["box"], f["crop"]
    assert c["width"] == c["height"] >= b["height"] * 0.95  # the square on the box's height
    assert c["x"] <= b["x"] and b["x"] + b["width"] <= c["x"] + c["width"]
    assert 0.9 <= f["detector_score"] <= 1


def test_max_faces_keeps_the_largest(detector, classifier):
    image = Image.new("RGB", (900, 400), (120, 120, 120))
    for i, side in enumerate((220, 160)):
        image.paste(astronaut().crop((140, 20, 310, 230)).resize((side, round(side * 210 / 170))), (40 + i * 450, 20))
    one = dataclasses.replace(SETTINGS, max_faces=1)
    both = analyze(encode(image, "PNG"), SETTINGS, classifier, detector).faces
    assert len(both) == 2
    assert analyze(encode(image, "PNG"), one, classifier, detector).faces == both[:1]
