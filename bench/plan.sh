#!/usr/bin/env bash
# Benchmark: plan + cache check of a 1,001-stage sweep, all cached, and `mosx --version`.
# Fills a private store once, then times `mosx run` (nothing to execute) N times and
# `mosx --version` N times, and prints the median wall times. Not a test: numbers go to the
# README by hand. Time the planner as `make build` builds it (`cargo build -p mosx`); it links
# no libtorch in any build (it depends on mosx-config, not on the tch crates).
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

# Scale: plan + cache check (`--dry-run`, against the filled store) of generated sweeps of
# bench_sweep.yaml over seeds only (3 stages per seed + the shared load): 16,000 and 100,000
# stages. Checks that planning stays near-linear; the median of N_SCALE runs each.
N_SCALE=${N_SCALE:-3}
for seeds in 5333 33333; do
  gen=bench/out/plan/scale_$seeds.yaml
  python3 - "$SPEC" "$gen" "$seeds" <<'PY'
import re, sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = open(src).read()
t = t.replace("extends: base.yaml", "extends: ../../../experiments/base.yaml")
t = t.replace("  grid:\n    vars.z_star: [1.0, 1.645, 1.96]\n", "")
t = re.sub(r"seeds: \[.*\]", "seeds: [" + ", ".join(map(str, range(n))) + "]", t)
open(out, "w").write(t)
PY
  stimes=()
  for _ in $(seq "$N_SCALE"); do
    t0=$(date +%s%N)
    last=$("$BIN" run "$gen" --store "$STORE" --dry-run --no-report | tail -n 1)
    t1=$(date +%s%N)
    stimes+=($(( (t1 - t0) / 1000000 )))
  done
  ssorted=($(printf '%s\n' "${stimes[@]}" | sort -n))
  echo "$last"
  echo "median plan + cache check, $((3 * seeds + 1)) stages (dry run): ${ssorted[$((N_SCALE / 2))]} ms (runs: ${stimes[*]})"
done
