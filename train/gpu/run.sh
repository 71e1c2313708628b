#!/usr/bin/env bash
# Train on a borrowed GPU machine: Keras 3 on JAX, several runs side by side on one GPU.
#
# Expects, in the repository root: .whl/ (keras, namex, optree wheels for the machine's Python)
# and .gpu/fer2013.pack (python -m train.gpu.pack pack ...). Writes to $OUT: runs.tgz (logs,
# histories, summaries, curves, validation probabilities, the comparison of the other zoo
# models) and one exported float model per complex_cnn_1 run (<run>.keras), ready for
# `python -m train quantize`. Every run anneals its learning rate over its time budget
# (--schedule budget), so the same script suits any machine speed.
#
#   MINUTES=7 OUT=/tmp/out bash train/gpu/run.sh
set -u
PY=${PY:-python3}
MINUTES=${MINUTES:-7}               # budget of each complex_cnn_1 run
CMP_MINUTES=${CMP_MINUTES:-0.9}      # budget of each other zoo model
WATCHDOG=${WATCHDOG:-500}           # seconds after which every run is stopped, whatever its state
LIMIT=${LIMIT:+--limit $LIMIT}      # images per class (a dry run), default all
OUT=${OUT:?set OUT to the folder for results}
WORK=${WORK:-/tmp/gpu-train}
ALL=angry,disgust,fear,happy,neutral,sad,surprise
start=$SECONDS

WHEELS=${WHEELS:-.whl}
if ls $WHEELS/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $WORK/site $WHEELS/*.whl || exit 1
  export PYTHONPATH=$WORK/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
mkdir -p $WORK/logs $WORK/runs $WORK/export
[ -d $WORK/fer2013 ] || $PY -m train.gpu.pack unpack .gpu/fer2013.pack $WORK/fer2013 || exit 1
$PY -c "import jax, keras; print('keras', keras.__version__, 'on', jax.devices())"
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 20 \
  > $WORK/logs/gpu.csv 2>&1) &
monitor=$!

common="--data $WORK/fer2013 $LIMIT --epochs 1000 --patience 1000 --schedule budget --no-imagenet"
fit() {  # fit NAME FLAGS...: one complex_cnn_1 run in the background
  local name=$1; shift
  $PY -m train fit --model complex_cnn_1 $common --batch-size 64 --max-minutes $MINUTES \
      --runs $WORK/runs/$name "$@" > $WORK/logs/$name.log 2>&1 &
  pids="$pids $!"
}
pids=""
fit a4 --learning-rate 1e-3
fit m4 --learning-rate 1e-3 --mixup 0.2
fit f4 --learning-rate 3e-4 --mixup 0.2 --init-from models/complex_cnn_1-4class.keras
fit a7 --classes $ALL --learning-rate 1e-3
fit m7 --classes $ALL --learning-rate 1e-3 --mixup 0.2
fit f7 --classes $ALL --learning-rate 5e-4 --mixup 0.2 --init-from models/complex_cnn_1-4class.keras
$PY -m train compare $common --models cnn_model_1,cnn_model_2,vgg16,resnet50v2,efficientnetv2b2,complex_cnn_2 \
    --batch-size 32 --max-minutes $CMP_MINUTES --runs $WORK/runs/cmp --out $WORK/runs/cmp-report \
    > $WORK/logs/cmp.log 2>&1 &
pids="$pids $!"

(sleep $WATCHDOG; echo "watchdog: stopping runs at ${WATCHDOG}s"; kill $pids 2>/dev/null) &
watchdog=$!
wait $pids
kill $watchdog $monitor 2>/dev/null
echo "training done at $((SECONDS - start)) s"

for name in a4 m4 f4 a7 m7 f7; do
  [ -f $WORK/runs/$name/complex_cnn_1/best.keras ] || continue
  ( $PY -m train export --runs $WORK/runs/$name --model complex_cnn_1 --out $WORK/export/$name \
      > $WORK/logs/export-$name.log 2>&1 && cp $WORK/export/$name/complex_cnn_1-*class.keras $OUT/$name.keras ) &
done
wait
tar czf $OUT/runs.tgz -C $WORK --exclude='*.keras' runs logs
for log in $WORK/logs/*.log; do echo "== $(basename $log)"; grep -E "val_acc=|winner|Error|error" $log | tail -8; done
ls -la $OUT
echo "all done at $((SECONDS - start)) s"
