#!/usr/bin/env bash
# Train on a borrowed GPU machine: Keras 3 on JAX, several runs side by side on one GPU.
#
# Expects, in the repository root: .whl/ (keras, namex, optree wheels for the machine's Python)
# and .gpu/fer2013.pack (python -m train.gpu.pack pack ...). Runs go to runs/gpu/<run>/ as with
# `python -m train fit --runs`; $OUT receives runs.tgz (that folder without checkpoints: logs,
# histories, summaries, curves, validation probabilities; unpack it in the repository root) and
# one exported float model per run (<run>.keras, its record in runs/gpu/exports/<run>.json; the
# seven-emotion runs also cut to four emotions, <run>-cut4), ready for
# `bash train/gpu/candidates.sh $OUT` here.
#
# The recipe is the one for photographs (docs/training.md): equalized faces, the photographic
# augmentation with stretched faces (--photo 0.5 --photo-stretch 0.5), FER+ disagreements
# dropped, mixup. Four runs: four and seven emotions from scratch for as long as the budget
# allows (p4, p7; the shipped networks grew from 177 plain epochs and saw photographs only in
# short fine-tunes), and fine-tunes of the shipped networks (f4, f7). The photographic
# augmentation is Python, about 3,200 faces a second per core (`python -m train.gpu.step_time
# --feed-workers`), and an H200 trains on 64 faces in 3.4 ms, so each run augments in WORKERS
# spawned processes of its own. Every run anneals its learning rate over its time budget
# (--schedule budget), so the script suits any machine speed, and augments with the gather-free
# layer (--augmentation matrix): Keras's own augmentation layers made a training step 135 times
# slower under JAX on an H200.
#
#   MINUTES=6 OUT=/tmp/out bash train/gpu/run.sh
#   COMPARE=1 ...   also the comparison of the other zoo models, to their own recipes
set -u
PY=${PY:-python3}
MINUTES=${MINUTES:-6}               # budget of each complex_cnn_1 run
COMPARE=${COMPARE:-0}               # 1: also the comparison of the other zoo models
CMP_MINUTES=${CMP_MINUTES:-6}       # safety time limit of each zoo model in the comparison
RUNS_AT_ONCE=4                      # the complex_cnn_1 runs below that train side by side
WORKERS=${WORKERS:-$(( ($(nproc) - RUNS_AT_ONCE) / RUNS_AT_ONCE > 1 ? ($(nproc) - RUNS_AT_ONCE) / RUNS_AT_ONCE : 1 ))}
WATCHDOG=${WATCHDOG:-$(awk "BEGIN {print int($MINUTES * 60 + 100)}")}  # seconds after which every run is stopped
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
export KERAS_BACKEND=${KERAS_BACKEND:-jax} XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p $WORK/export $RUNS/logs
[ -d $WORK/fer2013 ] || $PY -m train.gpu.pack unpack .gpu/fer2013.pack $WORK/fer2013 || exit 1
# One process alone first: the step time of this machine, for the record.
$PY -m train.gpu.step_time --steps 20 --batches 64 --augmentations none,$AUG 2>&1 | grep -v -i warn
$PY -m train.gpu.step_time --steps 20 --batches 64 --feed-workers 1,$WORKERS 2>&1 | grep -v -i warn
echo "$(nproc) cores: $RUNS_AT_ONCE runs side by side, $WORKERS augmentation workers each"
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 20 \
  > $RUNS/logs/gpu.csv 2>&1) &
monitor=$!

common="--data $WORK/fer2013 $LIMIT --epochs 1000 --patience 1000 --schedule budget --augmentation $AUG --no-imagenet"
photo="--photo 0.5 --photo-stretch 0.5 --ferplus drop --mixup 0.2 --workers $WORKERS"
fit() {  # fit RUN MINUTES FLAGS...: one complex_cnn_1 run
  local name=$1 minutes=$2; shift 2
  $PY -m train fit --model complex_cnn_1 $common --batch-size 64 --max-minutes $minutes --runs $RUNS/$name "$@" \
      >> $RUNS/logs/$name.log 2>&1
}
pids=""
fit p4 $MINUTES $photo --learning-rate 1e-3 & pids="$pids $!"
fit p7 $MINUTES $photo --classes $ALL --learning-rate 1e-3 & pids="$pids $!"
fit f4 $MINUTES $photo --learning-rate 3e-4 --init-from models/complex_cnn_1-4class.keras & pids="$pids $!"
fit f7 $MINUTES $photo --classes $ALL --learning-rate 3e-4 --init-from models/complex_cnn_1-7class.keras & pids="$pids $!"
if [ "$COMPARE" = 1 ]; then
  # The comparison's own recipe (each model's epochs and rate, train/zoo.py), as on the CPU. The
  # real photographs are not carried to the device, so its table has FER2013 figures only.
  $PY -m train compare --data $WORK/fer2013 $LIMIT --augmentation $AUG --no-real --resume \
      --max-minutes $CMP_MINUTES --runs $RUNS/cmp --out $RUNS/cmp-report \
      > $RUNS/logs/cmp.log 2>&1 & pids="$pids $!"
fi

# Only this script's runs (their --runs folder), never another training on the same machine.
(sleep $WATCHDOG; echo "watchdog: stopping runs at ${WATCHDOG}s"; pkill -f -- "--runs $RUNS/") &
watchdog=$!
wait $pids
kill $watchdog $monitor 2>/dev/null
echo "training done at $((SECONDS - start)) s"

mkdir -p $RUNS/exports
export_run() {  # export_run RUN NAME [FLAGS...]: $OUT/NAME.keras and its training record
  local run=$1 name=$2; shift 2
  [ -f $RUNS/$run/complex_cnn_1/best.keras ] || return 0
  $PY -m train export --runs $RUNS/$run --model complex_cnn_1 --out $WORK/export/$name "$@" \
      > $RUNS/logs/export-$name.log 2>&1 || return 0
  cp $WORK/export/$name/complex_cnn_1-*class.keras $OUT/$name.keras  # at most 8 files come back:
  cp $WORK/export/$name/complex_cnn_1-*class.json $RUNS/exports/$name.json  # the records go in runs.tgz
}
for name in p4 p7 f4 f7; do export_run $name $name & done
for name in p7 f7; do export_run $name $name-cut4 --classes happy,neutral,sad,surprise & done
wait
tar czf $OUT/runs.tgz --exclude='*.keras' $RUNS
for log in $RUNS/logs/*.log; do echo "== $(basename $log)"; grep -E "val_acc=|winner|Error|error" $log | tail -8; done
ls -la $OUT
echo "all done at $((SECONDS - start)) s"
