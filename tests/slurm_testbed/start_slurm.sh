#!/usr/bin/env bash
# Start a single-node SLURM cluster with real accounting (munge, MariaDB, slurmdbd, slurmctld,
# slurmd), on loopback only, for the live tests in tests/integration.
#
# Usage:  sudo tests/slurm_testbed/start_slurm.sh            (root is required)
#         export SLURM_CONF="${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}/etc/slurm.conf"
#         sbatch --wrap 'sleep 3'; sacct -X
#         tests/slurm_testbed/stop_slurm.sh
#
# Environment:
#   SLURM_TESTBED_DIR      all state, config, logs and pid files (default /tmp/slurm-testbed)
#   SLURM_TESTBED_DB_PORT  MariaDB TCP port on 127.0.0.1 (default 3306)
#   SLURM_TESTBED_CPUS     CPUs the node advertises (default 16; sleeping test jobs need slots,
#                          not cores, so the node claims more than the machine has)
#
# Installs the Debian packages if they are missing (apt-get update + install). Idempotent: when
# the cluster already answers it exits 0 at once; daemons already running are kept. Progress
# goes to stderr; on success the last stdout line is `SLURM_CONF=<path>`. Exits 1 with a message
# naming the log to read when a step fails or a daemon is not ready in time.
#
# What SLURM 22.05 needs here (no systemd, no cgroups, the hostname is not `localhost`):
# munged runs as the munge user; slurmdbd.conf must belong to SlurmUser with mode 600; the
# cluster is registered in slurmdbd before slurmctld starts; slurmd runs with `-N localhost`.
# The client tools find slurm.conf through SLURM_CONF, and slurmdbd finds slurmdbd.conf in the
# same folder. munge keeps the system key (/etc/munge/munge.key) and socket (/run/munge), the
# defaults every SLURM command uses; a munged that already answers is reused and not stopped.
set -euo pipefail

DIR="${SLURM_TESTBED_DIR:-/tmp/slurm-testbed}"
DB_PORT="${SLURM_TESTBED_DB_PORT:-3306}"
CPUS="${SLURM_TESTBED_CPUS:-16}"
CLUSTER=testbed
ACCOUNT=testbed
DB_USER=slurm
DB_PASS=slurm-testbed
# Each daemon is ready within a few seconds here; 60 s leaves room for a loaded CI machine
# without hanging a test session on a daemon that will never come up.
READY_TIMEOUT_S=60
# A daemon writes its pid file within a second of starting; after this long, no live process
# behind the pid file means it died (port in use, bad config) and waiting longer is pointless.
PIDFILE_GRACE_S=5
# Longest a concurrent start (apt-get install included) may hold the lock.
LOCK_TIMEOUT_S=900
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

export SLURM_CONF="$DIR/etc/slurm.conf"
RUN="$DIR/run"
LOG="$DIR/log"
MYSQL_DIR="$DIR/mariadb"
MYSQL_SOCK="$MYSQL_DIR/mysqld.sock"
MY_CNF="$DIR/etc/my.cnf"

log() { echo "start_slurm.sh: $*" >&2; }
die() {
    echo "start_slurm.sh: error: $*" >&2
    exit 1
}

# wait_until SECONDS WHAT LOGFILE PIDFILE COMMAND...: poll COMMAND every 0.2 s until it
# succeeds; give up after SECONDS, or as soon as the daemon of PIDFILE (if not "-") has exited.
wait_until() {
    local limit=$1 what=$2 logfile=$3 pidfile=$4
    shift 4
    local deadline=$((SECONDS + limit)) grace=$((SECONDS + PIDFILE_GRACE_S)) problem=
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            problem="not ready after ${limit} s"
        elif [[ $pidfile != - ]] && ((SECONDS >= grace)) && ! pid_alive "$pidfile"; then
            problem="exited (no live process in $pidfile)"
        fi
        if [[ -n $problem ]]; then
            [[ -f $logfile ]] && tail -n 20 "$logfile" >&2
            die "$what $problem; see $logfile"
        fi
        sleep 0.2
    done
}

pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
munge_ok() { munge -n | unmunge; }
node_idle() { [[ $(sinfo -h -n localhost -o %T 2>/dev/null) == idle* ]]; }
sacct_ok() { sacct -X -n -P -S now -o JobID; }
cluster_ready() { node_idle && sacct_ok; }

[[ $(id -u) == 0 ]] || die "must run as root (it starts munged, MariaDB and the SLURM daemons)"

# One start or stop at a time (e.g. two pytest processes starting the testbed together). The
# daemons are started with fd 9 closed (9>&-), or they would hold the lock for their lifetime.
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock -w "$LOCK_TIMEOUT_S" 9 || die "another start_slurm.sh/stop_slurm.sh holds $DIR/.lock"

# Already up: nothing to do.
if [[ -f $SLURM_CONF ]] && command -v sinfo >/dev/null && pid_alive "$RUN/slurmctld.pid" &&
    pid_alive "$RUN/slurmd.pid" && pid_alive "$RUN/slurmdbd.pid" && cluster_ready >/dev/null 2>&1; then
    log "already running (SLURM_CONF=$SLURM_CONF)"
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
fi

# --- packages -------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2 ||
        die "apt-get install ${PACKAGES[*]} failed"
fi

mkdir -p "$DIR/etc" "$RUN" "$LOG" "$DIR/state" "$DIR/spool" "$MYSQL_DIR"
chmod 755 "$DIR"
chown mysql:mysql "$MYSQL_DIR"

