#!/usr/bin/env bash
# Benchmark: plan + cache check of a 1,001-stage sweep, all cached, and `mosx --version`.
# Fills a private store once, then times `mosx run` (nothing to execute) N times and
# `mosx --version` N times, and prints the median wall times. Not a test: numbers go to the
# README by hand. Time the planner as `make build` builds it (`cargo build -p mosx`, no
# libtorch): a workspace build (`cargo test --workspace`) links it with features unified.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/mosx}
SPEC=experiments/bench_sweep.yaml
STORE=bench/out/plan/mosx.db
N=${N:-15}
mkdir -p bench/out/plan
"$BIN" run "$SPEC" --store "$STORE" -q --no-report > bench/out/plan/fill.txt 2>&1 || { cat bench/out/plan/fill.txt; exit 1; }
tail -n 1 bench/out/plan/fill.txt
times=()
for _ in $(seq "$N"); do
  t0=$(date +%s%N)
  out=$("$BIN" run "$SPEC" --store "$STORE" -q --no-report)
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000000 )))
done
echo "$out"
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "runs: ${times[*]} ms"
echo "median plan + cache check (all cached, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)): ${sorted[$((N / 2))]} ms"
vtimes=()
for _ in $(seq "$N"); do
  t0=$(date +%s%N)
  "$BIN" --version > /dev/null
  t1=$(date +%s%N)
  vtimes+=($(( (t1 - t0) / 100000 )))
done
vsorted=($(printf '%s\n' "${vtimes[@]}" | sort -n))
v=${vsorted[$((N / 2))]}
# No `ldd | grep -q` under pipefail: grep exits at the first match, ldd dies of SIGPIPE and the
# pipeline fails, reporting "no" for a binary that links libtorch. Capture, then match.
libs=$(ldd "$BIN" 2>&1 || true)
linked=no
if grep -q libtorch <<<"$libs"; then linked=yes; fi
echo "median mosx --version: $((v / 10)).$((v % 10)) ms (load $(cut -d' ' -f1 /proc/loadavg)); libtorch linked: $linked"
