"""Smoke tests of the command-line tools: classify/annotate, the benchmark worker, cost arithmetic."""
import json
import subprocess
import sys

from PIL import Image

from composites import composite
from images import encode, face
from infra.stack import ROOT


def test_classify_cli_annotates_a_photo(tmp_path, capsys):
    from infra.classify import main
    image, _ = composite([face("happy"), face("surprise")], size=(640, 480), sides=[200, 150], seed=5)
    photo = tmp_path / "group.jpg"
    photo.write_bytes(encode(image.convert("RGB"), "JPEG"))
    assert main([str(photo), "--annotate", str(tmp_path / "out")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["detection"] == "retinaface"
    assert len(line["faces"]) >= 1  # a detector may miss one of these upscaled gray FER2013 crops
    annotated = Image.open(tmp_path / "out" / "group.annotated.png")
    assert annotated.size == (640, 480)


def test_classify_cli_reports_bad_files(tmp_path, capsys):
    from infra.classify import main
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert main([str(bad)]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "not_an_image"


def test_benchmark_worker_runs_on_tiny_settings():
    env = {"MODEL_NAME": "emotion4", "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "true",
           "POWERTOOLS_METRICS_NAMESPACE": "Bench", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}
    for mode, args in (("cold", []), ("warm", ["--repeats", "5"])):
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "worker.py"), "litert-int8", mode, *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["interpreter"] == "litert-c"
    assert out["face_jpeg"]["p50_ms"] > 0 and out["face_images_per_s"] > 0


def test_cost_per_million_images():
    from bench.run import cost_per_million
    # 1 ms billed at 1024 MB: 1e6 * (0.001 s * 1 GB * 0.0000166667) + 0.20 = 0.0167 + 0.20
    assert cost_per_million(0.4, 1024) == round(1e6 * 0.001 * 0.0000166667 + 0.20, 4)
    assert cost_per_million(2.0, 512) == round(1e6 * 0.002 * 0.5 * 0.0000166667 + 0.20, 4)


def test_detection_benchmark_counts_found_missed_and_false_faces():
    from bench.detection import evaluate_blazeface
    from emotion.classifier import EmotionClassifier
    from emotion.faces import FaceDetector
    from emotion.settings import Settings
    settings = Settings(face_detector="face_detection_short_range")
    classifier = EmotionClassifier.load(settings.model_dir, settings.model_name)
    detector = FaceDetector.load(settings.model_dir, "face_detection_short_range")
    crops = [(face(name), k) for k, name in enumerate(("happy", "neutral", "sad", "surprise"))]
    photos = []
    for seed, picks in ((5, crops[:2]), (6, crops[2:])):
        image, boxes = composite([c for c, _ in picks], size=(640, 480), sides=[200, 150], seed=seed)
        photos.append((image, [(b, k, c) for b, (c, k) in zip(boxes, picks)]))
    def moved(transform):
        return [(image, [(transform(b), k, c) for b, k, c in faces]) for image, faces in photos]

    found = evaluate_blazeface(photos, settings, classifier, detector)
    assert found["faces"] == 4 and found["found"] == 4 and found["false_faces"] == 0
    # Truth far from every face: all missed, every detection false and on no face.
    away = evaluate_blazeface(moved(lambda b: (b[0] + 2000, b[1], b[2] + 2000, b[3])), settings, classifier, detector)
    assert (away["found"], away["false_faces"], away["false_faces_overlapping_a_face"]) == (0, 4, 0)
    # Truth twice the side of each face (IoU about 0.25): all missed, each detection a face boxed too small.
    def enlarged(b):
        grow = 0.5 * (b[2] - b[0])
        return (b[0] - grow, b[1] - grow, b[2] + grow, b[3] + grow)
    loose = evaluate_blazeface(moved(enlarged), settings, classifier, detector)
    assert (loose["found"], loose["false_faces"], loose["false_faces_overlapping_a_face"]) == (0, 4, 4)


def test_gpu_scripts_parse_and_the_pack_tool_explains_itself():
    for script in ("prepare.sh", "run.sh", "candidates.sh"):
        subprocess.run(["bash", "-n", str(ROOT / "train" / "gpu" / script)], check=True)
    out = subprocess.run([sys.executable, "-m", "train.gpu.pack", "--help"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert "pack" in out and "unpack" in out


def test_candidate_scores_table_has_a_row_per_scored_model(tmp_path):
    from train.gpu.scores import table

    def write(path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    def real(accuracies):
        return {"report": {m: {s: {"service": {"accuracy": a}} for s, a in sets.items()}
                           for m, sets in accuracies.items()}}

    for m, acc in (("emotion4", 0.7872), ("emotion7", 0.6606)):
        write(tmp_path / f"reports/quantization/{m}.json", {"int8": {"accuracy": acc}})
    write(tmp_path / "reports/realphotos/realphotos.json",
          real({"emotion4": {"yale": 0.783, "rafd": 0.987}, "emotion7": {"yale": 0.683}}))
    write(tmp_path / "scratch/p4/r/emotion4.json", {"int8": {"accuracy": 0.8012}})
    write(tmp_path / "scratch/p4/real/realphotos.json", real({"emotion4": {"taiwanese-dev": 0.851, "yale": 0.8}}))
    (tmp_path / "scratch/notes.txt").write_text("not a candidate")
    lines = table(tmp_path / "scratch", root=tmp_path).splitlines()
    assert lines[2] == "| shipped | emotion4 | 0.7872 |  | 0.783 | 0.987 |  |"
    assert lines[3] == "| shipped | emotion7 | 0.6606 |  | 0.683 |  |  |"
    assert lines[4] == "| p4 | emotion4 | 0.8012 | 0.851 | 0.800 |  |  |"
    assert len(lines) == 5


def test_manifest_benchmark_counts_its_made_up_listing():
    from bench.manifest import measure
    out = measure(2500, "only-missing")  # every other image has a result: 1,250 without
    assert (out["objects_listed"], out["tasks"]) == (2500 + 1250, 1250)
    assert out["manifest_mb"] > 0 and out["python_peak_mb"] < 5


def test_benchmark_report_says_which_accuracies_were_measured_again():
    from argparse import Namespace
    from bench.run import markdown
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    results.pop("accuracy_remeasured", None)
    args = Namespace(repeats=500, cold_runs=7)
    assert "--accuracy-only" not in markdown(results, args)
    results["accuracy_remeasured"] = {"date": "2030-01-01", "rows": ["litert-int8", "fer-net"]}
    assert "`litert-int8`, `fer-net` were measured again on 2030-01-01" in markdown(results, args)


def test_bench_names_the_cpus_int8_instructions(tmp_path):
    from bench.run import cpu_description

    intel = tmp_path / "intel"
    intel.write_text("processor\t: 0\nmodel name\t: Intel Xeon\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n\n"
                     "processor\t: 1\nmodel name\t: Intel Xeon\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    amd = tmp_path / "amd"
    amd.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4a avx avx2\n")
    graviton = tmp_path / "arm"
    graviton.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU part\t: 0xd0c\n")
    assert cpu_description(intel) == "Intel Xeon, avx512_vnni"
    assert cpu_description(amd) == "AMD EPYC, avx2"
    assert cpu_description(graviton) == "0xd0c, asimddp"
    assert cpu_description(tmp_path / "missing") == "CPU unknown"


def test_multiply_adds_count_every_kernel_at_every_output_position(tmp_path):
    import pytest
    keras = pytest.importorskip("keras")
    from bench.multiply_adds import count
    inputs = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(2, 3, padding="same")(inputs)  # 16 positions x 3x3x1x2
    x = keras.layers.MaxPooling2D()(x)  # no multiplies
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(x))  # 8 inputs x 3
    keras.Model(inputs, outputs).save(tmp_path / "tiny.keras")
    assert count(tmp_path / "tiny.keras")["multiply_adds"] == 16 * 18 + 8 * 3
    # 312 multiply-adds a view, 4 views in 1 ms: 1.248 M a second, 3,744 a face in 3 ms.
    printed = subprocess.run([sys.executable, "-m", "bench.multiply_adds", "--model", str(tmp_path / "tiny.keras"),
                             "--views", "4", "--latency-ms", "1", "--ghz", "0.001", "--fma-per-cycle", "1"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    result = json.loads(printed)
    assert result["multiply_adds_per_second"] == 1_248_000
    assert result["multiply_adds_per_face_at_target"] == 3744
    assert result["one_core_peak_per_second"] == 1_000_000 and result["share_of_peak"] == 1.248
