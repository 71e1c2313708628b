"""Divide the training split's class shares out of a network's scores (post-hoc logit adjustment,
Menon et al. 2021, "Long-tail learning via logit adjustment").

A network trained on FER2013 learned its class mix with the faces: among the four emotions, happy
is 36% of the training faces and surprise 16%, so a face that looks as much surprised as happy is
called happy. Photographs have no such mix (the posed sets show every expression equally often).
Adding ``-tau * log(share)`` to each class's logit gives, at ``tau`` 1, the scores of a network
trained on every class equally often. The offsets go into the output layer's bias, so quantization,
the function and every benchmark see them with no step of their own.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from .data import class_files

OUTPUT_LAYER = "probabilities"  # train/zoo.py's head: one dense layer with the softmax


def class_shares(data_dir: Path, classes: tuple[str, ...], trained_on: dict[str, int] | None = None) -> dict[str, float]:
    """Each class's share of the faces a run trained on (``trained_on``: its record's
    ``train_counts``, which FER+ can make differ from the folders), else of the training split's files."""
    counts = ({c: int(trained_on.get(c, 0)) for c in classes} if trained_on
              else {c: len(class_files(data_dir, "train", c)) for c in classes})
    if not all(counts.values()):
        raise SystemExit(f"no training images for {[c for c, n in counts.items() if not n]} in {data_dir}/train")
    total = sum(counts.values())
    return {c: n / total for c, n in counts.items()}


def offset_logits(model: keras.Model, offsets) -> None:
    """Add ``offsets`` (one per class) to the output layer's bias, in place."""
    layer = model.get_layer(OUTPUT_LAYER)
    kernel, bias = layer.get_weights()
    layer.set_weights([kernel, bias + np.asarray(offsets, np.float64).astype(bias.dtype)])


def adjust_prior(model_path: Path, data_dir: Path, tau: float, out: Path) -> Path:
    """``model_path``'s network with ``-tau * log(share)`` added to its output bias, saved to ``out``
    with its record (which names the shares and offsets)."""
    record_path = Path(model_path).with_suffix(".json")
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if "prior_adjustment" in record:
        raise SystemExit(f"{model_path} already had its class shares divided out (its record's prior_adjustment)")
    classes = tuple(record.get("classes") or ())
    model = keras.models.load_model(model_path)
    if len(classes) != model.output_shape[-1]:
        raise SystemExit(f"{record_path} does not name the {model.output_shape[-1]} classes of {model_path}")
    trained_on = record.get("train_counts")
    shares = class_shares(data_dir, classes, trained_on)
    offsets = -tau * np.log(np.array([shares[c] for c in classes]))
    offsets -= offsets.min()  # the softmax ignores a common shift; the smallest offset is 0
    offset_logits(model, offsets)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    record["prior_adjustment"] = {"tau": tau, "training_shares": {c: round(s, 4) for c, s in shares.items()},
                                  # Unrounded: the float network is rebuilt from them (bench.run).
                                  "logit_offsets": {c: float(o) for c, o in zip(classes, offsets)},
                                  "shares_of": "the faces it trained on (train_counts)" if trained_on
                                  else f"{Path(data_dir).name}/train"}
    for stale in ("val_acc", "val_loss"):
        record.pop(stale, None)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{out}: logits offset by " + ", ".join(f"{c} {o:+.3f}" for c, o in zip(classes, offsets)))
    return out
