#!/usr/bin/env bash
# Stop the single-node SLURM started by start_slurm.sh: cancel its jobs, then stop slurmd,
# slurmctld, slurmdbd, MariaDB and munged (only if start_slurm.sh started it), in that order,
# each by its pid file under $SLURM_TESTBED_DIR/run (default /tmp/slurm-testbed/run).
# State (database, job state, logs) is kept, so the next start_slurm.sh is quick.
# Exits 0 when everything it knew about is stopped (also when nothing was running), 1 when a
# daemon survived SIGKILL.
set -uo pipefail

DIR="${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}"
RUN="$DIR/run"
export SLURM_CONF="$DIR/etc/slurm.conf"
# Every daemon here exits within a second of SIGTERM; 20 s covers MariaDB flushing on a slow
# disk before SIGKILL is used.
STOP_TIMEOUT_S=20
# Bounds the scancel/squeue calls when slurmctld is already unresponsive.
CLIENT_TIMEOUT_S=10
# start_slurm.sh may hold the lock this long (an apt-get install included).
LOCK_TIMEOUT_S=900

log() { echo "stop_slurm.sh: $*" >&2; }
status=0

[[ -d $DIR ]] || exit 0
# Not while start_slurm.sh is starting daemons.
exec 9>"$DIR/.lock"
if ! flock -w "$LOCK_TIMEOUT_S" 9; then
    log "start_slurm.sh still holds $DIR/.lock"
    exit 1
fi

# stop_pidfile NAME PIDFILE: SIGTERM, wait, then SIGKILL.
stop_pidfile() {
    local name=$1 pidfile=$2 pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    local deadline=$((SECONDS + STOP_TIMEOUT_S))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT_S} s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null
        sleep 0.5
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) is still running"
            status=1
            return 0
        fi
    fi
    rm -f "$pidfile"
    log "$name stopped"
}

# Jobs still running would outlive slurmd (their slurmstepd keeps going): cancel them first.
if [[ -f $SLURM_CONF && -s $RUN/slurmctld.pid ]] && kill -0 "$(cat "$RUN/slurmctld.pid")" 2>/dev/null; then
    jobs=$(timeout "$CLIENT_TIMEOUT_S" squeue -h -o %A 2>/dev/null | tr '\n' ' ')
    if [[ -n ${jobs// /} ]]; then
        # shellcheck disable=SC2086
        timeout "$CLIENT_TIMEOUT_S" scancel $jobs 2>/dev/null
        deadline=$((SECONDS + CLIENT_TIMEOUT_S))
        while [[ -n $(timeout "$CLIENT_TIMEOUT_S" squeue -h -o %A 2>/dev/null) ]] && ((SECONDS < deadline)); do
            sleep 0.2
        done
        log "cancelled jobs: $jobs"
    fi
fi

stop_pidfile slurmd "$RUN/slurmd.pid"
stop_pidfile slurmctld "$RUN/slurmctld.pid"
stop_pidfile slurmdbd "$RUN/slurmdbd.pid"
stop_pidfile mariadbd "$RUN/mariadbd.pid"
stop_pidfile munged "$RUN/munged.pid"
exit "$status"
