"""Batch-norm recalibration of an exported model.

Training with augmentation and mixup leaves every BatchNormalization layer with moving statistics
of rotated, shifted, brightened and blended images; the function shows the model plain faces. This
step sets each layer's moving mean and variance to the statistics of its inputs over the plain
training faces (as the test-time views show them), first layer first, so each layer sees the ones
before it already recalibrated. No weight is trained and no validation image is used.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np

from .data import Split
from .evaluate import summarize
from .quantize import view_images
from .training import batch_norm_layers

BATCH_SIZE = 512
SAMPLE_SEED = 1337


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray, batch_size: int = BATCH_SIZE) -> int:
    """Set every batch-norm layer's moving statistics to those of its inputs over ``images``
    (inference mode). Returns how many layers were set."""
    layers = list(batch_norm_layers(model))
    nested = [layer.name for layer in layers if layer not in model.layers]
    if nested:  # their inputs are not reachable from the model's input, one layer at a time
        raise ValueError(f"batch norms inside nested models cannot be recalibrated: {', '.join(nested)}")
    for i, layer in enumerate(layers, 1):
        upstream = keras.Model(model.input, layer.input)
        total = total_sq = 0.0
        count = 0
        for start in range(0, len(images), batch_size):
            x = upstream.predict(images[start:start + batch_size], batch_size=batch_size, verbose=0)  # compiled: faster than a call
            x = x.reshape(-1, x.shape[-1]).astype(np.float64)
            total, total_sq, count = total + x.sum(0), total_sq + (x * x).sum(0), count + len(x)
        mean = total / count
        layer.moving_mean.assign(mean.astype("float32"))
        layer.moving_variance.assign(np.maximum(total_sq / count - mean * mean, 0.0).astype("float32"))
        print(f"\rbatch norm {i}/{len(layers)} ({layer.name})", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return len(layers)


def recalibrate_export(model_path: Path, train: Split, val: Split, views: tuple[str, ...], out: Path,
                       sample: int | None = None) -> dict:
    """Recalibrate an exported model on ``train`` (``sample`` of its faces, drawn with a fixed seed)
    seen through ``views``; save it to ``out`` with its export record, whose validation figures
    (one view) become the recalibrated model's."""
    model = keras.models.load_model(model_path)
    if model.output_shape[-1] != len(train.classes):
        raise SystemExit(f"{model_path} has {model.output_shape[-1]} outputs, --classes names {len(train.classes)}")

    def validation() -> dict:
        metrics = summarize(model.predict(val.images.astype(np.float32), batch_size=256, verbose=0), val.labels,
                            list(val.classes))
        return {"val_acc": metrics["accuracy"], "val_loss": metrics["loss"]}

    before = validation()
    faces = train.images
    if sample and sample < len(faces):
        faces = faces[np.sort(np.random.default_rng(SAMPLE_SEED).choice(len(faces), sample, replace=False))]
    images = np.concatenate(view_images(faces, views))
    print(f"recalibrating {model_path} on {len(faces)} training faces x {len(views)} views", file=sys.stderr)
    layers = recalibrate_batch_norm(model, images)
    after = validation()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)

    record_path = Path(model_path).with_suffix(".json")
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    done = {"layers": layers, "training_images": len(faces), "views": list(views),
            "validation_before": before, "validation_after": after}
    record.update(after, batchnorm_recalibration=done)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"validation accuracy (one view) {before['val_acc']:.4f} -> {after['val_acc']:.4f}, "
          f"loss {before['val_loss']:.4f} -> {after['val_loss']:.4f}; saved {out}")
    return done
