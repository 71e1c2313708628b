"""Photographic augmentation: FER2013 faces made to look like faces cropped from other photos.

FER2013's crops are small, blurry web images; the function feeds the model faces cut from
photographs of every camera, exposure and size. What differs, and what this module varies:
exposure, contrast and gamma; sharpness (a sharp 300-px face shrunk to 48 px, or a blurrier one);
resolution (a 16-px face enlarged); JPEG quality; sensor noise; small pose changes (shear and
aspect, beside the rotation, zoom and shift of the model's own augmentation layer). Every image
then goes through the model's preprocessing again, as the function's crops do, so what the model
learns is robustness to what equalization cannot undo.

NumPy and Pillow only, on uint8 batches before they reach Keras, so it runs under any backend.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from .function_code import preprocessing

# The widest stretch trained for: taiwanese-dev's 480x600 photos were published at 256x256, a
# width/height change of 1.25 (../shared/data/real/README.md: "slightly stretched").
STRETCH_RATIO = 1.35


@dataclass(frozen=True)
class PhotoAugmentation:
    """Probability of each degradation and its range; one draw per image. ``share``: the share of
    images that are degraded at all (the rest stay as FER2013 has them)."""
    share: float = 1.0
    exposure: float = 0.5   # gamma in [1/1.8, 1.8] and contrast in [0.5, 1.3] around mid-grey
    sharpen: float = 0.25   # unsharp mask, as a sharp photo's face downscaled looks
    blur: float = 0.25      # Gaussian blur, radius 0.3-1.2 px
    resolution: float = 0.3  # shrink to 14-40 px, enlarge back (bilinear or bicubic)
    jpeg: float = 0.4       # re-encode at quality 25-90
    noise: float = 0.25     # Gaussian noise, sigma 2-10 grey levels
    pose: float = 0.3       # shear up to 0.12 and aspect 0.9-1.1 (a slightly turned or stretched face)
    # A photo resized to another shape by an app or a dataset: width over height changed by up to
    # STRETCH_RATIO either way (log-uniform). Off unless asked: the comparison's recipe predates it.
    stretch: float = 0.0

    def __call__(self, images: np.ndarray, rng: np.random.Generator, steps: tuple[str, ...]) -> np.ndarray:
        """``images`` (B, H, W, 1) uint8, each degraded at random then preprocessed with ``steps``."""
        out = np.empty_like(images)
        for i, image in enumerate(images):
            face = self.degrade(image[..., 0], rng) if rng.random() < self.share else image[..., 0]
            out[i, ..., 0] = preprocessing.apply(face, steps).astype(np.uint8)
        return out

    def degrade(self, face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = face.shape
        if rng.random() < self.exposure:
            x = face.astype(np.float32) / 255.0
            x = x ** np.exp(rng.uniform(-np.log(1.8), np.log(1.8)))
            x = 0.5 + (x - 0.5) * rng.uniform(0.5, 1.3) + rng.uniform(-0.1, 0.1)
            face = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(face)
        if rng.random() < self.pose:
            image = _shear(face, rng.uniform(-0.12, 0.12), rng.uniform(0.9, 1.1))
        if rng.random() < self.stretch:
            image = _stretch(np.asarray(image), np.exp(rng.uniform(-np.log(STRETCH_RATIO), np.log(STRETCH_RATIO))))
        if rng.random() < self.resolution:
            side = int(rng.integers(14, 41))
            small = image.resize((side, side), Image.Resampling.BOX)
            image = small.resize((w, h), Image.Resampling.BICUBIC if rng.random() < 0.5 else Image.Resampling.BILINEAR)
        r = rng.random()
        if r < self.sharpen:
            image = image.filter(ImageFilter.UnsharpMask(radius=float(rng.uniform(0.5, 1.5)),
                                                         percent=int(rng.integers(50, 200)), threshold=0))
        elif r < self.sharpen + self.blur:
            image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
        face = np.asarray(image)
        if rng.random() < self.noise:
            face = np.clip(face + rng.normal(0, rng.uniform(2, 10), face.shape), 0, 255).astype(np.uint8)
        if rng.random() < self.jpeg:
            buffer = io.BytesIO()
            Image.fromarray(face).save(buffer, "JPEG", quality=int(rng.integers(25, 91)))
            face = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
        return face


def degrade_batch(photo: PhotoAugmentation, images: np.ndarray, seed: tuple[int, ...],
                  steps: tuple[str, ...]) -> np.ndarray:
    """``photo`` applied to ``images`` with a generator of its own, seeded by ``seed``: a batch's
    result depends only on its seed, wherever it is computed (a worker process of training)."""
    return photo(images, np.random.default_rng(seed), steps)


def _shear(face: np.ndarray, shear: float, aspect: float) -> Image.Image:
    """``face`` sheared sideways and stretched about its centre, the border filled with its edge
    pixels (as the model's augmentation layer fills it)."""
    return _affine(face, aspect, shear, 1.0 / aspect)


def _stretch(face: np.ndarray, ratio: float) -> Image.Image:
    """``face`` made ``ratio`` times wider (narrower below 1) about its centre, height kept."""
    return _affine(face, 1.0 / ratio, 0.0, 1.0)


def _affine(face: np.ndarray, a: float, b: float, e: float) -> Image.Image:
    """``face`` through the affine map that samples input pixel (a x + b y, e y) about the centre
    for output pixel (x, y), the border filled with its edge pixels."""
    h, w = face.shape
    pad = 8
    padded = np.pad(face, pad, mode="edge")
    cx, cy = (w + 2 * pad - 1) / 2, (h + 2 * pad - 1) / 2
    moved = Image.fromarray(padded).transform(
        padded.shape[::-1], Image.Transform.AFFINE, (a, b, cx - a * cx - b * cy, 0.0, e, cy - e * cy),
        Image.Resampling.BILINEAR)
    return moved.crop((pad, pad, pad + w, pad + h))
