"""train prune: complex_cnn_1 cut to half width by its batch-norm scales."""
import json

import keras
import numpy as np
import pytest

from train import zoo
from train.prune import kept_filters, prune, prune_file


def test_kept_filters_are_the_largest_scales_in_their_order():
    assert kept_filters(np.array([0.1, -2.0, 0.5, 1.5, -0.05, 0.7]), 3).tolist() == [1, 3, 5]


def _with_inert_halves(seed: int = 0) -> keras.Model:
    """A complex_cnn_1 whose filters outside each convolution's chosen half are switched off
    (batch-norm scale and shift zero, so ReLU passes nothing on): cutting them must change
    nothing the network computes."""
    rng = np.random.default_rng(seed)
    model = zoo.build("complex_cnn_1", 4, augment=False)
    layers = [layer for layer in model.layers if layer.weights]
    for conv, norm in zip(layers, layers[1:]):
        if not isinstance(conv, keras.layers.Conv2D):
            continue
        n = conv.filters
        live = rng.permutation(n)[: n // 2]
        gamma, beta = np.zeros(n, "float32"), np.zeros(n, "float32")
        gamma[live], beta[live] = rng.uniform(0.5, 1.5, len(live)), rng.normal(0, 0.1, len(live))
        mean, var = rng.normal(0, 0.1, n).astype("float32"), rng.uniform(0.5, 2, n).astype("float32")
        norm.set_weights([gamma, beta, mean, var])
    return model


def test_cutting_switched_off_filters_changes_no_output():
    model = _with_inert_halves()
    slim = prune(model)
    assert slim.name == "complex_cnn_1_half"
    assert slim.count_params() < model.count_params() / 3
    faces = np.random.default_rng(1).uniform(0, 255, (8, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(slim.predict(faces, verbose=0), model.predict(faces, verbose=0), atol=1e-5)


def test_cutting_live_filters_does_change_outputs():
    # The check above can fail: a network whose every filter matters is changed by the cut.
    model = zoo.build("complex_cnn_1", 4, augment=False)
    faces = np.random.default_rng(1).uniform(0, 255, (8, 48, 48, 1)).astype("float32")
    assert not np.allclose(prune(model).predict(faces, verbose=0), model.predict(faces, verbose=0), atol=1e-5)


def test_only_complex_cnn_1_can_be_cut():
    with pytest.raises(ValueError, match="not a complex_cnn_1"):
        prune(zoo.build("cnn_model_1", 4, augment=False))


def test_prune_file_keeps_the_parents_lineage_not_its_scores(tmp_path):
    parent = tmp_path / "parent.keras"
    _with_inert_halves().save(parent)
    stages = [{"epochs": 177, "train_seconds": 25583.9}]
    parent.with_suffix(".json").write_text(json.dumps({"classes": ["happy", "neutral", "sad", "surprise"],
                                                       "preprocessing": ["equalize_hist"], "stages": stages,
                                                       "params": 1_851_252, "val_acc": 0.77}))
    from train.__main__ import main
    main(["prune", "--model", str(parent), "--out", str(tmp_path / "half" / "slim.keras")])
    record = json.loads((tmp_path / "half" / "slim.json").read_text())
    assert record["model"] == "complex_cnn_1_half" and record["classes"] == ["happy", "neutral", "sad", "surprise"]
    assert record["pruned_from"] == str(parent) and record["stages"] == stages  # a fine-tune's earlier stages
    assert record["params"] == 590_012 and "val_acc" not in record
    assert keras.models.load_model(tmp_path / "half" / "slim.keras").output_shape == (None, 4)
