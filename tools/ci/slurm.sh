#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for mosx's Slurm tests (crates/mosx-slurm).
#
# Run as root on Debian 12 without systemd (a container or CI's clean machine). It
#   1. installs munge and Slurm 22.05 from Debian (slurmctld, slurmd, slurm-client),
#   2. writes a munge key and /etc/slurm/slurm.conf describing THIS machine (node name
#      from `hostname -s`, CPUs from `nproc`, RealMemory from /proc/meminfo less a margin),
#   3. starts munged, slurmctld and slurmd as plain daemons (pid files under /run),
#   4. waits, bounded, until `sinfo` shows the node idle (or busy with jobs).
# On success it prints the line CI must export, `MOSX_TEST_SLURM=1`, on stdout; all
# progress goes to stderr, so `export "$(tools/ci/slurm.sh)"` works.
#
# Idempotent: a second run finds the packages installed, the configuration unchanged and
# the three daemons answering, and returns in about a second. A changed configuration
# (say, more memory) restarts the Slurm daemons; a dead daemon is started again.
# Failure is loud: the exit status is non-zero and the tail of the failing daemon's log
# is printed.
#
# Choices (see the slurm.conf comments below): no accounting database (so `sacct` does
# not work: mosx-slurm detects that), proctrack/linuxproc + task/none unless cgroup v1 is
# writable (cgroup v2 needs systemd in Slurm 22.05), ReturnToService=2 (a node that was
# down comes back by itself), MinJobAge=3600 (finished jobs stay visible to
# `scontrol show job` for an hour).
#
# Environment knobs: MOSX_SLURM_WAIT (seconds to wait for the node, default 60),
# MOSX_SLURM_MIN_JOB_AGE (default 3600), MOSX_SLURM_CGROUP=0 to refuse cgroups.
set -euo pipefail

