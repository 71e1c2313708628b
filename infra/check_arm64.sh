#!/usr/bin/env bash
# The arm64 package's LiteRT C path, run for real on an x86_64 Debian machine: QEMU user-mode
# emulation of a Graviton2 core (neoverse-n1) over a Debian trixie arm64 sysroot with Python 3.13,
# the function's pinned aarch64 wheels, and infra/arm64_check.py on the shipped models.
# Debian 12's QEMU 7.2 crashes inside XNNPACK's CPU detection (it shows the guest the host's x86
# /proc/cpuinfo), so QEMU 10 is taken from trixie. Takes about 2 minutes; nothing is installed on
# the host but debootstrap.
#
#   infra/check_arm64.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${ARM64_WORK:-/var/tmp/emotion-arm64}
QEMU_DEB=qemu-user_10.0.13+ds-0+deb13u1_amd64.deb
MIRROR=http://deb.debian.org/debian
PIP="$ROOT/.venv/bin/python -m pip"
cd "$ROOT"
make --no-print-directory .venv/.base function/model/face_detection_short_range.tflite >/dev/null
command -v debootstrap >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
mkdir -p "$WORK"

if [ ! -x "$WORK/root/usr/bin/python3.13" ]; then
  echo "== arm64 sysroot: debootstrap trixie (first stage only: nothing runs inside it)" >&2
  debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,libstdc++6 trixie "$WORK/root" "$MIRROR" >/dev/null
  for deb in "$WORK"/root/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$WORK/root"; done
fi
if [ ! -x "$WORK/qemu/usr/bin/qemu-aarch64" ]; then
  echo "== QEMU 10 user-mode (Debian trixie's qemu-user)" >&2
  curl -fsSL -o "$WORK/$QEMU_DEB" "$MIRROR/pool/main/q/qemu/$QEMU_DEB"
  dpkg-deb -x "$WORK/$QEMU_DEB" "$WORK/qemu"
fi
echo "== the function's aarch64 wheels (function/requirements.txt) and the Interpreter's dependencies" >&2
rm -rf "$WORK/site" "$WORK/wheels"
$PIP download -q --only-binary=:all: --python-version 3.13 --implementation cp \
  --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 \
  --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --platform any \
  -d "$WORK/wheels" $(grep -E '^(ai-edge-litert|numpy)==' function/requirements.txt) 2>/dev/null
for wheel in "$WORK"/wheels/*.whl; do python3 -m zipfile -e "$wheel" "$WORK/site"; done
echo "== their shared libraries stripped as make sam-build strips the package's (infra/prune_package.py)" >&2
"$ROOT/.venv/bin/python" -c 'import sys; from pathlib import Path; from infra.prune_package import strip_symbols
print(f"  {len(strip_symbols(Path(sys.argv[1])))} stripped", file=sys.stderr)' "$WORK/site"

echo "== infra/arm64_check.py under qemu-aarch64 -cpu neoverse-n1" >&2
env QEMU_LD_PREFIX="$WORK/root" PYTHONDONTWRITEBYTECODE=1 PYTHONNOUSERSITE=1 PYTHONPATH="$WORK/site:$ROOT/function" \
  "$WORK/qemu/usr/bin/qemu-aarch64" -cpu neoverse-n1 -L "$WORK/root" "$WORK/root/usr/bin/python3.13" -B \
  infra/arm64_check.py function/model
