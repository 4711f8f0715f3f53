#!/usr/bin/env bash
# Bring up / tear down a throw-away single-node Slurm cluster (Debian 12,
# Slurm 22.05 packages) for the test suite. Needs root; works without systemd.
#
#   scripts/slurm-cluster.sh install          install the Debian packages (no-op if present)
#   scripts/slurm-cluster.sh start  PREFIX    configure + start; prints SLURM_CONF=PREFIX/slurm.conf
#   scripts/slurm-cluster.sh stop   PREFIX    stop the daemons started for PREFIX
#   scripts/slurm-cluster.sh status PREFIX    exit 0 iff the cluster is up and its node usable
#
# Everything (config, state, spool, pid files, logs) lives under PREFIX. Only
# daemons recorded in PREFIX/run/*.pid are ever signalled; munged is recorded
# (and later stopped) only when this script had to start it.
# `start` writes exactly one line to stdout; every other message goes to stderr.
set -euo pipefail

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

# All ordinary output goes to stderr; fd 3 is the real stdout.
exec 3>&1 1>&2

READY_TIMEOUT=30 # seconds for the node to become idle
STOP_TIMEOUT=15  # seconds for a daemon to exit after SIGTERM

log() { echo "slurm-cluster: $*" >&2; }
die() {
  echo "slurm-cluster: error: $*" >&2
  exit 1
}
usage() {
  echo "usage: $0 install | start PREFIX | stop PREFIX | status PREFIX" >&2
  exit 2
}

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (starts munged/slurmctld/slurmd, installs packages)"
}

# ---------------------------------------------------------------- install

have_binaries() {
  command -v sbatch >/dev/null && command -v slurmctld >/dev/null &&
    command -v slurmd >/dev/null && command -v munged >/dev/null
}

cmd_install() {
  if have_binaries; then
    return 0
  fi
  need_root
  command -v apt-get >/dev/null || die "apt-get not found: install slurmctld slurmd slurm-client munge by hand"
  local pkgs=(slurmctld slurmd slurm-client munge)
  local apt_opts=(-y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  export DEBIAN_FRONTEND=noninteractive
  log "installing ${pkgs[*]}"
  # Try with the current package lists first; refresh them only if that fails.
  if ! apt-get install "${apt_opts[@]}" "${pkgs[@]}" >&2; then
    log "install failed with the current package lists; running apt-get update and retrying"
    apt-get update -q >&2 || die "apt-get update failed"
    apt-get install "${apt_opts[@]}" "${pkgs[@]}" >&2 || die "apt-get install ${pkgs[*]} failed"
  fi
  have_binaries || die "packages installed but sbatch/slurmctld/slurmd/munged still not found on PATH"
}

# ---------------------------------------------------------------- helpers

set_prefix() {
  [ -n "${1:-}" ] || usage
  PREFIX=$(realpath -m -- "$1")
  CONF="$PREFIX/slurm.conf"
  RUN="$PREFIX/run"
  LOGDIR="$PREFIX/log"
  CTLD_PID="$RUN/slurmctld.pid"
  SLURMD_PID="$RUN/slurmd.pid"
  MUNGED_PID="$RUN/munged.pid" # exists only if we started munged
  NODE=$(hostname -s)
  export SLURM_CONF="$CONF"
}

# Serialise start/stop/status on the same PREFIX.
lock_prefix() {
  mkdir -p "$PREFIX"
  exec 9>"$PREFIX/.lock"
  flock -w 120 9 || die "timed out waiting for the lock $PREFIX/.lock"
}

# pid_alive PID NAME [CONF]: the process exists, is not a zombie, is NAME and,
# if CONF is given, has CONF on its command line (guards against pid reuse).
pid_alive() {
  local pid=$1 name=$2 conf=${3:-} state comm
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  # Field 3 of /proc/PID/stat is the state; Z/X = dead but not reaped
  # (PID 1 on these VMs is not a real init and may not reap).
  state=$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  case "$state" in Z | X | x) return 1 ;; esac
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$name" ] || return 1
  if [ -n "$conf" ]; then
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$conf" || return 1
  fi
  return 0
}

read_pid() { # read_pid FILE -> pid on stdout (empty if none)
  [ -f "$1" ] && head -n1 "$1" | tr -dc '0-9' || true
}

daemon_up() { # daemon_up PIDFILE NAME [CONF]
  local pid
  pid=$(read_pid "$1")
  [ -n "$pid" ] && pid_alive "$pid" "$2" "${3:-}"
}

