#!/usr/bin/env bash
# Benchmark: mosx-data (Rust, release) vs an equivalent pandas pipeline, load + sample +
# split + measure on ML-100K and full BookCrossing, same machine, one process tree.
# Creates the pandas venv at .venv-bench if missing (pandas, numpy, pyarrow from PyPI).
# Usage: bench/pipeline.sh [REPEATS]   (best of REPEATS, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS="${1:-3}"
VENV=.venv-bench
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target-pure}"

for f in data/ml-100k/ml-100k.inter data/bookcrossing/BX-Book-Ratings.csv; do
  [[ -f $f ]] || { echo "missing $f: run \`make data\`" >&2; exit 1; }
done
if [[ ! -x $VENV/bin/python ]] || ! $VENV/bin/python -c 'import pandas, numpy, pyarrow' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q pandas numpy pyarrow
fi

cargo build --release --quiet -p mosx-data --example pipeline
mkdir -p bench/out
echo "# machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# rust"
"$CARGO_TARGET_DIR/release/examples/pipeline" data "$REPEATS" | tee bench/out/pipeline_rust.txt
echo "# pandas $($VENV/bin/python -c 'import pandas; print(pandas.__version__)')"
"$VENV/bin/python" bench/pipeline_pandas.py data "$REPEATS" | tee bench/out/pipeline_pandas.txt
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

awk '
  FNR == 1 { side++ }
  $1 == "RESULT" { t[side, $2, $3] = $4; ds[$2] = 1 }
  END {
    printf "%-13s %-8s %10s %10s %8s\n", "dataset", "stage", "rust_s", "pandas_s", "ratio"
    for (d in ds) for (i = 1; i <= 5; i++) {
      split("load sample split measure total", st, " ")
      r = t[1, d, st[i]]; p = t[2, d, st[i]]
      printf "%-13s %-8s %10.4f %10.4f %7.1fx\n", d, st[i], r, p, (r > 0 ? p / r : 0)
    }
  }' bench/out/pipeline_rust.txt bench/out/pipeline_pandas.txt
