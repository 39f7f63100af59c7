#!/usr/bin/env bash
# A three-host Slurm cluster on this one machine, for mosx's multi-node test
# (tests/cli_multinode.rs): hosts are network namespaces joined by a bridge.
#
#   export "$(tools/ci/slurm_multi.sh)"     # exports MOSX_TEST_MULTINODE=/run/mosx-multi/env
#
#   host      namespace   address      runs
#   ctl       mosx-ctl    10.77.0.1    slurmctld (port 6917), PostgreSQL (port 5433)
#   c1        mosx-c1     10.77.0.2    slurmd (port 6918)
#   c2        mosx-c2     10.77.0.3    slurmd (port 6918)
#   (this)    root        10.77.0.254  the bridge mosxbr0: the submitting host (mosx, sbatch)
#
# Every client reaches the others over these addresses, never loopback: sbatch and squeue
# talk to 10.77.0.1, each slurmd registers with 10.77.0.1 and is reached at its own address,
# a job on c1 or c2 writes to PostgreSQL at 10.77.0.1:5433. The filesystem is one (as a
# cluster filesystem would be): the objects folder, the binaries and the munge socket are
# shared by path (a munge socket is a file, not a network address).
#
# The cluster is separate from tools/ci/slurm.sh's one-node cluster, which keeps running:
# its own configuration (/etc/slurm-multi/slurm.conf, read by every client and daemon
# through SLURM_CONF), ports, state, spool, pid and log files. It needs that script's
# packages and munged (run it first), and PostgreSQL from tools/ci/postgres.sh's packages.
#
# The env file holds SLURM_CONF, MOSX_MULTI_STORE (the PostgreSQL URL on the ctl host),
# MOSX_MULTI_NODES ("c1 c2") and MOSX_MULTI_NETNS_PREFIX ("mosx-"): a test kills a compute
# node by killing every process of its namespace (`ip netns pids mosx-c1`) and restarts it
# with `tools/ci/slurm_multi.sh` (idempotent: it starts what is not running).
#
# Choices: SlurmdTimeout=10 (a node whose slurmd stopped answering is DOWN, and its jobs
# NODE_FAIL, within ~10-20 s), ReturnToService=2 (a restarted node comes back by itself),
# each node declares the machine's CPUs and half its memory (config_overrides), no
# accounting storage (as the one-node cluster).
set -euo pipefail

