#!/usr/bin/env bash
# Prepare what train/gpu/run.sh needs on a GPU machine that has JAX but no Keras and no network:
# the dataset pack (.gpu/fer2013.pack, ferplus.csv included) and Keras 3 with its two missing
# dependencies as wheels for that machine's Python (.whl/). Both folders stay out of git
# (.git/info/exclude).
#
#   bash train/gpu/prepare.sh [DATA_DIR]     then run.sh through the device tool, carrying .gpu and .whl
set -eu
DATA=${1:-../shared/data/fer2013}
PYTHON_VERSION=${PYTHON_VERSION:-3.12}   # the GPU machine's python3
KERAS=$(grep -E '^keras==' train/requirements.txt)
mkdir -p .git/info
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || printf '/.gpu/\n' >> .git/info/exclude
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || printf '/.whl/\n' >> .git/info/exclude
python3 -m train.gpu.pack pack --data "$DATA" --out .gpu/fer2013.pack  # a minute (LZMA); never a stale pack
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "$KERAS" namex==0.1.0 optree==0.20.0
du -sh .gpu .whl
