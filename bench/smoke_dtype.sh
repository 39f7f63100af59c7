#!/usr/bin/env bash
# Benchmark: the smoke study (experiments/smoke.yaml: every method of the pipeline on the
# real data and Gemma-3-270M, two seeds, the claims) from an empty store, once per backbone
# dtype, one after the other in one process tree. Per dtype: wall time, CPU time (user +
# system of the planner and every worker it started), peak RSS of the largest process, the
# stage counts, and the headline numbers of the rendered table, so the two runs' results
# can be compared as well as their cost.
#
# Usage: bench/smoke_dtype.sh [DTYPES]      (default "f32 bf16"; needs `make setup`)
# Output: bench/out/smoke_<dtype>/ (a project folder: results/ with the store and the rendered
#         smoke.md, the time -v log) and the table
#         bench/results/smoke_dtype.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DTYPES="${1:-f32 bf16}"
BIN=$PWD/target/release/mosx
[[ -x $BIN && -x ${BIN}-worker ]] || { echo "build first: make build" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 1; }
OUT=bench/out
RES=bench/results/smoke_dtype.md
mkdir -p "$OUT" bench/results

rows=()
for dt in $DTYPES; do
    # A project folder of its own (the spec's outputs, store and objects land there, never
    # over the committed results/), reading the same data, model and templates.
    d=$PWD/$OUT/smoke_$dt
    rm -rf "$d"
    mkdir -p "$d"
    cp -r experiments templates "$d/"
    ln -s "$PWD/data" "$PWD/models" "$d/"
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    (cd "$d" && /usr/bin/time -v -o time.txt "$BIN" run experiments/smoke.yaml -q \
        --set "vars.dtype=$dt" >run.out 2>run.err) || { tail -n 20 "$d/run.err" >&2; exit 1; }
    load1=$(cut -d' ' -f1-3 /proc/loadavg)
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s }' "$d/time.txt")
    cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { print u + s }' "$d/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.2f", $2 / 1048576 }' "$d/time.txt")
    stages=$(grep -o '[0-9]* stages: .*' "$d/run.out" | tail -n 1)
    rows+=("| $dt | $(printf '%.0f' "$wall") | $(printf '%.0f' "$cpu") | $rss | $stages | $load0 → $load1 |")
done

{
    echo "# The smoke study from an empty store, per backbone dtype"
    echo
    echo "Measured by \`bench/smoke_dtype.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, commit $(git rev-parse --short HEAD)."
    echo "CPU = user + system seconds of the planner and all its workers (GNU time); RSS = the"
    echo "largest single process. The machine's load average (1, 5, 15 min) before and after each run"
    echo "is shown: other work ran at the same time, so wall times are upper bounds; CPU seconds"
    echo "are the fairer comparison."
    echo
    echo "| dtype | wall s | CPU s | peak RSS GiB | stages | load before → after |"
    echo "|---|---:|---:|---:|---|---|"
    printf '%s\n' "${rows[@]}"
} >"$RES"
cat "$RES"