munge_works() {
  command -v munge >/dev/null && command -v unmunge >/dev/null || return 1
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

# run_daemon OUTFILE CMD...: run a self-daemonizing command without letting it
# inherit our stdout (fd 3, possibly a pipe read by $(...)), the lock (fd 9) or
# the caller's stderr: munged keeps inherited fds open for its whole life, which
# would make callers wait forever. Its early messages are copied to stderr.
run_daemon() {
  local out=$1 rc=0
  shift
  "$@" </dev/null >"$out" 2>&1 3>&- 9>&- || rc=$?
  [ -s "$out" ] && cat "$out" >&2
  return "$rc"
}

log_tail() { # log_tail FILE
  if [ -s "$1" ]; then
    echo "---- last lines of $1 ----" >&2
    tail -n 25 "$1" >&2
    echo "----" >&2
  else
    echo "($1 is missing or empty)" >&2
  fi
}

fail_start() {
  echo "slurm-cluster: error: $*" >&2
  log_tail "$LOGDIR/slurmctld.log"
  log_tail "$LOGDIR/slurmd.log"
  echo "slurm-cluster: daemons that did start are left running for inspection; run '$0 stop $PREFIX'" >&2
  exit 1
}

# Node state as printed by sinfo (e.g. idle, idle*, drained, mixed), or empty.
node_state() {
  timeout 10 sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1 | tr -d '[:space:]' || true
}

# ---------------------------------------------------------------- start

write_conf() {
  local cpus mem_detected mem
  cpus=$(nproc)
  mem_detected=$(slurmd -C 2>/dev/null | grep -o 'RealMemory=[0-9]*' | head -n1 | cut -d= -f2) || true
  [ -n "$mem_detected" ] || die "could not read RealMemory from 'slurmd -C'"
  mem=$((mem_detected * 9 / 10))
  [ "$mem" -ge 1 ] || mem=1

  local tmp="$CONF.tmp.$$"
  cat >"$tmp" <<EOF
# Generated by scripts/slurm-cluster.sh: single-node test cluster, do not edit.
ClusterName=scalelab
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$PREFIX/state
SlurmdSpoolDir=$PREFIX/spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.txt
MinJobAge=600
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  chmod 0644 "$tmp"
  mv -f "$tmp" "$CONF"
}

start_munged() {
  if munge_works; then
    log "munged already running (not started by us, will not be stopped)"
    return 0
  fi
  id munge >/dev/null 2>&1 || die "user 'munge' does not exist (is the munge package installed?)"
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
      mungekey --create >&2 || die "mungekey --create failed"
    else
      dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  # systemd would create these; there is no systemd here.
  install -d -o munge -g munge -m 0755 /run/munge
  local d
  for d in /var/lib/munge /var/log/munge; do
    [ -d "$d" ] || install -d -o munge -g munge -m 0700 "$d"
  done

  log "starting munged"
  if ! run_daemon "$LOGDIR/munged.start.out" runuser -u munge -- munged; then
    # Lost a race with someone else starting it?
    if munge_works; then
      log "munged was started concurrently by someone else (will not be stopped)"
      return 0
    fi
    [ -f /var/log/munge/munged.log ] && log_tail /var/log/munge/munged.log
    die "munged failed to start"
  fi
  local pid="" i
  for i in $(seq 1 50); do
    pid=$(read_pid /run/munge/munged.pid)
    if [ -n "$pid" ] && pid_alive "$pid" munged && munge_works; then
      break
    fi
    pid=""
    sleep 0.1
  done
  if [ -z "$pid" ]; then
    [ -f /var/log/munge/munged.log ] && log_tail /var/log/munge/munged.log
    die "munged started but 'munge -n | unmunge' does not work (or /run/munge/munged.pid is missing)"
  fi
  echo "$pid" >"$MUNGED_PID"
  log "munged running (pid $pid)"
}

wait_for_pidfile() { # wait_for_pidfile PIDFILE NAME
  local i
  for i in $(seq 1 100); do
    daemon_up "$1" "$2" "$CONF" && return 0
    sleep 0.1
  done
  return 1
}

wait_until_ready() {
  local deadline=$((SECONDS + READY_TIMEOUT)) state="" resumed=0
  while :; do
    state=$(node_state)
    case "$state" in
    idle | mixed | allocated | completing) return 0 ;;
    drain* | drained* | down* | fail*)
      if [ $((resumed)) -lt 3 ]; then
        log "node $NODE is '$state'; resuming it"
        timeout 10 scontrol update NodeName="$NODE" State=RESUME >&2 || true
        resumed=$((resumed + 1))
      fi
      ;;
    esac
    daemon_up "$CTLD_PID" slurmctld "$CONF" || fail_start "slurmctld exited while waiting for the node"
    daemon_up "$SLURMD_PID" slurmd "$CONF" || fail_start "slurmd exited while waiting for the node"
    if [ "$SECONDS" -ge "$deadline" ]; then
      timeout 10 scontrol show node "$NODE" >&2 || true
      fail_start "node $NODE not idle after ${READY_TIMEOUT}s (sinfo state: '${state:-none}')"
    fi
    sleep 0.5
  done
}

