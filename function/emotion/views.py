"""Test-time views of a face crop: the classifier averages its probabilities over them.

The model's metadata names the views it was evaluated with (``test_time_augmentation``), so
the function, the float-versus-int8 evaluation and the benchmarks all classify the same way.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

VIEWS = ("identity", "mirror", "zoom", "zoom_mirror")
# Training zooms faces by up to 10% (train/zoo.py); the zoomed view shows the face that much larger.
ZOOM = 1.1
# Named recipes (the quantize step's --tta flag); "horizontal_flip" is the metadata value of
# models shipped before zoomed views existed.
RECIPES = {
    "none": ("identity",),
    "mirror": ("identity", "mirror"),
    "mirror-zoom": VIEWS,
    "horizontal_flip": ("identity", "mirror"),
}


def views_from_metadata(value) -> tuple[str, ...]:
    """The views a model's metadata asks for: a recipe name, a list of views, or nothing."""
    if not value:
        return ("identity",)
    views = RECIPES[value] if isinstance(value, str) else tuple(value)
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown test-time views {unknown}; known: {', '.join(VIEWS)}")
    return views


def _zoomed(pixels: np.ndarray) -> np.ndarray:
    h, w = pixels.shape
    big = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).resize(
        (round(w * ZOOM), round(h * ZOOM)), Image.Resampling.BILINEAR)
    left, top = (big.width - w) // 2, (big.height - h) // 2
    return np.asarray(big, dtype=np.float32)[top:top + h, left:left + w]


def face_views(pixels: np.ndarray, views: tuple[str, ...]) -> list[np.ndarray]:
    """``pixels`` (HxW float, 0..255) as each named view, in order."""
    zoomed = _zoomed(pixels) if any(v.startswith("zoom") for v in views) else None
    made = {"identity": lambda: pixels, "mirror": lambda: pixels[:, ::-1],
            "zoom": lambda: zoomed, "zoom_mirror": lambda: zoomed[:, ::-1]}
    return [np.ascontiguousarray(made[v](), dtype=np.float32) for v in views]
