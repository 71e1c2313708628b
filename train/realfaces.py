"""The real photographs' faces as the deployed analysis finds them, for scoring float models.

The function's own decoding, detector, second look and crop run once over every set in
``../shared/data/real`` (``bench.realphotos`` lists and scores the sets the same way); the
largest face of each photograph is kept at the model's input size, before any preprocessing,
in a cache in the runs folder. A trained network is then scored on those faces through its own
preprocessing and test-time views, as the function would show them to it, without quantizing
it first. Evaluation only: nothing trains on these photographs.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import keras
import numpy as np

from . import function_code  # noqa: F401  (puts function/ on the path)
from .config import IMAGE_SIZE

DEFAULT_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
CACHE_FORMAT = 1  # bumped when what the cache holds changes


class _LargestFace:
    """Stands in for the classifier in the deployed analysis: keeps the first face it is shown,
    the largest (the analysis classifies faces largest first)."""

    image_size = IMAGE_SIZE

    def __init__(self):
        self.pixels = None

    def predict(self, pixels: np.ndarray):
        from emotion.classifier import Prediction
        if self.pixels is None:
            self.pixels = np.asarray(pixels, np.float32).copy()
        return Prediction("unknown", 0.0, {})


def detected_faces(real: Path, cache_dir: Path, log=print) -> dict[str, dict]:
    """``{set: {"labels": [...], "faces": N x 48 x 48 float32, "found": N bools}}`` for every set in
    ``real``, read from ``cache_dir`` when the same images and detector were seen before."""
    from bench.realphotos import list_images
    from emotion.analysis import analyze
    from emotion.faces import load_detector
    from emotion.settings import Settings

    settings = Settings.from_env()
    images = list_images(Path(real), None)
    # The detector's files (built from wheels, never committed) name the cache too: a rebuilt or
    # reconverted detector finds faces afresh.
    models = sorted(Path(settings.model_dir).glob(f"{settings.face_detector}*"))
    key = {"format": CACHE_FORMAT, "detector": settings.face_detector,
           "detector_files": {m.name: hashlib.sha256(m.read_bytes()).hexdigest() for m in models},
           "images": {name: [f"{p.parent.name}/{p.name}" for p, _ in files] for name, files in images.items()}}
    cache = Path(cache_dir) / f"realfaces-{settings.face_detector}.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        if json.loads(str(stored["key"])) == key:
            return {name: {"labels": [t for _, t in files], "faces": stored[f"{name}/faces"],
                           "found": stored[f"{name}/found"]} for name, files in images.items()}
    detector = load_detector(settings.model_dir, settings.face_detector)
    out, arrays, started, done = {}, {"key": np.array(json.dumps(key))}, time.monotonic(), 0
    total = sum(len(files) for files in images.values())
    for name, files in images.items():
        faces = np.zeros((len(files), IMAGE_SIZE, IMAGE_SIZE), np.float32)
        found = np.zeros(len(files), bool)
        for i, (path, _) in enumerate(files):
            recorder = _LargestFace()
            analyze(path.read_bytes(), settings, recorder, detector)
            if recorder.pixels is not None:
                faces[i], found[i] = recorder.pixels, True
            done += 1
            if done % 200 == 0 or done == total:
                log(f"  real photographs: {done}/{total} faces looked for ({time.monotonic() - started:.0f} s)")
        out[name] = {"labels": [t for _, t in files], "faces": faces, "found": found}
        arrays[f"{name}/faces"], arrays[f"{name}/found"] = faces, found
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **arrays)
    return out


def set_probabilities(model: keras.Model, entry: dict, classes: tuple[str, ...], steps: tuple[str, ...],
                      tta: str) -> tuple[list[int], np.ndarray]:
    """The indices of one set's photographs labelled with one of ``classes``, and the float
    network's probabilities for their faces, through ``steps`` and the ``tta`` views."""
    from emotion.preprocessing import apply

    from .quantize import float_probs
    keep = [i for i, label in enumerate(entry["labels"]) if label in classes]
    if not keep:
        return keep, np.zeros((0, len(classes)), np.float32)
    pixels = np.stack([apply(entry["faces"][i], steps) for i in keep])[..., None]
    return keep, float_probs(model, pixels, tta)


def real_photo_scores(model: keras.Model, faces: dict[str, dict], classes: tuple[str, ...],
                      steps: tuple[str, ...], tta: str) -> dict[str, dict]:
    """Per set: accuracy, macro-F1 and faces not found, scored as ``bench.realphotos`` scores the
    service (the largest face's label; no face found counts wrong; only images labelled with one
    of ``classes`` take part)."""
    from bench.realphotos import NO_FACE, metrics
    out = {}
    for name, entry in faces.items():
        keep, probs = set_probabilities(model, entry, classes, steps, tta)
        if not keep:
            continue
        predicted = [classes[int(p.argmax())] if entry["found"][i] else NO_FACE for i, p in zip(keep, probs)]
        m = metrics([entry["labels"][i] for i in keep], predicted, classes)
        out[name] = {k: m[k] for k in ("images", "accuracy", "macro_f1", "no_face")}
    return out