cmd_start() {
  set_prefix "${1:-}"
  need_root
  lock_prefix

  local ctld_up=0 slurmd_up=0
  daemon_up "$CTLD_PID" slurmctld "$CONF" && ctld_up=1
  daemon_up "$SLURMD_PID" slurmd "$CONF" && slurmd_up=1

  if [ "$ctld_up" = 1 ] && [ "$slurmd_up" = 1 ] && [ -f "$CONF" ]; then
    log "cluster for $PREFIX already running"
  else
    cmd_install
    id slurm >/dev/null 2>&1 || die "user 'slurm' does not exist (is slurmctld installed?)"
    mkdir -p "$PREFIX"/{state,spool,run,log}
    chown slurm:slurm "$PREFIX"/{state,spool,run,log}
    chmod 0755 "$PREFIX" "$PREFIX"/{state,spool,run,log}
    # Keep the running config if a daemon is still up; otherwise (re)write it.
    if [ "$ctld_up" = 0 ] && [ "$slurmd_up" = 0 ]; then
      write_conf
    fi

    start_munged

    if [ "$ctld_up" = 0 ]; then
      rm -f "$CTLD_PID"
      log "starting slurmctld"
      # -c: discard saved state, so a node left drained by an earlier run is not kept drained.
      run_daemon "$LOGDIR/slurmctld.start.out" slurmctld -c -f "$CONF" || fail_start "slurmctld -c -f $CONF failed"
      wait_for_pidfile "$CTLD_PID" slurmctld || fail_start "slurmctld did not come up (no live pid in $CTLD_PID)"
    fi
    if [ "$slurmd_up" = 0 ]; then
      rm -f "$SLURMD_PID"
      log "starting slurmd"
      run_daemon "$LOGDIR/slurmd.start.out" slurmd -f "$CONF" || fail_start "slurmd -f $CONF failed"
      wait_for_pidfile "$SLURMD_PID" slurmd || fail_start "slurmd did not come up (no live pid in $SLURMD_PID)"
    fi
  fi

  wait_until_ready
  log "node $NODE is $(node_state); slurmctld pid $(read_pid "$CTLD_PID"), slurmd pid $(read_pid "$SLURMD_PID")"
  echo "SLURM_CONF=$CONF" >&3
}

# ---------------------------------------------------------------- stop

# stop_daemon PIDFILE NAME [CONF]: SIGTERM, wait, SIGKILL; only if the pid is ours.
stop_daemon() {
  local pidfile=$1 name=$2 conf=${3:-} pid deadline
  pid=$(read_pid "$pidfile")
  if [ -z "$pid" ]; then
    rm -f "$pidfile"
    return 0
  fi
  if ! pid_alive "$pid" "$name" "$conf"; then
    log "$name (pid $pid from $pidfile) is not running"
    rm -f "$pidfile"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while pid_alive "$pid" "$name" "$conf"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$name (pid $pid) still running after ${STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      pid_alive "$pid" "$name" "$conf" && die "could not kill $name (pid $pid)"
      break
    fi
    sleep 0.1
  done
  rm -f "$pidfile"
}

cmd_stop() {
  set_prefix "${1:-}"
  need_root
  [ -d "$PREFIX" ] || return 0
  lock_prefix

  # Cancel the jobs of this cluster first, so that no slurmstepd/job processes
  # outlive it. They are ours: this cluster exists only for the tests.
  if daemon_up "$CTLD_PID" slurmctld "$CONF"; then
    local jobs deadline
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
      log "cancelling jobs: $(echo $jobs)"
      timeout 10 scancel --full $jobs >&2 || true
      deadline=$((SECONDS + 10))
      while [ -n "$(timeout 10 squeue -h -o %A 2>/dev/null || true)" ] && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.5
      done
    fi
  fi

  stop_daemon "$SLURMD_PID" slurmd "$CONF"
  stop_daemon "$CTLD_PID" slurmctld "$CONF"
  if [ -f "$MUNGED_PID" ]; then
    stop_daemon "$MUNGED_PID" munged
  fi
  log "cluster for $PREFIX stopped"
}

# ---------------------------------------------------------------- status

cmd_status() {
  set_prefix "${1:-}"
  [ -f "$CONF" ] || {
    log "no $CONF"
    return 1
  }
  daemon_up "$CTLD_PID" slurmctld "$CONF" || {
    log "slurmctld not running"
    return 1
  }
  daemon_up "$SLURMD_PID" slurmd "$CONF" || {
    log "slurmd not running"
    return 1
  }
  local state
  state=$(node_state)
  case "$state" in
  idle | mixed | allocated)
    log "up: node $NODE is $state"
    return 0
    ;;
  *)
    log "node $NODE is '${state:-unknown}'"
    return 1
    ;;
  esac
}

# ---------------------------------------------------------------- main

case "${1:-}" in
install)
  [ $# -eq 1 ] || usage
  cmd_install
  ;;
start | stop | status)
  [ $# -eq 2 ] || usage
  "cmd_$1" "$2"
  ;;
*) usage ;;
esac
