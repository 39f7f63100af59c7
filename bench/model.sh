#!/usr/bin/env bash
# Benchmark: prompt tuning (forward + backward + Adam) and zero-shot scoring of Gemma-3-270M
# on MovieLens prompts, batch 8: mosx (Rust example on tch, release) vs transformers + peft
# on the same torch build and thread count, one process per workload, all in this process
# tree on this machine. Prints a table and writes bench/out/model_results.md.
#
# Usage: bench/model.sh [THREADS] [TRAIN_STEPS] [SCORE_PASSES]     (defaults 2 10 2)
# Env: MODEL (default models/gemma-3-270m), PY (default .venv-dev/bin/python: torch,
#      transformers, peft, jinja2), LIBTORCH (default .venv/lib/python3.11/site-packages/torch),
#      CARGO_TARGET_DIR (default target-models-a), BENCH_DTYPE (f32 | bf16, both sides, default
#      f32; outputs get the suffix _bf16), BENCH_DEVICE (cpu | cuda).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"
TRAIN_STEPS="${2:-10}"
SCORE_PASSES="${3:-2}"
MODEL="${MODEL:-models/gemma-3-270m}"
PY="${PY:-.venv-dev/bin/python}"
export LIBTORCH="${LIBTORCH:-$PWD/.venv/lib/python3.11/site-packages/torch}"
export LIBTORCH_CXX11_ABI=1
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-models-a}"
# Thread counts are set in each process (tch::set_num_threads / torch.set_num_threads);
# pin OpenMP/MKL pools to the same number so neither side oversubscribes.
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error

[[ -f $MODEL/model.safetensors ]] || { echo "missing $MODEL/model.safetensors" >&2; exit 1; }
[[ -f data/ml-100k/ml-100k.inter ]] || { echo "missing data/ml-100k: run \`make data\`" >&2; exit 1; }
"$PY" -c 'import torch, transformers, peft, jinja2' || { echo "$PY lacks torch/transformers/peft/jinja2 (pip install peft)" >&2; exit 1; }

OUT=bench/out
export BENCH_DTYPE="${BENCH_DTYPE:-f32}"
SUF=$([[ $BENCH_DTYPE == f32 ]] || echo "_$BENCH_DTYPE")
RAW=$OUT/model_raw$SUF.jsonl
mkdir -p "$OUT"
: > "$RAW"
"$PY" bench/model_prompts.py data/ml-100k templates "$OUT/prompts.jsonl" 64 0
cargo build --release --quiet -p mosx-models --example bench_prompt_tuning
BIN="$CARGO_TARGET_DIR/release/examples/bench_prompt_tuning"

echo "# machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), threads $THREADS"
run() { # label, command...
  local label=$1; shift
  local load; load=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "# $label (load average before: $load)" >&2
  "$@" | grep '^RESULT ' | sed 's/^RESULT //' | "$PY" -c '
import json, sys
r = json.loads(sys.stdin.read()); r["label"] = sys.argv[1]; r["load_before"] = sys.argv[2]
print(json.dumps(r))' "$label" "$load" >> "$RAW"
}
W=3
run "mosx train"       "$BIN" "$MODEL" "$OUT/prompts.jsonl" train "$THREADS" $W "$TRAIN_STEPS"
run "hf train best"    "$PY" bench/model_hf.py "$MODEL" "$OUT/prompts.jsonl" train best "$THREADS" $W "$TRAIN_STEPS"
run "hf train typical" "$PY" bench/model_hf.py "$MODEL" "$OUT/prompts.jsonl" train typical "$THREADS" 1 $(( (TRAIN_STEPS + 2) / 3 ))
BENCH_PYES=$OUT/pyes_mosx$SUF.json run "mosx score" "$BIN" "$MODEL" "$OUT/prompts.jsonl" score "$THREADS" 1 "$SCORE_PASSES"
BENCH_PYES=$OUT/pyes_hf_best$SUF.json run "hf score best" "$PY" bench/model_hf.py "$MODEL" "$OUT/prompts.jsonl" score best "$THREADS" 1 "$SCORE_PASSES"
BENCH_PYES=$OUT/pyes_hf_typical$SUF.json run "hf score typical" "$PY" bench/model_hf.py "$MODEL" "$OUT/prompts.jsonl" score typical "$THREADS" 1 1
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PY" bench/model_report.py "$RAW" "$OUT" "$(cut -d' ' -f1-3 /proc/loadavg)" "$SUF" | tee "$OUT/model_results$SUF.md"
