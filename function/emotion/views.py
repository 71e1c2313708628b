"""Test-time views of a face crop: the classifier averages its probabilities over them.

The model's metadata names the views it was evaluated with (``test_time_augmentation``), so
the function, the float-versus-int8 evaluation and the benchmarks all classify the same way.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

VIEWS = ("identity", "mirror", "zoom", "zoom_mirror", "zoom_out", "zoom_out_mirror")
# Training zooms faces by up to 10% either way (train/zoo.py): the zoomed view shows the face that
# much larger, the zoomed-out view that much smaller, its border filled with the edge pixels as the
# training augmentation fills it.
ZOOM_IN, ZOOM_OUT = 1.1, 0.9
# Named recipes (the quantize step's --tta flag); "horizontal_flip" is the metadata value of
# models shipped before zoomed views existed.
RECIPES = {
    "none": ("identity",),
    "mirror": ("identity", "mirror"),
    "mirror-zoom": ("identity", "mirror", "zoom", "zoom_mirror"),
    "mirror-zoom-in-out": VIEWS,
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


def _zoomed(pixels: np.ndarray, factor: float) -> np.ndarray:
    """``pixels`` scaled by ``factor`` about the center, cut or edge-padded back to their size."""
    h, w = pixels.shape
    scaled = np.asarray(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).resize(
        (round(w * factor), round(h * factor)), Image.Resampling.BILINEAR), dtype=np.float32)
    sh, sw = scaled.shape
    if factor >= 1:
        top, left = (sh - h) // 2, (sw - w) // 2
        return scaled[top:top + h, left:left + w]
    top, left = (h - sh) // 2, (w - sw) // 2
    return np.pad(scaled, ((top, h - sh - top), (left, w - sw - left)), mode="edge")


def face_views(pixels: np.ndarray, views: tuple[str, ...]) -> list[np.ndarray]:
    """``pixels`` (HxW float, 0..255) as each named view, in order."""
    scaled = {factor: _zoomed(pixels, factor) for prefix, factor in (("zoom_out", ZOOM_OUT), ("zoom", ZOOM_IN))
              if any(v.removesuffix("_mirror") == prefix for v in views)}
    made = {"identity": lambda: pixels, "mirror": lambda: pixels[:, ::-1],
            "zoom": lambda: scaled[ZOOM_IN], "zoom_mirror": lambda: scaled[ZOOM_IN][:, ::-1],
            "zoom_out": lambda: scaled[ZOOM_OUT], "zoom_out_mirror": lambda: scaled[ZOOM_OUT][:, ::-1]}
    return [np.ascontiguousarray(made[v](), dtype=np.float32) for v in views]
