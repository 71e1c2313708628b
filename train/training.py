"""Fit one zoo model: Adam, early stopping, LR schedules, weight averaging, checkpoints, resume, time budget.

Backend-agnostic on purpose (Keras 3 only, no ``tf.*``), so the same code trains on a GPU
with JAX. Outputs go to ``<runs>/<model>/``: best and last checkpoints (and the weight average
with ``average_from``), ``history.csv``, ``curves.png`` and ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import math
import multiprocessing
import tempfile
import time
import zipfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from . import ferplus, zoo
from .config import BATCH_SIZE, SEED
from .data import Split, class_weights
from .photo import PhotoAugmentation, degrade_batch
from .plots import plot_learning_curves

AVERAGED_CHECKPOINT = "average.keras"  # the weight average of a run with ``average_from``


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
    # "plateau": halve on val-loss plateaus; "cosine": warm-up, then cosine to zero over ``epochs``;
    # "budget": the same cosine over the ``max_minutes`` time budget instead; "constant": never changes
    schedule: str = "plateau"
    init_from: str | None = None  # start from the weights of this trained .keras model (fine-tuning)
    mixup: float = 0.0  # Beta(alpha, alpha) mixup of training pairs; 0 turns it off
    augmentation: str = "keras"  # "keras" (Keras's layers) or "matrix" (gather-free, fast under JAX on a GPU)
    average_from: int = 0  # average the weights of every epoch from this one on (SWA); 0 turns it off
    distill_from: str | None = None  # a trained teacher .keras model: its probabilities join the labels
    distill_tta: str = "mirror-zoom"  # test-time views the teacher's probabilities are averaged over
    distill_weight: float = 0.5  # the teacher's share of each training target; the one-hot label has the rest
    distill_temperature: float = 2.0  # softens the teacher's probabilities: p ** (1 / T), renormalized
    photo: float = 0.0  # share of images given photographic augmentation (train/photo.py); 0 turns it off
    photo_stretch: float = 0.0  # within it, the share stretched to another width/height ratio
    ferplus: str = "off"  # FER+ votes: "soft" targets, "drop" images the annotators read differently,
    # "majority" labels (the split relabelled at loading, train/ferplus.py), "off"
    workers: int = 1  # processes for the photographic augmentation (same batches whatever the number)


class TimeBudget(keras.callbacks.Callback):
    """Stop training once ``minutes`` have passed (checked after every batch). With
    ``whole_epochs``, also stop at the end of an epoch when the longest epoch so far would not fit
    in what is left: a run resumed in a later session then goes on from a finished epoch instead
    of counting a cut one as done."""

    def __init__(self, minutes: float, whole_epochs: bool = False):
        super().__init__()
        self.seconds = minutes * 60
        self.deadline = time.monotonic() + self.seconds
        self.whole_epochs = whole_epochs
        self.longest_epoch = 0.0
        self.exhausted = False

    def fraction_used(self) -> float:
        return min(1.0, 1.0 - (self.deadline - time.monotonic()) / self.seconds)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() > self.deadline:
            self.exhausted = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self.longest_epoch = max(self.longest_epoch, now - self.epoch_started)
        if self.whole_epochs and now + self.longest_epoch > self.deadline:
            self.exhausted = True
            self.model.stop_training = True


class EpochTimer(keras.callbacks.Callback):
    """Each epoch's wall time into its logs (so into ``history.csv``): a run resumed across
    sessions adds up its time from there."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = round(time.monotonic() - self.started, 1)


class BudgetCosine(keras.callbacks.Callback):
    """Cosine decay of the learning rate over a time budget rather than a number of epochs.

    A fixed-epoch schedule must guess the machine's speed: guess low and the budget stops
    training at a high rate, guess high and time is left unused. This one sets each epoch's
    rate from the share of the budget already spent (the first epoch warms up at a tenth), so
    the rate reaches zero when the time does, on any machine.
    """

    def __init__(self, peak: float, budget: TimeBudget):
        super().__init__()
        self.peak, self.budget, self.first = peak, budget, True

    def on_epoch_begin(self, epoch, logs=None):
        f = self.budget.fraction_used()
        rate = self.peak / 10 if self.first else self.peak * 0.5 * (1 + math.cos(math.pi * f))
        self.first = False
        self.model.optimizer.learning_rate = max(rate, 1e-7)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # recorded in history.csv
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


MIXUP_STREAM = 1  # a batch's mixup draws: apart from its degradations, which a worker may draw


