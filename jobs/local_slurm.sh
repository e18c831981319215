#!/usr/bin/env bash
# A real single-node Slurm cluster (munge + slurmctld + slurmd) for tests and
# for trying the sbatch path on one machine, without systemd (cluster.md §5).
#
#   jobs/local_slurm.sh start [STATE_DIR]   start (idempotent); prints the state dir
#   jobs/local_slurm.sh stop  [STATE_DIR]   cancel jobs, stop the daemons we started
#   jobs/local_slurm.sh status [STATE_DIR]
#
# The node advertises max(4, cores) CPUs so a 4-rank matrix fits on a 2-core
# machine (SlurmdParameters=config_overrides). Needs root and Debian's
# slurmctld, slurmd, slurm-client and munge (scripts/setup installs them).
set -euo pipefail

cmd=${1:-status}
D=${2:-/tmp/dfer-slurm}
conf=/etc/slurm/slurm.conf

alive() { # a PID that exists and is not a zombie
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -n "$s" ] && [ "${s:0:1}" != "Z" ]
}

pid_of() { [ -s "$1" ] && cat "$1" || echo 0; }

# Whether /etc/slurm/slurm.conf is absent or one this script wrote: a machine's own Slurm configuration is never
# replaced, and its jobs never cancelled (start exits 3 there; the tests skip).
conf_marker="# written by dfer jobs/local_slurm.sh"
ours_conf() { [ ! -e "$conf" ] || [ "$(head -n 1 "$conf" 2>/dev/null)" = "$conf_marker" ]; }

write_conf() {
  local hw cpus sockets cores threads mem
  hw=$(slurmd -C | head -n1)
  sockets=$(sed -n 's/.*SocketsPerBoard=\([0-9]*\).*/\1/p' <<<"$hw")
  cores=$(sed -n 's/.*CoresPerSocket=\([0-9]*\).*/\1/p' <<<"$hw")
  threads=$(sed -n 's/.*ThreadsPerCore=\([0-9]*\).*/\1/p' <<<"$hw")
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  cpus=$((sockets * cores * threads))
  [ "$cpus" -lt 4 ] && cpus=4
  mkdir -p /etc/slurm "$D/state" "$D/spool"
  cat >"$conf.tmp" <<EOF
$conf_marker
ClusterName=dfer-local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
KillWait=5
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$((mem * 9 / 10)) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$conf.tmp" "$conf"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi # reuse a working munged
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged </dev/null
  touch "$D/munged.ours"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "local_slurm: munged did not start" >&2
  return 1
}

start() {
  if ! ours_conf; then
    echo "local_slurm: $conf is this machine's own Slurm configuration (its first line is not \"$conf_marker\"):" \
      "not replaced; the local test cluster needs a machine without a Slurm of its own" >&2
    return 3
  fi
  mkdir -p "$D"
  if alive "$(pid_of "$D/slurmctld.pid")" && alive "$(pid_of "$D/slurmd.pid")"; then
    echo "$D"
    return 0
  fi
  write_conf
  start_munge
  alive "$(pid_of "$D/slurmctld.pid")" || slurmctld -c </dev/null >>"$D/slurmctld.out" 2>&1
  alive "$(pid_of "$D/slurmd.pid")" || slurmd -N localhost </dev/null >>"$D/slurmd.out" 2>&1
  for _ in $(seq 100); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    case "$state" in idle|mixed|allocated) echo "$D"; return 0 ;; esac
    sleep 0.2
  done
  echo "local_slurm: node did not become idle (state '${state:-?}'); see $D/slurmctld.log and $D/slurmd.log" >&2
  return 1
}

stop_pid() { # TERM, wait up to 15 s, then KILL
  local pid=$1
  [ "$pid" -gt 0 ] 2>/dev/null || return 0
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  ours_conf || return 0 # another Slurm's jobs and daemons are none of ours
  if [ -f "$conf" ] && squeue -h >/dev/null 2>&1; then
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    [ -n "$jobs" ] && scancel $jobs 2>/dev/null || true
    for _ in $(seq 100); do [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  stop_pid "$(pid_of "$D/slurmd.pid")"
  stop_pid "$(pid_of "$D/slurmctld.pid")"
  if [ -f "$D/munged.ours" ]; then
    stop_pid "$(pid_of /run/munge/munged.pid)"
    rm -f "$D/munged.ours"
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) sinfo 2>/dev/null || { echo "local_slurm: not running"; exit 1; } ;;
  *) echo "usage: $0 start|stop|status [STATE_DIR]" >&2; exit 2 ;;
esac
