"""Training pipeline on tiny generated data: loader, zoo, one epoch, report, quantization."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.config import EMOTIONS
from train.data import DatasetError, load_split, parse_classes

keras = pytest.importorskip("keras")

from train import zoo  # noqa: E402

# Parameter counts for four classes, pinned so an accidental architecture change is noticed.
PARAMS_4 = {
    "cnn_model_1": 683_140,
    "cnn_model_2": 2_354_468,
    "vgg16": 14_716_740,
    "resnet50v2": 25_667_076,
    "efficientnetv2b2": 10_216_290,
    "complex_cnn_1": 1_851_252,
    "complex_cnn_2": 3_621_156,
    "complex_cnn_1_half": 590_012,
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """A class-folder tree of 48x48 JPEGs whose classes differ in brightness (learnable)."""
    root = tmp_path_factory.mktemp("fer")
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("validation", 4)):
        for k, emotion in enumerate(EMOTIONS):
            folder = root / split / emotion
            folder.mkdir(parents=True)
            for i in range(n):
                arr = np.clip(rng.normal(30 + 30 * k, 10, (48, 48)), 0, 255).astype(np.uint8)
                Image.fromarray(arr).save(folder / f"{i}.jpg")
    # one exact duplicate across splits and one blank image, for the report
    (root / "validation" / "happy" / "dup.jpg").write_bytes((root / "train" / "happy" / "0.jpg").read_bytes())
    Image.new("L", (48, 48), 128).save(root / "train" / "sad" / "blank.png")
    return root


def test_parse_classes_orders_and_validates():
    assert parse_classes("surprise,Happy") == ("happy", "surprise")
    with pytest.raises(DatasetError, match="unknown emotion"):
        parse_classes("happy,joy")
    with pytest.raises(DatasetError, match="two"):
        parse_classes("happy")


def test_load_split_subsets_and_limits(tiny_data):
    split = load_split(tiny_data, "train", ("happy", "sad"), limit=5)
    assert split.images.shape == (10, 48, 48, 1) and split.images.dtype == np.uint8
    assert split.counts() == {"happy": 5, "sad": 5}
    with pytest.raises(DatasetError, match="no split"):
        load_split(tiny_data, "test", ("happy", "sad"))
    (tiny_data / "partial" / "happy").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        load_split(tiny_data, "partial", ("happy", "sad"))
    Image.new("L", (48, 48)).save(tiny_data / "partial" / "happy" / "a.png")
    with pytest.raises(DatasetError, match="missing"):
        load_split(tiny_data, "partial", ("happy", "sad"))


def test_cli_rejects_unknown_classes(capsys):
    from train.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main(["report", "--classes", "happy,bored"])
    assert exc.value.code == 2
    assert "unknown emotion(s) bored" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_models_build_with_pinned_params(name):
    model = zoo.build(name, 4, weights=None)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, 4)
    assert model.count_params() == PARAMS_4[name]
    assert zoo.build(name, 7, weights=None).output_shape == (None, 7)


def test_augmentation_is_inactive_at_inference():
    model = zoo.build("cnn_model_1", 4)
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 1)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))


@pytest.mark.parametrize("name", ["cnn_model_1", "complex_cnn_1"])
def test_one_epoch_on_tiny_data(tiny_data, tmp_path, name):
    from train.training import FitConfig, fit
    classes = ("happy", "sad", "surprise")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    summary = fit(FitConfig(model=name, epochs=1, batch_size=8, max_minutes=2), train, val, tmp_path)
    assert summary["epochs"] == 1 and 0 <= summary["val_acc"] <= 1
    for f in ("best.keras", "last.keras", "history.csv", "curves.png", "summary.json"):
        assert (tmp_path / name / f).exists(), f
    # Resume continues from the recorded epoch, and the run's time counts both sessions' epochs.
    first = summary["train_seconds"]
    summary = fit(FitConfig(model=name, epochs=2, batch_size=8, resume=True), train, val, tmp_path)
    assert summary["epochs"] == 2
    seconds = [float(row.split(",")[header.index("epoch_seconds")]) for header in
               [(tmp_path / name / "history.csv").read_text().splitlines()[0].split(",")]
               for row in (tmp_path / name / "history.csv").read_text().splitlines()[1:]]
    assert len(seconds) == 2 and summary["train_seconds"] == pytest.approx(sum(seconds), abs=0.05)
    assert summary["train_seconds"] > first


def test_resumed_run_keeps_the_best_checkpoint_of_earlier_sessions(tiny_data, tmp_path):
    from train.training import FitConfig, fit
    classes = ("happy", "sad")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    fit(FitConfig(model="cnn_model_1", epochs=1, batch_size=8), train, val, tmp_path)
    run = tmp_path / "cnn_model_1"
    # An earlier session's epoch that no later one can beat: its checkpoint must stay.
    log = run / "history.csv"
    header, row = log.read_text().splitlines()
    names, values = header.split(","), row.split(",")
    values[names.index("val_loss")] = "0.0"
    log.write_text(f"{header}\n{','.join(values)}\n")
    before = (run / "best.keras").read_bytes()
    fit(FitConfig(model="cnn_model_1", epochs=2, batch_size=8, resume=True), train, val, tmp_path)
    assert len(log.read_text().splitlines()) == 3
    assert (run / "best.keras").read_bytes() == before


def test_time_budget_stops_training(tiny_data, tmp_path):
    from train.training import FitConfig, fit
    classes = ("happy", "sad")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    summary = fit(FitConfig(model="cnn_model_1", epochs=50, batch_size=4, max_minutes=1e-4), train, val, tmp_path)
    assert summary["budget_exhausted"] and summary["epochs"] == 1


def test_time_budget_stops_before_an_epoch_that_would_not_fit(monkeypatch):
    from train import training
    clock = [0.0]
    monkeypatch.setattr(training.time, "monotonic", lambda: clock[0])

    class Model:
        stop_training = False

    def epoch(budget, seconds):
        budget.on_epoch_begin(0)
        clock[0] += seconds
        budget.on_train_batch_end(0)
        budget.on_epoch_end(0)
        return budget.model.stop_training

    for whole_epochs, stops_after in ((True, 2), (False, 3)):  # 100 s epochs in a 250 s budget
        clock[0] = 0.0
        budget = training.TimeBudget(250 / 60, whole_epochs=whole_epochs)
        budget.set_model(Model())
        stopped = [epoch(budget, 100) for _ in range(3)]
        assert stopped.index(True) + 1 == stops_after and budget.exhausted


def test_mixup_blends_images_and_labels_alike():
    from train.training import TrainingBatches
    # Class 0 images are black, class 1 white: a blended pixel's brightness is its class-1 share.
    x = np.concatenate([np.zeros((8, 48, 48, 1)), np.full((8, 48, 48, 1), 255.0)]).astype("uint8")
    y = keras.utils.to_categorical([0] * 8 + [1] * 8, 2)
    batches = TrainingBatches(x, y, batch_size=5, seed=0, mixup=0.4, weights=np.arange(16, dtype="float32"))
    assert len(batches) == 4
    xb, yb, wb = batches[0]
    assert xb.shape == (5, 48, 48, 1) and yb.shape == (5, 2) and wb.shape == (5,)
    np.testing.assert_allclose(yb.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(xb[:, 0, 0, 0] / 255, yb[:, 1], atol=1e-5)
    assert ((yb > 0.01) & (yb < 0.99)).any()  # something was actually blended
    first_order = batches.order.copy()
    batches.on_epoch_end()
    assert not np.array_equal(first_order, batches.order)  # reshuffled every epoch


def test_budget_schedule_follows_the_time_spent():
    from train.training import BudgetCosine

    class Clock:  # stands in for TimeBudget
        fraction = 0.0

        def fraction_used(self):
            return self.fraction

    clock, model = Clock(), keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    schedule = BudgetCosine(1e-3, clock)
    schedule.set_model(model)
    rates = []
    for epoch, fraction in enumerate((0.0, 0.0, 0.5, 1.0)):
        clock.fraction = fraction
        schedule.on_epoch_begin(epoch)
        rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
    np.testing.assert_allclose(rates, [1e-4, 1e-3, 5e-4, 1e-7], rtol=1e-5)


def test_fit_with_mixup_and_budget_schedule(tiny_data, tmp_path):
    from train.training import FitConfig, fit
    classes = ("happy", "sad")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    cfg = FitConfig(model="cnn_model_1", epochs=2, batch_size=8, max_minutes=2, schedule="budget", mixup=0.2)
    summary = fit(cfg, train, val, tmp_path)
    assert summary["epochs"] == 2 and summary["config"]["mixup"] == 0.2
    history = (tmp_path / "cnn_model_1" / "history.csv").read_text().splitlines()
    assert "learning_rate" in history[0]
    with pytest.raises(ValueError, match="time budget"):
        fit(FitConfig(model="cnn_model_1", schedule="budget"), train, val, tmp_path)


def test_dataset_pack_round_trip(tiny_data, tmp_path):
    from train.gpu.pack import pack, unpack
    data = shutil.copytree(tiny_data, tmp_path / "data")
    (data / "ferplus.csv").write_text("Usage,Image name,neutral\nTraining,fer0000000.png,10\n")
    info = pack(data, tmp_path / "data.pack")
    originals = [p for p in data.rglob("*") if p.is_file()]
    assert info["headers"] >= 1 and info["files"] == len(originals) > len(list(tiny_data.rglob("*.jpg")))
    unpack(tmp_path / "data.pack", tmp_path / "copy")
    for original in originals:  # the JPEGs and the votes that --ferplus reads beside them
        assert (tmp_path / "copy" / original.relative_to(data)).read_bytes() == original.read_bytes()


def test_data_report_on_tiny_data(tiny_data, tmp_path):
    from train.report import data_report
    classes = ("happy", "sad")
    splits = {s: load_split(tiny_data, s, classes) for s in ("train", "validation")}
    report = data_report(splits, tmp_path)
    assert report["splits"]["train"]["per_class"] == {"happy": 12, "sad": 13}
    assert report["splits"]["train"]["near_constant"] == 1
    assert report["duplicates"]["groups_across_splits"] == 1
    for f in ("report.md", "report.json", "samples.png", "mean_faces.png"):
        assert (tmp_path / f).exists()
    assert json.loads((tmp_path / "report.json").read_text())["classes"] == ["happy", "sad"]


def test_choose_winner_by_accuracy_then_loss():
    from train.compare import choose_winner
    rows = [{"model": "a", "val_acc": 0.8, "val_loss": 0.6}, {"model": "b", "val_acc": 0.8, "val_loss": 0.5},
            {"model": "c", "val_acc": 0.7, "val_loss": 0.1}]
    assert choose_winner(rows)["model"] == "b"


def test_quantization_gives_int8_io_and_matches_float(tiny_data, tmp_path):
    from train.quantize import convert_int8, representative_indices
    from ai_edge_litert.interpreter import Interpreter
    classes = ("happy", "sad", "surprise")
    train = load_split(tiny_data, "train", classes)
    model = zoo.build("cnn_model_1", len(classes), augment=False)
    model.compile("adam", "categorical_crossentropy")
    model.fit(train.images.astype("float32"), keras.utils.to_categorical(train.labels), epochs=3, verbose=0)
    rep = representative_indices(train.labels, 9)
    assert np.bincount(train.labels[rep]).tolist() == [3, 3, 3]
    path = tmp_path / "tiny.tflite"
    path.write_bytes(convert_int8(model, train.images[rep]))
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    scale, zero = inp["quantization"]
    # Parity on a small fixed set: the int8 model agrees with the float model.
    agree = 0
    for image in train.images[:12].astype("float32"):
        q = np.clip(np.round(image / scale + zero), -128, 127).astype(np.int8)[None]
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        o_scale, o_zero = out["quantization"]
        probs = (interp.get_tensor(out["index"])[0].astype(float) - o_zero) * o_scale
        expected = model(image[None], training=False)[0]
        agree += int(np.argmax(probs) == np.argmax(expected))
        assert np.abs(probs - np.asarray(expected)).max() < 0.1
    assert agree >= 11


def test_quantize_step_ships_model_metadata_and_report_with_its_views(tiny_data, tmp_path):
    from train.quantize import quantize_and_ship
    from train.config import DEFAULT_CLASSES
    train, val = (load_split(tiny_data, s, DEFAULT_CLASSES) for s in ("train", "validation"))
    model = zoo.build("cnn_model_1", len(DEFAULT_CLASSES), augment=False)
    model.compile("adam", "categorical_crossentropy")
    model.fit(train.images.astype("float32"), keras.utils.to_categorical(train.labels), epochs=2, verbose=0)
    model.save(tmp_path / "tiny.keras")
    prior = {"tau": 1.0, "training_shares": {c: 0.25 for c in DEFAULT_CLASSES}}  # train adjust-prior's record
    (tmp_path / "tiny.json").write_text(json.dumps({"prior_adjustment": prior}))
    meta = quantize_and_ship(tmp_path / "tiny.keras", train, val, tmp_path / "model", tmp_path / "reports",
                             "tiny4", 16, "0.0.1", tta="mirror-zoom")
    assert meta["test_time_augmentation"] == ["identity", "mirror", "zoom", "zoom_mirror"]
    assert meta["output"]["prior_adjustment"] == prior and "equally common" in meta["output"]["prior"]
    assert meta["labels"] == list(DEFAULT_CLASSES) and meta["version"] == "0.0.1"
    report = json.loads((tmp_path / "reports" / "tiny4.json").read_text())
    assert report["test_time_views"] == meta["test_time_augmentation"]
    assert "--tta mirror-zoom" in (tmp_path / "reports" / "tiny4.md").read_text()
    from emotion.classifier import EmotionClassifier  # on the path: quantize loads the function's classifier
    clf = EmotionClassifier.load(tmp_path / "model", "tiny4")  # the function loads what was shipped
    assert clf.views == tuple(meta["test_time_augmentation"])


def test_model_card_is_written_from_metadata(tmp_path):
    from train.card import write_card
    meta = {"name": "emotion4", "version": "9.9.9", "labels": ["happy", "sad"], "architecture": "complex_cnn_1",
            "params": 123, "size_bytes": 2048, "sha256": "ab" * 32, "created": "2026-01-01",
            "input": {"shape": [1, 48, 48, 1], "dtype": "int8", "scale": 1.0, "zero_point": -128, "preprocessing": "gray"},
            "training_data": "FER2013", "metrics": {"validation_split": "PublicTest", "int8_accuracy": 0.81,
                                                    "float_accuracy": 0.812, "int8_loss": 0.5, "top1_agreement": 0.99,
                                                    "per_class": {"happy": {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 10}}}}
    (tmp_path / "emotion4.json").write_text(json.dumps(meta))
    (tmp_path / "face_detection_short_range.json").write_text(json.dumps({"name": "fd", "sha256": "x"}))
    report = {"splits": {"train": {"images": 10, "imbalance_ratio": 2.0}, "validation": {"images": 5}},
              "duplicates": {"groups": 3, "groups_across_splits": 1, "groups_with_conflicting_labels": 0}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    card = write_card(tmp_path, tmp_path, tmp_path / "card.md", tmp_path / "report.json",
                      tmp_path / "no-realphotos.json", tmp_path / "no-comparison.json").read_text()
    assert '"Training" (10 images)' in card
    assert "`emotion4` 9.9.9: happy, sad" in card and "**0.8100**" in card and "Not for" in card
    assert "fd" not in card.split("## Known limitations")[0].split("## `emotion4`")[1]
    assert "equally common" not in card  # nothing divided out of this model's scores
    meta["output"] = {"prior_adjustment": {"tau": 1.0, "training_shares": {"happy": 0.75, "sad": 0.25}}}
    (tmp_path / "emotion4.json").write_text(json.dumps(meta))
    card = write_card(tmp_path, tmp_path, tmp_path / "card.md", tmp_path / "report.json",
                      tmp_path / "no-realphotos.json", tmp_path / "no-comparison.json").read_text()
    assert "as if every label were equally common. The training split's class shares (happy 75%, sad 25%)" in card


def test_init_from_copies_every_layer_but_a_different_head():
    from train.training import copy_matching_weights
    four, seven = zoo.build("cnn_model_1", 4, augment=True), zoo.build("cnn_model_1", 7, augment=True)
    copied, skipped = copy_matching_weights(four, seven)
    assert skipped == ["probabilities"] and copied == len([la for la in four.layers if la.weights]) - 1
    conv4 = next(la for la in four.layers if la.weights)
    conv7 = next(la for la in seven.layers if la.weights)
    np.testing.assert_array_equal(conv4.get_weights()[0], conv7.get_weights()[0])
    with pytest.raises(ValueError):
        copy_matching_weights(four, zoo.build("complex_cnn_1", 7, augment=True))


def test_fine_tuned_run_reports_both_stages(tmp_path):
    from train.compare import with_earlier_stages
    first, second = tmp_path / "a" / "m", tmp_path / "b" / "m"
    first.mkdir(parents=True)
    (first / "summary.json").write_text(json.dumps(
        {"epochs": 30, "train_seconds": 4500.0, "budget_exhausted": True, "config": {"max_minutes": 75}}))
    summary = {"epochs": 40, "train_seconds": 5000.0, "budget_exhausted": False, "val_acc": 0.8,
               "config": {"max_minutes": 100, "schedule": "cosine", "init_from": str(first / "best.keras")}}
    both = with_earlier_stages(summary)
    assert both["epochs"] == 70 and both["train_seconds"] == 9500.0 and both["val_acc"] == 0.8
    assert [s["max_minutes"] for s in both["stages"]] == [75, 100]
    assert [s["schedule"] for s in both["stages"]] == ["plateau", "cosine"]


def test_stages_are_traced_through_an_exported_model(tmp_path):
    from train.compare import with_earlier_stages
    first = tmp_path / "runs" / "m"
    first.mkdir(parents=True)
    (first / "summary.json").write_text(json.dumps(
        {"epochs": 30, "train_seconds": 4500.0, "config": {"max_minutes": 75}}))
    second = {"epochs": 40, "train_seconds": 5000.0, "config": {"max_minutes": 100, "init_from": str(first / "best.keras")}}
    exported = tmp_path / "models" / "m-4class.keras"
    exported.parent.mkdir()
    exported.with_suffix(".json").write_text(json.dumps(with_earlier_stages(second)))
    (first / "summary.json").unlink()  # the run folders are gone (a fresh clone); the export remembers
    third = {"epochs": 10, "train_seconds": 600.0, "config": {"max_minutes": 7, "init_from": str(exported)}}
    all_three = with_earlier_stages(third)
    assert [s["max_minutes"] for s in all_three["stages"]] == [75, 100, 7]
    assert all_three["epochs"] == 80 and all_three["train_seconds"] == 10100.0


def test_a_stage_on_other_classes_is_named_in_the_budget(tmp_path):
    from train.compare import _budget, with_earlier_stages
    seven = tmp_path / "c7" / "m"
    seven.mkdir(parents=True)
    (seven / "summary.json").write_text(json.dumps(
        {"epochs": 18, "train_seconds": 2600.0, "classes": ["angry", "disgust", "fear", "happy", "neutral", "sad",
                                                          "surprise"], "config": {"max_minutes": 55}}))
    summary = {"epochs": 31, "train_seconds": 3700.0, "classes": ["happy", "neutral", "sad", "surprise"],
               "budget_exhausted": True, "config": {"max_minutes": 62, "init_from": str(seven / "best.keras")}}
    stages = with_earlier_stages(summary)["stages"]
    assert [_budget(s, 4) for s in stages] == ["55 min on 7 classes", "62 min (time hit)"]


def test_init_from_a_model_of_more_classes_keeps_their_output_rows():
    from train.training import copy_matching_weights
    seven, four = zoo.build("cnn_model_1", 7, augment=True), zoo.build("cnn_model_1", 4, augment=True)
    all7 = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    four_classes = ("happy", "neutral", "sad", "surprise")
    copied, skipped = copy_matching_weights(seven, four, all7, four_classes)
    assert skipped == [] and copied == len([la for la in seven.layers if la.weights])
    kernel7, bias7 = seven.get_layer("probabilities").get_weights()
    kernel4, bias4 = four.get_layer("probabilities").get_weights()
    np.testing.assert_array_equal(kernel4, kernel7[:, 3:])
    np.testing.assert_array_equal(bias4, bias7[3:])
    # The cut network gives the seven-class network's probabilities renormalized over the four.
    x = np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 1)).astype("float32")
    p7, p4 = seven.predict(x, verbose=0)[:, 3:], four.predict(x, verbose=0)
    np.testing.assert_allclose(p4, p7 / p7.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    # A class the source never saw leaves the output layer at random initialization.
    _, skipped = copy_matching_weights(four, zoo.build("cnn_model_1", 2, augment=True), four_classes, ("happy", "angry"))
    assert skipped == ["probabilities"]


def test_trained_classes_reads_the_run_summary_or_the_export_sidecar(tmp_path):
    from train.training import trained_classes
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"classes": ["sad", "happy"]}))
    (tmp_path / "m.json").write_text(json.dumps({"classes": ["angry"]}))
    assert trained_classes(tmp_path / "run" / "best.keras") == ("sad", "happy")
    assert trained_classes(tmp_path / "m.keras") == ("angry",)
    assert trained_classes(tmp_path / "none" / "x.keras") == ()


def test_training_data_names_earlier_stages_on_other_classes():
    from train.quantize import training_data
    four = ("happy", "neutral", "sad", "surprise")
    assert training_data(four, 20, ()) == "FER2013 Training split, classes happy, neutral, sad, surprise (20 images)"
    text = training_data(four, 20, [{"classes": 4}, {"classes": 7}, {"classes": 7}, {"classes": 4}])
    assert text.endswith("; 2 of its 4 training stages used 7 FER2013 emotions instead")
    recalibrated = training_data(four, 20, (), {"views": ["identity", "mirror"]})
    assert recalibrated.endswith("(20 images); batch-norm statistics recalibrated on those training faces seen "
                                 "through 2 test-time views")
    assert training_data(four, 20, (), {"views": ["identity"]}).endswith("recalibrated on those training faces, one view each")
    stretched = {"other_share": 0.5, "other_record": {"config": {"photo": 1.0, "photo_stretch": 0.5, "ferplus": "drop"}}}
    assert training_data(four, 20, (), blend=stretched).endswith(
        "; weights blended 50% with 50% of a fine-tune (photographic augmentation, stretched faces, FER+ votes (drop))")


def test_export_cuts_a_seven_emotion_run_to_four(tmp_path):
    from train.compare import export_winner
    from train.data import DatasetError
    all7 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    run = tmp_path / "runs" / "cnn_model_1"
    run.mkdir(parents=True)
    seven = zoo.build("cnn_model_1", 7, augment=True)
    seven.save(run / "best.keras")
    (run / "summary.json").write_text(json.dumps(
        {"classes": all7, "val_acc": 0.6, "val_loss": 1.0, "epochs": 3, "train_seconds": 9.0, "config": {}}))
    four = ("happy", "neutral", "sad", "surprise")
    path = export_winner(tmp_path / "runs", tmp_path / "models", "cnn_model_1", classes=four)
    assert path.name == "cnn_model_1-4class.keras"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["classes"] == list(four) and sidecar["cut_from_classes"] == all7 and "val_acc" not in sidecar
    x = np.random.default_rng(1).uniform(0, 255, (2, 48, 48, 1)).astype("float32")
    p7 = zoo.build("cnn_model_1", 7, augment=False)
    p7.set_weights(seven.get_weights())
    p7 = p7.predict(x, verbose=0)[:, 3:]
    np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), p7 / p7.sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-6)
    with pytest.raises(DatasetError):
        export_winner(tmp_path / "runs", tmp_path / "models", "cnn_model_1", classes=("happy", "contempt"))


def test_weight_average_is_the_mean_of_the_epochs_it_covers():
    from train.training import WeightAverage
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    average = WeightAverage(first_epoch=2)
    average.set_model(model)
    kernel, bias = model.trainable_variables
    for epoch, value in enumerate((10.0, 1.0, 2.0, 6.0)):  # epoch 1 (value 10) comes before first_epoch
        kernel.assign(np.full((2, 1), value, "float32"))
        bias.assign(np.full((1,), -value, "float32"))
        average.on_epoch_end(epoch)
    assert average.count == 3
    target = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    average.apply_to(target)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target.trainable_variables[0]), np.full((2, 1), 3.0))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(target.trainable_variables[1]), [-3.0])


def test_recompute_batch_norm_takes_the_statistics_of_the_whole_pass():
    from train.training import recompute_batch_norm
    norm = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Sequential([keras.Input((2,)), keras.Sequential([norm])])  # found inside a nested model too
    x = np.random.default_rng(0).normal([5.0, -3.0], [2.0, 0.5], (400, 2)).astype("float32")
    recompute_batch_norm(model, x, batch_size=100)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean), x.mean(0), atol=1e-4)
    # the mean of four batch variances of shuffled data: close to the variance of the whole
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_variance), x.var(0), rtol=0.05)
    assert norm.momentum == 0.99  # restored for any later training


def test_fit_with_weight_averaging_reports_the_better_checkpoint(tiny_data, tmp_path):
    from train.training import FitConfig, fit, run_checkpoint
    classes = ("happy", "sad")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    cfg = FitConfig(model="complex_cnn_1", epochs=2, batch_size=8, schedule="constant", average_from=1)
    summary = fit(cfg, train, val, tmp_path)
    run = tmp_path / "complex_cnn_1"
    assert (run / "average.keras").exists() and summary["weight_average"]["epochs"] == 2
    assert run_checkpoint(run) == run / summary["checkpoint"]
    # the run reports the figures of the checkpoint it names, whichever of the two that is
    reloaded = keras.models.load_model(run_checkpoint(run))
    probs = reloaded.predict(val.images.astype("float32"), verbose=0)
    assert round(float((probs.argmax(1) == val.labels).mean()), 4) == summary["val_acc"]


def test_export_takes_the_checkpoint_the_run_reports_or_the_one_named(tmp_path):
    from train.compare import export_winner
    run = tmp_path / "runs" / "cnn_model_1"
    run.mkdir(parents=True)
    best, average = zoo.build("cnn_model_1", 2, augment=True), zoo.build("cnn_model_1", 2, augment=True)
    best.save(run / "best.keras")
    average.save(run / "average.keras")
    x = np.random.default_rng(2).uniform(0, 255, (3, 48, 48, 1)).astype("float32")
    for reported, named in (("average.keras", None), ("average.keras", "best.keras"), ("best.keras", "average.keras")):
        (run / "summary.json").write_text(json.dumps({"classes": ["happy", "sad"], "val_acc": 0.7, "val_loss": 0.6, "epochs": 3,
                                                      "train_seconds": 9.0, "checkpoint": reported, "config": {}}))
        path = export_winner(tmp_path / "runs", tmp_path / "models", "cnn_model_1", checkpoint=named)
        source = average if (named or reported) == "average.keras" else best
        np.testing.assert_allclose(keras.models.load_model(path).predict(x, verbose=0), source.predict(x, verbose=0),
                                   rtol=1e-5)
        sidecar = json.loads(path.with_suffix(".json").read_text())
        if named:  # the run's figures belong to the other checkpoint
            assert sidecar["exported_checkpoint"] == named and "val_acc" not in sidecar
        else:
            assert sidecar["val_acc"] == 0.7 and "exported_checkpoint" not in sidecar


def test_teacher_targets_are_its_softened_probabilities_for_the_students_classes(tiny_data, tmp_path):
    from train.training import teacher_targets
    all7 = list(EMOTIONS)
    teacher = zoo.build("cnn_model_1", 7, augment=False)
    teacher.save(tmp_path / "teacher.keras")
    (tmp_path / "teacher.json").write_text(json.dumps({"classes": all7}))
    train = load_split(tiny_data, "train", ("happy", "sad"))
    p = teacher.predict(train.images.astype("float32"), verbose=0)[:, [3, 5]]
    plain = teacher_targets(tmp_path / "teacher.keras", train, "none", 1.0)
    np.testing.assert_allclose(plain, p / p.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    soft = teacher_targets(tmp_path / "teacher.keras", train, "none", 2.0)
    np.testing.assert_allclose(soft, np.sqrt(p) / np.sqrt(p).sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    assert soft.max(1).mean() < plain.max(1).mean()  # a higher temperature flattens them
    (tmp_path / "teacher.json").write_text(json.dumps({"classes": ["happy", "angry"]}))
    with pytest.raises(ValueError, match="not trained on sad"):
        teacher_targets(tmp_path / "teacher.keras", train, "none", 1.0)


def test_fit_distilled_from_a_teacher(tiny_data, tmp_path):
    from train.training import FitConfig, fit
    classes = ("happy", "sad")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    teacher = zoo.build("cnn_model_1", 2, augment=False)
    teacher.save(tmp_path / "teacher.keras")
    cfg = FitConfig(model="cnn_model_1", epochs=1, batch_size=8, mixup=0.2, distill_from=str(tmp_path / "teacher.keras"),
                    distill_tta="mirror")
    summary = fit(cfg, train, val, tmp_path / "runs")
    assert summary["epochs"] == 1 and summary["config"]["distill_from"].endswith("teacher.keras")
    # A teacher that cannot give the student's classes stops the run before any training.
    (tmp_path / "teacher.json").write_text(json.dumps({"classes": ["happy", "angry"]}))
    with pytest.raises(ValueError, match="not trained on sad"):
        fit(cfg, train, val, tmp_path / "runs2")
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit(FitConfig(model="cnn_model_1", distill_from=cfg.distill_from, distill_weight=1.5), train, val, tmp_path)


def test_recalibrated_batch_norms_standardize_their_inputs_over_the_images():
    from train.recalibrate import recalibrate_batch_norm
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3)(inputs)
    x = keras.layers.BatchNormalization(name="first")(x)
    x = keras.layers.Dense(4)(keras.layers.Flatten()(x))
    x = keras.layers.BatchNormalization(name="second")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    images = np.random.default_rng(0).uniform(0, 255, (300, 6, 6, 1)).astype("float32")
    assert recalibrate_batch_norm(model, images, batch_size=64) == 2
    # Each layer sees the one before it recalibrated: in inference mode both outputs are
    # standardized over these images (gamma 1, beta 0).
    probe = keras.Model(model.inputs, [model.get_layer("first").output, model.get_layer("second").output])
    for out in probe.predict(images, verbose=0):
        flat = out.reshape(-1, out.shape[-1])
        np.testing.assert_allclose(flat.mean(0), 0.0, atol=2e-3)
        np.testing.assert_allclose(flat.var(0), 1.0, rtol=1e-2)


def test_recalibrate_step_saves_the_model_and_its_record_with_the_new_figures(tiny_data, tmp_path):
    from train.recalibrate import recalibrate_export
    classes = ("happy", "sad")
    train, val = load_split(tiny_data, "train", classes), load_split(tiny_data, "validation", classes)
    exported = tmp_path / "complex_cnn_1-2class.keras"
    zoo.ZOO["complex_cnn_1"].build(2, augment=False).save(exported)
    exported.with_suffix(".json").write_text(json.dumps({"model": "complex_cnn_1", "classes": list(classes),
                                                         "val_acc": 0.1, "val_loss": 9.0}))
    out = tmp_path / "recalibrated" / "model.keras"
    done = recalibrate_export(exported, train, val, ("identity", "mirror"), out)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["batchnorm_recalibration"] == done and done["views"] == ["identity", "mirror"]
    assert done["layers"] == 10 and done["training_images"] == len(train)
    probs = keras.models.load_model(out).predict(val.images.astype("float32"), verbose=0)
    assert record["val_acc"] == round(float((probs.argmax(1) == val.labels).mean()), 4)
    assert record["val_acc"] == done["validation_after"]["val_acc"] and record["model"] == "complex_cnn_1"
    sampled = recalibrate_export(exported, train, val, ("identity",), tmp_path / "sampled.keras", sample=3)
    assert sampled["training_images"] == 3


def test_photo_augmentation_degrades_then_preprocesses_every_face(tiny_data):
    from train.photo import PhotoAugmentation
    from train.training import TrainingBatches
    from emotion.preprocessing import equalize_hist
    steps = ("equalize_hist",)
    train = load_split(tiny_data, "train", ("happy", "sad"), steps=steps)
    assert train.preprocessing == steps
    for image in train.images:  # loaded as the function sees a face: equalized
        np.testing.assert_array_equal(equalize_hist(image[..., 0]), image[..., 0])
    always = PhotoAugmentation(exposure=1, sharpen=0, blur=1, resolution=1, jpeg=1, noise=1, pose=1)
    y = keras.utils.to_categorical(train.labels, 2)
    x, _ = TrainingBatches(train.images, y, batch_size=8, seed=0, photo=always, steps=steps)[0]
    assert x.shape == (8, 48, 48, 1) and x.dtype == np.float32
    originals = train.images[np.sort(np.arange(8))]
    assert np.abs(np.sort(x.reshape(8, -1), 1) - np.sort(originals.reshape(8, -1), 1)).mean() > 0  # degraded
    for image in x.astype(np.uint8):  # and preprocessed again afterwards
        np.testing.assert_array_equal(equalize_hist(image[..., 0]), image[..., 0])
    never = PhotoAugmentation(exposure=0, sharpen=0, blur=0, resolution=0, jpeg=0, noise=0, pose=0)
    np.testing.assert_array_equal(never(train.images, np.random.default_rng(0), steps), train.images)
    none_of_them = PhotoAugmentation(share=0.0, exposure=1, blur=1, resolution=1, jpeg=1, noise=1, pose=1)
    np.testing.assert_array_equal(none_of_them(train.images, np.random.default_rng(0), steps), train.images)


def test_batches_are_the_same_whatever_the_workers_and_on_resuming(tiny_data):
    from train.photo import PhotoAugmentation
    from train.training import TrainingBatches
    steps = ("equalize_hist",)
    train = load_split(tiny_data, "train", ("happy", "sad"), steps=steps)
    y = keras.utils.to_categorical(train.labels, 2)
    photo = PhotoAugmentation(share=1.0, stretch=0.5)
    alone = TrainingBatches(train.images, y, batch_size=4, seed=3, mixup=0.2, photo=photo, steps=steps)
    ahead = TrainingBatches(train.images, y, batch_size=4, seed=3, mixup=0.2, photo=photo, steps=steps, workers=2)
    try:
        epochs = []
        for _ in range(2):
            for i in range(len(alone)):
                (xa, ya), (xb, yb) = alone[i], ahead[i]
                np.testing.assert_array_equal(xa, xb)
                np.testing.assert_array_equal(ya, yb)
            epochs.append(xa)
            alone.on_epoch_end(), ahead.on_epoch_end()
        assert not np.array_equal(*epochs)  # a new epoch draws new degradations
    finally:
        ahead.close()
    # A run resumed at its third epoch goes on where the first session would have, not from its start.
    resumed = TrainingBatches(train.images, y, batch_size=4, seed=3, mixup=0.2, photo=photo, steps=steps,
                              first_epoch=2)
    np.testing.assert_array_equal(resumed[0][0], alone[0][0])


def test_stretch_changes_the_width_over_height_only():
    from train.photo import PhotoAugmentation, _stretch
    face = np.zeros((48, 48), np.uint8)
    face[12:36, 18:30] = 255  # a bright bar 12 px wide, 24 tall, centred
    wider, narrower = np.asarray(_stretch(face, 1.3)), np.asarray(_stretch(face, 1 / 1.3))
    width = lambda image: int((image[24] > 127).sum())  # noqa: E731
    height = lambda image: int((image[:, 24] > 127).sum())  # noqa: E731
    assert (width(wider), width(narrower)) == (16, 9) and height(wider) == height(narrower) == 24
    np.testing.assert_array_equal(np.asarray(_stretch(face, 1.0)), face)
    # off by default, so the comparison's recipe (which predates it) trains as before
    assert PhotoAugmentation().stretch == 0.0


def test_a_recorded_recipe_without_a_newer_option_matches_at_its_default():
    from dataclasses import asdict
    from train.compare import same_recipe
    from train.training import FitConfig
    cfg = FitConfig(model="cnn_model_1", photo=0.5)
    recorded = {k: v for k, v in asdict(cfg).items() if k != "photo_stretch"}
    assert same_recipe(recorded, cfg)
    assert not same_recipe(recorded, FitConfig(model="cnn_model_1", photo=0.5, photo_stretch=0.5))


def _write_ferplus(root, rows):
    header = "file,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF,pixel_mad\n"
    (root / "ferplus.csv").write_text(header + "".join(f"{f},{','.join(map(str, v))},1.0\n" for f, v in rows))


def test_ferplus_votes_become_soft_targets_or_drop_disagreements(tiny_data):
    from train import ferplus
    train = load_split(tiny_data, "train", ("happy", "sad"))
    happy0, happy1 = "train/happy/0.jpg", "train/happy/1.jpg"
    #            neutral happiness surprise sadness anger disgust fear contempt unknown NF
    _write_ferplus(tiny_data, [(happy0, (0, 6, 0, 2, 2, 0, 0, 0, 0, 0)),   # mostly happy
                               (happy1, (0, 1, 0, 7, 0, 0, 0, 0, 2, 0))])  # the annotators saw sadness
    index = {"/".join(p.parts[-3:]): i for i, p in enumerate(train.paths)}
    y, kept, stats = ferplus.targets(train, tiny_data, "soft")
    assert len(kept) == len(train) and stats["with_votes"] == 2 and stats["majority_disagrees"] == 1
    np.testing.assert_allclose(y[index[happy0]], [6 / 8, 2 / 8])  # anger's votes are no class of this model
    np.testing.assert_allclose(y[index[happy1]], [1 / 8, 7 / 8])
    np.testing.assert_allclose(y[index["train/happy/2.jpg"]], [1, 0])  # no votes: the folder's label
    y, kept, stats = ferplus.targets(train, tiny_data, "drop")
    assert index[happy1] not in kept and index[happy0] in kept and len(kept) == len(train) - 1
    assert y.shape == (len(train) - 1, 2) and set(y.sum(1)) == {1.0}
    y, kept, _ = ferplus.targets(train, tiny_data, "off")
    assert len(kept) == len(train)
    (tiny_data / "ferplus.csv").unlink()


def test_ferplus_majority_labels_the_faces_of_every_folder(tiny_data):
    from train import ferplus
    from train.config import EMOTIONS
    every = load_split(tiny_data, "train", EMOTIONS)
    #                                  neutral happiness surprise sadness anger disgust fear contempt unknown NF
    _write_ferplus(tiny_data, [("train/fear/0.jpg", (1, 0, 8, 0, 0, 0, 1, 0, 0, 0)),    # read as surprise: joins
                               ("train/fear/1.jpg", (0, 0, 2, 0, 0, 0, 8, 0, 0, 0)),    # fear: stays out
                               ("train/happy/0.jpg", (0, 1, 0, 7, 0, 0, 0, 0, 2, 0)),   # read as sad: moves
                               ("train/happy/1.jpg", (0, 2, 0, 0, 6, 0, 0, 0, 2, 0))])  # anger: leaves
    split, stats = ferplus.majority_split(every, tiny_data, ("happy", "sad", "surprise"))
    label = {"/".join(p.parts[-3:]): split.classes[k] for p, k in zip(split.paths, split.labels)}
    assert label["train/fear/0.jpg"] == "surprise" and label["train/happy/0.jpg"] == "sad"
    assert "train/fear/1.jpg" not in label and "train/happy/1.jpg" not in label
    assert label["train/happy/2.jpg"] == "happy" and not any(k.startswith("train/angry/") for k in label)
    assert stats["recruited"] == 1 and stats["relabelled"] == 1 and stats["kept"] == len(split) == 12 + 13 + 12 - 1 + 1
    y, kept, _ = ferplus.targets(split, tiny_data, "majority")
    assert len(kept) == len(split) and (y.argmax(1) == split.labels).all()
    with pytest.raises(ValueError, match="majority"):  # folder labels cannot pass for FER+'s
        ferplus.targets(load_split(tiny_data, "train", ("happy", "sad")), tiny_data, "majority")
    with pytest.raises(ValueError, match="majority"):
        ferplus.targets(split, tiny_data, "drop")
    (tiny_data / "ferplus.csv").unlink()


def test_blend_interpolates_every_weight(tmp_path):
    from train.blend import blend
    a, b = zoo.build("cnn_model_1", 2, augment=False), zoo.build("cnn_model_1", 2, augment=False)
    b.set_weights([w + 1.0 for w in a.get_weights()])
    a.save(tmp_path / "a.keras")
    b.save(tmp_path / "b.keras")
    (tmp_path / "b.json").write_text(json.dumps({"preprocessing": ["equalize_hist"], "config": {"photo": 1.0}}))
    out = blend(tmp_path / "a.keras", tmp_path / "b.keras", 0.25, tmp_path / "ab.keras")
    mixed = keras.models.load_model(out)
    for x, m in zip(a.get_weights(), mixed.get_weights()):
        np.testing.assert_allclose(m, x + 0.25, rtol=1e-6, atol=1e-6)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["blend"]["other_share"] == 0.25 and record["preprocessing"] == ["equalize_hist"]
    with pytest.raises(SystemExit):
        blend(tmp_path / "a.keras", tmp_path / "b.keras", 1.5, tmp_path / "bad.keras")


def _uneven_train_split(root: Path) -> Path:
    """A train/ split of empty files with class shares 3/4 (happy) and 1/4 (sad)."""
    for emotion, files in (("happy", 6), ("sad", 2)):
        (root / "train" / emotion).mkdir(parents=True)
        for i in range(files):
            (root / "train" / emotion / f"{i}.jpg").write_bytes(b"")
    return root


def test_adjust_prior_divides_the_training_shares_out_of_the_scores(tmp_path):
    from train.prior import adjust_prior
    data = _uneven_train_split(tmp_path / "data")
    model = zoo.build("cnn_model_1", 2, augment=False)
    model.save(tmp_path / "m.keras")
    (tmp_path / "m.json").write_text(json.dumps({"classes": ["happy", "sad"], "val_acc": 0.5}))
    out = adjust_prior(tmp_path / "m.keras", data, 1.0, tmp_path / "adjusted.keras")
    faces = np.random.default_rng(0).uniform(0, 255, (5, 48, 48, 1)).astype(np.float32)
    before = model.predict(faces, verbose=0)
    after = keras.models.load_model(out).predict(faces, verbose=0)
    expected = before / [0.75, 0.25]
    np.testing.assert_allclose(after, expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["prior_adjustment"]["training_shares"] == {"happy": 0.75, "sad": 0.25}
    assert record["prior_adjustment"]["logit_offsets"]["happy"] == 0 and "val_acc" not in record
    with pytest.raises(SystemExit, match="already"):
        adjust_prior(out, data, 1.0, tmp_path / "twice.keras")
    # A run that recorded the faces it trained on (FER+ can make them differ from the folders) gets their shares.
    (tmp_path / "m.json").write_text(json.dumps({"classes": ["happy", "sad"], "train_counts": {"happy": 1, "sad": 3}}))
    counted = adjust_prior(tmp_path / "m.keras", data, 1.0, tmp_path / "counted.keras")
    record = json.loads(counted.with_suffix(".json").read_text())
    assert record["prior_adjustment"]["training_shares"] == {"happy": 0.25, "sad": 0.75}


def test_the_benchmark_rebuilds_the_shipped_float_network_with_its_recorded_offsets(tmp_path, monkeypatch):
    import bench.run as run
    from train.prior import adjust_prior
    (tmp_path / "models").mkdir()
    zoo.build("cnn_model_1", 2, augment=False).save(tmp_path / "models" / "cnn_model_1-2class.keras")
    (tmp_path / "models" / "cnn_model_1-2class.json").write_text(json.dumps({"classes": ["happy", "sad"]}))
    adjusted = adjust_prior(tmp_path / "models" / "cnn_model_1-2class.keras", _uneven_train_split(tmp_path / "data"),
                            1.0, tmp_path / "adjusted.keras")
    prior = json.loads(adjusted.with_suffix(".json").read_text())["prior_adjustment"]
    (tmp_path / "function" / "model").mkdir(parents=True)
    (tmp_path / "function" / "model" / "emotion2.json").write_text(json.dumps({
        "architecture": "cnn_model_1", "labels": ["happy", "sad"], "version": "1.0.0", "sha256": "ab" * 32,
        "output": {"prior_adjustment": prior}}))
    monkeypatch.setattr(run, "ROOT", tmp_path)
    monkeypatch.setattr(run, "CACHE", tmp_path / "cache")
    run.shipped_float_network.cache_clear()
    try:
        rebuilt = run.shipped_float_network("emotion2")
    finally:
        run.shipped_float_network.cache_clear()
    assert rebuilt.parent == tmp_path / "cache"
    for a, b in zip(keras.models.load_model(adjusted).get_weights(), keras.models.load_model(rebuilt).get_weights()):
        np.testing.assert_array_equal(a, b)  # the network the int8 file was quantized from, bit for bit


def test_blend_keeps_the_other_networks_output_layer_for_other_classes(tmp_path):
    from train.blend import blend
    four, seven = zoo.build("cnn_model_1", 4, augment=False), zoo.build("cnn_model_1", 7, augment=False)
    seven.set_weights([x + 1.0 if w.shape == x.shape else w for w, x in zip(seven.get_weights(), four.get_weights())])
    four.save(tmp_path / "four.keras")
    seven.save(tmp_path / "seven.keras")
    (tmp_path / "seven.json").write_text(json.dumps({"classes": list("abcdefg"), "config": {"photo": 1.0}}))
    with pytest.raises(SystemExit, match="--other-head"):
        blend(tmp_path / "four.keras", tmp_path / "seven.keras", 0.5, tmp_path / "bad.keras")
    out = blend(tmp_path / "four.keras", tmp_path / "seven.keras", 0.5, tmp_path / "mixed.keras", other_head=True)
    mixed = keras.models.load_model(out)
    assert mixed.output_shape == (None, 7)
    for x, y, m in zip(four.get_weights(), seven.get_weights(), mixed.get_weights()):
        np.testing.assert_allclose(m, x + 0.5 if x.shape == y.shape else y, rtol=1e-6, atol=1e-6)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["classes"] == list("abcdefg") and len(record["blend"]["other_alone"]) == 2  # kernel, bias


def test_model_card_gives_real_photo_figures_and_weak_classes(tmp_path):
    from train.card import real_photos_section
    meta = {"name": "emotion4", "version": "2.0.0"}
    row = lambda acc, counts: {"images": 10, "accuracy": acc, "macro_f1": 0.5, "no_face": 1,  # noqa: E731
                               "confusion": {"rows": ["happy", "sad"], "columns": ["happy", "sad", "no face"],
                                             "counts": counts}}
    answers = {"results": {"/real/yale/happy/subject01.happy": {"emotion4": {"faces": 1, "scores": {"happy": 1.0}}}}}
    real = {"date": "2026-12-01", "versions": {"emotion4": "1.0.0"}, "fer_version": "25.10.3", "service": answers,
            "report": {"emotion4": {"yale": {"service": row(0.7, [[5, 0, 0], [3, 1, 1]]),
                                             "fer": row(0.6, [[5, 0, 0], [4, 1, 0]])}}}}
    text = real_photos_section(meta, real)
    assert "| yale | 10 | 0.700 | not measured | 0.500 | 1 | 0.600 | sad 0.20 |" in text
    assert "NOT this version" in text  # measured on 1.0.0, the card is for 2.0.0
    assert real_photos_section(meta, None) == ""
    from bench.realphotos import answers_digest
    people = {"service_answers_sha256": answers_digest(answers),
              "report": {"emotion4": {"yale": {"people": 3, "service": {"accuracy": 0.7, "interval": [0.5, 0.9]}}}}}
    assert "| yale | 10 | 0.700 | 0.500-0.900 (3 people) | 0.500 |" in real_photos_section(meta, real, people)
    # Intervals of other answers, even at the same accuracy: one photo's scores changed.
    answers["results"]["/real/yale/happy/subject01.happy"]["emotion4"]["scores"] = {"happy": 0.9}
    assert "stale" in real_photos_section(meta, real, people)


def test_requalify_rewrites_metadata_not_the_model(tmp_path, tiny_data):
    import shutil
    from train.requalify import requalify
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    source = Path(__file__).resolve().parents[2] / "function" / "model"
    for suffix in (".tflite", ".json"):
        shutil.copy(source / f"emotion4{suffix}", model_dir / f"emotion4{suffix}")
    before = json.loads((model_dir / "emotion4.json").read_text())
    meta_before = {**before, "preprocessing": []}
    (model_dir / "emotion4.json").write_text(json.dumps(meta_before))
    val = load_split(tiny_data, "validation", ("happy", "neutral", "sad", "surprise"), steps=("equalize_hist",))
    meta = requalify(model_dir, "emotion4", val, "9.0.0")
    assert meta["version"] == "9.0.0" and meta["preprocessing"] == ["equalize_hist"]
    assert meta["sha256"] == before["sha256"] and "float_accuracy" not in meta["metrics"]
    assert meta["metrics"]["requalified"]["preprocessing_before"] == []
    from emotion.classifier import EmotionClassifier
    assert EmotionClassifier.load(model_dir, "emotion4").preprocessing == ("equalize_hist",)


def test_compact_model_keeps_weights_to_float16_precision_and_is_smaller(tmp_path):
    from train.training import save_compact
    model = zoo.build("cnn_model_1", 2, augment=False)
    model.save(tmp_path / "plain.keras")
    save_compact(keras.models.load_model(tmp_path / "plain.keras"), tmp_path / "compact.keras")
    assert (tmp_path / "compact.keras").stat().st_size < 0.8 * (tmp_path / "plain.keras").stat().st_size
    for a, b in zip(model.get_weights(), keras.models.load_model(tmp_path / "compact.keras").get_weights()):
        np.testing.assert_allclose(b, a, rtol=2 ** -11, atol=1e-7)


def test_compare_trains_each_model_by_its_own_recipe_unless_told():
    from train.__main__ import COMPARISON_RECIPE, _fit_config, _fit_flags
    import argparse
    parser = argparse.ArgumentParser()
    _fit_flags(parser, **COMPARISON_RECIPE)
    own = _fit_config(parser.parse_args([]), "vgg16")
    assert (own.epochs, own.learning_rate) == (zoo.ZOO["vgg16"].epochs, zoo.ZOO["vgg16"].learning_rate)
    assert (own.schedule, own.photo, own.imagenet) == ("cosine", 0.5, False)
    told = _fit_config(parser.parse_args(["--epochs", "3", "--learning-rate", "0.01"]), "vgg16")
    assert (told.epochs, told.learning_rate) == (3, 0.01)
    fit_parser = argparse.ArgumentParser()
    _fit_flags(fit_parser)  # fit's own defaults are untouched
    assert fit_parser.parse_args([]).schedule == "plateau" and fit_parser.parse_args([]).photo == 0.0


def test_compare_scores_real_photos_keeps_curves_and_resumes(tiny_data, tmp_path):
    from train.__main__ import main
    real = tmp_path / "real" / "posed"
    for emotion in ("happy", "sad", "angry"):  # angry is not among the classes: left out
        (real / emotion).mkdir(parents=True)
        for i in range(2):  # 48x48 pictures: face crops, classified whole by the deployed analysis
            (real / emotion / f"{i}.jpg").write_bytes((tiny_data / "train" / emotion / f"{i}.jpg").read_bytes())
    args = ["compare", "--data", str(tiny_data), "--classes", "happy,sad", "--models", "cnn_model_1",
            "--epochs", "1", "--batch-size", "8", "--ferplus", "off", "--real", str(tmp_path / "real"),
            "--shipped", "none", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    assert main(args) == 0
    result = json.loads((tmp_path / "out" / "comparison.json").read_text())
    row = result["rows"][0]
    assert row["real"]["posed"]["images"] == 4 and row["real"]["posed"]["no_face"] == 0
    assert 0 <= row["real"]["posed"]["accuracy"] <= 1
    assert (tmp_path / "out" / "curves" / "cnn_model_1.png").exists()
    markdown = (tmp_path / "out" / "comparison.md").read_text()
    assert "| posed |" in markdown and "1 epoch from 0.001" in markdown
    checkpoint = tmp_path / "runs" / "cnn_model_1" / "best.keras"
    before = checkpoint.stat().st_mtime_ns
    assert main(args + ["--resume"]) == 0  # a finished run is taken as it is
    assert checkpoint.stat().st_mtime_ns == before
    import shutil
    shutil.rmtree(tmp_path / "runs" / "cnn_model_1")  # a new session: run folders are never committed
    assert main(args + ["--resume"]) == 0  # the table's row, same recipe: not trained again
    assert not (tmp_path / "runs" / "cnn_model_1").exists()
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["rows"][0]["val_acc"] == row["val_acc"]
    longer = [a if a != "1" else "2" for a in args]  # --epochs 2: another recipe, trained again
    assert main(longer + ["--resume"]) == 0
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["rows"][0]["epochs"] == 2


def test_model_card_says_why_the_shipped_network_from_the_comparison():
    from train.card import comparison_section
    real = lambda a, b: {"posed": {"accuracy": a}, "headshots": {"accuracy": b}}  # noqa: E731
    table = {"rows": [{"model": "cnn_model_1", "epochs": 40, "val_acc": 0.70, "real": real(0.6, 0.5)},
                      {"model": "vgg16", "epochs": 3, "val_acc": 0.55, "real": real(0.7, 0.6)}],
             "shipped": {"model": "complex_cnn_1", "epochs": 177, "train_seconds": 7200, "val_acc": 0.77,
                         "real": real(0.75, 0.7)}}
    text = comparison_section(table)
    assert "**cnn_model_1** scores highest on FER2013 validation (0.700)" in text
    assert "**vgg16** on the photographs (0.650 on average)" in text
    assert "| shipped: complex_cnn_1 | 177 | 0.770 | 0.700 | 0.750 | 0.725 |" in text
    assert "which is why it is shipped" in text
    table["rows"][1]["val_acc"] = 0.8
    assert "not above every row" in comparison_section(table)
    assert comparison_section(None) == ""


def test_score_reads_validation_and_real_faces_through_the_views(tiny_data, tmp_path, capsys):
    from images import face
    from train.__main__ import main
    inputs = keras.Input((48, 48, 1))
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "tiny.keras")
    real = tmp_path / "real"
    for emotion in ("happy", "sad"):
        (real / "tiny" / emotion).mkdir(parents=True)
        face(emotion).save(real / "tiny" / emotion / f"{emotion}.png")
    main(["score", "--data", str(tiny_data), "--classes", "happy,sad", "--model", str(tmp_path / "tiny.keras"),
          "--views", "none", "--real", str(real), "--cache", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    result = json.loads(out[out.index("\n{") + 1:])  # after the progress lines
    val = load_split(tiny_data, "validation", ("happy", "sad"), steps=("equalize_hist",))
    expected = (model.predict(val.images.astype("float32"), verbose=0).argmax(1) == val.labels).mean()
    assert result["validation_accuracy"] == round(float(expected), 4)
    assert set(result["real_accuracy"]) == {"tiny"} and result["real_accuracy"]["tiny"] in (0.0, 0.5, 1.0)
    assert list((tmp_path / "cache").glob("realfaces-*.npz"))  # the faces were found once, then cached
