"""The photo detector (RetinaFace MobileNet-0.25 on LiteRT): portraits, a faceless photo, the
anchors and decoding, the canvases (one resizable model), the file check, the second look."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion.analysis import analyze, find_faces  # noqa: E402
from emotion.classifier import EmotionClassifier, ModelIntegrityError  # noqa: E402
from emotion.faces import load_detector  # noqa: E402
from emotion.retinaface import RetinaFaceDetector, anchors, decode  # noqa: E402
from emotion.settings import MODEL_DIR, Settings  # noqa: E402

from composites import astronaut, background, grace_hopper, iou  # noqa: E402
from images import encode  # noqa: E402

SETTINGS = Settings()
SPEC = {"strides": [8, 16, 32], "min_sizes": [[16, 32], [64, 128], [256, 512]], "variances": [0.1, 0.2]}


@pytest.fixture(scope="module")
def detector():
    return load_detector(MODEL_DIR, "retinaface")


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier.load(MODEL_DIR, SETTINGS.model_name)


def test_defaults_fit_photographs():
    assert SETTINGS.face_detector == "retinaface"
    assert SETTINGS.max_faces == 100  # Rekognition's DetectFaces returns the 100 largest
    assert Settings.from_env({"MAX_FACES": "7"}).max_faces == 7
    assert Settings.from_env({"FACE_DETECTOR": "mtcnn"}).face_detector == "mtcnn"


def test_anchors_follow_pytorch_retinaface_prior_box():
    a = anchors(64, 96, SPEC)
    # Two sizes a cell at each stride, cells row by row.
    assert len(a) == 2 * (8 * 12 + 4 * 6 + 2 * 3)
    np.testing.assert_allclose(a[:3], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]])
    np.testing.assert_allclose(a[2 * 8 * 12], [8, 8, 64, 64])
    np.testing.assert_allclose(a[-1], [80, 48, 512, 512])


def test_decode_applies_the_variances_and_nms():
    a = np.array([[50.0, 50.0, 32.0, 32.0], [52.0, 50.0, 32.0, 32.0], [200.0, 200.0, 64.0, 64.0]])
    loc = np.array([[1.0, 0.0, 0.0, np.log(2) / 0.2], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    score = np.array([0.95, 0.9, 0.3])
    boxes = decode(loc, score, a, 0.5)
    # The first: centre moved by 0.1 * 32 px, height doubled; the second overlaps it and goes.
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], [53.2 - 16, 50 - 32, 53.2 + 16, 50 + 32, 0.95])


def test_canvases(detector):
    assert detector.canvas_for(1024, 768) == ((768, 1024), 1.0)
    assert detector.canvas_for(640, 480) == ((480, 640), 1.0)
    assert detector.canvas_for(768, 1024) == ((1024, 768), 1.0)
    # Searched at its own size, the canvas rounded up to the network's largest stride.
    assert detector.canvas_for(1024, 682) == ((704, 1024), 1.0)
    (shape, scale) = detector.canvas_for(4000, 3000)
    assert shape == (768, 1024) and scale == pytest.approx(1024 / 4000)
    # Larger than 1024x768 either way: shrunk to fit it.
    assert detector.canvas_for(1024, 852) == ((768, 928), pytest.approx(768 / 852))
    assert detector.canvas_for(2000, 2000) == ((768, 768), pytest.approx(768 / 2000))
    (shape, scale) = detector.canvas_for(40, 40)  # small pictures are enlarged into the look's square
    assert shape == (160, 160) and scale == 4.0
    assert detector.canvas_for(100, 150) == ((192, 128), pytest.approx(192 / 150))


def test_a_photo_gets_the_same_faces_whatever_was_searched_before(detector):
    photo = astronaut().convert("RGB").resize((700, 500))
    first = detector.detect(photo)
    detector.detect(Image.new("RGB", (1024, 768), (90, 90, 90)))  # another canvas in between
    assert detector.detect(photo) == first and len(first) == 1


def test_the_same_face_is_found_at_every_canvas(detector):
    photo = astronaut().convert("RGB")
    for size in ((200, 200), (512, 512), (1024, 1024), (2048, 1536)):
        faces = detector.detect(photo.resize(size, Image.Resampling.BILINEAR))
        assert len(faces) == 1, size
        f = faces[0]
        sx, sy = size[0] / 512, size[1] / 512
        assert iou((f.x0 / sx, f.y0 / sy, f.x1 / sx, f.y1 / sy), (175, 60, 265, 180)) > 0.5, size


def test_an_unsure_face_gets_a_second_look(detector):
    # The portrait small in a large gray photo: found (at once or after the look), tightly boxed.
    image = Image.new("RGB", (1024, 768), (110, 110, 110))
    image.paste(astronaut().convert("RGB").crop((150, 30, 300, 210)).resize((50, 60)), (600, 300))
    faces = detector.detect(image)
    assert len(faces) == 1
    f = faces[0]
    assert iou((f.x0, f.y0, f.x1, f.y1), (600 + 25 / 150 * 50, 300 + 30 / 180 * 60, 600 + 115 / 150 * 50, 300 + 150 / 180 * 60)) > 0.4
    verified = detector.verify(image, np.array([f.x0, f.y0, f.x1, f.y1, 0.6]))
    assert verified is not None and verified[4] >= 0.8
    assert detector.verify(image, np.array([100, 100, 140, 150, 0.6])) is None  # gray wall


def test_a_changed_model_file_is_refused(tmp_path):
    for p in MODEL_DIR.glob("retinaface*"):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    victim = tmp_path / "retinaface.tflite"
    victim.write_bytes(b"x" + victim.read_bytes()[1:])
    with pytest.raises(ModelIntegrityError):
        RetinaFaceDetector(tmp_path)


def test_a_face_that_fills_the_picture_is_found(detector):
    tight = astronaut().crop((170, 40, 280, 200)).resize((350, 350), Image.Resampling.BICUBIC)
    faces, whole = find_faces(detector, tight.convert("RGB"))
    assert faces and not whole


def test_analysis_reports_the_tight_box_and_the_crop_classified(detector, classifier):
    analysis = analyze(encode(grace_hopper(), "JPEG"), SETTINGS, classifier, detector)
    assert analysis.method == "retinaface" and len(analysis.faces) == 1
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
