"""Classification metrics on NumPy arrays (no extra dependencies)."""
from __future__ import annotations

import numpy as np


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return float(-np.log(p).mean())


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    matrix = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class(matrix: np.ndarray, classes: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for i, name in enumerate(classes):
        tp = matrix[i, i]
        precision = tp / max(matrix[:, i].sum(), 1)
        recall = tp / max(matrix[i].sum(), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        out[name] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                     "f1": round(float(f1), 4), "support": int(matrix[i].sum())}
    return out


def summarize(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    predicted = probs.argmax(1)
    matrix = confusion_matrix(labels, predicted, len(classes))
    return {
        "accuracy": round(float((predicted == labels).mean()), 4),
        "loss": round(log_loss(probs, labels), 4),
        "per_class": per_class(matrix, classes),
        "confusion_matrix": matrix.tolist(),
    }
