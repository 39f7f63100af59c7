#!/usr/bin/env bash
# An MLflow tracking server for the export test (tests/cli_export_mlflow.rs).
#
#   export "$(tools/ci/mlflow.sh)"      # MOSX_TEST_MLFLOW=http://127.0.0.1:PORT
#
# Idempotent: installs MLflow (pinned, from PyPI) into its own virtual environment if it is
# absent, starts `mlflow server` in the background on a free port of 127.0.0.1 with a SQLite
# backend store and proxied artifacts (--serve-artifacts, the mode `mosx export --to mlflow`
# uploads through), waits until it answers, and prints the one variable to export on stdout;
# everything else goes to stderr. A server this script started and that still answers is reused
# (its port is kept in $STATE/port). Override with MOSX_MLFLOW_VENV, MOSX_MLFLOW_STATE,
# MOSX_MLFLOW_VERSION, MOSX_MLFLOW_PYTHON.
set -euo pipefail

VERSION=${MOSX_MLFLOW_VERSION:-3.17.2}
VENV=${MOSX_MLFLOW_VENV:-/opt/mlflow-venv}
STATE=${MOSX_MLFLOW_STATE:-/var/tmp/mosx-mlflow}
PYTHON=${MOSX_MLFLOW_PYTHON:-python3}

log() { echo "mlflow.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Whether the server on port $1 answers its health check (Python's urllib: no curl needed).
answers() {
    "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/health" % sys.argv[1], timeout=2)' "$1" 2>/dev/null
}

mkdir -p "$STATE"
if [ -f "$STATE/port" ] && answers "$(cat "$STATE/port")"; then
    port=$(cat "$STATE/port")
    log "MLflow already answers on port $port"
    echo "MOSX_TEST_MLFLOW=http://127.0.0.1:$port"
    exit 0
fi

if [ ! -x "$VENV/bin/mlflow" ] || [ "$("$VENV/bin/python" -c 'import mlflow; print(mlflow.__version__)' 2>/dev/null)" != "$VERSION" ]; then
    log "installing mlflow==$VERSION into $VENV"
    "$PYTHON" -m venv "$VENV" >&2
    "$VENV/bin/pip" install -q --disable-pip-version-check "mlflow==$VERSION" >&2
fi

# A free port: bind port 0, read what the kernel chose, release it.
port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
mkdir -p "$STATE/artifacts"
log "starting mlflow server on 127.0.0.1:$port (store $STATE/mlflow.db, artifacts $STATE/artifacts)"
nohup "$VENV/bin/mlflow" server \
    --host 127.0.0.1 --port "$port" \
    --backend-store-uri "sqlite:///$STATE/mlflow.db" \
    --serve-artifacts --artifacts-destination "$STATE/artifacts" \
    --workers 1 >"$STATE/server.log" 2>&1 </dev/null &
echo $! >"$STATE/pid"
for _ in $(seq 1 120); do
    answers "$port" && break
    kill -0 "$(cat "$STATE/pid")" 2>/dev/null || { tail -n 20 "$STATE/server.log" >&2; die "mlflow server exited"; }
    sleep 1
done
answers "$port" || { tail -n 20 "$STATE/server.log" >&2; die "mlflow server does not answer on port $port"; }
echo "$port" >"$STATE/port"
log "MLflow $VERSION ready on port $port"
echo "MOSX_TEST_MLFLOW=http://127.0.0.1:$port"
