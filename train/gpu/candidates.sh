#!/usr/bin/env bash
# Score the float models a device run returned (train/gpu/run.sh's $OUT, runs.tgz unpacked in the
# checkout) as the shipped ones are scored, here on the CPU: batch-norm statistics of the plain
# training faces (train recalibrate --sample 8192), for four emotions the training split's class
# shares divided out (train adjust-prior), int8 with the four test-time views on
# FER2013 validation (train quantize) and on the real photographs beside fer (bench.realphotos,
# fer's answers reused), one folder per candidate, then one table beside the shipped models.
# Nothing is shipped: that stays a decision (docs/training.md). About 12 minutes a candidate on
# two cores beside a training.
#
#   bash train/gpu/candidates.sh DIR [SCRATCH]     DIR: the returned <run>.keras files
set -eu
DIR=${1:?folder of the <run>.keras files a device run returned}
SCRATCH=${2:-/tmp/gpu-candidates}
PY=${PY:-.venv/bin/python}
RECORDS=${RECORDS:-runs/gpu/exports}   # the runs' export records, from runs.tgz
FER_ANSWERS=reports/realphotos/realphotos.json

for model in "$DIR"/*.keras; do
  name=$(basename "$model" .keras)
  dir=$SCRATCH/$name
  [ -f "$dir/real/realphotos.json" ] && { echo "== $name: scored before, in $dir"; continue; }
  echo "== $name"
  mkdir -p "$dir"
  cp "$model" "$dir/model.keras"
  cp "$RECORDS/$name.json" "$dir/model.json"
  $PY -m train recalibrate --model "$dir/model.keras" --views none --sample 8192 > "$dir/recalibrate.log" 2>&1
  # Four-emotion models ship with FER2013's class shares divided out of their scores (emotion4 2.2.0).
  classes=$($PY -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["classes"]))' "$dir/model.json")
  if [ "$classes" = 4 ]; then
    $PY -m train adjust-prior --model "$dir/model.keras" > "$dir/adjust-prior.log" 2>&1
  fi
  $PY -m train quantize --model "$dir/model.keras" --tta mirror-zoom --version "0.0.0+$name" \
      --out "$dir/q" --reports "$dir/r" > "$dir/quantize.log" 2>&1
  # bench.realphotos runs both models: the shipped one of the other kind goes beside the candidate.
  for other in emotion4 emotion7; do
    [ -f "$dir/q/$other.tflite" ] || cp function/model/$other.tflite function/model/$other.json "$dir/q/"
  done
  $PY -m bench.realphotos --model-dir "$dir/q" --fer-from $FER_ANSWERS --out "$dir/real" > "$dir/real.log" 2>&1
done

$PY -m train.gpu.scores "$SCRATCH"