log() { printf 'slurm_multi.sh: %s\n' "$*" >&2; }
LOGDIR=/var/log/slurm-multi
die() {
    log "ERROR: $*"
    for f in "$LOGDIR"/*.log; do
        [ -s "$f" ] && { printf '\n==> tail -n 20 %s <==\n' "$f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, daemons)"
for bin in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do
    [ -x "$bin" ] || die "$bin missing: run tools/ci/slurm.sh first (it installs Slurm and munge)"
done
munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munged does not answer: run tools/ci/slurm.sh first"
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || die "PostgreSQL missing: run tools/ci/postgres.sh first"

WAIT_S=${MOSX_SLURM_WAIT:-90}
PREFIX=mosx-
BRIDGE=mosxbr0
NET=10.77.0
CONF_DIR=/etc/slurm-multi
CONF=$CONF_DIR/slurm.conf
RUN=/run/mosx-multi
STATE=/var/lib/slurm-multi
ENV_FILE=$RUN/env
PG_PORT=5433
ROLE=mosx_test
PASSWORD=mosx_test
DB=mosx_multi
CTLD_HOST=$(hostname -s)
export SLURM_CONF=$CONF

# ---- 1. hosts: namespaces on a bridge -------------------------------------------------
if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET.254/24" dev "$BRIDGE"
fi
ip link set "$BRIDGE" up
host() { # name, last octet
    local ns=$PREFIX$1
    # Captured, then matched: `ip netns list | grep -q` under pipefail fails when grep exits
    # first, which would read as "no such namespace".
    local have
    have=$(ip netns list)
    if ! grep -qw "$ns" <<<"$have"; then
        ip netns add "$ns"
    fi
    if ! ip link show "veth-$1" >/dev/null 2>&1; then
        ip link add "veth-$1" type veth peer name eth0 netns "$ns"
        ip link set "veth-$1" master "$BRIDGE"
        ip -n "$ns" addr add "$NET.$2/24" dev eth0
    fi
    ip link set "veth-$1" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
}
host ctl 1
host c1 2
host c2 3
# nsenter, not `ip netns exec`: the latter remounts /sys for the namespace, which hides
# /sys/fs/cgroup from slurmd (it refuses to start without it).
in_ns() { local ns=$PREFIX$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# ---- 2. configuration -------------------------------------------------------------------
CPUS=$(nproc)
mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
NODE_MEM=$(((mem_mib - mem_mib / 10) / 2))
install -d -m 755 "$CONF_DIR" "$RUN"
install -d -o slurm -g slurm -m 755 "$STATE" "$STATE/ctld" "$LOGDIR"
install -d -m 755 "$STATE/c1" "$STATE/c2"
new_conf=$(mktemp)
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<EOF
# Written by mosx tools/ci/slurm_multi.sh: three hosts in network namespaces.
ClusterName=mosxmulti
SlurmctldHost=$CTLD_HOST($NET.1)
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd-%n.log
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/%n
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmdTimeout=10
SlurmdParameters=config_overrides
MinJobAge=3600
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((NODE_MEM / CPUS))
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=c1 NodeAddr=$NET.2 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$NODE_MEM State=UNKNOWN
NodeName=c2 NodeAddr=$NET.3 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$NODE_MEM State=UNKNOWN
PartitionName=main Nodes=c1,c2 Default=YES MaxTime=INFINITE State=UP
EOF
conf_changed=0
if ! cmp -s "$new_conf" "$CONF"; then
    conf_changed=1
    install -m 644 "$new_conf" "$CONF"
    log "wrote $CONF (2 nodes x $CPUS CPUs, RealMemory=$NODE_MEM MiB)"
fi

# ---- 3. PostgreSQL on ctl ---------------------------------------------------------------
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
cluster() { pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "multi" { print $'"$1"' }'; }
if [ -z "$(cluster 2)" ]; then
    log "creating PostgreSQL cluster $version/multi (port $PG_PORT, listening on $NET.1)"
    pg_createcluster "$version" multi -p "$PG_PORT" >&2
fi
# Debian's postgresql.conf reads conf.d last, so this overrides its listen_addresses.
install -d -o postgres -g postgres "/etc/postgresql/$version/multi/conf.d"
echo "listen_addresses = '$NET.1'" >"/etc/postgresql/$version/multi/conf.d/mosx-multi.conf"
hba=/etc/postgresql/$version/multi/pg_hba.conf
grep -q "^host all all $NET.0/24 " "$hba" || echo "host all all $NET.0/24 scram-sha-256" >>"$hba"
if [ "$(cluster 4)" != online ]; then
    in_ns ctl pg_ctlcluster "$version" multi start >&2 || die "PostgreSQL $version/multi did not start"
fi
psql_local() { runuser -u postgres -- psql -X -q -p "$PG_PORT" -v ON_ERROR_STOP=1 "$@"; }
if [ -z "$(psql_local -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" ]; then
    psql_local -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
fi
if [ -z "$(psql_local -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    psql_local -c "CREATE DATABASE $DB OWNER $ROLE"
fi
STORE="postgres://$ROLE:$PASSWORD@$NET.1:$PG_PORT/$DB"
psql "$STORE" -X -q -tAc 'SELECT 1' >/dev/null || die "PostgreSQL is not reachable at $NET.1:$PG_PORT"

# ---- 4. daemons -------------------------------------------------------------------------
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() {
    if alive "$1"; then
        local pid
        pid=$(cat "$1")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$1"
}
if [ "$conf_changed" = 1 ]; then
    for n in c1 c2; do stop "$RUN/slurmd-$n.pid"; done
    stop "$RUN/slurmctld.pid"
fi
if ! alive "$RUN/slurmctld.pid"; then
    log "starting slurmctld on ctl"
    in_ns ctl env SLURM_CONF="$CONF" /usr/sbin/slurmctld || die "slurmctld exited with $?"
fi
ok=0
for _ in $(seq $((WAIT_S * 5))); do
    ping_out=$(scontrol ping 2>/dev/null || true)
    if grep -q 'is UP' <<<"$ping_out"; then ok=1; break; fi
    sleep 0.2
done
[ "$ok" = 1 ] || die "slurmctld does not answer at $NET.1:6917 after ${WAIT_S}s"
for n in c1 c2; do
    if ! alive "$RUN/slurmd-$n.pid"; then
        log "starting slurmd on $n"
        in_ns "$n" env SLURM_CONF="$CONF" /usr/sbin/slurmd -N "$n" || die "slurmd on $n exited with $?"
    fi
done

# ---- 5. wait for both nodes -------------------------------------------------------------
deadline=$(($(date +%s) + WAIT_S))
for n in c1 c2; do
    resumed=0
    while :; do
        state=$(sinfo -h -N -n "$n" -o '%T' 2>/dev/null | sed -n 1p || true)
        case "$state" in
            idle | mixed | allocated | completing) break ;;
            down* | drain* | fail*)
                if [ "$resumed" = 0 ]; then
                    scontrol update NodeName="$n" State=RESUME >/dev/null 2>&1 || true
                    resumed=1
                fi
                ;;
        esac
        if [ "$(date +%s)" -ge "$deadline" ]; then
            sinfo -N -l >&2 || true
            die "node $n is '${state:-unknown}', not idle, after ${WAIT_S}s"
        fi
        sleep 0.3
    done
done

cat >"$ENV_FILE" <<EOF
SLURM_CONF=$CONF
MOSX_MULTI_STORE=$STORE
MOSX_MULTI_NODES=c1 c2
MOSX_MULTI_NETNS_PREFIX=$PREFIX
EOF
log "nodes c1, c2 up; controller $NET.1; store $NET.1:$PG_PORT"
echo "MOSX_TEST_MULTINODE=$ENV_FILE"
