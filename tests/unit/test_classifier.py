"""The shipped int8 models, their metadata and the checksum guard."""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion.classifier import EmotionClassifier, ModelIntegrityError, shipped_emotion_models  # noqa: E402
from emotion.settings import MODEL_DIR  # noqa: E402

from images import face  # noqa: E402

SHIPPED = shipped_emotion_models(MODEL_DIR)


def test_default_model_is_shipped():
    assert "emotion4" in SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_metadata(name):
    clf = EmotionClassifier.load(MODEL_DIR, name)
    meta = json.loads((MODEL_DIR / f"{name}.json").read_text())
    assert clf.labels == meta["labels"]
    assert all(label.islower() and label.isalpha() for label in clf.labels)
    assert clf.input_shape == tuple(meta["input"]["shape"]) == (1, 48, 48, 1)
    assert np.dtype(clf.input_dtype).name == meta["input"]["dtype"] == "int8"
    assert clf.input_scale == pytest.approx(meta["input"]["scale"])
    assert clf.input_zero_point == meta["input"]["zero_point"]
    assert (MODEL_DIR / f"{name}.tflite").stat().st_size < 2 * 1024 * 1024


@pytest.mark.parametrize("name", SHIPPED)
def test_prediction_is_a_distribution_over_the_labels(name):
    clf = EmotionClassifier.load(MODEL_DIR, name)
    pred = clf.predict(np.asarray(face("happy"), dtype=np.float32))
    assert list(pred.scores) == clf.labels
    assert sum(pred.scores.values()) == pytest.approx(1.0, abs=1e-9)
    assert pred.emotion == max(pred.scores, key=pred.scores.get)
    assert pred.confidence == pred.scores[pred.emotion]


def test_input_quantization_follows_the_model():
    clf = EmotionClassifier.load(MODEL_DIR, "emotion4")
    pixels = np.array([0, 1, 127.6, 255], dtype=np.float32).repeat(48 * 12).reshape(48, 48)
    q = clf.quantize_input(pixels)
    expected = np.clip(np.round(pixels / clf.input_scale + clf.input_zero_point), -128, 127)
    assert q.dtype == np.int8 and q.shape == (1, 48, 48, 1)
    assert np.array_equal(q.reshape(48, 48), expected.astype(np.int8))


def _copy_model(tmp_path: Path, name: str = "emotion4") -> tuple[Path, Path]:
    model, meta = tmp_path / f"{name}.tflite", tmp_path / f"{name}.json"
    shutil.copy(MODEL_DIR / f"{name}.tflite", model)
    shutil.copy(MODEL_DIR / f"{name}.json", meta)
    return model, meta


def test_tampered_model_is_refused(tmp_path):
    model, meta = _copy_model(tmp_path)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="sha256"):
        EmotionClassifier(model, meta)


def test_metadata_with_wrong_label_count_is_refused(tmp_path):
    model, meta = _copy_model(tmp_path)
    doc = json.loads(meta.read_text())
    doc["labels"] = doc["labels"][:-1]
    meta.write_text(json.dumps(doc))
    with pytest.raises(ModelIntegrityError, match="labels"):
        EmotionClassifier(model, meta)
