"""Slim a built Lambda package (the output of `sam build`) to what the function runs.

`sam build` installs function/requirements.txt with every dependency and every file the wheels
ship. This removes, in place:

- packages the python3.11 Lambda runtime already provides (botocore and its dependencies,
  pulled in a second time by aws-xray-sdk); the function then uses the runtime's copy;
- test suites, build tools and type stubs (numpy's tests, f2py, distutils, *.pyi, ...);
- parts of the wheels the handler never loads: LiteRT's NPU vendor plugins and tools, numpy's
  random module, Pillow's AVIF, font, colour-management and Tk extensions;
- bundled shared libraries that nothing left in the package links to (read from the ELF
  dynamic sections, so a library still needed is never removed);
- debug symbols of LiteRT's main library, when the host's `strip` understands the
  architecture (x86_64 here).

The suite imports the pruned package and classifies images of every supported format with it.

    python -m infra.prune_package .aws-sam/build/EmotionFunction
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

# Provided by the python3.11 runtime (boto3 and its dependencies live in /var/runtime).
RUNTIME_PROVIDED = ("botocore", "boto3", "s3transfer", "urllib3", "jmespath", "dateutil", "six")
UNUSED_PATHS = (
    "numpy/f2py", "numpy/distutils", "numpy/_pyinstaller", "numpy/testing", "numpy/typing",
    "numpy/random", "numpy/conftest.py",
    "numpy/_core/_simd*.so", "numpy/_core/_*_tests*.so",
    "ai_edge_litert/tools", "ai_edge_litert/vendors",
    "PIL/_avif*.so", "PIL/_imagingft*.so", "PIL/_imagingcms*.so", "PIL/_imagingtk*.so",
    "bin",
)
UNUSED_NAMES = ("tests", "__pycache__")  # directories, anywhere
UNUSED_SUFFIXES = (".pyi", ".pyx", ".pxd")
BUNDLED_LIB_DIRS = ("numpy.libs", "pillow.libs")
STRIP = ("ai_edge_litert/libpywrap_litert_common.so",)


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


def needed_libraries(elf: Path) -> set[str]:
    """DT_NEEDED entries of an ELF file (empty when it is not one)."""
    data = elf.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit ELF only (both Lambda architectures)
        return set()
    order = "little" if data[5] == 1 else "big"
    u16 = lambda o: int.from_bytes(data[o:o + 2], order)  # noqa: E731
    u64 = lambda o: int.from_bytes(data[o:o + 8], order)  # noqa: E731
    shoff, shentsize, shnum = u64(0x28), u16(0x3A), u16(0x3C)
    sections = [(u64(shoff + i * shentsize + 0x18), u64(shoff + i * shentsize + 0x20),
                 int.from_bytes(data[shoff + i * shentsize + 4:shoff + i * shentsize + 8], order),
                 int.from_bytes(data[shoff + i * shentsize + 0x28:shoff + i * shentsize + 0x2C], order))
                for i in range(shnum)]
    names = set()
    for offset, size, kind, link in sections:
        if kind != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][0]
        for entry in range(offset, offset + size, 16):
            tag, value = u64(entry), u64(entry + 8)
            if tag == 0:
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab + value)
                names.add(data[strtab + value:end].decode())
    return names


def remove_orphan_libraries(root: Path) -> list[str]:
    """Drop bundled .libs entries that no remaining ELF file links to (repeat until stable)."""
    removed = []
    while True:
        needed = set()
        for path in root.rglob("*.so*"):
            if path.is_file():
                needed |= needed_libraries(path)
        orphans = [lib for d in BUNDLED_LIB_DIRS for lib in (root / d).glob("*.so*") if lib.name not in needed]
        if not orphans:
            return removed
        for lib in orphans:
            lib.unlink()
            removed.append(lib.name)


def strip_symbols(root: Path) -> list[str]:
    stripped = []
    strip = shutil.which("strip")
    for rel in STRIP:
        path = root / rel
        if strip and path.exists():
            # A foreign architecture (arm64 built on x86_64) is left as it is.
            if subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True).returncode == 0:
                stripped.append(rel)
    return stripped


def prune(root: Path) -> dict:
    root = Path(root)
    if not (root / "app.py").exists():
        raise SystemExit(f"{root} is not a built function (no app.py)")
    before = size_mb(root)
    runtime = remove_runtime_provided(root)
    remove_unused(root)
    orphans = remove_orphan_libraries(root)
    stripped = strip_symbols(root)
    return {"before_mb": round(before, 1), "after_mb": round(size_mb(root), 1), "runtime_provided": runtime,
            "orphan_libraries": orphans, "stripped": stripped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.prune_package", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir", type=Path, nargs="?", default=Path(".aws-sam/build/EmotionFunction"),
                        help="the function's folder in sam build's output (default: %(default)s)")
    args = parser.parse_args(argv)
    report = prune(args.build_dir)
    print(f"pruned {args.build_dir}: {report['before_mb']} MB -> {report['after_mb']} MB unzipped")
    print(f"  runtime-provided packages removed: {', '.join(report['runtime_provided']) or 'none'}")
    print(f"  unlinked bundled libraries removed: {', '.join(report['orphan_libraries']) or 'none'}")
    print(f"  debug symbols stripped: {', '.join(report['stripped']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
