"""LiteRT's C path against its Python Interpreter on this machine's architecture, on the shipped
models: the same tensor specs and bit-identical outputs on random inputs (what tests/unit/
test_runtime.py checks on x86_64). infra/check_arm64.sh runs it on arm64 under emulation.

    python infra/arm64_check.py MODEL_DIR
"""
import argparse
import platform
import sys
from pathlib import Path

import numpy as np
from emotion.runtime import load_model


# Sizes given to a model's open dimensions (RetinaFace's height and width: multiples of its 32-px
# stride, its second look's square and a photo's canvas), so the C path's resizing runs too.
OPEN_SIZES = (192, 320)


def random_inputs(specs, rng, open_size: int):
    shapes = [tuple(open_size if i in s.open_dims else d for i, d in enumerate(s.shape)) for s in specs]
    return [rng.integers(-128, 128, shape, dtype=np.int8) if s.dtype == np.int8
            else rng.integers(0, 256, shape).astype(s.dtype) if s.dtype == np.uint8
            else rng.uniform(-1, 1, shape).astype(s.dtype) for s, shape in zip(specs, shapes)]


def check(path: Path) -> bool:
    c_api, interpreter = load_model(path, backend="litert-c"), load_model(path, backend="interpreter")
    specs = lambda specs: [(s.shape, s.dtype, s.scale, s.zero_point) for s in specs]  # noqa: E731
    ok = (c_api.backend, interpreter.backend) == ("litert-c", "litert-interpreter")
    rng = np.random.default_rng(0)
    same = 0
    for i in range(10):
        x = random_inputs(c_api.inputs, rng, OPEN_SIZES[i % len(OPEN_SIZES)])
        same += all(np.array_equal(a, b) for a, b in zip(c_api.run(*x), interpreter.run(*x)))
    # Compared after the runs: before one, an open-shaped model's outputs have no settled shape.
    ok &= specs(c_api.inputs) == specs(interpreter.inputs) and specs(c_api.outputs) == specs(interpreter.outputs)
    print(f"{path.name}: backends {c_api.backend} / {interpreter.backend}, specs "
          f"{'equal' if ok else 'DIFFERENT'}, outputs identical on {same}/10 random inputs", flush=True)
    return ok and same == 10


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="a folder of .tflite models (function/model)")
    models = sorted(parser.parse_args().model_dir.glob("*.tflite"))
    print(f"python {platform.python_version()} on {platform.machine()}, numpy {np.__version__}", flush=True)
    passed = bool(models) and all([check(path) for path in models])
    print("PASS" if passed else "FAIL")
    sys.exit(0 if passed else 1)
