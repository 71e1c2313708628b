"""Slim a built Lambda package (the output of `sam build`) to what the function runs.

`sam build` installs function/requirements.txt with every dependency and every file the wheels
ship. This removes, in place:

- packages the python3.13 Lambda runtime already provides (botocore and its dependencies,
  pulled in a second time by aws-xray-sdk); the function then uses the runtime's copy;
- test suites, build tools and type stubs (numpy's tests, f2py, distutils, *.pyi, ...);
- parts of the wheels the handler never loads: LiteRT's NPU vendor plugins, its WebGPU
  accelerator (18 MB; Lambda has no GPU, and LiteRT only notes that it found none), tools and the
  wrappers of its other APIs (compiled model, converter, calibration), numpy's C headers and the
  modules it loads only on demand (random, fft, polynomial, ma), Pillow's font, colour-management
  and Tk extensions (its AVIF decoder stays: Android cameras write AVIF), the Powertools
  utilities the function does not use (event handler, parser, idempotency, ...), tqdm (a LiteRT
  tool's progress bar);
- LiteRT's Python bindings (libpywrap_litert_common.so, 18 MB) and what only they import
  (protobuf, ml_dtypes, flatbuffers, backports.strenum): the function calls LiteRT's C library
  (libLiteRt.so) directly (function/emotion/runtime.py), as the suite checks on the x86_64
  package and infra/check_arm64.sh on arm64 (under emulation, bit-identical to the Interpreter);
- bundled shared libraries that no extension module left in the package reaches through its
  links (read from the ELF dynamic sections, so a library still needed is never removed; two
  libraries that only link each other, as Pillow's freetype and harfbuzz do, go together);
- symbol tables and debug sections of every shared library (`strip --strip-unneeded`, which
  keeps the dynamic symbols); `llvm-strip` takes the architectures the host's GNU `strip`
  cannot read (arm64 built on x86_64), and where neither is installed the symbols stay.

The suite imports the pruned package and classifies images of every supported format with it.

    python -m infra.prune_package .aws-sam/build/EmotionFunction
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

# Provided by the python3.13 runtime (boto3 and its dependencies live in /var/runtime).
RUNTIME_PROVIDED = ("botocore", "boto3", "s3transfer", "urllib3", "jmespath", "dateutil", "six")
UNUSED_PATHS = (
    "numpy/f2py", "numpy/distutils", "numpy/_pyinstaller", "numpy/testing", "numpy/typing",
    "numpy/random", "numpy/fft", "numpy/polynomial", "numpy/ma", "numpy/conftest.py",
    "numpy/_core/_simd*.so", "numpy/_core/_*_tests*.so",
    "numpy/_core/include", "numpy/_core/lib",
    "ai_edge_litert/tools", "ai_edge_litert/vendors", "ai_edge_litert/libLiteRtWebGpuAccelerator.so", "ai_edge_litert/aot", "ai_edge_litert/*_pb2.py",
    "ai_edge_litert/tflite", "ai_edge_litert/schema_py_generated.py", "ai_edge_litert/compiled_model.py", "ai_edge_litert/tensor_buffer.py",
    "ai_edge_litert/_pywrap_analyzer_wrapper.so", "ai_edge_litert/_pywrap_litert_*_wrapper.so",
    "ai_edge_litert/_pywrap_modify_model_interface.so", "ai_edge_litert/_pywrap_tensorflow_lite_calibration_wrapper.so",
    "ai_edge_litert/format_converter_wrapper_pybind11.so", "ai_edge_litert/pywrap_genai_ops.so",
    "tqdm", "tqdm-*.dist-info",
    # Powertools: the function imports logging, metrics, tracing and the S3 event data classes.
    "aws_lambda_powertools/event_handler",
    *(f"aws_lambda_powertools/utilities/{name}" for name in (
        "auth_alpha", "batch", "circuit_breaker", "data_masking", "feature_flags", "idempotency", "kafka",
        "parameters", "parser", "streaming", "validation")),
    "PIL/_imagingft*.so", "PIL/_imagingcms*.so", "PIL/_imagingtk*.so",
    "bin",
)
# GNU strip reads the host's architecture only; LLVM's reads every one, so an arm64 package built
# on x86_64 is stripped too, where it is installed.
STRIPPERS = ("strip", "llvm-strip")
# Used only by ai_edge_litert's Python Interpreter; the C API library stays.
PYTHON_BINDINGS = ("ai_edge_litert/libpywrap_litert_common.so", "ai_edge_litert/_pywrap_*.so",
                   "ai_edge_litert/interpreter.py", "ai_edge_litert/metrics_*.py",
                   # imported by ai_edge_litert's Python modules only
                   "google", "protobuf-*.dist-info", "ml_dtypes", "ml_dtypes-*.dist-info",
                   "flatbuffers", "flatbuffers-*.dist-info", "backports", "backports_strenum-*.dist-info")
UNUSED_NAMES = ("tests", "__pycache__")  # directories, anywhere
UNUSED_SUFFIXES = (".pyi", ".pyx", ".pxd")
BUNDLED_LIB_DIRS = ("numpy.libs", "pillow.libs", "pi_heif.libs")


def size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _dist_name(dist_info: Path) -> str:
    return dist_info.name.split("-")[0].lower().replace("_", "-")


def remove_runtime_provided(root: Path) -> list[str]:
    removed = []
    for name in RUNTIME_PROVIDED:
        for path in (root / name, root / f"{name}.py"):
            if path.exists():
                _remove(path)
                removed.append(path.name)
    provided = {n.replace("_", "-") for n in RUNTIME_PROVIDED} | {"python-dateutil"}
    for info in root.glob("*.dist-info"):
        if _dist_name(info) in provided:
            _remove(info)
    for data in root.glob("*.data"):  # e.g. jmespath's scripts
        if _dist_name(data) in provided:
            _remove(data)
    return removed


def remove_unused(root: Path) -> None:
    for pattern in UNUSED_PATHS:
        for path in root.glob(pattern):
            _remove(path)
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and path.name in UNUSED_NAMES:
            _remove(path)
        elif path.is_file() and path.suffix in UNUSED_SUFFIXES:
            path.unlink()


def _elf64(path: Path):
    """(data, read) for a 64-bit ELF file, ``read(offset, size)`` an integer in the file's byte
    order; None for anything else (both Lambda architectures are 64-bit)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    order = "little" if data[5] == 1 else "big"
    return data, lambda offset, size: int.from_bytes(data[offset:offset + size], order)


