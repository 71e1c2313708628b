#!/usr/bin/env bash
# Train on a borrowed GPU machine: Keras 3 on JAX, several runs side by side on one GPU.
#
# Expects, in the repository root: .whl/ (keras, namex, optree wheels for the machine's Python)
# and .gpu/fer2013.pack (python -m train.gpu.pack pack ...). Runs go to runs/gpu/<run>/ as with
# `python -m train fit --runs`; $OUT receives runs.tgz (that folder without checkpoints: logs,
# histories, summaries, curves, validation probabilities, the comparison of the other zoo models;
# unpack it in the repository root) and one exported float model per complex_cnn_1 run
# (<run>.keras), ready for `python -m train quantize`. Every run anneals its learning rate over
# its time budget (--schedule budget), so the script suits any machine speed, and augments with
# the gather-free layer (--augmentation matrix): Keras's own augmentation layers made a training
# step 135 times slower under JAX on an H200 (docs/training.md).
#
#   MINUTES=7 OUT=/tmp/out bash train/gpu/run.sh
set -u
PY=${PY:-python3}
MINUTES=${MINUTES:-7}               # budget of each complex_cnn_1 run (the t7 -> t4 chain splits it)
CMP_MINUTES=${CMP_MINUTES:-6}       # safety time limit of each zoo model in the comparison
WATCHDOG=${WATCHDOG:-500}           # seconds after which every run is stopped, whatever its state
LIMIT=${LIMIT:+--limit $LIMIT}      # images per class (a dry run), default all
AUG=${AUG:-matrix}                  # training-time augmentation: matrix or keras
OUT=${OUT:?set OUT to the folder for results}
WORK=${WORK:-/tmp/gpu-train}        # wheels, the unpacked dataset, exports
RUNS=runs/gpu
WHEELS=${WHEELS:-.whl}
ALL=angry,disgust,fear,happy,neutral,sad,surprise
start=$SECONDS

if ls $WHEELS/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $WORK/site $WHEELS/*.whl || exit 1
  export PYTHONPATH=$WORK/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p $WORK/export $RUNS/logs
[ -d $WORK/fer2013 ] || $PY -m train.gpu.pack unpack .gpu/fer2013.pack $WORK/fer2013 || exit 1
# One process alone first: the step time of this machine, for the record.
$PY -m train.gpu.step_time --steps 20 --batches 64 --augmentations none,$AUG 2>&1 | grep -v -i warn
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 20 \
  > $RUNS/logs/gpu.csv 2>&1) &
monitor=$!

common="--data $WORK/fer2013 $LIMIT --epochs 1000 --patience 1000 --schedule budget --augmentation $AUG --no-imagenet"
fit() {  # fit RUN MINUTES FLAGS...: one complex_cnn_1 run
  local name=$1 minutes=$2; shift 2
  $PY -m train fit --model complex_cnn_1 $common --batch-size 64 --max-minutes $minutes --runs $RUNS/$name "$@" \
      >> $RUNS/logs/$name.log 2>&1
}
pids=""
fit a4 $MINUTES --learning-rate 1e-3 & pids="$pids $!"
fit m4 $MINUTES --learning-rate 1e-3 --mixup 0.2 & pids="$pids $!"
fit f4 $MINUTES --learning-rate 3e-4 --mixup 0.2 --init-from models/complex_cnn_1-4class.keras & pids="$pids $!"
fit a7 $MINUTES --classes $ALL --learning-rate 1e-3 & pids="$pids $!"
fit m7 $MINUTES --classes $ALL --learning-rate 1e-3 --mixup 0.2 & pids="$pids $!"
half=$(awk "BEGIN {print $MINUTES / 2}")  # seven emotions first, then the four from its features
( fit t7 $half --classes $ALL --learning-rate 1e-3 --mixup 0.2 && \
  fit t4 $half --learning-rate 5e-4 --mixup 0.2 --init-from $RUNS/t7/complex_cnn_1/best.keras ) & pids="$pids $!"
# The comparison's own recipe (each model's epochs and rate, train/zoo.py), as on the CPU. The
# real photographs are not carried to the device, so its table has FER2013 figures only.
$PY -m train compare --data $WORK/fer2013 $LIMIT --augmentation $AUG --no-real --resume \
    --max-minutes $CMP_MINUTES --runs $RUNS/cmp --out $RUNS/cmp-report \
    > $RUNS/logs/cmp.log 2>&1 & pids="$pids $!"

# Only this script's runs (their --runs folder), never another training on the same machine.
(sleep $WATCHDOG; echo "watchdog: stopping runs at ${WATCHDOG}s"; pkill -f -- "--runs $RUNS/") &
watchdog=$!
wait $pids
kill $watchdog $monitor 2>/dev/null
echo "training done at $((SECONDS - start)) s"

for name in a4 m4 f4 a7 m7 t7 t4; do
  [ -f $RUNS/$name/complex_cnn_1/best.keras ] || continue
  ( $PY -m train export --runs $RUNS/$name --model complex_cnn_1 --out $WORK/export/$name \
      > $RUNS/logs/export-$name.log 2>&1 && cp $WORK/export/$name/complex_cnn_1-*class.keras $OUT/$name.keras ) &
done
wait
tar czf $OUT/runs.tgz --exclude='*.keras' $RUNS
for log in $RUNS/logs/*.log; do echo "== $(basename $log)"; grep -E "val_acc=|winner|Error|error" $log | tail -8; done
ls -la $OUT
echo "all done at $((SECONDS - start)) s"
