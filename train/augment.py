"""Training-time augmentation of face crops, written as matrix products.

The study augmented with rotation, zoom, shifts, horizontal flips and brightness. Keras's own
layers (RandomRotation, RandomZoom, RandomTranslation) resample with a per-pixel gather, which
is cheap under TensorFlow on a CPU but measured 135 times slower than the whole training step
under JAX on an H100-class GPU (453 ms against 3.4 ms per batch of 64: docs/training.md).

``FaceAugmentation`` does the same transformations without any gather. Resampling a row or
column with linear interpolation is a matrix product: output pixel ``i`` reads source position
``s(i)`` with weights ``max(0, 1 - |s(i) - j|)`` over source pixels ``j`` (a "tent" matrix;
clipping ``s(i)`` to the image repeats edge pixels, Keras's ``fill_mode="nearest"``).
Zoom, shift and flip are separable (one matrix for rows, one for columns), and a rotation is
three shears (Paeth's decomposition), each a row-by-row (or column-by-column) tent matrix. All
of it is ``keras.ops`` einsums, so it runs on any backend and maps onto a GPU's matrix units.
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops


def tent_matrix(source):
    """Interpolation weights ``(..., n, n)`` for output positions reading ``source`` ``(..., n)``.

    Positions are pixel indices (pixel centres at 0..n-1); positions beyond the image are
    clamped to its edge.
    """
    n = source.shape[-1]
    source = ops.clip(source, 0.0, float(n - 1))
    grid = ops.arange(n, dtype="float32")
    return ops.relu(1.0 - ops.abs(ops.expand_dims(source, -1) - grid))


def resample_axes(images, rows, cols):
    """``images`` (B, H, W, C) resampled separably: ``rows`` (B, H) and ``cols`` (B, W) are the
    source positions of every output row and column."""
    images = ops.einsum("bij,bjwc->biwc", tent_matrix(rows), images)
    return ops.einsum("bkw,biwc->bikc", tent_matrix(cols), images)


def shear_rows(images, factor):
    """Shift every row ``r`` sideways by ``factor * (r - centre)`` pixels (factor: (B,))."""
    h, w = images.shape[1], images.shape[2]
    offsets = ops.expand_dims(factor, -1) * (ops.arange(h, dtype="float32") - (h - 1) / 2)  # (B, H)
    source = ops.expand_dims(offsets, -1) + ops.arange(w, dtype="float32")  # (B, H, W)
    return ops.einsum("brij,brjc->bric", tent_matrix(source), images)


def shear_cols(images, factor):
    """Shift every column ``x`` up or down by ``factor * (x - centre)`` pixels: the row shear of
    the transposed image."""
    return ops.transpose(shear_rows(ops.transpose(images, (0, 2, 1, 3)), factor), (0, 2, 1, 3))


def rotate(images, angles):
    """Rotate each image about its centre by ``angles`` (radians, (B,)) as three shears."""
    alpha = -ops.tan(angles / 2)
    images = shear_rows(images, alpha)
    images = shear_cols(images, ops.sin(angles))
    return shear_rows(images, alpha)


@keras.saving.register_keras_serializable(package="emotion")
class FaceAugmentation(layers.Layer):
    """Random horizontal flip, rotation, zoom, shift and brightness; identity at inference.

    Ranges follow Keras's layers: ``rotation`` is a fraction of a full turn, ``zoom`` and
    ``shift`` fractions of the image size, ``brightness`` a fraction of the 0..255 range.
    """

    def __init__(self, rotation=0.05, zoom=0.1, shift=0.08, brightness=0.2, flip=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation, self.zoom, self.shift, self.brightness, self.flip = rotation, zoom, shift, brightness, flip
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, bound):
        return keras.random.uniform((batch,), -bound, bound, seed=self.seed_generator)

    def call(self, images, training=True):
        if not training:
            return images
        images = ops.cast(images, "float32")
        batch, h, w = ops.shape(images)[0], images.shape[1], images.shape[2]
        # Zoom, shift and flip: one source position per output row and column.
        scale = 1.0 + self._uniform(batch, self.zoom)
        mirror = ops.where(keras.random.uniform((batch,), seed=self.seed_generator) < 0.5, -1.0, 1.0) \
            if self.flip else ops.ones((batch,))
        rows = (ops.expand_dims(scale, -1) * (ops.arange(h, dtype="float32") - (h - 1) / 2) + (h - 1) / 2
                + ops.expand_dims(self._uniform(batch, self.shift * h), -1))
        cols = (ops.expand_dims(scale * mirror, -1) * (ops.arange(w, dtype="float32") - (w - 1) / 2) + (w - 1) / 2
                + ops.expand_dims(self._uniform(batch, self.shift * w), -1))
        images = resample_axes(images, rows, cols)
        if self.rotation:
            images = rotate(images, self._uniform(batch, self.rotation * 2 * math.pi))
        if self.brightness:
            delta = self._uniform(batch, self.brightness * 255.0)
            images = ops.clip(images + ops.reshape(delta, (-1, 1, 1, 1)), 0.0, 255.0)
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation": self.rotation, "zoom": self.zoom, "shift": self.shift,
                "brightness": self.brightness, "flip": self.flip, "seed": self.seed}
