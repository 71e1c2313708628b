"""Real photographs with known expressions: what users get, beside the `fer` package's own pipeline.

    python -m bench.realphotos [--real ../shared/data/real] [--out reports/realphotos]

Every image of every set in ``--real`` (``SET/<emotion>/<file>``, see its README) goes through the
deployed analysis (decode, face detection, crop, the model's preprocessing and test-time views,
the int8 classifier), once with the four-emotion model and once with the seven-emotion one, and
through `fer` 25.10.3's own pipeline (OpenCV Haar cascade + its mini-Xception) in its own venv.
The largest face's label counts; an image where no face is found counts wrong. For four
emotions, only images labelled with one of the four take part, and fer's answer is its highest
score among those four. Writes ``realphotos.json``, ``realphotos.md`` and one PNG of confusion
matrices per task into ``--out``.

These sets are for evaluation only: nothing here trains on them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REAL = ROOT.parent / "shared" / "data" / "real"
DEFAULT_OUT = ROOT / "reports" / "realphotos"
FUNCTION = ROOT / "function"
FER_VENV = ROOT / ".venv-bench-fer"
# fer without its video and MTCNN extras (moviepy, ffmpeg, facenet-pytorch): its image path needs none.
FER_PINS = ("fer==25.10.3", "tensorflow-cpu==2.21.0", "opencv-contrib-python-headless==4.12.0.88", "pandas==2.3.3",
            "requests==2.32.5", "tqdm==4.67.1", "setuptools==80.9.0", "pillow==13.0.0", "matplotlib==3.10.8")
FOUR = ("happy", "neutral", "sad", "surprise")
SEVEN = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
TASKS = {"emotion4": FOUR, "emotion7": SEVEN}
NO_FACE = "no face"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")


def list_images(real: Path, sets: list[str] | None) -> dict[str, list[tuple[Path, str]]]:
    """``{set: [(path, label)]}`` for every set folder in ``real`` (or the named ones)."""
    names = sets or sorted(p.name for p in real.iterdir() if p.is_dir())
    out = {}
    for name in names:
        files = [(p, p.parent.name) for p in sorted((real / name).glob("*/*")) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise SystemExit(f"no images in {real / name}")
        out[name] = files
    return out


def rescaled_copies(images: dict[str, list[tuple[Path, str]]], real: Path, scratch: Path,
                    width_scale: float | Callable[[Path], float]) -> dict[str, list[tuple[Path, str]]]:
    """The same sets with every photo made ``width_scale`` times as wide (a number, or a function
    of the photo's path), as lossless PNGs in ``scratch``."""
    from PIL import Image, ImageOps
    out = {}
    for name, files in images.items():
        out[name] = []
        for path, label in files:
            scale = width_scale(path) if callable(width_scale) else width_scale
            with Image.open(path) as image:
                image = ImageOps.exif_transpose(image)
                copy = scratch / path.relative_to(real).with_suffix(".png")
                copy.parent.mkdir(parents=True, exist_ok=True)
                image.resize((max(1, round(image.width * scale)), image.height),
                             Image.Resampling.LANCZOS).save(copy)
            out[name].append((copy, label))
    return out


def face_aspect_scale(target: float) -> Callable[[Path], float]:
    """Per photo, the width scale that gives its largest face's box the aspect ``target``
    (bench.face_aspect)."""
    from .face_aspect import load_detector, photo_aspect, width_scale_to
    detector = load_detector()
    return lambda path: width_scale_to(photo_aspect(detector, path), target)


class DetectOnce:
    """The deployed detector, answering a second analysis of the same picture (the other task's
    model) from memory: the same faces, found once."""

    def __init__(self, detector):
        self.detector, self.last = detector, (None, None)

    def __getattr__(self, name):
        return getattr(self.detector, name)

    def detect(self, image):
        key = (image.mode, image.size, hashlib.sha256(image.tobytes()).digest())
        if self.last[0] != key:
            self.last = (key, self.detector.detect(image))
        return self.last[1]


def run_service(paths: list[Path], model_dir: Path, log) -> dict[str, dict]:
    """The deployed analysis with each task's model: ``{path: {task: {"faces": n, "scores": {...}}}}``."""
    sys.path.insert(0, str(FUNCTION))
    from emotion.analysis import analyze
    from emotion.classifier import EmotionClassifier
    from emotion.faces import load_detector
    from emotion.settings import Settings

    settings = Settings.from_env()  # FACE_DETECTOR picks another detector, as in the function
    detector = DetectOnce(load_detector(settings.model_dir, settings.face_detector))
    classifiers = {task: EmotionClassifier.load(model_dir, task) for task in TASKS}
    versions = {task: c.version for task, c in classifiers.items()}
    out: dict[str, dict] = {}
    started = time.monotonic()
    for i, path in enumerate(paths, 1):
        data = path.read_bytes()
        out[str(path)] = {}
        for task, classifier in classifiers.items():
            faces = analyze(data, settings, classifier, detector).faces
            scores = faces[0]["scores"] if faces else None
            out[str(path)][task] = {"faces": len(faces),
                                    "scores": {k: round(v, 4) for k, v in scores.items()} if scores else None}
        if i % 200 == 0 or i == len(paths):
            log(f"service: {i}/{len(paths)} images ({time.monotonic() - started:.0f} s)")
    return {"results": out, "versions": versions, "detector": settings.face_detector}


def ensure_fer_venv(log) -> Path:
    python = FER_VENV / "bin" / "python"
    if not (FER_VENV / ".installed").exists():
        log(f"creating {FER_VENV.name} (fer and TensorFlow, once)")
        subprocess.run([sys.executable, "-m", "venv", str(FER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", FER_PINS[0]], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *FER_PINS[1:]], check=True)
        (FER_VENV / ".installed").touch()
    return python


def run_fer(paths: list[Path], log) -> dict[str, dict]:
    """`fer`'s pipeline: ``{path: {"faces": n, "scores": {...} of the largest face}}``."""
    python = ensure_fer_venv(log)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(str(p) for p in paths))
    log(f"fer: {len(paths)} images")
    proc = subprocess.run([str(python), str(ROOT / "bench" / "fer_worker.py"), listing.name],
                          capture_output=True, text=True, check=True)
    os.unlink(listing.name)
    version = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('fer'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    out = {}
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        faces = sorted(row["faces"], key=lambda f: -f["box"][2] * f["box"][3])
        out[row["path"]] = {"faces": len(faces), "scores": faces[0]["emotions"] if faces else None}
    return {"results": out, "version": version}


def answer(scores: dict | None, classes: tuple[str, ...]) -> str:
    """The label among ``classes`` with the highest score, or ``NO_FACE``."""
    if scores is None:
        return NO_FACE
    return max(classes, key=lambda c: scores.get(c, -1.0))


def metrics(truth: list[str], predicted: list[str], classes: tuple[str, ...]) -> dict:
    present = [c for c in classes if c in truth]
    columns = list(classes) + [NO_FACE]
    confusion = np.zeros((len(present), len(columns)), dtype=int)
    for t, p in zip(truth, predicted):
        confusion[present.index(t), columns.index(p)] += 1
    f1s = []  # over the classes the set has
    for i, c in enumerate(present):
        tp = confusion[i, columns.index(c)]
        precision = tp / max(1, sum(1 for p in predicted if p == c))
        recall = tp / max(1, confusion[i].sum())
        f1s.append(0.0 if tp == 0 else 2 * precision * recall / (precision + recall))
    n = len(truth)
    return {"images": n, "accuracy": round(sum(t == p for t, p in zip(truth, predicted)) / max(1, n), 4),
            "macro_f1": round(float(np.mean(f1s)), 4) if f1s else None,
            "no_face": sum(p == NO_FACE for p in predicted),
            "confusion": {"rows": present, "columns": columns, "counts": confusion.tolist()}}


def evaluate(images: dict, systems: dict[str, dict]) -> dict:
    """Per task, set and system: accuracy, macro-F1, faces not found, confusion; and, per set,
    accuracy on the images where every system found a face."""
    report: dict = {}
    for task, classes in TASKS.items():
        report[task] = {}
        for name, files in images.items():
            files = [(p, t) for p, t in files if t in classes]
            if not files:
                continue
            truth = [t for _, t in files]
            answers = {system: [answer(largest_face_scores(res, str(p), task), classes) for p, _ in files]
                       for system, res in systems.items()}
            row = {system: metrics(truth, preds, classes) for system, preds in answers.items()}
            both = [i for i in range(len(files)) if all(answers[s][i] != NO_FACE for s in answers)]
            for system, preds in answers.items():
                row[system]["accuracy_where_all_found_a_face"] = round(
                    sum(preds[i] == truth[i] for i in both) / max(1, len(both)), 4)
            row["images_where_all_found_a_face"] = len(both)
            report[task][name] = row
    return report


def largest_face_scores(results: dict, path: str, task: str) -> dict | None:
    """One system's scores for the largest face in ``path`` (None: no face), from its stored answers
    (the service's are per task, fer's one set)."""
    entry = results["results"][path]
    return entry[task]["scores"] if task in entry else entry["scores"]


def answers_digest(results: dict) -> str:
    """A SHA-256 of one system's stored answers: what was measured from them (bench.person_intervals)
    is current while it matches."""
    return hashlib.sha256(json.dumps(results["results"], sort_keys=True).encode()).hexdigest()


def plot(report: dict, task: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sets = list(report[task])
    systems = [s for s in report[task][sets[0]] if isinstance(report[task][sets[0]][s], dict)]
    fig, axes = plt.subplots(len(sets), len(systems), figsize=(4.2 * len(systems), 3.6 * len(sets)), squeeze=False)
    for r, name in enumerate(sets):
        for c, system in enumerate(systems):
            m = report[task][name][system]
            counts = np.array(m["confusion"]["counts"])
            norm = counts / np.maximum(counts.sum(1, keepdims=True), 1)
            ax = axes[r][c]
            ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
            for i in range(counts.shape[0]):
                for j in range(counts.shape[1]):
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
            ax.set_xticks(range(counts.shape[1]), m["confusion"]["columns"], rotation=45, ha="right", fontsize=7)
            ax.set_yticks(range(counts.shape[0]), m["confusion"]["rows"], fontsize=7)
            ax.set_title(f"{name}: {system}\naccuracy {m['accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}", fontsize=8)
    fig.suptitle(f"{task}: real photographs (rows true, columns predicted)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _higher(value: float, other: float) -> str:
    """``value`` to three places, in bold when it is at least ``other`` (the better of a pair)."""
    text = f"{value:.3f}"
    return f"**{text}**" if round(value, 3) >= round(other, 3) else text


def markdown(result: dict) -> str:
    service, fer = "service", "fer"
    lines = ["# Real photographs: the service beside `fer`", "",
             f"Measured {result['date']} with `python -m bench.realphotos` on {result['machine']}. The service: "
             f"the deployed analysis (detector `{result['detector']}`, models "
             + ", ".join(f"{t} {v}" for t, v in result["versions"].items())
             + (f"); `fer` {result['fer_version']}: its own Haar cascade and mini-Xception" if result.get("fer_version")
                else "); `fer` not run")
             + (f" (its answers reused from {result['fer_answers_from']}: `--fer-from`)" if result.get("fer_answers_from") else "")
             + ". "
             "The largest face's label counts, no face found counts wrong; four emotions: only images "
             "labelled with one of the four, fer's highest score among them. These sets are for evaluation "
             "only (../shared/data/real/README.md)."
             + (f" A diagnosis: every photo was made {result['width_scale']:g} times as wide first (`--width-scale`)."
                if result.get("width_scale", 1.0) != 1.0 else "")
             + (f" A diagnosis: each photo was made wider or narrower first so that its largest face's box has "
                f"width / height {result['face_aspect']:g} (`--face-aspect`)." if result.get("face_aspect") else ""), ""]
    for task, rows in result["report"].items():
        lines += [f"## {task}", "", "| set | images | service accuracy | fer accuracy | service macro-F1 | fer macro-F1 "
                  "| no face: service / fer | both found a face: images, service / fer |", "|---|---|---|---|---|---|---|---|"]
        for name, row in rows.items():
            s, f = row[service], row.get(fer)
            if f is None:
                lines.append(f"| {name} | {s['images']} | {s['accuracy']:.3f} | | {s['macro_f1']:.3f} | | {s['no_face']} | |")
                continue
            lines.append(f"| {name} | {s['images']} | {_higher(s['accuracy'], f['accuracy'])} | "
                         f"{_higher(f['accuracy'], s['accuracy'])} | {s['macro_f1']:.3f} | "
                         f"{f['macro_f1']:.3f} | {s['no_face']} / {f['no_face']} | {row['images_where_all_found_a_face']}: "
                         f"{s['accuracy_where_all_found_a_face']:.3f} / {f['accuracy_where_all_found_a_face']:.3f} |")
        lines += ["", f"![{task} confusion matrices]({task}-confusion.png)", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.realphotos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL,
                        help="folder of sets, each SET/<emotion>/<file> (default: %(default)s)")
    parser.add_argument("--sets", default=None, help="comma-separated subset of the sets (default: all)")
    parser.add_argument("--model-dir", type=Path, default=FUNCTION / "model",
                        help="folder holding emotion4 and emotion7 .tflite + .json, e.g. a candidate's before it "
                             "is shipped (default: the shipped models, %(default)s)")
    parser.add_argument("--no-fer", action="store_true", help="skip the fer package (and its venv)")
    parser.add_argument("--fer-from", type=Path, default=None,
                        help="reuse fer's answers from this earlier realphotos.json instead of running it again")
    parser.add_argument("--width-scale", type=float, default=1.0, metavar="S",
                        help="a diagnosis: make every photo S times as wide (height kept) before either "
                             "pipeline sees it, as a photo resized to another shape is (default: %(default)s)")
    parser.add_argument("--face-aspect", type=float, default=None, metavar="A",
                        help="a diagnosis: make each photo wider or narrower (by at most 1.25 times) so that "
                             "its largest face's box has width / height A, e.g. FER2013's median from "
                             "python -m bench.face_aspect (default: photos as they are)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder for realphotos.json, realphotos.md and PNGs (default: %(default)s)")
    args = parser.parse_args(argv)
    reshaped = args.width_scale != 1.0 or args.face_aspect is not None
    if reshaped and args.fer_from:
        parser.error("--fer-from answers are for the photos as they are: run fer again, or --no-fer")
    if args.width_scale != 1.0 and args.face_aspect is not None:
        parser.error("--width-scale and --face-aspect are two diagnoses: pick one")

    def log(msg):
        print(f"[realphotos] {msg}", file=sys.stderr, flush=True)

    import platform
    originals = list_images(args.real, args.sets.split(",") if args.sets else None)
    images, scratch = originals, None  # scratch: the rescaled copies' folder, kept until the run ends
    if reshaped:
        scratch = tempfile.TemporaryDirectory()
        scale = face_aspect_scale(args.face_aspect) if args.face_aspect is not None else args.width_scale
        images = rescaled_copies(originals, args.real, Path(scratch.name), scale)
    paths = [p for files in images.values() for p, _ in files]
    log(f"{len(paths)} images in {len(images)} sets: " + ", ".join(f"{k} {len(v)}" for k, v in images.items()))
    service = run_service(paths, args.model_dir, log)
    systems = {"service": service}
    fer = None
    if args.fer_from:
        earlier = json.loads(args.fer_from.read_text())
        fer = {**earlier["fer"], "from": earlier["fer"].get("from") or f"{args.fer_from.name} of {earlier['date']}"}
    elif not args.no_fer:
        fer = run_fer(paths, log)
    if fer:
        systems["fer"] = fer
    if reshaped:
        # Answers are filed under the photos they were made from, so that a diagnosis pairs up
        # with the photos as they are (bench.person_intervals --candidate).
        original = {str(copy): str(path) for name in images for (copy, _), (path, _) in zip(images[name], originals[name])}
        for answers in systems.values():
            answers["results"] = {original.get(k, k): v for k, v in answers["results"].items()}
    report = evaluate(originals, systems)
    result = {"date": date.today().isoformat(), "width_scale": args.width_scale, "face_aspect": args.face_aspect,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}", "versions": service["versions"], "detector": service["detector"],
              "fer_version": fer["version"] if fer else None,
              "fer_answers_from": fer.get("from") if fer else None, "report": report, "service": service, "fer": fer}
    args.out.mkdir(parents=True, exist_ok=True)
    # Compact: the per-image answers (kept so that --fer-from can reuse fer's) are most of it.
    (args.out / "realphotos.json").write_text(json.dumps(result, separators=(",", ":")) + "\n")
    for task in TASKS:
        plot(report, task, args.out / f"{task}-confusion.png")
    (args.out / "realphotos.md").write_text(markdown(result) + "\n")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
