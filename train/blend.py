"""Interpolate the weights of two trained networks of one architecture (WiSE-FT, Wortsman et al. 2022).

A fine-tune for photographs moves away from what the network knew of FER2013; the straight line
between the two weight sets often keeps most of both. ``weight`` is the share of ``other``: 0 gives
``model``, 1 gives ``other``. Batch-norm statistics are interpolated too; recalibrate them afterwards
(``python -m train recalibrate``), as they are not linear in the weights.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras


def blend(model_path: Path, other_path: Path, weight: float, out: Path, other_head: bool = False) -> Path:
    """``other_head``: layers whose shapes differ (the output layer, when ``other`` was fine-tuned for
    another set of classes) are ``other``'s own, and the result has ``other``'s classes and record."""
    if not 0 <= weight <= 1:
        raise SystemExit(f"--weight must be between 0 and 1, not {weight}")
    model, other = keras.models.load_model(model_path), keras.models.load_model(other_path)
    a, b = model.get_weights(), other.get_weights()
    names = [w.path for w in other.weights]
    if len(a) != len(b) or (not other_head and [w.shape for w in a] != [w.shape for w in b]):
        raise SystemExit(f"{model_path} and {other_path} are not the same architecture"
                         + ("" if other_head or len(a) != len(b) else " (--other-head keeps --other's layers of another shape)"))
    other_alone = [name for name, x, y in zip(names, a, b) if x.shape != y.shape]
    result = other if other_head else model
    result.set_weights([(1 - weight) * x + weight * y if x.shape == y.shape else y for x, y in zip(a, b)])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.save(out)
    record_path = Path(other_path if other_head else model_path).with_suffix(".json")
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    other_record = Path(other_path).with_suffix(".json")
    record["blend"] = {"model": str(model_path), "other": str(other_path), "other_share": weight,
                       "other_record": json.loads(other_record.read_text()) if other_record.exists() else None}
    if other_alone:
        record["blend"]["other_alone"] = other_alone
    if "preprocessing" not in record and other_record.exists():
        record["preprocessing"] = json.loads(other_record.read_text()).get("preprocessing")
    for stale in ("val_acc", "val_loss", "batchnorm_recalibration"):
        record.pop(stale, None)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"blended {1 - weight:.2f} x {model_path} + {weight:.2f} x {other_path} -> {out}"
          + (f" ({', '.join(other_alone)} from {other_path} alone)" if other_alone else ""))
    return out
