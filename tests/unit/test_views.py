"""Test-time views: named in the model's metadata, the same in the function and the evaluation."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion.classifier import EmotionClassifier  # noqa: E402
from emotion.preprocessing import apply as preprocess  # noqa: E402
from emotion.settings import MODEL_DIR  # noqa: E402
from emotion.views import RECIPES, VIEWS, face_views, views_from_metadata  # noqa: E402

from images import face  # noqa: E402


def test_recipes_and_lists_name_views():
    assert views_from_metadata(None) == ("identity",)
    assert views_from_metadata("horizontal_flip") == ("identity", "mirror")  # models shipped before zoom
    assert views_from_metadata("mirror-zoom") == ("identity", "mirror", "zoom", "zoom_mirror")
    assert views_from_metadata("mirror-zoom-in-out") == VIEWS
    assert views_from_metadata(["identity", "zoom"]) == ("identity", "zoom")
    with pytest.raises(ValueError, match="unknown test-time views"):
        views_from_metadata(["identity", "rotate"])


def test_training_offers_every_recipe_the_function_knows():
    from train.__main__ import TTA_RECIPES  # the --tta and --distill-tta choices
    assert set(TTA_RECIPES) == set(RECIPES) - {"horizontal_flip"}  # the old metadata name is not offered


def test_views_are_the_face_mirrored_and_zoomed():
    pixels = np.asarray(face("happy"), dtype=np.float32)
    identity, mirror, zoom, zoom_mirror, zoom_out, zoom_out_mirror = face_views(pixels, VIEWS)
    np.testing.assert_array_equal(identity, pixels)
    np.testing.assert_array_equal(mirror, pixels[:, ::-1])
    np.testing.assert_array_equal(zoom_mirror, zoom[:, ::-1])
    assert zoom.shape == pixels.shape and zoom.dtype == np.float32
    assert not np.array_equal(zoom, pixels)
    # Zooming by 10% about the center: the center pixel stays where it was, the corners move out.
    assert abs(float(zoom[24, 24]) - float(pixels[24, 24])) <= 2
    np.testing.assert_array_equal(zoom_out_mirror, zoom_out[:, ::-1])
    assert zoom_out.shape == pixels.shape and not np.array_equal(zoom_out, pixels)


def test_zooming_out_shrinks_the_face_and_repeats_the_edges():
    pixels = np.zeros((48, 48), np.float32)
    pixels[14:34, 14:34] = 200  # a 20-pixel square in the middle, on black
    pixels[:, :4] = 100  # a gray band along the left edge
    (small,) = face_views(pixels, ("zoom_out",))
    bright = np.argwhere(small > 100)
    side = bright.max(0) - bright.min(0) + 1
    assert 16 <= side.min() and side.max() <= 19  # 20 x 0.9, give or take the interpolation
    assert np.abs(bright.mean(0) - 23.5).max() <= 1  # still centred
    assert (small[:, :2] >= 90).all()  # the border repeats the edge pixels, as training's zoom fills it


def test_classifier_averages_over_the_views_its_metadata_names(tmp_path):
    shutil.copy(MODEL_DIR / "emotion4.tflite", tmp_path / "m.tflite")
    meta = json.loads((MODEL_DIR / "emotion4.json").read_text())
    pixels = np.asarray(face("surprise"), dtype=np.float32)
    probs = {}
    for views in (["identity"], ["identity", "mirror", "zoom", "zoom_mirror"]):
        (tmp_path / "m.json").write_text(json.dumps({**meta, "test_time_augmentation": views}))
        clf = EmotionClassifier(tmp_path / "m.tflite", tmp_path / "m.json")
        assert clf.views == tuple(views)
        probs[len(views)] = np.array(list(clf.predict(pixels).scores.values()))
    single = EmotionClassifier(tmp_path / "m.tflite", tmp_path / "m.json")
    single.views = ("identity",)
    seen = preprocess(pixels, single.preprocessing)  # the model's own preprocessing comes first
    by_hand = np.mean([single._probabilities(v) for v in face_views(seen, VIEWS[:4])], axis=0)
    np.testing.assert_allclose(probs[4], np.clip(by_hand, 0, None) / np.clip(by_hand, 0, None).sum(), atol=1e-9)
    assert not np.allclose(probs[1], probs[4])
