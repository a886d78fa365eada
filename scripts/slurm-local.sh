#!/usr/bin/env bash
# A real SLURM cluster on this one machine, for gscen's tests, CI and benchmarks.
#
#   scripts/slurm-local.sh start    install slurm-wlm + munge if missing (Debian, as root), then start a
#                                   private munged, slurmctld and GSCEN_SLURM_NODES slurmd's (4)
#   scripts/slurm-local.sh stop     cancel every job, wait until squeue is empty, stop every daemon
#   scripts/slurm-local.sh status   what runs; exit 0 only when the cluster is up
#   scripts/slurm-local.sh env      the `export SLURM_CONF=...` line that points clients at it
#
# Everything (configuration, munge key and socket, state, spool, logs, pid files) lives under one
# folder, GSCEN_SLURM_DIR (default /tmp/gscen-slurm); nothing in /etc is changed except a symbolic
# link /etc/slurm/slurm.conf -> that folder's slurm.conf when no such file exists, so that plain
# `sbatch`/`squeue` reach this cluster without SLURM_CONF. Starting twice or stopping twice is harmless.
#
# The nodes are n1..nN, all on this host: Debian builds slurmd with MULTIPLE_SLURMD, so each
# `slurmd -N nX` acts as its own node. Each claims GSCEN_SLURM_CPUS CPUs (16) whatever the machine
# has (`SlurmdParameters=config_overrides`), enough for the examples' tasks.
#
# "Is it running" reads the state letter in /proc/PID/stat, not `kill -0`: PID 1 on these machines
# does not reap orphans, so a stopped daemon can linger as a zombie that `kill -0` still finds.
set -euo pipefail

DIR="${GSCEN_SLURM_DIR:-/tmp/gscen-slurm}"
NODES="${GSCEN_SLURM_NODES:-4}"
CPUS="${GSCEN_SLURM_CPUS:-16}"
CTLD_PORT="${GSCEN_SLURM_CTLD_PORT:-16817}"
NODE_PORT="${GSCEN_SLURM_NODE_PORT:-17001}"   # node k listens on NODE_PORT + k - 1
HOST="$(hostname -s)"
CONF="$DIR/slurm.conf"
MUNGE_SOCKET="$DIR/munge/munge.socket"
export SLURM_CONF="$CONF"

