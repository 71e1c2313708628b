"""BlazeFace short-range (the selfie detector, still selectable): anchors, suppression, real photos,
composites with known boxes, the crop rule. The photo detector's tests are in test_mtcnn.py."""
import dataclasses
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion.analysis import WHOLE_IMAGE_CROP, analyze  # noqa: E402
from emotion.classifier import EmotionClassifier  # noqa: E402
from emotion.faces import SPECS, Face, FaceDetector, _merge_duplicates, crop_face, ssd_anchors, weighted_nms  # noqa: E402
from emotion.imaging import decode_image  # noqa: E402
from emotion.settings import MODEL_DIR, Settings  # noqa: E402

from composites import astronaut, background, composite, grace_hopper, iou  # noqa: E402
from images import encode, face, jpeg_with_orientation  # noqa: E402

BLAZEFACE = "face_detection_short_range"
SETTINGS = Settings(face_detector=BLAZEFACE)


@pytest.fixture(scope="module")
def detector():
    return FaceDetector.load(MODEL_DIR, BLAZEFACE)


@pytest.fixture(scope="module")
def classifier():
    return EmotionClassifier.load(MODEL_DIR, SETTINGS.model_name)


def test_anchor_counts_match_the_models():
    assert len(ssd_anchors(SPECS["short_range"])) == 896
    assert len(ssd_anchors(SPECS["full_range"])) == 2304


def test_weighted_nms_merges_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=float)
    merged = weighted_nms(boxes, np.array([0.9, 0.6, 0.8]))
    assert len(merged) == 2
    np.testing.assert_allclose(merged[0][0], [0.4, 0.4, 10.4, 10.4])  # score-weighted average
    assert merged[0][1] == pytest.approx(0.9)


def test_a_box_around_a_surer_face_or_inside_one_is_not_another_face():
    sure = [Face(100, 100, 160, 160, 0.9), Face(300, 100, 360, 160, 0.9)]
    group = Face(80, 60, 380, 260, 0.5)        # holds both faces' centers, overlaps each little
    part = Face(120, 120, 140, 140, 0.6)       # an eye or a mouth of the first face
    beside = Face(400, 100, 460, 160, 0.55)    # a third face
    assert _merge_duplicates(sure + [group, part, beside]) == sure + [beside]


@pytest.mark.parametrize("photo,region", [
    (astronaut, (150, 50, 300, 200)),   # her face, in pixels of the 512x512 photo
    (grace_hopper, (140, 110, 390, 370)),
])
def test_real_photos_have_exactly_one_face_boxed(detector, photo, region):
    gray = photo().convert("L")
    faces = detector.detect(gray)
    assert len(faces) == 1
    box = faces[0].framed().clipped(*gray.size)
    assert iou((box.x0, box.y0, box.x1, box.y1), region) > 0.5


@pytest.mark.parametrize("quality", [50, 75, 90])
@pytest.mark.parametrize("photo", [astronaut, grace_hopper])
def test_real_photos_as_jpeg_still_have_one_face(detector, photo, quality):
    # JPEG artefacts made closer second looks (crops 1.7x the candidate) see a face in a collar.
    buf = io.BytesIO()
    photo().save(buf, format="JPEG", quality=quality)
    gray = decode_image(buf.getvalue(), SETTINGS.max_image_pixels, draft_size=SETTINGS.detection_draft_side).gray
    assert len(detector.detect(gray)) == 1


def test_composite_faces_are_found_at_their_true_boxes(detector):
    # The bundled sample faces, pasted large and apart: an easy case every build must pass.
    faces = [face("happy"), face("surprise"), face("neutral")]
    image, boxes = composite(faces, size=(640, 480), sides=[180, 160, 170], seed=3)
    found = [f.framed() for f in detector.detect(image)]
    for truth in boxes:
        assert max(iou(truth, (f.x0, f.y0, f.x1, f.y1)) for f in found) >= 0.5, truth


def test_photo_without_faces_finds_none(detector):
    assert detector.detect(background((640, 480), seed=1)) == []


def test_crop_pads_beyond_the_edges():
    gray = Image.new("L", (100, 100), 200)
    crop = crop_face(gray, Face(-20, -20, 40, 40, 1.0))
    assert crop.size == (60, 60) and np.asarray(crop).min() == 200


@pytest.mark.parametrize("region", [(-7, -3, 20, 24), (30, 20, 70, 60), (-30, -30, -10, -10), (45, 5, 90, 50),
                                    (-10, 30, 70, 110), (0, 0, 53, 37)])
def test_crop_repeats_the_nearest_edge_pixel_outside_the_image(region):
    arr = np.arange(37 * 53, dtype=np.uint32).reshape(37, 53) % 251
    gray = Image.fromarray(arr.astype(np.uint8))
    x0, y0, x1, y1 = region
    ys, xs = np.clip(np.arange(y0, y1), 0, 36), np.clip(np.arange(x0, x1), 0, 52)
    expected = arr[np.ix_(ys, xs)]
    np.testing.assert_array_equal(np.asarray(crop_face(gray, Face(*region, 1.0))), expected)


