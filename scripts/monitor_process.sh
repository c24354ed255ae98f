#!/usr/bin/env bash
# Restarts mysql-gp-sync when it is not running; meant for cron, every minute:
#
#   * * * * * /opt/mysql-gp-sync/scripts/monitor_process.sh
#
# (crontab -e as the user that runs the sync; replace /opt/mysql-gp-sync by the deployment
# directory. Without a mail setup, append `>>/opt/mysql-gp-sync/var/monitor.out 2>&1`.)
#
# Safe with cron's bare environment (PATH=/usr/bin:/bin, no HOME) and from any working
# directory: every path is derived from this script's own location.
#
# - The sync is running (var/mysql-gp-sync.pid names a live mysql-gp-sync): does nothing and
#   prints nothing, so cron sends no mail.
# - It was stopped on purpose with stop.sh (var/mysql-gp-sync.stopped exists): does nothing.
# - Otherwise (it crashed, was killed, the machine rebooted): runs start.sh and appends
#     <ISO time>  WARN monitor_process.sh: mysql-gp-sync was not running; restarted (pid N)
#   to sync.log (with "; its last run ended with: Error: ..." when the previous run left an
#   error in var/mysql-gp-sync.out; an ERROR line if the restart failed), and prints what
#   start.sh said.
#
# flock on var/mysql-gp-sync.lock (the lock start.sh and stop.sh take too) makes overlapping
# runs harmless: a run that finds the lock taken exits at once, silently.
#
# Knobs: MGS_BIN, MGS_CONFIG, MGS_START_TIMEOUT as for start.sh.
set -euo pipefail

export PATH="${PATH:-/usr/bin:/bin}"

# shellcheck source=scripts/lib.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"

# Cheap check first: the common case (running) takes no lock and writes nothing.
if running_pid >/dev/null; then
  exit 0
fi

mkdir -p -- "$VAR_DIR"
exec 9>>"$LOCK_FILE"
# Another monitor run, start.sh or stop.sh is at work: leave it to them.
flock -n 9 || exit 0
if [[ -e $STOPPED_FILE ]] || running_pid >/dev/null; then
  exit 0
fi

LOG_FILE="$(config_string log_file)"
LOG_FILE="${LOG_FILE:-sync.log}"
[[ $LOG_FILE == /* ]] || LOG_FILE="$DEPLOY_DIR/$LOG_FILE"
mkdir -p -- "$(dirname -- "$LOG_FILE")"

# Same layout as the sync's own lines: "<UTC time, microseconds>Z  WARN <message>".
# Also printed, so that cron mails it.
log_line() {
  local line
  line="$(printf '%s %5s %s' "$(date -u '+%Y-%m-%dT%H:%M:%S.%6NZ')" "$1" "$2")"
  printf '%s\n' "$line" >>"$LOG_FILE"
  printf '%s\n' "$line"
}

# Why the last run ended: its `Error: ...` (or panic) line, among the last lines it wrote to
# var/mysql-gp-sync.out after start.sh's "=== ... start.sh:" separator. None after kill -9/OOM.
# (The binary does not put its fatal error into sync.log itself, so this is the place.)
last_error="$({ tail -n 50 -- "$OUT_FILE" 2>/dev/null || true; } |
  awk '/^=== .* start\.sh: /{e=""; next} /^Error:|panicked at /{e=$0} END{print e}')"
ended=''
if [[ -n $last_error ]]; then
  ended="; its last run ended with: $last_error"
fi

rc=0
# start.sh inherits fd 9 and with it this run's lock (MGS_LOCK_HELD: do not lock again).
out="$(MGS_LOCK_HELD=1 "$SCRIPT_DIR/start.sh" 2>&1)" || rc=$?
if ((rc == 0)) && pid="$(running_pid)"; then
  printf '%s\n' "$out"
  log_line WARN "monitor_process.sh: mysql-gp-sync was not running; restarted (pid $pid)$ended"
  exit 0
fi
reason="$(printf '%s\n' "$out" | grep -m 1 '^Error:' || true)"
reason="${reason:-$(printf '%s\n' "$out" | tail -n 1)}"
log_line ERROR "monitor_process.sh: mysql-gp-sync was not running; restart failed (start.sh exit status $rc): $reason$ended"
printf '%s\n' "$out" >&2
exit 1
