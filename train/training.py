"""Fit one zoo model: Adam, early stopping, LR reduction, checkpoints, resume, time budget.

Backend-agnostic on purpose (Keras 3 only, no ``tf.*``), so the same code trains on a GPU
with JAX. Outputs go to ``<runs>/<model>/``: best and last checkpoints, ``history.csv``,
``curves.png`` and ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from . import zoo
from .config import BATCH_SIZE, SEED
from .data import Split, class_weights
from .plots import plot_learning_curves


@dataclass
class FitConfig:
    model: str = "complex_cnn_1"
    epochs: int = 60
    batch_size: int = BATCH_SIZE
    learning_rate: float = 1e-3
    label_smoothing: float = 0.1
    class_weights: bool = False
    patience: int = 10
    max_minutes: float | None = None
    seed: int = SEED
    resume: bool = False
    imagenet: bool = True  # try ImageNet weights for the transfer models
    schedule: str = "plateau"  # "plateau": halve on val-loss plateaus; "cosine": warm-up, then cosine to zero
    init_from: str | None = None  # start from the weights of this trained .keras model (fine-tuning)


class TimeBudget(keras.callbacks.Callback):
    """Stop training once ``minutes`` have passed (checked after every batch)."""

    def __init__(self, minutes: float):
        super().__init__()
        self.deadline = time.monotonic() + minutes * 60
        self.exhausted = False

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() > self.deadline:
            self.exhausted = True
            self.model.stop_training = True


def _read_history(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {}) if k != "epoch"}


def copy_matching_weights(source: keras.Model, target: keras.Model) -> tuple[int, list[str]]:
    """Copy weights layer by layer, in order, where the shapes match: the same architecture
    with another number of classes (a four-emotion model starting a seven-emotion one) keeps
    everything but its output layer."""
    src = [layer for layer in source.layers if layer.weights]
    dst = [layer for layer in target.layers if layer.weights]
    if len(src) != len(dst):
        raise ValueError(f"{source.name} has {len(src)} layers with weights, {target.name} {len(dst)}")
    copied, skipped = 0, []
    for a, b in zip(src, dst):
        if [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]:
            b.set_weights(a.get_weights())
            copied += 1
        else:
            skipped.append(b.name)
    return copied, skipped


def learning_rate_schedule(cfg: FitConfig, steps_per_epoch: int):
    """A constant rate (reduced on plateaus by a callback) or one warm-up epoch then cosine decay.

    The plateau rule halved the rate every few noisy epochs and left complex_cnn_1 at 1e-5 after
    20 epochs; a cosine schedule spends the whole ``epochs`` budget at useful rates instead.
    """
    if cfg.schedule == "plateau":
        return cfg.learning_rate
    if cfg.schedule != "cosine":
        raise ValueError(f"unknown schedule {cfg.schedule!r}: use 'plateau' or 'cosine'")
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate / 10, warmup_target=cfg.learning_rate,
        warmup_steps=steps_per_epoch, decay_steps=max(1, (cfg.epochs - 1) * steps_per_epoch))


def fit(cfg: FitConfig, train: Split, val: Split, runs_dir: Path) -> dict:
    """Train ``cfg.model`` and return its summary (also written as ``summary.json``)."""
    keras.utils.set_random_seed(cfg.seed)
    out = Path(runs_dir) / cfg.model
    out.mkdir(parents=True, exist_ok=True)
    best_path, last_path, log_path = out / "best.keras", out / "last.keras", out / "history.csv"
    n_classes = len(train.classes)

    initial_epoch = 0
    if cfg.resume and last_path.exists():
        model = keras.models.load_model(last_path)
        initial_epoch = len(_read_history(log_path).get("loss", []))
        print(f"resuming {cfg.model} from epoch {initial_epoch}")
    else:
        model = zoo.build(cfg.model, n_classes, augment=True, weights="imagenet" if cfg.imagenet else None)
        if cfg.init_from:
            copied, skipped = copy_matching_weights(keras.models.load_model(cfg.init_from), model)
            print(f"starting {cfg.model} from {cfg.init_from}: {copied} layers copied"
                  + (f", {', '.join(skipped)} left at random initialization (shapes differ)" if skipped else ""))
        steps_per_epoch = -(-len(train) // cfg.batch_size)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate_schedule(cfg, steps_per_epoch)),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            metrics=["accuracy"],
        )
        log_path.unlink(missing_ok=True)
    pretrained = bool(getattr(model, "pretrained", False))

    y_train = keras.utils.to_categorical(train.labels, n_classes)
    y_val = keras.utils.to_categorical(val.labels, n_classes)
    budget = TimeBudget(cfg.max_minutes) if cfg.max_minutes else None
    callbacks = [
        keras.callbacks.EarlyStopping("val_loss", patience=cfg.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True),
        keras.callbacks.ModelCheckpoint(last_path),
        keras.callbacks.CSVLogger(log_path, append=True),
    ] + ([budget] if budget else [])
    if cfg.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            "val_loss", factor=0.5, patience=max(2, cfg.patience // 3), min_lr=1e-5))

    print(f"fitting {cfg.model}: {model.count_params():,} params, {len(train)} train / {len(val)} val images")
    start = time.monotonic()
    model.fit(
        train.images.astype("float32"), y_train,
        validation_data=(val.images.astype("float32"), y_val),
        epochs=cfg.epochs, initial_epoch=initial_epoch, batch_size=cfg.batch_size,
        class_weight=class_weights(train.labels, n_classes) if cfg.class_weights else None,
        callbacks=callbacks, verbose=2,
    )
    seconds = time.monotonic() - start
    if best_path.exists():  # EarlyStopping restores only when it triggers; the checkpoint always holds the best
        model = keras.models.load_model(best_path)

    # Evaluate without label smoothing so the loss is comparable across runs and with the study.
    probs = model.predict(val.images.astype("float32"), batch_size=256, verbose=0)
    val_loss = float(keras.losses.CategoricalCrossentropy()(y_val, probs))
    val_acc = float((probs.argmax(1) == val.labels).mean())
    history = _read_history(log_path)
    plot_learning_curves(history, out / "curves.png", title=cfg.model)
    summary = {
        "model": cfg.model,
        "classes": list(train.classes),
        "params": int(model.count_params()),
        "pretrained": pretrained,
        "val_loss": round(val_loss, 4),
        "val_acc": round(val_acc, 4),
        "epochs": len(history.get("loss", [])),
        "train_seconds": round(seconds, 1),
        "budget_exhausted": bool(budget and budget.exhausted),
        "config": asdict(cfg),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    np.save(out / "val_probs.npy", probs)
    print(f"{cfg.model}: val_acc={val_acc:.4f} val_loss={val_loss:.4f} ({seconds / 60:.1f} min)")
    return summary


def export_inference_model(trained: keras.Model, model_name: str, n_classes: int, path: Path) -> keras.Model:
    """Rebuild ``model_name`` without augmentation, copy the weights, save for quantization."""
    inference = zoo.build(model_name, n_classes, augment=False, weights=None)
    inference.set_weights(trained.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    inference.save(path)
    return inference
