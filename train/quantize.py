"""Full-integer int8 TFLite conversion, float-vs-int8 evaluation, and shipping to function/model/.

The int8 model is evaluated through the function's own classifier, so the figures are those
of the serving path (minus image decoding). TensorFlow is used here only: never at run time.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import keras
import numpy as np

from .config import SEED
from .data import Split
from .evaluate import summarize
from .plots import plot_confusion
from .training import training_record



def representative_indices(labels: np.ndarray, total: int, seed: int = SEED) -> np.ndarray:
    """About ``total`` indices, the same number from every class."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per = max(1, total // len(classes))
    picks = [rng.choice(np.flatnonzero(labels == c), size=min(per, int((labels == c).sum())), replace=False)
             for c in classes]
    return np.sort(np.concatenate(picks))


def convert_int8(model: keras.Model, representative: np.ndarray) -> bytes:
    """Post-training full-integer quantization: int8 ops only, int8 input and output."""
    import tensorflow as tf

    def dataset():
        for image in representative:
            yield [image[None].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def convert_float(model: keras.Model) -> bytes:
    import tensorflow as tf
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _function_path():
    from . import function_code  # noqa: F401  (puts the function's modules on the path, once)


def _classifier_class():
    _function_path()
    from emotion.classifier import EmotionClassifier, sha256_of
    return EmotionClassifier, sha256_of


def tflite_probs(classifier, images: np.ndarray) -> np.ndarray:
    return np.stack([list(classifier.predict(img[..., 0]).scores.values()) for img in images])


def median_latency_ms(fn, image, repeats: int = 200) -> float:
    fn(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(image)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def write_metadata(path: Path, name: str, version: str, classes: tuple[str, ...], model: keras.Model,
                   tflite_path: Path, sha256: str, train: Split, metrics: dict, classifier, extra: dict,
                   stages=(), recalibration: dict | None = None, blend: dict | None = None,
                   prior: dict | None = None) -> dict:
    meta = {
        "name": name,
        "version": version,
        "labels": list(classes),
        **extra,
        "input": {
            "shape": list(classifier.input_shape),
            "dtype": np.dtype(classifier.input_dtype).name,
            "scale": float(classifier.input_scale),
            "zero_point": int(classifier.input_zero_point),
            "color": "gray",
            "pixel_range": [0, 255],
            "preprocessing": "decode, apply EXIF orientation, flatten transparency onto white, convert to "
                             "8-bit gray; crop each face found by the detector as a square with the training "
                             "crops' framing (an upload of at most 96 px is a face crop: center square); "
                             "resize to the input size; the steps in the top-level 'preprocessing' list "
                             "(equalize_hist: OpenCV's histogram equalization, repeated until it changes "
                             "nothing, as FER2013's files were equalized); raw pixel values 0..255 are "
                             "quantized with scale and zero_point (the model rescales to 0..1 itself)",
        },
        "output": {"activation": "softmax", "dtype": "int8",
                   "scale": float(classifier.output_scale), "zero_point": int(classifier.output_zero_point),
                   **({"prior": f"the training split's class shares divided out (tau {prior['tau']:g}): scores as if "
                                "every label were equally common", "prior_adjustment": prior} if prior else {})},
        "architecture": model.name,
        "params": int(model.count_params()),
        "training_data": training_data(classes, len(train), stages, recalibration, blend, prior),
        "metrics": metrics,
        "size_bytes": tflite_path.stat().st_size,
        "sha256": sha256,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def training_data(classes: tuple[str, ...], images: int, stages=(), recalibration: dict | None = None,
                  blend: dict | None = None, prior: dict | None = None) -> str:
    """What the model learned from, including earlier training stages on other classes, a
    batch-norm recalibration and its class shares divided out (the export's sidecar JSON lists them)."""
    text = f"FER2013 Training split, classes {', '.join(classes)} ({images} images)"
    other = [s for s in stages if s.get("classes") and s["classes"] != len(classes)]
    if other:
        counts = sorted({s["classes"] for s in other})
        text += (f"; {len(other)} of its {len(stages)} training stages used "
                 f"{' or '.join(map(str, counts))} FER2013 emotions instead")
    if blend:
        other = (blend.get("other_record") or {}).get("config", {})
        photo = "photographic augmentation" + (", stretched faces" if other.get("photo_stretch") else "")
        how = ", ".join(filter(None, [photo if other.get("photo") else "",
                                      f"FER+ votes ({other['ferplus']})" if other.get("ferplus", "off") != "off" else ""]))
        text += (f"; weights blended {1 - blend['other_share']:.0%} with {blend['other_share']:.0%} of a fine-tune"
                 + (f" ({how})" if how else "")
                 + (f", the fine-tune's own {len(blend['other_alone'])} weights of another shape (its output layer)"
                    if blend.get("other_alone") else ""))
    if recalibration:
        views = len(recalibration["views"])
        text += ("; batch-norm statistics recalibrated on those training faces"
                 + (f" seen through {views} test-time views" if views > 1 else ", one view each"))
    if prior:
        text += "; the training split's class shares divided out of its scores"
    return text


def _views(tta: str) -> tuple[str, ...]:
    _function_path()
    from emotion.views import views_from_metadata
    return views_from_metadata(tta)


def view_images(images: np.ndarray, views: tuple[str, ...]) -> list[np.ndarray]:
    """``images`` (N, H, W, 1) as each test-time view the function makes: one (N, H, W, 1) array a view."""
    _function_path()
    from emotion.views import face_views
    per_image = [face_views(img[..., 0].astype(np.float32), views) for img in images]
    return [np.stack([v[k] for v in per_image])[..., None] for k in range(len(views))]


def float_probs(model: keras.Model, images: np.ndarray, tta: str = "none") -> np.ndarray:
    """Float probabilities averaged over the same test-time views the function uses."""
    batches = view_images(images, _views(tta))
    return sum(model.predict(batch, batch_size=256, verbose=0) for batch in batches) / len(batches)


def quantize_and_ship(model_path: Path, train: Split, val: Split, out_dir: Path, reports_dir: Path,
                      name: str | None, representative: int, version: str, tta: str = "none") -> dict:
    EmotionClassifier, sha256_of = _classifier_class()
    classes = train.classes
    name = name or f"emotion{len(classes)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    reports_dir.mkdir(parents=True, exist_ok=True)

    model = keras.models.load_model(model_path)
    if model.output_shape[-1] != len(classes):
        raise SystemExit(f"{model_path} has {model.output_shape[-1]} outputs, --classes names {len(classes)}")
    rep = train.images[representative_indices(train.labels, representative)]
    print(f"quantizing {model_path} with {len(rep)} representative images")
    tflite_path = out_dir / f"{name}.tflite"
    tflite_path.write_bytes(convert_int8(model, rep))
    float_tflite = reports_dir / f"{name}-float.tflite"  # for latency comparison only; not shipped
    float_tflite.write_bytes(convert_float(model))

    # A provisional metadata file lets the serving classifier load (and checksum) the model.
    meta_path = out_dir / f"{name}.json"
    sha = sha256_of(tflite_path)
    tta_meta = {"test_time_augmentation": list(_views(tta))} if tta != "none" else {}
    # The steps every face went through here (the loaded splits'), so the function applies the same.
    tta_meta["preprocessing"] = list(train.preprocessing)
    trained_with = training_record(model_path).get("preprocessing")
    if trained_with is not None and list(trained_with) != list(train.preprocessing):
        raise SystemExit(f"{model_path} was trained with preprocessing {trained_with}, not {list(train.preprocessing)}: "
                         "pass the same --preprocessing")
    meta_path.write_text(json.dumps({"name": name, "version": version, "labels": list(classes), "sha256": sha,
                                     **tta_meta}))
    classifier = EmotionClassifier(tflite_path, meta_path)

    print(f"evaluating float and int8 on {len(val)} validation images")
    f_probs = float_probs(model, val.images, tta)
    int8_probs = tflite_probs(classifier, val.images.astype(np.float32))
    float_m, int8_m = summarize(f_probs, val.labels, list(classes)), summarize(int8_probs, val.labels, list(classes))
    agreement = float((f_probs.argmax(1) == int8_probs.argmax(1)).mean())
    max_diff = float(np.abs(f_probs - int8_probs).max())

    # The float TFLite file on the same runtime and over the same views as the int8 classifier.
    from emotion.runtime import load_model
    from emotion.views import face_views
    float_model = load_model(float_tflite, num_threads=1)

    def run_float(img):
        return [float_model.run(view[None, ..., None]) for view in face_views(img, classifier.views)]

    sample = val.images[0, ..., 0].astype(np.float32)
    latency = {"int8_tflite_ms": round(median_latency_ms(classifier.predict, sample), 4),
               "float_tflite_ms": round(median_latency_ms(run_float, sample), 4),
               "float_keras_ms": round(median_latency_ms(
                   lambda im: model(np.stack(face_views(im, classifier.views))[..., None], training=False), sample, 50), 4)}
    sizes = {"int8_tflite_bytes": tflite_path.stat().st_size, "float_tflite_bytes": float_tflite.stat().st_size,
             "float_keras_bytes": Path(model_path).stat().st_size}
    report = {"model": name, "source": str(model_path), "classes": list(classes), "tta": tta, "test_time_views": list(_views(tta)),
              "validation_images": len(val), "representative_images": len(rep),
              "float": float_m, "int8": int8_m, "top1_agreement": round(agreement, 4),
              "max_probability_difference": round(max_diff, 4), "latency_single_image": latency,
              "sizes": sizes}
    (reports_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_confusion(np.array(float_m["confusion_matrix"]), list(classes), reports_dir / f"{name}-float-confusion.png", f"{name} float")
    plot_confusion(np.array(int8_m["confusion_matrix"]), list(classes), reports_dir / f"{name}-int8-confusion.png", f"{name} int8")
    (reports_dir / f"{name}.md").write_text(_markdown(report))
    float_tflite.unlink()

    metrics = {"validation_split": "FER2013 PublicTest", "int8_accuracy": int8_m["accuracy"],
               "int8_loss": int8_m["loss"], "float_accuracy": float_m["accuracy"], "float_loss": float_m["loss"],
               "top1_agreement": round(agreement, 4), "per_class": int8_m["per_class"]}
    record = training_record(model_path)  # the export lists its training stages and any recalibration
    meta = write_metadata(meta_path, name, version, classes, model, tflite_path, sha, train, metrics, classifier,
                          tta_meta, record.get("stages", ()), record.get("batchnorm_recalibration"), record.get("blend"),
                          record.get("prior_adjustment"))
    print(f"{name}: int8 acc {int8_m['accuracy']:.4f} (float {float_m['accuracy']:.4f}), agreement "
          f"{agreement:.4f}, {sizes['int8_tflite_bytes'] / 1024:.0f} KiB -> {tflite_path}")
    return meta


def _markdown(r: dict) -> str:
    lines = [f"# Float vs int8: {r['model']}", "",
             f"Validation: FER2013 PublicTest, {r['validation_images']} images ({', '.join(r['classes'])}). "
             + (f"Both models average each face's probabilities over {len(r['test_time_views'])} test-time views "
                f"({', '.join(r['test_time_views'])}; every latency below includes them all, the Keras one as one batch). "
                if len(r["test_time_views"]) > 1 else "") +
             f"Representative set: {r['representative_images']} training images, stratified by class.", "",
             "| | float (Keras) | int8 (TFLite) |", "|---|---|---|",
             f"| accuracy | {r['float']['accuracy']:.4f} | {r['int8']['accuracy']:.4f} |",
             f"| loss | {r['float']['loss']:.4f} | {r['int8']['loss']:.4f} |",
             f"| size | {r['sizes']['float_keras_bytes'] / 1024:.0f} KiB (.keras) | {r['sizes']['int8_tflite_bytes'] / 1024:.0f} KiB |",
             f"| single-image latency, 1 thread | {r['latency_single_image']['float_keras_ms']:.2f} ms (Keras), "
             f"{r['latency_single_image']['float_tflite_ms']:.3f} ms (float TFLite) | {r['latency_single_image']['int8_tflite_ms']:.3f} ms |",
             "", f"Top-label agreement: **{r['top1_agreement']:.2%}**; largest probability difference: "
             f"{r['max_probability_difference']:.4f}.", "", "## Per class (int8; float in brackets)", "",
             "| class | precision | recall | support |", "|---|---|---|---|"]
    for c in r["classes"]:
        i, f = r["int8"]["per_class"][c], r["float"]["per_class"][c]
        lines.append(f"| {c} | {i['precision']:.3f} ({f['precision']:.3f}) | {i['recall']:.3f} ({f['recall']:.3f}) | {i['support']} |")
    lines += ["", f"![int8 confusion matrix]({r['model']}-int8-confusion.png)",
              f"![float confusion matrix]({r['model']}-float-confusion.png)", "",
              f"Regenerate: `python -m train quantize --model {r['source']} --classes {','.join(r['classes'])}"
              f"{' --tta ' + r['tta'] if r['tta'] != 'none' else ''}`.", ""]
    return "\n".join(lines)