class TrainingBatches(keras.utils.PyDataset):
    """Shuffled training batches, each image through the photographic augmentation (and the
    model's preprocessing again) when ``photo`` is given, then blended with another image of the
    batch, labels alike, when ``mixup`` > 0 (mixup, Zhang et al. 2018: a regularizer for a
    network that fits the training set long before the validation set). NumPy only, so it runs
    under any Keras backend.

    The photographic augmentation is Python per image (about 3,200 faces a second on one core,
    held by the GIL, so threads do not help), far slower than a GPU's training step. ``workers``
    > 1 runs it in that many spawned processes, a few batches ahead; spawned, not forked, since
    forking a process that runs JAX can deadlock. Every draw (an epoch's order, a batch's
    degradations and mixup) comes from a generator seeded by (seed, epoch[, index]), so the
    batches are the same whatever the number of workers, and a resumed run (``first_epoch``)
    goes on with new epochs instead of replaying the first ones."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, mixup: float = 0.0,
                 photo: PhotoAugmentation | None = None, steps: tuple[str, ...] = (),
                 weights: np.ndarray | None = None, workers: int = 1, first_epoch: int = 0):
        super().__init__()
        self.x, self.y, self.w = x, y, weights
        self.batch_size, self.alpha, self.photo, self.steps = batch_size, mixup, photo, steps
        self.seed = seed
        self._start_epoch(first_epoch)
        self.pool = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                     if photo and workers > 1 else None)
        self.lookahead = 2 * workers
        self.pending: dict[int, Future] = {}

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def _indices(self, i: int) -> np.ndarray:
        return self.order[i * self.batch_size:(i + 1) * self.batch_size]

    def _photo_job(self, i: int) -> tuple:
        return self.photo, self.x[self._indices(i)], (self.seed, self.epoch, i), self.steps

    def _photographed(self, i: int) -> np.ndarray:
        if self.pool is None:
            return degrade_batch(*self._photo_job(i))
        for ahead in range(i, min(i + self.lookahead, len(self))):
            if ahead not in self.pending:
                self.pending[ahead] = self.pool.submit(degrade_batch, *self._photo_job(ahead))
        return self.pending.pop(i).result()

    def __getitem__(self, i):
        idx = self._indices(i)
        x = (self._photographed(i) if self.photo else self.x[idx]).astype("float32")
        y = self.y[idx].astype("float32")
        w = self.w[idx] if self.w is not None else None
        if self.alpha:
            rng = np.random.default_rng((self.seed, self.epoch, i, MIXUP_STREAM))
            lam = rng.beta(self.alpha, self.alpha, size=len(idx)).astype("float32")
            partner = rng.permutation(len(idx))
            x = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[partner]
            y = lam[:, None] * y + (1 - lam[:, None]) * y[partner]
            if w is not None:
                w = lam * w + (1 - lam) * w[partner]
        return (x, y) if w is None else (x, y, w.astype("float32"))

    def _start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = np.random.default_rng((self.seed, epoch)).permutation(len(self.x))

    def on_epoch_end(self):
        for job in self.pending.values():  # batches of the old order, drawn ahead of time
            job.cancel()
        self.pending.clear()
        self._start_epoch(self.epoch + 1)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


class WeightAverage(keras.callbacks.Callback):
    """Running mean of the trainable weights at the end of every epoch from ``first_epoch`` on
    (stochastic weight averaging, Izmailov et al. 2018): where validation accuracy wanders from
    epoch to epoch, the average sits in the middle of the region the weights wander over. On
    FER2013's four emotions it matched the best single epoch rather than beat it
    (docs/training.md)."""

    def __init__(self, first_epoch: int):
        super().__init__()
        self.first_epoch, self.count, self.mean = first_epoch, 0, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.first_epoch:  # ``epoch`` counts from 0, ``first_epoch`` from 1
            return
        weights = [keras.ops.convert_to_numpy(v).astype("float64") for v in self.model.trainable_variables]
        self.count += 1
        if self.mean is None:
            self.mean = weights
        else:
            self.mean = [m + (w - m) / self.count for m, w in zip(self.mean, weights)]

    def apply_to(self, model: keras.Model) -> None:
        for variable, value in zip(model.trainable_variables, self.mean):
            variable.assign(value.astype(variable.dtype))


def batch_norm_layers(layer):
    """Every BatchNormalization layer of ``layer``, nested models included, in graph order."""
    for sub in getattr(layer, "layers", ()):
        if isinstance(sub, keras.layers.BatchNormalization):
            yield sub
        else:
            yield from batch_norm_layers(sub)


def recompute_batch_norm(model: keras.Model, images: np.ndarray, batch_size: int, seed: int = SEED) -> None:
    """Set every batch normalization's moving mean and variance to their average over one pass
    of the training images (in training mode, shuffled). Averaged weights need this: the moving
    statistics recorded while training belong to the last epoch's weights, not to their mean."""
    layers = list(batch_norm_layers(model))
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.moving_mean.assign(keras.ops.zeros_like(layer.moving_mean))
        layer.moving_variance.assign(keras.ops.ones_like(layer.moving_variance))
    order = np.random.default_rng(seed).permutation(len(images))
    for i, start in enumerate(range(0, len(images), batch_size)):
        for layer in layers:  # moving = moving * i/(i+1) + batch/(i+1): the running mean over batches
            layer.momentum = i / (i + 1)
        model(images[order[start:start + batch_size]].astype("float32"), training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def read_history(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in (rows[0] if rows else {}) if k != "epoch"}


def copy_matching_weights(source: keras.Model, target: keras.Model, source_classes: tuple[str, ...] = (),
                          target_classes: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    """Copy weights layer by layer, in order, where the shapes match: the same architecture
    with another number of classes (a four-emotion model starting a seven-emotion one) keeps
    everything but its output layer. When both class lists are known and the target's are
    among the source's, the output layer keeps the source's rows for those classes too: a
    seven-emotion network cut to four starts from what it already knows about them."""
    src = [layer for layer in source.layers if layer.weights]
    dst = [layer for layer in target.layers if layer.weights]
    if len(src) != len(dst):
        raise ValueError(f"{source.name} has {len(src)} layers with weights, {target.name} {len(dst)}")
    copied, skipped = 0, []
    for i, (a, b) in enumerate(zip(src, dst)):
        if [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]:
            b.set_weights(a.get_weights())
            copied += 1
        elif i == len(src) - 1 and target_classes and set(target_classes) <= set(source_classes):
            keep = [list(source_classes).index(c) for c in target_classes]
            kernel, bias = a.get_weights()
            b.set_weights([kernel[:, keep], bias[keep]])
            copied += 1
        else:
            skipped.append(b.name)
    return copied, skipped


def training_record(model_path: str | Path) -> dict:
    """What is known of a trained model: its run's ``summary.json`` (a checkpoint in a run
    folder) or an export's sidecar JSON; empty when neither is there."""
    path = Path(model_path)
    for meta in (path.parent / "summary.json", path.with_suffix(".json")):
        if meta.exists():
            return json.loads(meta.read_text())
    return {}


def trained_classes(model_path: str | Path) -> tuple[str, ...]:
    """The class list a trained model was fitted on; empty when unrecorded."""
    return tuple(training_record(model_path).get("classes") or ())


def learning_rate_schedule(cfg: FitConfig, steps_per_epoch: int):
    """A constant rate (reduced on plateaus by a callback) or one warm-up epoch then cosine decay.

    The plateau rule halved the rate every few noisy epochs and left complex_cnn_1 at 1e-5 after
    20 epochs; a cosine schedule spends the whole ``epochs`` budget at useful rates instead.
    """
    if cfg.schedule in ("plateau", "budget", "constant"):  # the first two set the rate from callbacks
        return cfg.learning_rate
    if cfg.schedule != "cosine":
        raise ValueError(f"unknown schedule {cfg.schedule!r}: use 'plateau', 'cosine', 'budget' or 'constant'")
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate / 10, warmup_target=cfg.learning_rate,
        warmup_steps=steps_per_epoch, decay_steps=max(1, (cfg.epochs - 1) * steps_per_epoch))


def fit(cfg: FitConfig, train: Split, val: Split, runs_dir: Path) -> dict:
    """Train ``cfg.model`` and return its summary (also written as ``summary.json``)."""
    if cfg.schedule == "budget" and not cfg.max_minutes:
        raise ValueError("the 'budget' schedule needs a time budget (max_minutes)")
    if not 0 <= cfg.distill_weight <= 1:
        raise ValueError(f"the teacher's share of the targets must be between 0 and 1, not {cfg.distill_weight}")
    keras.utils.set_random_seed(cfg.seed)
    out = Path(runs_dir) / cfg.model
    out.mkdir(parents=True, exist_ok=True)
    best_path, last_path, log_path = out / "best.keras", out / "last.keras", out / "history.csv"
    n_classes = len(train.classes)

    initial_epoch, best_val_loss = 0, None
    if cfg.resume and last_path.exists():
        model = keras.models.load_model(last_path)
        history = read_history(log_path)
        initial_epoch = len(history.get("loss", []))
        # best.keras stays the best of every session's epochs, not of this one's.
        best_val_loss = min(history.get("val_loss", []), default=None)
        print(f"resuming {cfg.model} from epoch {initial_epoch}")
    else:
        model = zoo.build(cfg.model, n_classes, augment=cfg.augmentation, weights="imagenet" if cfg.imagenet else None)
        if cfg.init_from:
            copied, skipped = copy_matching_weights(keras.models.load_model(cfg.init_from), model,
                                                    trained_classes(cfg.init_from), train.classes)
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

    # FER+ votes: soft targets, or fewer images; the dataset root is the one the split came from.
    y_train, kept, votes = ferplus.targets(train, Path(train.paths[0]).parents[2], cfg.ferplus)
    if votes:
        print(f"FER+ {cfg.ferplus}: {votes['with_votes']} of {votes['images']} images have votes, the majority "
              f"disagrees with the folder on {votes['majority_disagrees']}; training on {votes['kept']}")
    train = Split(train.images[kept], train.labels[kept], train.classes, [train.paths[i] for i in kept],
                  train.preprocessing, train.labels_from)
    if cfg.distill_from:
        taught = teacher_targets(cfg.distill_from, train, cfg.distill_tta, cfg.distill_temperature)
        print(f"targets: {cfg.distill_weight:.0%} from {cfg.distill_from} ({cfg.distill_tta} views, temperature "
              f"{cfg.distill_temperature:g}; it agrees with {(taught.argmax(1) == train.labels).mean():.1%} of "
              f"the training labels), the rest one-hot")
        y_train = cfg.distill_weight * taught + (1 - cfg.distill_weight) * y_train
    y_val = keras.utils.to_categorical(val.labels, n_classes)
    # The budget schedule anneals to zero at the deadline, so it uses all of it; the others stop
    # between epochs, so that a run can be resumed where it stopped.
    budget = TimeBudget(cfg.max_minutes, whole_epochs=cfg.schedule != "budget") if cfg.max_minutes else None
    callbacks = [
        EpochTimer(),  # before CSVLogger, which records what it adds
        keras.callbacks.EarlyStopping("val_loss", patience=cfg.patience, restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True,
                                        initial_value_threshold=best_val_loss),
        keras.callbacks.ModelCheckpoint(last_path),
        keras.callbacks.CSVLogger(log_path, append=True),
    ] + ([budget] if budget else [])
    if cfg.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            "val_loss", factor=0.5, patience=max(2, cfg.patience // 3), min_lr=1e-5))
    elif cfg.schedule == "budget":  # before CSVLogger, which then records each epoch's rate
        callbacks.insert(0, BudgetCosine(cfg.learning_rate, budget))
    average = WeightAverage(cfg.average_from) if cfg.average_from else None
    if average:
        callbacks.append(average)

    weights = class_weights(train.labels, n_classes) if cfg.class_weights else None
    if cfg.mixup or cfg.photo:
        per_image = np.array([weights[i] for i in train.labels], "float32") if weights else None
        photo = PhotoAugmentation(share=cfg.photo, stretch=cfg.photo_stretch) if cfg.photo else None
        inputs = dict(x=TrainingBatches(train.images, y_train, cfg.batch_size, cfg.seed, cfg.mixup, photo,
                                        train.preprocessing, per_image, cfg.workers, initial_epoch))
    else:
        inputs = dict(x=train.images.astype("float32"), y=y_train, batch_size=cfg.batch_size, class_weight=weights)

    print(f"fitting {cfg.model}: {model.count_params():,} params, {len(train)} train / {len(val)} val images"
          f" ({keras.backend.backend()} backend)")
    start = time.monotonic()
    try:
        model.fit(
            **inputs, validation_data=(val.images.astype("float32"), y_val),
            epochs=cfg.epochs, initial_epoch=initial_epoch, callbacks=callbacks, verbose=2,
        )
    finally:
        if isinstance(inputs["x"], TrainingBatches):
            inputs["x"].close()
    seconds = time.monotonic() - start
    averaged = None  # (loss, accuracy, probabilities) of the weight average
    if average and average.count:
        average.apply_to(model)
        recompute_batch_norm(model, train.images, cfg.batch_size, cfg.seed)
        model.save(out / AVERAGED_CHECKPOINT)
        averaged = evaluate_split(model, val, y_val)
        print(f"average of {average.count} epochs: val_acc={averaged[1]:.4f} val_loss={averaged[0]:.4f}")
    if best_path.exists():  # EarlyStopping restores only when it triggers; the checkpoint always holds the best
        model = keras.models.load_model(best_path)
    val_loss, val_acc, probs = evaluate_split(model, val, y_val)
    checkpoint = best_path.name
    if averaged and (averaged[1], -averaged[0]) > (val_acc, -val_loss):
        # The run's result is the better of the two, by the comparison's rule: accuracy, ties by loss.
        (val_loss, val_acc, probs), checkpoint = averaged, AVERAGED_CHECKPOINT
    history = read_history(log_path)
    plot_learning_curves(history, out / "curves.png", title=cfg.model)
    summary = {
        "model": cfg.model,
        "classes": list(train.classes),
        "train_counts": train.counts(),  # the faces it trained on, per class: adjust-prior's shares
        "preprocessing": list(train.preprocessing),
        "params": int(model.count_params()),
        "pretrained": pretrained,
        "val_loss": round(val_loss, 4),
        "val_acc": round(val_acc, 4),
        "epochs": len(history.get("loss", [])),
        # Every session's epochs when resumed (history.csv keeps their times), else this fit's.
        "train_seconds": round(sum(history["epoch_seconds"]) if "epoch_seconds" in history else seconds, 1),
        "budget_exhausted": bool(budget and budget.exhausted),
        "checkpoint": checkpoint,
        "config": asdict(cfg),
    }
    if votes:
        summary["ferplus"] = votes
    if averaged:
        summary["weight_average"] = {"val_loss": round(averaged[0], 4), "val_acc": round(averaged[1], 4),
                                     "epochs": average.count}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    np.save(out / "val_probs.npy", probs)
    print(f"{cfg.model}: val_acc={val_acc:.4f} val_loss={val_loss:.4f} ({seconds / 60:.1f} min)")
    return summary


def teacher_targets(teacher_path: str | Path, train: Split, tta: str, temperature: float) -> np.ndarray:
    """A trained teacher's probabilities for every training image, averaged over test-time views
    and softened by ``temperature`` (knowledge distillation, Hinton et al. 2015). Computed once,
    on the unaugmented images: the views already average over the mirror and the zoom that
    augmentation applies. A teacher trained on more classes gives its probabilities for the
    student's, renormalized. On FER2013's four emotions the student matched its teacher rather
    than passed it (docs/training.md)."""
    from .quantize import float_probs  # lazily: quantize imports this module
    taught = trained_classes(teacher_path) or train.classes
    missing = [c for c in train.classes if c not in taught]
    if missing:
        raise ValueError(f"the teacher {teacher_path} was not trained on {', '.join(missing)}")
    teacher = keras.models.load_model(teacher_path)
    probs = float_probs(teacher, train.images, tta)[:, [list(taught).index(c) for c in train.classes]]
    soft = np.power(np.clip(probs, 1e-12, None), 1.0 / temperature)
    return (soft / soft.sum(1, keepdims=True)).astype("float32")


def evaluate_split(model: keras.Model, val: Split, y_val: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Validation loss, accuracy and probabilities. The loss has no label smoothing, so it is
    comparable across runs and with the study."""
    probs = model.predict(val.images.astype("float32"), batch_size=256, verbose=0)
    return float(keras.losses.CategoricalCrossentropy()(y_val, probs)), float((probs.argmax(1) == val.labels).mean()), probs


def run_checkpoint(run: Path) -> Path:
    """The checkpoint a finished run's summary reports on: its best epoch, or its weight average
    when that scored higher."""
    summary = json.loads((Path(run) / "summary.json").read_text())
    return Path(run) / summary.get("checkpoint", "best.keras")


def save_compact(model: keras.Model, path: Path) -> None:
    """Save a model small enough to commit (``python -m train compact``): float32 weights rounded
    to float16 precision, the archive deflated (7.4 -> 4.3 MB for complex_cnn_1; Keras stores it
    uncompressed). The rounding moves a weight by at most 1 part in 2,048; the int8 quantization
    the function runs moves them far more."""
    model.set_weights([w.astype(np.float16).astype(np.float32) if w.dtype == np.float32 else w
                       for w in model.get_weights()])
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / path.name
        model.save(plain)
        with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
            for item in src.infolist():
                dst.writestr(item.filename, src.read(item.filename))


def export_inference_model(trained: keras.Model, model_name: str, path: Path, trained_on: tuple[str, ...],
                           classes: tuple[str, ...]) -> keras.Model:
    """Rebuild ``model_name`` without augmentation for ``classes`` (those it was trained on, or
    some of them: the output layer keeps their rows), copy the weights, save for quantization."""
    inference = zoo.build(model_name, len(classes), augment=False, weights=None)
    _, skipped = copy_matching_weights(trained, inference, trained_on, classes)
    if skipped:
        raise ValueError(f"cannot export {model_name} for {', '.join(classes)}: {', '.join(skipped)} do not fit")
    path.parent.mkdir(parents=True, exist_ok=True)
    inference.save(path)
    return inference
