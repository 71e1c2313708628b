"""A shipped int8 model under new preprocessing, when its float network is not at hand.

    python -m train requalify --name emotion7 --classes angry,...,surprise --version 0.6.0

The seven-emotion network's float checkpoint was never committed (docs/training.md), so it cannot
be quantized again. Its preprocessing is metadata, not weights: this step evaluates the shipped
int8 file on the validation split loaded with the new ``--preprocessing`` and rewrites its metadata
(version, preprocessing, int8 metrics; the float figures, which were not measured this way, are
dropped). The model file itself is not touched: its checksum stays.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .data import Split
from .evaluate import summarize
from .quantize import _classifier_class, tflite_probs


def requalify(model_dir: Path, name: str, val: Split, version: str) -> dict:
    EmotionClassifier, _ = _classifier_class()
    meta_path = Path(model_dir) / f"{name}.json"
    meta = json.loads(meta_path.read_text())
    if list(meta["labels"]) != list(val.classes):
        raise SystemExit(f"{name} has labels {meta['labels']}, --classes names {list(val.classes)}")
    before = meta["metrics"]["int8_accuracy"], meta.get("preprocessing", []), meta["version"]
    meta["preprocessing"] = list(val.preprocessing)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")  # the classifier reads its steps from here
    classifier = EmotionClassifier.load(Path(model_dir), name)
    m = summarize(tflite_probs(classifier, val.images.astype(np.float32)), val.labels, list(val.classes))
    meta["version"] = version
    meta["metrics"] = {"validation_split": meta["metrics"]["validation_split"], "int8_accuracy": m["accuracy"],
                       "int8_loss": m["loss"], "per_class": m["per_class"],
                       "requalified": {"from_version": before[2], "int8_accuracy_before": before[0],
                                       "preprocessing_before": before[1]}}
    meta["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    print(f"{name} {version}: int8 accuracy {before[0]:.4f} with preprocessing {before[1] or 'none'} -> "
          f"{m['accuracy']:.4f} with {list(val.preprocessing)}")
    return meta