log() { printf 'slurm.sh: %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    for f in /var/log/munge/munged.log /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log; do
        if [ -s "$f" ]; then
            printf '\n==> tail -n 25 %s <==\n' "$f" >&2
            tail -n 25 "$f" >&2
        fi
    done
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"

WAIT_S=${MOSX_SLURM_WAIT:-60}
MIN_JOB_AGE=${MOSX_SLURM_MIN_JOB_AGE:-3600}
CONF=/etc/slurm/slurm.conf
CGROUP_CONF=/etc/slurm/cgroup.conf
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=/run/munge/munged.pid
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
T0=$(date +%s.%N)
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- 1. packages --------------------------------------------------------------------
need_install=0
for bin in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/bin/scontrol; do
    [ -x "$bin" ] || need_install=1
done
if [ "$need_install" = 1 ]; then
    log "installing munge and Slurm from Debian's packages"
    # No init system here: keep the packages' maintainer scripts from starting daemons
    # (we start them below, with our configuration). Only if no policy is in place.
    policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    remove_policy() { if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
    trap remove_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(munge slurmctld slurmd slurm-client)
    if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/tmp/mosx-slurm-apt.log 2>&1; then
        log "install failed without a fresh package index; running apt-get update"
        apt-get update -q >>/tmp/mosx-slurm-apt.log 2>&1 || { tail -n 20 /tmp/mosx-slurm-apt.log >&2; die "apt-get update failed"; }
        apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>/tmp/mosx-slurm-apt.log 2>&1 \
            || { tail -n 20 /tmp/mosx-slurm-apt.log >&2; die "apt-get install ${pkgs[*]} failed"; }
    fi
    remove_policy
    trap - EXIT
    log "installed in $(elapsed)s: $(/usr/sbin/slurmctld -V)"
fi
getent passwd slurm >/dev/null || die "user slurm missing after installing slurmctld"
getent passwd munge >/dev/null || die "user munge missing after installing munge"

# ---- 2. configuration ---------------------------------------------------------------
NODE=$(hostname -s)
[ -n "$NODE" ] || die "hostname -s is empty"
CPUS=$(nproc)
mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
# Margin for the OS and the daemons: 10 %, at least 512 MiB.
margin=$((mem_mib / 10))
[ "$margin" -ge 512 ] || margin=512
REAL_MEM=$((mem_mib - margin))
[ "$REAL_MEM" -ge 256 ] || die "only ${mem_mib} MiB of memory; a Slurm node needs more"
# Default memory of a job that asks for none: an equal share per CPU, so that jobs
# without --mem do not each take the whole node (memory is a consumable resource).
DEF_MEM_PER_CPU=$((REAL_MEM / CPUS))

# Cgroups: Slurm 22.05's cgroup/v2 plugin needs systemd (dbus) to create its scope, so
# only a writable cgroup v1 hierarchy (memory + freezer) is used; otherwise the process
# tracking is linuxproc (parent/child process tree) and no task containment.
PROCTRACK=proctrack/linuxproc
TASK=task/none
if [ "${MOSX_SLURM_CGROUP:-1}" != 0 ] && [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/freezer ] \
    && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
    probe_ok=1
    for c in memory freezer; do
        if mkdir "/sys/fs/cgroup/$c/mosx-slurm-probe" 2>/dev/null; then
            rmdir "/sys/fs/cgroup/$c/mosx-slurm-probe"
        else
            probe_ok=0
        fi
    done
    if [ "$probe_ok" = 1 ]; then
        PROCTRACK=proctrack/cgroup
        TASK=task/cgroup
    fi
fi

new_conf=$(mktemp)
new_cgroup=$(mktemp)
trap 'rm -f "$new_conf" "$new_cgroup"' EXIT
cat >"$new_conf" <<EOF
# Written by mosx tools/ci/slurm.sh for this machine ($NODE, $CPUS CPUs, ${mem_mib} MiB).
# Rerunning the script rewrites it; edit the script, not this file.
ClusterName=mosx
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
ProctrackType=$PROCTRACK
TaskPlugin=$TASK
# A node that went down (e.g. the machine restarted) returns to service by itself.
ReturnToService=2
# Use the node description below even where the hardware probe disagrees (containers
# limiting CPUs or memory), rather than draining the node.
SlurmdParameters=config_overrides
# Finished jobs stay in the controller's memory (visible to squeue --states=all and
# scontrol show job) this many seconds. Without accounting storage this is the only
# record of a finished job's state.
MinJobAge=$MIN_JOB_AGE
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM_PER_CPU
# No accounting database: sacct is not usable on this cluster.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$REAL_MEM State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
cat >"$new_cgroup" <<EOF
# Written by mosx tools/ci/slurm.sh; read only with proctrack/cgroup (cgroup v1).
CgroupPlugin=cgroup/v1
ConstrainCores=no
ConstrainRAMSpace=yes
EOF

conf_changed=0
if ! cmp -s "$new_conf" "$CONF" || ! cmp -s "$new_cgroup" "$CGROUP_CONF"; then
    conf_changed=1
    install -d -m 755 /etc/slurm
    install -m 644 "$new_conf" "$CONF"
    install -m 644 "$new_cgroup" "$CGROUP_CONF"
    log "wrote $CONF ($NODE: $CPUS CPUs, RealMemory=$REAL_MEM MiB, $PROCTRACK, $TASK)"
fi

install -d -o slurm -g slurm -m 755 /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
install -d -m 755 /var/lib/slurm/slurmd
install -d -o munge -g munge -m 700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 755 /run/munge
if [ ! -s "$MUNGE_KEY" ]; then
    log "writing a munge key"
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
fi
chown munge:munge "$MUNGE_KEY"
chmod 400 "$MUNGE_KEY"

# ---- 3. daemons ---------------------------------------------------------------------
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop() { # pid file, name
    if alive "$1"; then
        local pid
        pid=$(cat "$1")
        log "stopping $2 (pid $pid)"
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then die "$2 (pid $pid) did not stop"; fi
    fi
    rm -f "$1"
}

if ! alive "$MUNGE_PID" || ! munge -n </dev/null | unmunge >/dev/null 2>&1; then
    stop "$MUNGE_PID" munged
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged || die "munged did not start"
    ok=0
    for _ in $(seq 50); do
        if munge -n </dev/null | unmunge >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ "$ok" = 1 ] || die "munge credentials do not round-trip (munge -n | unmunge)"
fi

if [ "$conf_changed" = 1 ]; then
    stop "$SLURMD_PID" slurmd
    stop "$CTLD_PID" slurmctld
fi
if ! alive "$CTLD_PID"; then
    log "starting slurmctld"
    /usr/sbin/slurmctld || die "slurmctld exited with status $?"
fi
ok=0
for _ in $(seq $((WAIT_S * 5))); do
    # Captured, then matched: `scontrol | grep -q` under pipefail fails when grep exits first.
    ping=$(scontrol ping 2>/dev/null || true)
    if grep -q 'is UP' <<<"$ping"; then ok=1; break; fi
    alive "$CTLD_PID" || die "slurmctld died while starting"
    sleep 0.2
done
[ "$ok" = 1 ] || die "slurmctld does not answer 'scontrol ping' after ${WAIT_S}s"

if ! alive "$SLURMD_PID"; then
    log "starting slurmd"
    /usr/sbin/slurmd || die "slurmd exited with status $?"
fi

# ---- 4. wait for the node -----------------------------------------------------------
state=""
resumed=0
deadline=$(($(date +%s) + WAIT_S))
while :; do
    state=$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | sed -n 1p || true)
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        drained | draining | down | "down*" | "drained*" | fail | failing)
            # A node left down or drained by an earlier run: ReturnToService=2 brings back
            # a node that registers with a valid configuration; a drain must be undone.
            if [ "$resumed" = 0 ] && alive "$SLURMD_PID"; then
                log "node $NODE is $state; resuming it"
                scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi
            ;;
    esac
    alive "$SLURMD_PID" || die "slurmd died while registering (node state '$state')"
    if [ "$(date +%s)" -ge "$deadline" ]; then
        sinfo -N -l >&2 || true
        scontrol show node "$NODE" >&2 || true
        die "node $NODE is '${state:-unknown}', not idle, after ${WAIT_S}s"
    fi
    sleep 0.2
done

log "node $NODE is $state after $(elapsed)s ($(sinfo -V))"
echo "MOSX_TEST_SLURM=1"
