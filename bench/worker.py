"""One benchmark candidate, run in its own process (and, for tflite-runtime, its own venv).

    python bench/worker.py CANDIDATE cold|warm|accuracy|accuracy7|photo [--repeats N] [--data DIR] [--file F]

Prints one JSON line. Deliberately free of project imports except the function's own code,
so the candidate's environment is what is measured; bench/run.py names the files it reads in
its environment (BENCH_*).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import os
import resource
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
# The function's code and models: this checkout's, or an earlier commit's for the previous pins.
FUNCTION = Path(os.environ.get("BENCH_FUNCTION_DIR") or ROOT / "function")
FOUR = ("happy", "neutral", "sad", "surprise")
SEVEN = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # fer's output order


@functools.cache
def _shipped_recipe():
    """The preprocessing and test-time views the shipped model's metadata names, read once."""
    sys.path.insert(0, str(FUNCTION))
    from emotion.views import face_views, views_from_metadata
    meta = json.loads((FUNCTION / "model" / "emotion4.json").read_text())
    try:  # absent from the previous pins' function code, whose models have no preprocessing
        from emotion.preprocessing import apply, steps_from_metadata
        steps = steps_from_metadata(meta.get("preprocessing"))
    except ImportError:
        apply, steps = None, ()
    return face_views, views_from_metadata(meta.get("test_time_augmentation")), apply, steps


def shipped_views(x) -> list:
    """``x`` through the shipped model's preprocessing and in its test-time views: the float
    candidates follow its recipe."""
    face_views, views, apply, steps = _shipped_recipe()
    return face_views(apply(x, steps) if steps else x, views)


class Candidate:
    """decode(bytes) -> array the model takes; infer(array) -> probabilities over ``labels``."""
    labels: tuple[str, ...] = FOUR

    def classify(self, data: bytes):
        return self.infer(self.decode(data))


class Handler(Candidate):
    """The deployed path: function/app.py's analysis (decode, face detection for photos, the int8
    classifier), on LiteRT or tflite-runtime."""

    def __init__(self):
        sys.path.insert(0, str(FUNCTION))
        # As on Lambda: LAMBDA_TASK_ROOT makes the X-Ray SDK take its Lambda path (a local sampler)
        # and Powertools' Tracer start enabled, patching botocore as it does in production.
        # Without it the SDK builds two X-Ray API clients at import (0.2 s Lambda never pays).
        os.environ.setdefault("LAMBDA_TASK_ROOT", str(FUNCTION))
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        import app  # what Lambda imports on a cold start: model loaded here
        from emotion.analysis import analyze
        from emotion.imaging import decode_image, preprocess_face
        self.app, self._decode, self._pre, self._analyze = app, decode_image, preprocess_face, analyze
        self.labels = tuple(app.CLASSIFIER.labels)
        self.interpreter = app.CLASSIFIER.model.backend  # litert-c, or tflite-runtime in its environment

    def classify(self, data):
        faces = self._analyze(data, self.app.SETTINGS, self.app.CLASSIFIER, self.app.DETECTOR).faces
        return list(faces[0]["scores"].values()) if faces else [1 / len(self.labels)] * len(self.labels)

    def decode(self, data):
        size = self.app.CLASSIFIER.image_size
        return self._pre(self._decode(data, 50_000_000, draft_size=size).gray, size)

    def infer(self, x):
        return list(self.app.CLASSIFIER.predict(x).scores.values())


class FloatLiteRT(Candidate):
    """The float model on the same LiteRT runtime as ours."""

    def __init__(self, model_path: Path):
        import numpy as np
        sys.path.insert(0, str(ROOT / "function"))
        from emotion.imaging import decode_image, preprocess_face
        from emotion.runtime import load_model
        self.np, self._decode, self._pre = np, decode_image, preprocess_face
        self.model = load_model(model_path, num_threads=1)
        self.interpreter = f"{self.model.backend} (float32)"

    def decode(self, data):
        return self._pre(self._decode(data, 50_000_000, draft_size=48).gray, 48)

    def _run(self, x):
        return self.model.run(x.reshape(1, 48, 48, 1).astype(self.np.float32))[0][0]

    def infer(self, x):
        views = shipped_views(x)
        return (sum(self._run(v) for v in views) / len(views)).tolist()


class KerasTF(Candidate):
    def __init__(self, model_path: Path):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        import numpy as np
        sys.path.insert(0, str(ROOT / "function"))
        from emotion.imaging import decode_image, preprocess_face
        self.np, self._decode, self._pre = np, decode_image, preprocess_face
        self.model = keras.models.load_model(model_path)
        self.interpreter = f"keras {keras.__version__} on TensorFlow"

    def decode(self, data):
        return self._pre(self._decode(data, 50_000_000).gray, 48)

    def infer(self, x):
        batch = self.np.stack(shipped_views(x))
        return self.np.asarray(self.model(batch[..., None], training=False)).mean(0).tolist()


class FerNet(Candidate):
    """The `fer` package's own emotion network (its default quantized TFLite file): 64x64 gray, -1..1."""
    labels = FER_LABELS

    def __init__(self, model_path: Path):
        import numpy as np
        sys.path.insert(0, str(ROOT / "function"))
        from emotion.imaging import decode_image
        from emotion.runtime import load_model
        from PIL import Image
        self.np, self._decode, self.Image = np, decode_image, Image
        self.model = load_model(model_path, num_threads=1)
        self.interpreter = f"{self.model.backend} (fer's emotion_model_quantized.tflite)"

    def pixels(self, gray):
        """A gray PIL face as fer feeds its network."""
        gray = gray.resize((64, 64), self.Image.Resampling.BILINEAR)
        return (self.np.asarray(gray, dtype=self.np.float32) / 255.0 - 0.5) * 2.0

    def decode(self, data):
        return self.pixels(self._decode(data, 50_000_000).gray)

    def infer(self, x):
        spec = self.model.inputs[0]
        return self.model.run(x.reshape(spec.shape).astype(spec.dtype))[0][0].astype(float).tolist()


