"""The model's preprocessing: OpenCV's histogram equalization, exactly, and applied as the metadata says."""
import json
import sys
from pathlib import Path

import cv2  # the reference implementation (requirements.txt)
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
from emotion.preprocessing import apply, equalize_hist, opencv_equalize_hist, steps_from_metadata  # noqa: E402

faces = arrays(np.uint8, st.tuples(st.integers(1, 64), st.integers(1, 64)))


@settings(max_examples=300, deadline=None)
@given(faces)
def test_each_pass_is_opencvs_equalizehist(image):
    np.testing.assert_array_equal(opencv_equalize_hist(image), cv2.equalizeHist(image))
    # and the step is OpenCV's pass repeated until it changes nothing
    settled = cv2.equalizeHist(image)
    while not np.array_equal(cv2.equalizeHist(settled), settled):
        settled = cv2.equalizeHist(settled)
    np.testing.assert_array_equal(equalize_hist(image), settled)


def test_equalize_hist_matches_opencv_on_low_contrast_faces():
    rng = np.random.default_rng(0)
    for low, high in ((0, 255), (100, 140), (0, 30), (200, 256)):
        image = rng.integers(low, high, (48, 48)).astype(np.uint8)
        np.testing.assert_array_equal(opencv_equalize_hist(image), cv2.equalizeHist(image))


@settings(max_examples=300, deadline=None)
@given(faces)
def test_equalizing_an_equalized_face_leaves_it_as_it_is(image):
    once = equalize_hist(image)
    np.testing.assert_array_equal(equalize_hist(once), once)


def test_a_one_level_image_is_left_as_it_is():
    np.testing.assert_array_equal(equalize_hist(np.full((48, 48), 77, np.uint8)), np.full((48, 48), 77))


def test_steps_come_from_the_metadata_and_unknown_ones_are_refused():
    assert steps_from_metadata(None) == () and steps_from_metadata(["equalize_hist"]) == ("equalize_hist",)
    with pytest.raises(ValueError, match="unknown preprocessing"):
        steps_from_metadata(["sharpen"])
    image = np.arange(48 * 48, dtype=np.float32).reshape(48, 48) % 60
    assert apply(image, ()).dtype == np.float32
    np.testing.assert_array_equal(apply(image, ("equalize_hist",)), equalize_hist(image.astype(np.uint8)))


def test_the_classifier_equalizes_when_its_metadata_says_so(tmp_path):
    from emotion.classifier import EmotionClassifier
    from emotion.settings import MODEL_DIR
    meta = json.loads((MODEL_DIR / "emotion4.json").read_text())
    (tmp_path / "emotion4.tflite").write_bytes((MODEL_DIR / "emotion4.tflite").read_bytes())
    dark = np.random.default_rng(1).integers(20, 60, (48, 48)).astype(np.float32)  # an underexposed face
    scores = {}
    for steps in ([], ["equalize_hist"]):
        (tmp_path / "emotion4.json").write_text(json.dumps({**meta, "preprocessing": steps}))
        classifier = EmotionClassifier.load(tmp_path, "emotion4")
        assert classifier.preprocessing == tuple(steps)
        scores[tuple(steps)] = classifier.predict(dark).scores
        equalized = classifier.predict(equalize_hist(dark.astype(np.uint8)).astype(np.float32)).scores
        if steps:  # an equalized crop is classified as the dark crop it came from
            assert equalized == scores[tuple(steps)]
    assert scores[()] != scores[("equalize_hist",)]
