"""Time training steps of a zoo model on this machine, without augmentation and with each kind,
and how fast the photographic augmentation feeds them with N worker processes.

Random pixels stand in for faces (only time is measured), so no dataset has to travel:

    KERAS_BACKEND=jax python -m train.gpu.step_time --steps 40 --augmentations none,keras,matrix
    python -m train.gpu.step_time --feed-workers 1,2,8 --batches 64
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def time_fit(name: str, augment: str, batch: int, steps: int, n_classes: int = 4) -> dict:
    import keras
    from train import zoo
    model = zoo.build(name, n_classes, augment=False if augment == "none" else augment, weights=None)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, n_classes, batch * steps), n_classes)
    start = time.monotonic()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compiles, then runs
    first = time.monotonic() - start
    start = time.monotonic()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    per_step = (time.monotonic() - start) / steps
    return {"model": name, "augment": augment, "batch": batch, "first_epoch_s": round(first, 1),
            "ms_per_step": round(per_step * 1000, 2), "images_per_s": round(batch / per_step)}


def time_feed(workers: int, batch: int, batches: int, share: float = 0.5, stretch: float = 0.5) -> dict:
    """Photographically augmented images per second from ``TrainingBatches`` (train/training.py)."""
    from train.config import PREPROCESSING
    from train.photo import PhotoAugmentation
    from train.training import TrainingBatches
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * batches, 48, 48, 1), dtype=np.uint8)
    y = np.eye(4, dtype="float32")[rng.integers(0, 4, len(x))]
    feed = TrainingBatches(x, y, batch, seed=0, photo=PhotoAugmentation(share=share, stretch=stretch),
                           steps=PREPROCESSING, workers=workers)
    try:
        feed[0]  # start the workers
        feed.on_epoch_end()
        start = time.monotonic()
        for i in range(len(feed)):
            feed[i]
        seconds = time.monotonic() - start
    finally:
        feed.close()
    return {"feed_workers": workers, "batch": batch, "photo_share": share, "stretch_share": stretch,
            "images_per_s": round(len(x) / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="complex_cnn_1", help="zoo model (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per configuration (default: %(default)s)")
    parser.add_argument("--batches", default="64,256", help="comma-separated batch sizes (default: %(default)s)")
    parser.add_argument("--augmentations", default="none,keras,matrix",
                        help="comma-separated: none, keras (Keras's layers), matrix (train/augment.py) "
                             "(default: %(default)s)")
    parser.add_argument("--feed-workers", default=None, metavar="N,N",
                        help="instead of training steps, time the photographic augmentation (--photo 0.5 "
                             "--photo-stretch 0.5) over --steps batches with each number of worker processes")
    args = parser.parse_args()
    if args.feed_workers:
        for batch in map(int, args.batches.split(",")):
            for workers in map(int, args.feed_workers.split(",")):
                print(time_feed(workers, batch, args.steps), flush=True)
        return
    import keras  # here, not above: the feed's spawned workers import this module again
    print(f"keras {keras.__version__} on {keras.backend.backend()}", flush=True)
    for batch in map(int, args.batches.split(",")):
        for augment in args.augmentations.split(","):
            print(time_fit(args.model, augment, batch, args.steps), flush=True)


if __name__ == "__main__":
    main()
