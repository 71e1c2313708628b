"""Time training steps of a zoo model on this machine, without augmentation and with each kind.

Random pixels stand in for faces (only time is measured), so no dataset has to travel:

    KERAS_BACKEND=jax python -m train.gpu.step_time --steps 40 --augmentations none,keras,matrix
"""
from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from train import zoo


def time_fit(name: str, augment: str, batch: int, steps: int, n_classes: int = 4) -> dict:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="complex_cnn_1", help="zoo model (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per configuration (default: %(default)s)")
    parser.add_argument("--batches", default="64,256", help="comma-separated batch sizes (default: %(default)s)")
    parser.add_argument("--augmentations", default="none,keras,matrix",
                        help="comma-separated: none, keras (Keras's layers), matrix (train/augment.py) "
                             "(default: %(default)s)")
    args = parser.parse_args()
    print(f"keras {keras.__version__} on {keras.backend.backend()}", flush=True)
    for batch in map(int, args.batches.split(",")):
        for augment in args.augmentations.split(","):
            print(time_fit(args.model, augment, batch, args.steps), flush=True)


if __name__ == "__main__":
    main()
