"""The gather-free augmentation layer: exact geometry, inference identity, saving, training."""
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from train import zoo  # noqa: E402
from train.augment import FaceAugmentation, resample_axes, rotate  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (3, 48, 48, 1)).astype("float32")
POSITIONS = np.tile(np.arange(48, dtype="float32"), (3, 1))


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_identity_mirror_and_shift_are_exact():
    np.testing.assert_array_equal(numpy(resample_axes(IMAGES, POSITIONS, POSITIONS)), IMAGES)
    np.testing.assert_array_equal(numpy(resample_axes(IMAGES, POSITIONS, POSITIONS[:, ::-1].copy())),
                                  IMAGES[:, :, ::-1])
    shifted = numpy(resample_axes(IMAGES, POSITIONS + 3, POSITIONS))
    np.testing.assert_array_equal(shifted[:, :45], IMAGES[:, 3:])
    np.testing.assert_array_equal(shifted[:, 45:], np.repeat(IMAGES[:, 47:], 3, axis=1))  # edge repeated


def test_half_pixel_shift_interpolates_linearly():
    shifted = numpy(resample_axes(IMAGES, POSITIONS, POSITIONS + 0.5))
    np.testing.assert_allclose(shifted[:, :, :47], (IMAGES[:, :, :47] + IMAGES[:, :, 1:]) / 2, rtol=1e-6)


@pytest.mark.parametrize("degrees", [30, -15])
def test_rotation_turns_a_blob_about_the_centre(degrees):
    yy, xx = np.mgrid[0:48, 0:48]
    blob = (255 * np.exp(-((yy - 14) ** 2 + (xx - 34) ** 2) / 8.0))[None, :, :, None].astype("float32")
    out = numpy(rotate(blob, np.array([math.radians(degrees)], "float32")))[0, :, :, 0]
    cy, cx = (out * yy).sum() / out.sum(), (out * xx).sum() / out.sum()
    before = math.atan2(14 - 23.5, 34 - 23.5)
    after = math.atan2(cy - 23.5, cx - 23.5)
    assert math.hypot(cy - 23.5, cx - 23.5) == pytest.approx(math.hypot(14 - 23.5, 34 - 23.5), abs=0.05)
    assert abs(math.degrees(after - before)) == pytest.approx(abs(degrees), abs=0.2)
    assert out.sum() == pytest.approx(blob.sum(), rel=1e-3)  # nothing lost at the edges


def test_layer_randomizes_in_training_only_and_stays_in_range():
    layer = FaceAugmentation(seed=1)
    np.testing.assert_array_equal(numpy(layer(IMAGES, training=False)), IMAGES)
    out = numpy(layer(IMAGES, training=True))
    assert out.shape == IMAGES.shape and out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out, IMAGES)
    assert not np.allclose(out, numpy(layer(IMAGES, training=True)))  # new draws every call


def test_matrix_augmented_model_saves_loads_and_fits(tmp_path):
    model = zoo.build("cnn_model_1", 2, augment="matrix")
    assert isinstance(model.get_layer("augmentation"), FaceAugmentation)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(IMAGES[:2], keras.utils.to_categorical([0, 1], 2), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match="unknown augmentation"):
        zoo.build("cnn_model_1", 2, augment="blur")