# --- munge ----------------------------------------------------------------------------------
if munge_ok >/dev/null 2>&1; then
    if pid_alive "$RUN/munged.pid"; then
        log "munge: already running"
    else
        log "munge: a munged not started here already answers; using it (it will not be stopped)"
    fi
else
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create >&2 || die "mungekey --create failed"
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 755 /run/munge
    install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
    runuser -u munge -- munged --force 9>&- >&2 || die "munged did not start (log: /var/log/munge/munged.log)"
    wait_until "$READY_TIMEOUT_S" munged /var/log/munge/munged.log /run/munge/munged.pid munge_ok
    cp /run/munge/munged.pid "$RUN/munged.pid"
    log "munge: started"
fi

# --- MariaDB --------------------------------------------------------------------------------
cat >"$MY_CNF" <<EOF
[mysqld]
user=mysql
datadir=$MYSQL_DIR/data
socket=$MYSQL_SOCK
pid-file=$MYSQL_DIR/mariadbd.pid
port=$DB_PORT
bind-address=127.0.0.1
skip-name-resolve
log-error=$MYSQL_DIR/mariadb.log
# small and fast: a test database, not a production one
innodb_log_file_size=8M
innodb_buffer_pool_size=64M
innodb_lock_wait_timeout=900
[client]
socket=$MYSQL_SOCK
EOF
mysql_ok() { mariadb-admin --defaults-file="$MY_CNF" -u root ping; }
if pid_alive "$MYSQL_DIR/mariadbd.pid" && mysql_ok >/dev/null 2>&1; then
    log "mariadb: already running"
else
    if [[ ! -d $MYSQL_DIR/data/mysql ]]; then
        mariadb-install-db --defaults-file="$MY_CNF" --user=mysql --skip-test-db \
            --auth-root-authentication-method=socket >"$LOG/mariadb-install-db.log" 2>&1 ||
            die "mariadb-install-db failed (log: $LOG/mariadb-install-db.log)"
    fi
    rm -f "$MYSQL_DIR/mariadbd.pid"
    setsid mariadbd --defaults-file="$MY_CNF" </dev/null >/dev/null 2>&1 9>&- &
    wait_until "$READY_TIMEOUT_S" MariaDB "$MYSQL_DIR/mariadb.log" "$MYSQL_DIR/mariadbd.pid" mysql_ok
    log "mariadb: started on 127.0.0.1:$DB_PORT"
fi
cp "$MYSQL_DIR/mariadbd.pid" "$RUN/mariadbd.pid"
mariadb --defaults-file="$MY_CNF" -u root >&2 <<EOF || die "creating the slurm database failed"
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO '$DB_USER'@'localhost';
EOF

# --- SLURM configuration --------------------------------------------------------------------
cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=$DB_USER
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
chown root:root "$DIR/etc/slurmdbd.conf"
chmod 600 "$DIR/etc/slurmdbd.conf"

cat >"$DIR/etc/slurm.conf" <<EOF
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
# the job completion file, read by "sacct -c" when accounting is unavailable
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
# fast tests: finished jobs leave slurmctld after 10 s, a timed-out job is killed 2 s after
# SIGTERM and no grace minutes are added to a time limit
MinJobAge=10
KillWait=2
OverTimeLimit=0
InactiveLimit=0
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1024 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

# --- slurmdbd and the cluster's registration ------------------------------------------------
if pid_alive "$RUN/slurmdbd.pid"; then
    log "slurmdbd: already running"
else
    rm -f "$RUN/slurmdbd.pid"
    slurmdbd 9>&- >&2 || die "slurmdbd did not start (log: $LOG/slurmdbd.log)"
    wait_until "$READY_TIMEOUT_S" slurmdbd "$LOG/slurmdbd.log" "$RUN/slurmdbd.pid" sacctmgr -n list cluster
    log "slurmdbd: started"
fi
if [[ -z $(sacctmgr -n -P list cluster "$CLUSTER" format=Cluster) ]]; then
    sacctmgr -i add cluster "$CLUSTER" >&2 || die "sacctmgr add cluster failed"
fi
if [[ -z $(sacctmgr -n -P list account "$ACCOUNT" format=Account) ]]; then
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description=testbed Organization=testbed >&2 ||
        die "sacctmgr add account failed"
fi
if [[ -z $(sacctmgr -n -P list user root format=User) ]]; then
    sacctmgr -i add user root DefaultAccount="$ACCOUNT" >&2 || die "sacctmgr add user failed"
fi

# --- slurmctld, slurmd ----------------------------------------------------------------------
if pid_alive "$RUN/slurmctld.pid"; then
    log "slurmctld: already running"
else
    rm -f "$RUN/slurmctld.pid"
    slurmctld 9>&- >&2 || die "slurmctld did not start (log: $LOG/slurmctld.log)"
    wait_until "$READY_TIMEOUT_S" slurmctld "$LOG/slurmctld.log" "$RUN/slurmctld.pid" scontrol ping
    log "slurmctld: started"
fi
if pid_alive "$RUN/slurmd.pid"; then
    log "slurmd: already running"
else
    rm -f "$RUN/slurmd.pid"
    slurmd -N localhost 9>&- >&2 || die "slurmd did not start (log: $LOG/slurmd.log)"
    log "slurmd: started"
fi
wait_until "$READY_TIMEOUT_S" "node localhost (sinfo idle)" "$LOG/slurmd.log" "$RUN/slurmd.pid" node_idle
wait_until "$READY_TIMEOUT_S" "accounting (sacct)" "$LOG/slurmdbd.log" "$RUN/slurmdbd.pid" sacct_ok
log "ready in ${SECONDS} s (SLURM_CONF=$SLURM_CONF)"
echo "SLURM_CONF=$SLURM_CONF"
