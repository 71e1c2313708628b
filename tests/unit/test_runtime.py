"""LiteRT's C API through ctypes against the Python Interpreter, on the shipped models."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "function"))
from emotion import runtime  # noqa: E402
from emotion.runtime import LiteRtError, load_model  # noqa: E402

MODELS = ROOT / "function" / "model"
SHIPPED = ("emotion4", "emotion7", "face_detection_short_range")


def random_input(spec, rng):
    if spec.dtype == np.int8:
        return rng.integers(-128, 128, spec.shape, dtype=np.int8)
    return rng.uniform(-1, 1, spec.shape).astype(spec.dtype)


@pytest.mark.parametrize("name", SHIPPED)
def test_c_api_matches_the_interpreter_bit_for_bit(name):
    c_api = load_model(MODELS / f"{name}.tflite", backend="litert-c")
    interpreter = load_model(MODELS / f"{name}.tflite", backend="interpreter")
    assert (c_api.backend, interpreter.backend) == ("litert-c", "litert-interpreter")
    # Same shapes, types and quantization (names differ: the C API reports signature names).
    strip = lambda specs: [(s.shape, s.dtype, s.scale, s.zero_point) for s in specs]  # noqa: E731
    assert strip(c_api.inputs) == strip(interpreter.inputs)
    assert strip(c_api.outputs) == strip(interpreter.outputs)
    rng = np.random.default_rng(0)
    for _ in range(10):
        x = random_input(c_api.inputs[0], rng)
        for a, b in zip(c_api.run(x), interpreter.run(x)):
            np.testing.assert_array_equal(a, b)


def test_outputs_are_copies_not_views_of_the_bound_buffers():
    model = load_model(MODELS / "emotion4.tflite", backend="litert-c")
    rng = np.random.default_rng(1)
    first = model.run(random_input(model.inputs[0], rng))[0]
    kept = first.copy()
    model.run(random_input(model.inputs[0], rng))
    np.testing.assert_array_equal(first, kept)


def test_int8_model_reports_its_quantization():
    spec = load_model(MODELS / "emotion4.tflite", backend="litert-c").inputs[0]
    assert spec.shape == (1, 48, 48, 1) and spec.dtype == np.int8
    assert spec.scale > 0 and -128 <= spec.zero_point <= 127


def test_not_a_model_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"TFL3" + bytes(200))
    with pytest.raises(LiteRtError):
        load_model(path, backend="litert-c")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="unknown TFLite backend"):
        load_model(MODELS / "emotion4.tflite", backend="gpu")


def test_auto_falls_back_to_the_interpreter_without_the_c_library(monkeypatch):
    monkeypatch.setattr(runtime, "capi_library_path", lambda: None)
    runtime._capi.cache_clear()
    try:
        assert load_model(MODELS / "emotion4.tflite").backend == "litert-interpreter"
    finally:
        runtime._capi.cache_clear()


def test_c_api_path_never_loads_the_python_bindings():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from emotion.runtime import load_model;"
            "m = load_model(sys.argv[2]); import numpy as np; m.run(np.zeros((1, 48, 48, 1), np.int8));"
            "print(m.backend, 'libpywrap' in open('/proc/self/maps').read(),"
            " any(k.startswith('ai_edge_litert') for k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(MODELS.parent), str(MODELS / "emotion4.tflite")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["litert-c", "False", "False"]


def test_cpu_options_reach_litert(monkeypatch):
    """The thread count travels as the "xnnpack" opaque option's TOML text: LiteRT parses it (an
    unreadable one is refused when the model compiles), so it is not silently ignored."""
    import ctypes
    monkeypatch.setattr(runtime, "_cpu_options_payload", lambda n: ctypes.create_string_buffer(b"num_threads = x\n"))
    with pytest.raises(LiteRtError, match="LiteRtCreateCompiledModel"):
        load_model(MODELS / "emotion4.tflite", backend="litert-c")
    monkeypatch.undo()
    assert load_model(MODELS / "emotion4.tflite", num_threads=2, backend="litert-c").backend == "litert-c"


def test_open_input_dimensions_are_resized_to_the_arrays_given():
    """RetinaFace's one file leaves height and width open: each shape, in any order, gives the
    Interpreter's outputs bit for bit, and a dimension the model fixes is refused."""
    path = MODELS / "retinaface.tflite"
    c_api, interpreter = load_model(path, backend="litert-c"), load_model(path, backend="interpreter")
    assert c_api.inputs[0].open_dims == interpreter.inputs[0].open_dims == (1, 2)
    rng = np.random.default_rng(2)
    for h, w in ((192, 192), (480, 640), (192, 192), (1024, 768)):
        x = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        a, b = c_api.run(x), interpreter.run(x)
        # One score pair and one box per anchor: two anchors a cell at strides 8, 16 and 32.
        anchors = 2 * sum((h // s) * (w // s) for s in (8, 16, 32))
        assert sorted(o.shape for o in a) == [(1, anchors, 2), (1, anchors, 4)]
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p, q)
        assert c_api.inputs[0].shape == (1, h, w, 3)
    with pytest.raises(ValueError, match="does not fit"):
        c_api.run(np.zeros((2, 192, 192, 3), np.uint8))


def test_a_batch_the_compiled_model_cannot_take_is_refused_not_run():
    """The emotion models leave their batch open; the Interpreter runs any batch, the C path one
    face at a time, and refuses more instead of writing past its output buffer."""
    path = MODELS / "emotion4.tflite"
    c_api, interpreter = load_model(path, backend="litert-c"), load_model(path, backend="interpreter")
    assert c_api.inputs[0].open_dims == () and interpreter.inputs[0].open_dims == (0,)
    faces = np.random.default_rng(3).integers(-128, 128, (64, 48, 48, 1), dtype=np.int8)
    assert interpreter.run(faces)[0].shape == (64, 4)
    with pytest.raises(ValueError, match="does not fit"):
        c_api.run(faces)
    np.testing.assert_array_equal(c_api.run(faces[:1])[0], interpreter.run(faces[:1])[0])
