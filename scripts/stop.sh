#!/usr/bin/env bash
# Stops the mysql-gp-sync started by scripts/start.sh, as the Go tool's stop.sh did.
#
#   scripts/stop.sh
#
# Sends SIGTERM to the pid in var/mysql-gp-sync.pid: the sync stops reading, lets the batches
# in flight commit, writes var/master.info (its data_dir) and exits. stop.sh waits for that
# (at most MGS_STOP_TIMEOUT seconds, default 60); after that it says it is forcing a stop and
# sends SIGKILL (safe: the sync then replays from the last saved position on the next start).
#
# A stale pid file (the process is gone, or its pid now belongs to another program) is
# removed with a message. Exit status: 0 when the sync is not running any more; 1 when it
# could not be stopped.
#
# stop.sh also writes var/mysql-gp-sync.stopped: while that file exists monitor_process.sh
# leaves the sync stopped (a stop by hand is not a crash). start.sh removes it.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"

say() { printf 'stop.sh: %s\n' "$*"; }
warn() { printf 'stop.sh: %s\n' "$*" >&2; }
die() {
  warn "$*"
  exit 1
}

STOP_TIMEOUT="${MGS_STOP_TIMEOUT:-60}"
[[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "MGS_STOP_TIMEOUT must be a number of seconds, not '$STOP_TIMEOUT'"


# wait_gone PID SECONDS: true once PID is no longer a running mysql-gp-sync.
wait_gone() {
  local pid="$1" tick
  for ((tick = 0; tick < $2 * 4; tick++)); do
    is_sync "$pid" || return 0
    sleep 0.25
  done
  ! is_sync "$pid"
}

mkdir -p -- "$VAR_DIR"
exec 9>>"$LOCK_FILE"
flock -w 120 9 || die "another start.sh/stop.sh/monitor_process.sh has held $LOCK_FILE for 120 s; try again"

printf 'stopped by stop.sh at %s; start.sh removes this file\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" >"$STOPPED_FILE"

if [[ ! -e $PID_FILE ]]; then
  say "mysql-gp-sync is not running (no pid file $PID_FILE)"
  exit 0
fi
pid="$(tr -d '[:space:]' <"$PID_FILE")"
if ! is_sync "$pid"; then
  cmd=''
  if [[ $pid =~ ^[1-9][0-9]*$ ]]; then
    # Empty for a process that has exited (also a zombie not yet reaped by its parent).
    cmd="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | cut -c 1-80 | sed 's/ *$//' || true)"
  fi
  if [[ -n $cmd ]]; then
    why="pid $pid now belongs to another program: $cmd"
  elif [[ -n $pid ]]; then
    why="process $pid is gone"
  else
    why="it is empty"
  fi
  say "removing stale pid file $PID_FILE: $why; mysql-gp-sync is not running"
  rm -f -- "$PID_FILE"
  exit 0
fi

LOG_FILE="$(config_string log_file)"
LOG_FILE="${LOG_FILE:-sync.log}"
[[ $LOG_FILE == /* ]] || LOG_FILE="$DEPLOY_DIR/$LOG_FILE"
log_before="$(file_size "$LOG_FILE")"

say "stopping mysql-gp-sync (pid $pid): SIGTERM, waiting up to $STOP_TIMEOUT s for in-flight batches to commit"
kill -TERM "$pid" 2>/dev/null || true
if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
  warn "mysql-gp-sync (pid $pid) did not exit within $STOP_TIMEOUT s of SIGTERM; forcing a stop (SIGKILL)"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "mysql-gp-sync (pid $pid) is still there 10 s after SIGKILL; pid file kept"
  rm -f -- "$PID_FILE"
  warn "killed; the next start replays from the position last saved in master.info (safe: writes are idempotent)"
  exit 0
fi
rm -f -- "$PID_FILE"

stopped_line=''
if [[ -f $LOG_FILE ]] && (($(file_size "$LOG_FILE") >= log_before)); then
  stopped_line="$(grep -m 1 -E 'stopped cleanly at ' < <(tail -c +"$((log_before + 1))" -- "$LOG_FILE") || true)"
fi
if [[ -n $stopped_line ]]; then
  say "mysql-gp-sync stopped (pid $pid)"
  printf '%s\n' "$stopped_line"
else
  say "mysql-gp-sync (pid $pid) exited, but $LOG_FILE has no \"stopped cleanly\" line; see its last lines"
fi