HANDLER_CANDIDATES = ("litert-int8", "previous-pins-int8", "tflite-runtime-int8")  # the function's own path
CANDIDATE_NAMES = (*HANDLER_CANDIDATES, "litert-float", "tensorflow-float", "fer-net")  # bench/run.py describes each


def make(name: str) -> Candidate:
    if name in HANDLER_CANDIDATES:
        return Handler()
    if name == "litert-float":
        return FloatLiteRT(Path(os.environ["BENCH_FLOAT_TFLITE"]))
    if name == "tensorflow-float":
        return KerasTF(Path(os.environ["BENCH_KERAS_MODEL"]))
    if name == "fer-net":
        return FerNet(Path(os.environ["BENCH_FER_NETWORK"]))
    raise SystemExit(f"unknown candidate {name}")


def face_jpeg() -> bytes:
    return next((ROOT / "infra" / "samples").glob("happy-*.jpg")).read_bytes()


def photo_jpeg() -> bytes:
    """A 640x480 photo-like JPEG with a face in it (decode and resize are part of the cost)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    bg = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).resize((640, 480))
    face = Image.open(io.BytesIO(face_jpeg())).convert("RGB").resize((300, 300))
    bg.paste(face, (170, 90))
    buf = io.BytesIO()
    bg.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def percentiles(times: list[float]) -> dict[str, float]:
    import numpy as np
    arr = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 4), "p99_ms": round(float(np.percentile(arr, 99)), 4),
            "mean_ms": round(float(arr.mean()), 4)}


def timed(fn, arg, repeats: int) -> list[float]:
    for _ in range(min(20, repeats)):
        fn(arg)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate", choices=CANDIDATE_NAMES,
                        help="the runtime and model measured; the int8 ones run the function's own handler in "
                             "whatever environment runs this script")
    parser.add_argument("mode", choices=["cold", "warm", "accuracy", "accuracy7", "photo"],
                        help="cold: import and first answer; warm: a face JPEG, a 640x480 photo and inference "
                             "alone, each --repeats times; accuracy / accuracy7: FER2013 validation, four / seven emotions; photo: one upload end to end")
    parser.add_argument("--repeats", type=int, default=500, help="warm mode: runs timed of each (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=None,
                        help="accuracy modes (required there): FER2013's class-folder tree, split/<emotion>/*.jpg")
    parser.add_argument("--file", type=Path, default=None, help="photo mode: the upload to analyse once")
    args = parser.parse_args()
    if args.mode.startswith("accuracy") and args.data is None:
        parser.error("the accuracy modes need --data")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as a small Lambda has
    cand = make(args.candidate)
    if args.mode == "cold":
        probs = cand.classify(face_jpeg())
        out = {"first_result_s": round(time.perf_counter() - STARTED, 4), "label": cand.labels[max(range(len(probs)), key=probs.__getitem__)]}
    elif args.mode == "warm":
        face, photo = face_jpeg(), photo_jpeg()
        x = cand.decode(face)
        face_t, photo_t, infer_t = (timed(cand.classify, face, args.repeats), timed(cand.classify, photo, args.repeats),
                                    timed(cand.infer, x, args.repeats))
        out = {"face_jpeg": percentiles(face_t), "photo_640x480": percentiles(photo_t), "inference": percentiles(infer_t),
               "face_images_per_s": round(len(face_t) / sum(face_t), 1)}
    elif args.mode == "photo":
        out = one_photo(cand, args.file)
    elif args.mode == "accuracy7":  # a seven-label model (MODEL_NAME=emotion7) on all seven emotions
        out = accuracy(cand, args.data, SEVEN)
    else:
        out = accuracy(cand, args.data)
    out.update(candidate=args.candidate, interpreter=getattr(cand, "interpreter", ""),
               peak_rss_mb=peak_rss_mb())
    print(json.dumps(out), flush=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage: Linux carries ru_maxrss over
    exec from the parent that forked us, so a large parent would show up in every worker."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def one_photo(cand: Candidate, path: Path) -> dict:
    """One upload through the deployed analysis in a fresh process: its time, faces and the memory
    the process needed (peak RSS, reported for every mode, includes the import and the models)."""
    before = peak_rss_mb()
    data = path.read_bytes()
    started = time.perf_counter()
    faces = cand._analyze(data, cand.app.SETTINGS, cand.app.CLASSIFIER, cand.app.DETECTOR).faces
    return {"seconds": round(time.perf_counter() - started, 3), "bytes": len(data),
            "emotions": [f["emotion"] for f in faces], "rss_before_mb": before}


def accuracy(cand: Candidate, data: Path, classes: tuple[str, ...] = FOUR) -> dict:
    """Validation accuracy over ``classes`` (a model with more labels: argmax over these), and a
    digest of every probability, so that two environments' outputs can be compared exactly."""
    index = [cand.labels.index(c) for c in classes]
    correct = total = 0
    digest = hashlib.sha256()
    for k, emotion in enumerate(classes):
        for path in sorted((data / "validation" / emotion).iterdir()):
            probs = cand.classify(path.read_bytes())
            digest.update(json.dumps([round(float(p), 9) for p in probs]).encode())
            correct += max(range(len(classes)), key=lambda j: probs[index[j]]) == k
            total += 1
    return {f"accuracy_{len(classes)}": round(correct / total, 4), "images": total, "scores_sha256": digest.hexdigest()}

if __name__ == "__main__":
    main()