def test_a_look_at_a_window_past_the_edge_finds_the_face_in_image_pixels(detector):
    image, boxes = composite([face("happy")], size=(640, 480), sides=[150], seed=3)
    x0, y0, x1, y1 = boxes[0]
    side = 2 * (x1 - x0)
    window = (x0 - side // 4 - 400, y0 - side // 4, x0 - side // 4 - 400 + side, y0 - side // 4 + side)
    assert detector.look(image, window) == [] or max(s for _, s in detector.look(image, window)) < 0.5
    window = (x0 - side // 4, y0 - side // 4, x0 - side // 4 + side, y0 - side // 4 + side)
    box, score = max(detector.look(image, window), key=lambda bs: bs[1])
    framed = Face(*box, score).framed()
    assert score >= 0.5 and iou(boxes[0], (framed.x0, framed.y0, framed.x1, framed.y1)) >= 0.5


def test_small_uploads_are_face_crops_and_classified_whole(detector, classifier):
    analysis = analyze(encode(face("sad"), "JPEG"), SETTINGS, classifier, detector)
    assert analysis.method == WHOLE_IMAGE_CROP
    assert len(analysis.faces) == 1 and analysis.faces[0]["detector_score"] is None
    assert analysis.faces[0]["box"] == {"x": 0, "y": 0, "width": 48, "height": 48}


def test_photo_analysis_reports_every_face_largest_first(detector, classifier):
    image, boxes = composite([face("happy"), face("surprise")], size=(640, 480), sides=[200, 140], seed=5)
    analysis = analyze(encode(image, "PNG"), SETTINGS, classifier, detector)
    assert analysis.method == SETTINGS.face_detector
    assert len(analysis.faces) == 2
    areas = [f["box"]["width"] * f["box"]["height"] for f in analysis.faces]
    assert areas == sorted(areas, reverse=True)
    first = analysis.faces[0]
    b, c = first["box"], first["crop"]
    # The composite's true box is the FER2013 crop: what the classifier's framing should show.
    assert iou(boxes[0], (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) >= 0.5
    assert c["x"] <= b["x"] and b["x"] + b["width"] <= c["x"] + c["width"]  # the face's own box is inside
    assert first["box_fraction"]["x"] == pytest.approx(b["x"] / 640, abs=1e-3)
    assert 0.5 <= first["detector_score"] <= 1
    assert set(first["scores"]) == set(classifier.labels)


def test_boxes_follow_exif_orientation(detector, classifier):
    # Stored sideways with orientation 6 (rotate 90 degrees clockwise to display).
    image, boxes = composite([face("happy")], size=(640, 480), sides=[200], seed=7)
    stored = image.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes
    analysis = analyze(jpeg_with_orientation(stored, 6), SETTINGS, classifier, detector)
    b = analysis.faces[0]["crop"]
    assert iou(boxes[0], (b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"])) >= 0.5


def test_large_jpegs_are_boxed_in_full_size_pixels(detector, classifier):
    image, boxes = composite([face("surprise")], size=(640, 480), sides=[220], seed=2)
    big = image.resize((4000, 3000), Image.Resampling.BILINEAR)
    analysis = analyze(encode(big, "JPEG", quality=85), SETTINGS, classifier, detector)
    assert analysis.image["width"] == 4000
    b = analysis.faces[0]["crop"]
    truth = tuple(v * 6.25 for v in boxes[0])
    assert iou(truth, (b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"])) >= 0.5


def test_no_face_is_an_ok_result_without_emotion(app, monkeypatch):
    # The handler runs the default detector (MTCNN).
    import boto3
    from infra.local import LocalContext
    from images import s3_event
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="faces")
    data = encode(background((640, 480), seed=1), "JPEG")
    etag = s3.put_object(Bucket="faces", Key="uploads/landscape.jpg", Body=data)["ETag"].strip('"')
    app.handler(s3_event(("faces", "uploads/landscape.jpg", len(data), etag)), LocalContext())
    import json
    result = json.loads(s3.get_object(Bucket="faces", Key="uploads/landscape.jpg.json")["Body"].read())
    assert result["status"] == "ok" and result["faces"] == [] and result["emotion"] is None
    assert result["detection"] == {"method": Settings().face_detector, "faces_found": 0}


def test_detection_can_be_switched_off(classifier):
    image, _ = composite([face("happy")], size=(640, 480), sides=[200], seed=5)
    off = dataclasses.replace(SETTINGS, face_detection=False)
    analysis = analyze(encode(image, "PNG"), off, classifier, None)
    assert analysis.method == "disabled" and len(analysis.faces) == 1
    assert analysis.faces[0]["box"] == {"x": 80, "y": 0, "width": 480, "height": 480}
    assert Settings.from_env({"FACE_DETECTION": "Disabled"}).face_detection is False
    assert Settings.from_env({}).face_detection is True


def test_small_faces_are_found_by_the_second_look(detector):
    # Faces about a sixth of the photo's height score only 0.3-0.5 in the first pass; the crop
    # around each candidate confirms them.
    faces = [face("happy"), face("sad"), face("surprise")]
    image, boxes = composite(faces, size=(640, 480), sides=[90, 100, 110], seed=6)  # the one-pass detector missed here
    found = [f.framed() for f in detector.detect(image)]
    assert len(found) == 3
    for truth in boxes:
        assert max(iou(truth, (f.x0, f.y0, f.x1, f.y1)) for f in found) >= 0.5, truth


def test_background_candidate_is_refused_on_the_second_look(detector):
    gray = background((640, 480), seed=2)
    assert detector._verify(gray, Face(200, 150, 300, 250, 0.4)) is None


def test_a_face_cut_by_every_windows_inner_edge_is_found_by_a_second_look(detector):
    # At x 190-340, y 150-300 of a 640x480 photo the face crosses an inner edge of each window of
    # the 2x2 grid (x 256-384, y 192-288 are shared), and the whole photo shows it too small to
    # score: without the second look at its cut detections this photo had no face.
    image = background((640, 480), seed=1)
    image.paste(face("surprise").convert("L").resize((150, 150), Image.Resampling.BICUBIC), (190, 150))
    found = [f.framed() for f in detector.detect(image)]
    assert len(found) == 1
    assert iou((190, 150, 340, 300), (found[0].x0, found[0].y0, found[0].x1, found[0].y1)) >= 0.5