say() { printf 'slurm-local: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# alive PIDFILE: the process named in PIDFILE exists and is neither a zombie nor dead.
alive() {
    local pid state
    [ -r "$1" ] || return 1
    pid="$(tr -dc 0-9 <"$1")"
    [ -n "$pid" ] || return 1
    state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] && [ "$state" != x ]
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds or SECONDS pass.
wait_for() {
    local limit=$(($1 * 10)); shift
    local i
    for ((i = 0; i < limit; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    return 1
}

# stop_pid PIDFILE NAME: TERM, up to 10 s, KILL, up to 5 s; remove the pid file.
stop_pid() {
    local pid
    if alive "$1"; then
        pid="$(tr -dc 0-9 <"$1")"
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_for 10 not_alive "$1"; then
            say "$2 (pid $pid) ignored TERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_for 5 not_alive "$1" || die "$2 (pid $pid) is still running"
        fi
    fi
    rm -f "$1"
}
not_alive() { ! alive "$1"; }

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "slurm-wlm and munge are not installed; run this as root to install them"
    say "installing slurm-wlm and munge (apt-get)"
    # No service may start during installation: the cluster's daemons are this script's own.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    if [ -n "$made_policy" ]; then rm -f "$policy"; fi
}

write_config() {
    local last=$((NODE_PORT + NODES - 1))
    cat >"$CONF.tmp" <<EOF
# Written by scripts/slurm-local.sh; rewritten at every start.
ClusterName=gscen-local
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
# No systemd and no cgroups here.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
# Several tasks per node, counted by CPU; nodes claim more CPUs than the machine has.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
# Start batch jobs at once, forget finished ones soon, stop cancelled ones fast.
SchedulerParameters=batch_sched_delay=0
MinJobAge=2
KillWait=2
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
NodeName=n[1-$NODES] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[$NODE_PORT-$last] CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    if alive "$DIR/munge/munged.pid"; then return 0; fi
    local key="$DIR/munge/munge.key"
    if [ ! -s "$key" ]; then
        # A key of our own: this cluster trusts nothing but itself.
        (umask 077 && head -c 1024 /dev/urandom >"$key")
    fi
    chown -R munge:munge "$DIR/munge"
    chmod 755 "$DIR/munge"
    chmod 400 "$key"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    runuser -u munge -- munged \
        --socket="$MUNGE_SOCKET" --key-file="$key" --pid-file="$DIR/munge/munged.pid" \
        --seed-file="$DIR/munge/munged.seed" --log-file="$DIR/log/munged.log" --force
    wait_for 10 munge_works || die "munged did not answer on $MUNGE_SOCKET (see $DIR/log/munged.log)"
}
munge_works() { munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET"; }

nodes_up() {
    local states
    states="$(sinfo -h -N -o '%N %T' 2>/dev/null)" || return 1
    [ "$(printf '%s\n' "$states" | awk '$2 ~ /^(idle|mixed|allocated)$/' | wc -l)" -ge "$NODES" ]
}

start() {
    install_packages
    mkdir -p "$DIR"/{munge,state,spool,run,log}
    chmod 700 "$DIR/state" "$DIR/run"
    # The log folder is shared with munged, which runs as the munge user.
    chown munge:munge "$DIR/log" 2>/dev/null || true
    chmod 755 "$DIR" "$DIR/log"
    write_config
    if [ -d /etc/slurm ] || mkdir -p /etc/slurm 2>/dev/null; then
        if [ ! -e /etc/slurm/slurm.conf ] && [ -w /etc/slurm ]; then
            ln -s "$CONF" /etc/slurm/slurm.conf
        fi
    fi
    start_munge
    if ! alive "$DIR/run/slurmctld.pid"; then
        slurmctld -c
        wait_for 10 alive "$DIR/run/slurmctld.pid" \
            || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
    fi
    local k
    for ((k = 1; k <= NODES; k++)); do
        if ! alive "$DIR/run/slurmd-n$k.pid"; then
            mkdir -p "$DIR/spool/n$k"
            slurmd -N "n$k"
        fi
    done
    wait_for 30 nodes_up || { sinfo -N >&2 || true; die "the nodes did not come up (see $DIR/log/)"; }
    # Nodes that were down (a previous stop) come back only when told.
    scontrol update nodename="n[1-$NODES]" state=resume >/dev/null 2>&1 || true
    say "up: $NODES nodes of $CPUS CPUs (SLURM_CONF=$CONF)"
}

stop() {
    if [ -r "$CONF" ] && alive "$DIR/run/slurmctld.pid"; then
        local jobs
        jobs="$(squeue -h -o %i 2>/dev/null || true)"
        if [ -n "$jobs" ]; then
            say "cancelling jobs: $(echo $jobs)"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
        fi
        if ! wait_for 30 queue_empty; then
            say "jobs still listed after 30 s:"
            squeue >&2 || true
        fi
    fi
    local pidfile
    for pidfile in "$DIR"/run/slurmd-*.pid; do
        [ -e "$pidfile" ] || continue
        stop_pid "$pidfile" "slurmd $(basename "$pidfile" .pid)"
    done
    stop_pid "$DIR/run/slurmctld.pid" slurmctld
    stop_pid "$DIR/munge/munged.pid" munged
    if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
        rm -f /etc/slurm/slurm.conf
    fi
    say "stopped"
}
queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }

status() {
    local up=0 pidfile
    for pidfile in "$DIR/munge/munged.pid" "$DIR/run/slurmctld.pid" "$DIR"/run/slurmd-*.pid; do
        [ -e "$pidfile" ] || continue
        if alive "$pidfile"; then
            echo "$(basename "$pidfile" .pid): running (pid $(tr -dc 0-9 <"$pidfile"))"
        else
            echo "$(basename "$pidfile" .pid): not running"
        fi
    done
    if [ -r "$CONF" ] && alive "$DIR/run/slurmctld.pid" && nodes_up; then
        sinfo -N -o '%N %T %c' || true
        up=1
    fi
    if [ "$up" = 1 ]; then echo "cluster: up (SLURM_CONF=$CONF)"; else echo "cluster: down"; return 1; fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
env) echo "export SLURM_CONF=$CONF" ;;
*) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
