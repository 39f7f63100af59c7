#!/usr/bin/env bash
# Benchmark: optimizer steps of mosx's own train loop (crates/mosx-methods/examples/bench_train.rs:
# Batch::new -> trainer::batch_loss -> backward -> clip -> AdamW step) on Gemma-3-270M and
# MovieLens prompts, against transformers + peft (bench/model_hf.py) on the same torch build
# and thread count; all processes in this process tree on this machine, one per workload.
#
# Pairs compared (each close in every round; even rounds run in reverse order, so drift in
# the machine's other load cancels), per method in METHODS:
#   mosx M bf16        vs mosx M f32 (the mixed-precision speed-up; trainable params and
#                      optimizer state stay f32 on the bf16 side)
#   mosx M DTYPE       vs HF+peft M best in DTYPE, for DTYPE in HF_DTYPES (and typical, f32, round 1)
#   mosx mos DTYPE     vs mosx prompt_tuning DTYPE (the MoS / PT step-time ratio)
# Writes bench/out/train_raw${TAG}.jsonl and bench/out/train_results${TAG}.md (bench/model_report.py --train).
#
# Usage: bench/train.sh [THREADS] [STEPS] [ROUNDS] [BATCH] [WARMUP]   (defaults 2 4 2 8 1)
# Env: MODEL (default models/gemma-3-270m), PY (default .venv-dev/bin/python: torch,
#      transformers, peft, jinja2), LIBTORCH (default .venv/lib/python3.11/site-packages/torch),
#      CARGO_TARGET_DIR (default: the workspace's target/), DTYPES (mosx's, default "f32 bf16"),
#      HF_DTYPES (default "bf16"), METHODS (default "prompt_tuning lora mos"), BENCH_DEVICE
#      (cpu | cuda, both sides), TAG (suffix of the output files, e.g. _t1), TYPICAL=0 skips
#      HF's typical configuration, TYPICAL_STEPS (default 1, after 1 warm-up step), SKIP_BUILD=1
#      uses the bench_train binary already built, APPEND=1 FIRST_ROUND=N adds rounds N.. to the
#      raw file of an earlier run (the report covers all of them).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"
STEPS="${2:-4}"
ROUNDS="${3:-2}"
BATCH="${4:-8}"
W="${5:-1}"
MODEL="${MODEL:-models/gemma-3-270m}"
PY="${PY:-.venv-dev/bin/python}"
export LIBTORCH="${LIBTORCH:-$PWD/.venv/lib/python3.11/site-packages/torch}"
export LIBTORCH_CXX11_ABI=1
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error

[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL/model.safetensors" >&2; exit 1; }
[[ -f data/ml-100k/ml-100k.inter ]] || { echo "missing data/ml-100k: run \`make data\`" >&2; exit 1; }
"$PY" -c 'import torch, transformers, peft, jinja2' || { echo "$PY lacks torch/transformers/peft/jinja2 (pip install peft)" >&2; exit 1; }

OUT=bench/out
RAW=$OUT/train_raw${TAG:-}.jsonl
DTYPES="${DTYPES:-f32 bf16}"
HF_DTYPES="${HF_DTYPES:-bf16}"
METHODS="${METHODS:-prompt_tuning lora mos}"
mkdir -p "$OUT"
[[ ${APPEND:-0} != 0 ]] || : > "$RAW"
"$PY" bench/model_prompts.py data/ml-100k templates "$OUT/prompts.jsonl" 64 0
[[ ${SKIP_BUILD:-0} != 0 ]] || cargo build --release --quiet -p mosx-methods --example bench_train
BIN="$TARGET/release/examples/bench_train"
P="$OUT/prompts.jsonl"

echo "# machine: $(nproc --all) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), threads $THREADS, batch $BATCH"
run() { # label round, command...
  local label=$1 round=$2; shift 2
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "# round $round: $label (load average before: $load)" >&2
  "$@" | grep '^RESULT ' | sed 's/^RESULT //' | "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read()); r["label"] = sys.argv[1]; r["round"] = int(sys.argv[2])
r["load_before"] = sys.argv[3]; r["load_after"] = open("/proc/loadavg").read().split()[:3]
print(json.dumps(r))' "$label" "$round" "$load" >> "$RAW"
}
# mosx METHOD DTYPE ROUND; hf METHOD CONFIG DTYPE ROUND
mosx() { BENCH_DTYPE=$2 run "mosx $1 $2" "$3" "$BIN" "$MODEL" "$P" "$1" "$THREADS" "$W" "$STEPS" "$BATCH"; }
hf() { BENCH_DTYPE=$3 run "hf $1 $2 $3" "$4" "$PY" bench/model_hf.py "$MODEL" "$P" "$( [[ $1 == lora ]] && echo train_lora || echo train )" "$2" "$THREADS" "$W" "$STEPS" "$BATCH"; }
jobs=()
for m in $METHODS; do
  for d in $DTYPES; do
    jobs+=("mosx $m $d")
    if [[ $m != mos && " $HF_DTYPES " == *" $d "* ]]; then jobs+=("hf $m $d"); fi
  done
done
R0="${FIRST_ROUND:-1}"
for ((r = R0; r < R0 + ROUNDS; r++)); do
  seq=("${jobs[@]}")
  if ((r % 2 == 0)); then for ((i = ${#jobs[@]} - 1, k = 0; i >= 0; i--, k++)); do seq[k]=${jobs[i]}; done; fi
  for job in "${seq[@]}"; do
    read -r side m d <<< "$job"
    if [[ $side == mosx ]]; then mosx "$m" "$d" "$r"; else hf "$m" best "$d" "$r"; fi
  done
done
if [[ ${TYPICAL:-1} != 0 ]]; then
  TS="${TYPICAL_STEPS:-1}"
  BENCH_DTYPE=f32 run "hf prompt_tuning typical f32" "$R0" "$PY" bench/model_hf.py "$MODEL" "$P" train typical "$THREADS" 1 "$TS" "$BATCH"
  BENCH_DTYPE=f32 run "hf lora typical f32" "$R0" "$PY" bench/model_hf.py "$MODEL" "$P" train_lora typical "$THREADS" 1 "$TS" "$BATCH"
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" bench/model_report.py --train "$RAW" "$OUT" "$(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/train_results${TAG:-}.md"
