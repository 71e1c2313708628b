"""Test photos with known face boxes: face crops upscaled and pasted into larger backgrounds,
and real photos that ship inside installed packages."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def background(size: tuple[int, int], seed: int) -> Image.Image:
    """A smooth, textured gray background (no faces in it)."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = Image.fromarray(rng.integers(40, 220, (max(2, h // 40), max(2, w // 40)), dtype=np.uint8))
    bg = small.resize((w, h), Image.Resampling.BICUBIC)
    noise = Image.fromarray(rng.integers(0, 30, (h, w), dtype=np.uint8))
    return Image.blend(bg, noise, 0.15).filter(ImageFilter.GaussianBlur(1))


def composite(faces: list[Image.Image], size=(640, 480), sides=None, seed: int = 0):
    """Paste ``faces`` (gray crops) at random non-overlapping places; returns the image and the
    true boxes (x0, y0, x1, y1) in pixels."""
    rng = np.random.default_rng(seed)
    canvas = background(size, seed)
    boxes: list[tuple[int, int, int, int]] = []
    w, h = size
    for i, face in enumerate(faces):
        side = int(sides[i]) if sides is not None else int(rng.integers(min(w, h) // 6, min(w, h) // 2.5))
        for _ in range(200):
            x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
            box = (x, y, x + side, y + side)
            if all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3] for b in boxes):
                break
        else:
            raise ValueError("no room for another face")
        canvas.paste(face.convert("L").resize((side, side), Image.Resampling.BICUBIC), box[:2])
        boxes.append(box)
    return canvas, boxes


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def astronaut() -> Image.Image:
    import skimage.data
    return Image.fromarray(skimage.data.astronaut())


def grace_hopper() -> Image.Image:
    import matplotlib.cbook as cbook
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        im = Image.open(f)
        im.load()
    return im