def remove_python_bindings(root: Path) -> bool:
    """Remove LiteRT's Python bindings where its C library is there to run the models; True when removed."""
    capi = root / "ai_edge_litert" / "libLiteRt.so"
    if not capi.exists() or _elf64(capi) is None:
        return False
    for pattern in PYTHON_BINDINGS:
        for path in root.glob(pattern):
            _remove(path)
    return True


def needed_libraries(elf: Path) -> set[str]:
    """DT_NEEDED entries of an ELF file (empty when it is not one)."""
    if (parsed := _elf64(elf)) is None:
        return set()
    data, read = parsed
    shoff, shentsize, shnum = read(0x28, 8), read(0x3A, 2), read(0x3C, 2)
    headers = [shoff + i * shentsize for i in range(shnum)]
    # (sh_offset, sh_size, sh_type, sh_link) of each section
    sections = [(read(h + 0x18, 8), read(h + 0x20, 8), read(h + 4, 4), read(h + 0x28, 4)) for h in headers]
    names = set()
    for offset, size, kind, link in sections:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][0]
        for entry in range(offset, offset + size, 16):
            tag, value = read(entry, 8), read(entry + 8, 8)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab + value)
                names.add(data[strtab + value:end].decode())
    return names


def remove_orphan_libraries(root: Path) -> list[str]:
    """Drop bundled .libs entries that no ELF file outside those folders reaches, directly or
    through other bundled libraries."""
    bundled = {lib.name: lib for d in BUNDLED_LIB_DIRS for lib in (root / d).glob("*.so*") if lib.is_file()}
    reached, todo = set(), []
    for path in root.rglob("*.so*"):
        if path.is_file() and path.parent.name not in BUNDLED_LIB_DIRS:
            todo += needed_libraries(path)
    while todo:
        name = todo.pop()
        if name in bundled and name not in reached:
            reached.add(name)
            todo += needed_libraries(bundled[name])
    removed = sorted(set(bundled) - reached)
    for name in removed:
        bundled[name].unlink()
    return removed


def loadable_segments(elf: Path) -> bool:
    """Whether every PT_LOAD segment's file offset and address agree modulo the page size, as the
    dynamic loader requires. `strip` can break this on libraries that auditwheel rewrote with
    patchelf (numpy's OpenBLAS and gfortran), which then fail to load."""
    _, read = _elf64(elf)
    phoff, phentsize, phnum = read(0x20, 8), read(0x36, 2), read(0x38, 2)
    for header in (phoff + i * phentsize for i in range(phnum)):
        if read(header, 4) == 1 and (read(header + 16, 8) - read(header + 8, 8)) % 4096:  # PT_LOAD vaddr, offset
            return False
    return True


def strip_symbols(root: Path) -> list[str]:
    """Strip the symbol tables and debug sections of every shared library where that is safe;
    returns the relative paths of those stripped."""
    stripped = []
    tools = [tool for tool in map(shutil.which, STRIPPERS) if tool]
    for path in sorted(root.rglob("*.so*")):
        if not path.is_file() or path.is_symlink() or _elf64(path) is None:
            continue
        original = path.read_bytes()
        for tool in tools:
            # GNU strip fails on a foreign architecture (arm64 built on x86_64): the next tool tries.
            result = subprocess.run([tool, "--strip-unneeded", str(path)], capture_output=True)
            if result.returncode == 0 and path.stat().st_size < len(original) and loadable_segments(path):
                stripped.append(str(path.relative_to(root)))
                break
            path.write_bytes(original)
    return stripped


def prune(root: Path) -> dict:
    root = Path(root)
    if not (root / "app.py").exists():
        raise SystemExit(f"{root} is not a built function (no app.py)")
    before = size_mb(root)
    runtime = remove_runtime_provided(root)
    remove_unused(root)
    bindings = remove_python_bindings(root)
    orphans = remove_orphan_libraries(root)
    stripped = strip_symbols(root)
    return {"before_mb": round(before, 1), "after_mb": round(size_mb(root), 1), "runtime_provided": runtime,
            "python_bindings_removed": bindings, "orphan_libraries": orphans, "stripped": stripped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.prune_package", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir", type=Path, nargs="?", default=Path(".aws-sam/build/EmotionFunction"),
                        help="the function's folder in sam build's output (default: %(default)s)")
    args = parser.parse_args(argv)
    report = prune(args.build_dir)
    print(f"pruned {args.build_dir}: {report['before_mb']} MB -> {report['after_mb']} MB unzipped")
    print(f"  runtime-provided packages removed: {', '.join(report['runtime_provided']) or 'none'}")
    print(f"  LiteRT's Python bindings removed: {'yes' if report['python_bindings_removed'] else 'no (no libLiteRt.so)'}")
    print(f"  unlinked bundled libraries removed: {', '.join(report['orphan_libraries']) or 'none'}")
    print(f"  shared libraries stripped: {len(report['stripped'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
