#!/usr/bin/env bash
# A PostgreSQL server for the store tests (the PostgreSQL variants of crates/mosx-store/tests).
#
#   eval "$(tools/ci/postgres.sh)"      # exports MOSX_TEST_POSTGRES=postgres://...
#
# Idempotent: installs PostgreSQL from Debian's packages if it is absent, creates the newest
# version's `main` cluster if there is none, starts it without systemd (pg_ctlcluster, as root in
# a container), creates the test role and database (the tests create and drop one schema each
# there), and prints the one line to evaluate on stdout; everything else goes to stderr.
# Override with MOSX_PG_ROLE, MOSX_PG_PASSWORD, MOSX_PG_DB.
set -euo pipefail

ROLE=${MOSX_PG_ROLE:-mosx_test}
PASSWORD=${MOSX_PG_PASSWORD:-mosx_test}
DB=${MOSX_PG_DB:-mosx_test}

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $ROLE =~ ^[a-z_][a-z0-9_]*$ && $DB =~ ^[a-z_][a-z0-9_]*$ ]] || die "role and database must be plain identifiers"
[[ $PASSWORD != *"'"* ]] || die "the password must not contain a quote"
[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts the cluster as the postgres user)"

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
cluster() { pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $'"$1"' }'; }
if [ -z "$(cluster 2)" ]; then
    log "creating cluster $version/main"
    pg_createcluster "$version" main >&2
fi
port=$(cluster 3)
if [ "$(cluster 4)" != online ]; then
    log "starting cluster $version/main on port $port"
    pg_ctlcluster "$version" main start >&2
fi
for _ in $(seq 1 60); do
    runuser -u postgres -- pg_isready -q -p "$port" && break
    sleep 0.5
done
runuser -u postgres -- pg_isready -q -p "$port" || die "cluster $version/main does not answer on port $port"

sql() { runuser -u postgres -- psql -p "$port" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
if [ "$(sql "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    log "creating role $ROLE"
    sql "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
else
    sql "ALTER ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [ "$(sql "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    log "creating database $DB"
    sql "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

url="postgres://$ROLE:$PASSWORD@localhost:$port/$DB"
PGPASSWORD=$PASSWORD psql "$url" -X -q -A -t -c "SELECT 1" >/dev/null \
    || die "cannot log in as $ROLE over TCP on localhost:$port (check pg_hba.conf)"
log "PostgreSQL $version ready on port $port"
echo "export MOSX_TEST_POSTGRES=$url"
