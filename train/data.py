"""Load class-folder image datasets (``split/<emotion>/*.jpg``) into NumPy arrays.

FER2013 at 48x48 is small (about 66 MB as uint8), so whole splits are held in memory:
this keeps the training loop backend-agnostic (plain arrays into ``model.fit``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .config import EMOTIONS, IMAGE_SIZE, IMAGE_SUFFIXES
from .function_code import preprocessing


class DatasetError(ValueError):
    """The dataset tree or the requested classes are unusable."""


@dataclass
class Split:
    images: np.ndarray  # uint8, (N, 48, 48, 1), gray pixel values 0..255
    labels: np.ndarray  # int32, (N,), index into ``classes``
    classes: tuple[str, ...]
    paths: list[Path]
    preprocessing: tuple[str, ...] = ()  # applied to ``images`` already (function/emotion/preprocessing.py)
    labels_from: str = "folders"  # or "ferplus majority" (train/ferplus.py's majority_split)

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}


def parse_classes(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Turn ``"happy,sad"`` (or a list) into a validated tuple in FER2013 order."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip().lower() for n in names if n.strip()]
    unknown = sorted(set(names) - set(EMOTIONS))
    if unknown:
        raise DatasetError(
            f"unknown emotion(s) {', '.join(unknown)}; choose from {', '.join(EMOTIONS)}"
        )
    if len(set(names)) < 2:
        raise DatasetError("at least two distinct classes are needed")
    # Canonical order, so the same subset always gives the same output layout.
    return tuple(e for e in EMOTIONS if e in names)


def parse_preprocessing(spec: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Turn ``"equalize_hist"`` (or a list; ``"none"`` or empty for no step) into validated steps."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip() and n.strip() != "none"]
    try:
        return preprocessing.steps_from_metadata(names)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def load_image(path: Path, size: int = IMAGE_SIZE, steps: tuple[str, ...] = ()) -> np.ndarray:
    """One face as the model sees it: gray, ``size`` x ``size``, through the model's preprocessing."""
    with Image.open(path) as im:
        im = im.convert("L")
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BILINEAR)
        return preprocessing.apply(np.asarray(im, dtype=np.uint8), steps).astype(np.uint8)


def class_files(data_dir: Path, split: str, name: str) -> list[Path]:
    """The image files of one class folder of a split (``data_dir/split/name``), sorted."""
    folder = Path(data_dir) / split / name
    if not folder.is_dir():
        raise DatasetError(f"class folder missing: {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_split(data_dir: Path, split: str, classes: tuple[str, ...], limit: int | None = None,
               steps: tuple[str, ...] = ()) -> Split:
    """Read ``data_dir/split/<class>/*`` for the given classes, each image through ``steps``
    (the model's preprocessing, as the function applies it).

    ``limit`` caps images per class (for quick runs and tests).
    """
    root = Path(data_dir) / split
    if not root.is_dir():
        raise DatasetError(f"no split folder {root}")
    images, labels, paths = [], [], []
    for index, name in enumerate(classes):
        files = class_files(data_dir, split, name)
        if limit:
            files = files[:limit]
        if not files:
            raise DatasetError(f"no images in {root / name}")
        for path in files:
            images.append(load_image(path, steps=steps))
            labels.append(index)
            paths.append(path)
    x = np.stack(images)[..., None]
    return Split(x, np.asarray(labels, dtype=np.int32), classes, paths, tuple(steps))


def class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, normalized so the mean weight is 1."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    weights = counts.sum() / (n_classes * np.maximum(counts, 1))
    return {i: float(w) for i, w in enumerate(weights)}
