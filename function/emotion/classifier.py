"""The int8 TFLite emotion model and its metadata, loaded once per container."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .preprocessing import apply as preprocess, steps_from_metadata
from .runtime import load_model
from .views import face_views, views_from_metadata


class ModelIntegrityError(RuntimeError):
    """The model file does not match its metadata (checksum, labels or input spec)."""


@dataclass(frozen=True)
class Prediction:
    emotion: str
    confidence: float
    scores: dict[str, float]


def shipped_emotion_models(model_dir: Path) -> list[str]:
    """Names of the emotion models in ``model_dir`` (a .tflite file with a metadata file listing labels)."""
    names = []
    for meta in sorted(Path(model_dir).glob("*.json")):
        if "labels" in json.loads(meta.read_text()) and meta.with_suffix(".tflite").exists():
            names.append(meta.stem)
    return names


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class EmotionClassifier:
    def __init__(self, model_path: Path, metadata_path: Path, num_threads: int = 1, backend: str = "auto"):
        self.metadata = json.loads(Path(metadata_path).read_text())
        expected = self.metadata.get("sha256")
        actual = sha256_of(model_path)
        if expected != actual:
            raise ModelIntegrityError(
                f"{Path(model_path).name} has sha256 {actual}, but {Path(metadata_path).name} "
                f"expects {expected}: refusing to load a model that is not the one described"
            )
        self.labels: list[str] = list(self.metadata["labels"])
        self.name: str = self.metadata["name"]
        self.version: str = self.metadata["version"]
        self.sha256 = actual
        # Test-time augmentation recorded with the model: the views whose probabilities are averaged.
        self.views = views_from_metadata(self.metadata.get("test_time_augmentation"))
        # And what the model expects of a crop's pixels (equalization, for FER2013-trained models).
        self.preprocessing = steps_from_metadata(self.metadata.get("preprocessing"))

        self.model = load_model(model_path, num_threads, backend)
        # Everything about the input comes from the model itself, not from constants here.
        inp, out = self.model.inputs[0], self.model.outputs[0]
        self.input_shape = inp.shape  # (1, H, W, 1)
        self.input_dtype = inp.dtype
        self.input_scale, self.input_zero_point = inp.scale, inp.zero_point
        self.output_scale, self.output_zero_point = out.scale, out.zero_point
        if out.shape[-1] != len(self.labels):
            raise ModelIntegrityError(
                f"the model has {out.shape[-1]} outputs but the metadata lists {len(self.labels)} labels"
            )

    @classmethod
    def load(cls, model_dir: Path, model_name: str, num_threads: int = 1, backend: str = "auto") -> "EmotionClassifier":
        model_dir = Path(model_dir)
        return cls(model_dir / f"{model_name}.tflite", model_dir / f"{model_name}.json", num_threads, backend)

    @property
    def image_size(self) -> int:
        return self.input_shape[1]

    def quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        """Float pixels (0..255, HxW) to the model's input tensor."""
        x = pixels.reshape(self.input_shape)
        if np.issubdtype(self.input_dtype, np.integer):
            info = np.iinfo(self.input_dtype)
            x = np.round(x / self.input_scale + self.input_zero_point)
            x = np.clip(x, info.min, info.max)
        return x.astype(self.input_dtype)

    def _probabilities(self, pixels: np.ndarray) -> np.ndarray:
        raw = self.model.run(self.quantize_input(pixels))[0][0]
        if np.issubdtype(raw.dtype, np.integer):
            return (raw.astype(np.float64) - self.output_zero_point) * self.output_scale
        return raw.astype(np.float64)

    def predict(self, pixels: np.ndarray) -> Prediction:
        """``pixels``: a face crop at the input size (HxW, 0..255), before the model's preprocessing."""
        views = face_views(preprocess(pixels, self.preprocessing), self.views)
        probs = sum(self._probabilities(view) for view in views) / len(views)
        probs = np.clip(probs, 0.0, None)
        total = probs.sum()
        # int8 softmax steps are 1/256: renormalize so the scores always sum to 1.
        probs = probs / total if total > 0 else np.full_like(probs, 1.0 / len(probs))
        best = int(probs.argmax())
        scores = {label: float(p) for label, p in zip(self.labels, probs)}
        return Prediction(self.labels[best], float(probs[best]), scores)
