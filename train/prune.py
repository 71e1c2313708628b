"""A trained complex_cnn_1 cut to half width: each convolution keeps the half of its filters
whose batch-norm scales are largest (network slimming, Liu et al. 2017), and the next layer
keeps the matching input channels. The dense layers keep their width.

The cut network does a quarter of the multiply-adds and starts far closer to its parent than a
random one; a fine-tune (``train fit --model complex_cnn_1_half --init-from``, best with the
parent as teacher, ``--distill-from``) wins back what the cut lost.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from keras import layers

from . import zoo
from .training import training_record

SLIM = "complex_cnn_1_half"


def kept_filters(gamma: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` filters with the largest ``|gamma|``, in their original order."""
    return np.sort(np.argsort(-np.abs(gamma), kind="stable")[:keep])


def prune(model: keras.Model) -> keras.Model:
    """``model`` (a trained complex_cnn_1, without augmentation) as a complex_cnn_1_half."""
    n_classes = model.output_shape[-1]
    slim = zoo.build(SLIM, n_classes, augment=False)
    source = [layer for layer in model.layers if layer.weights]
    target = [layer for layer in slim.layers if layer.weights]
    if [type(a) for a in source] != [type(b) for b in target]:
        raise ValueError(f"{model.name} is not a complex_cnn_1: its layers differ from {SLIM}'s")
    channels = None  # the previous convolution's kept filters (indices into the source's)
    for i, (a, b) in enumerate(zip(source, target)):
        weights = a.get_weights()
        if isinstance(a, layers.Conv2D):
            kernel = weights[0] if channels is None else weights[0][:, :, channels, :]
            gamma = source[i + 1].get_weights()[0]  # the batch norm that follows
            channels = kept_filters(gamma, b.filters)
            b.set_weights([kernel[..., channels]])
        elif isinstance(a, layers.BatchNormalization) and isinstance(source[i - 1], layers.Conv2D):
            b.set_weights([w[channels] for w in weights])
        elif isinstance(a, layers.Dense) and isinstance(source[i - 1], layers.BatchNormalization) \
                and isinstance(source[i - 2], layers.Conv2D):
            # the first dense layer reads the last block's 1x1 map: its rows are the kept filters
            b.set_weights([weights[0][channels]] + weights[1:])
        else:
            b.set_weights(weights)
    return slim


def prune_file(model_path: Path, out: Path) -> Path:
    """Cut ``model_path`` and save it with its parent's record beside it (classes, training
    stages: a fine-tune of the cut network lists them as its own earlier stages), marked as cut."""
    record = training_record(model_path)
    slim = prune(keras.models.load_model(model_path))
    out.parent.mkdir(parents=True, exist_ok=True)
    slim.save(out)
    lineage = {k: v for k, v in record.items() if not k.startswith("val_")}  # the parent's scores are not the cut's
    sidecar = {**lineage, "model": SLIM, "params": slim.count_params(), "pruned_from": str(model_path)}
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return out
