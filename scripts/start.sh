#!/usr/bin/env bash
# Starts mysql-gp-sync in the background, as the Go tool's start.sh did.
#
#   scripts/start.sh
#
# The deployment directory (DEPLOY_DIR) is the directory holding scripts/, conf/ and var/;
# it is found from this script's own path, so this works from any working directory.
# The sync runs with DEPLOY_DIR as its working directory (so sync.log and a relative
# data_dir = "var" land there); its stdout/stderr are appended to var/mysql-gp-sync.out;
# its pid is kept in var/mysql-gp-sync.pid.
#
# Exit status: 0 when the sync is up (alive for 2 s and its "started:" line is in the log),
# or was already running; 1 when it could not be started (the reason is printed: the last
# lines of var/mysql-gp-sync.out, which carry the binary's one-line `Error: ...`).
#
# Knobs (environment):
#   MGS_BIN            the binary (default DEPLOY_DIR/bin/mysql-gp-sync when present,
#                      else DEPLOY_DIR/target/release/mysql-gp-sync)
#   MGS_CONFIG         the config (default DEPLOY_DIR/conf/mysql-gp-sync.toml)
#   MGS_START_TIMEOUT  seconds to wait for the "started:" line (default 60); if the process
#                      is still alive but has not logged it by then, start.sh says so and
#                      exits 0 (it is running, maybe still connecting or loading tables)
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"
MIN_ALIVE=2

say() { printf 'start.sh: %s\n' "$*"; }
die() {
  printf 'start.sh: %s\n' "$*" >&2
  exit 1
}

START_TIMEOUT="${MGS_START_TIMEOUT:-60}"
[[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "MGS_START_TIMEOUT must be a number of seconds, not '$START_TIMEOUT'"


# The part of FILE after byte offset OFFSET (all of it if the file shrank: truncated/rotated).
since() {
  local file="$1" offset="$2"
  [[ -f $file ]] || return 0
  if (($(file_size "$file") < offset)); then
    offset=0
  fi
  tail -c +"$((offset + 1))" -- "$file"
}

# child_alive PID: our child is running (a dead, not yet reaped child is a zombie: "Z").
child_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ ${stat%% *} != Z ]]
}

mkdir -p -- "$VAR_DIR"

# One start/stop at a time (monitor_process.sh already holds the lock when it calls us).
if [[ ${MGS_LOCK_HELD:-} != 1 ]]; then
  exec 9>>"$LOCK_FILE"
  flock -w 120 9 || die "another start.sh/stop.sh/monitor_process.sh has held $LOCK_FILE for 120 s; try again"
fi
unset MGS_LOCK_HELD

# Starting by hand means "keep it running": monitor_process.sh may restart it again.
rm -f -- "$STOPPED_FILE"

if pid="$(running_pid)"; then
  say "mysql-gp-sync is already running (pid $pid); not starting a second copy"
  exit 0
fi
if [[ -e $PID_FILE ]]; then
  say "removing stale pid file $PID_FILE (pid $(tr -d '[:space:]' <"$PID_FILE") is not a running mysql-gp-sync)"
  rm -f -- "$PID_FILE"
fi

[[ -x $BIN ]] || die "binary $BIN not found or not executable: build it (cargo build --release), copy it to $DEPLOY_DIR/bin/, or set MGS_BIN"

LOG_FILE="$(config_string log_file)"
LOG_FILE="${LOG_FILE:-sync.log}"
[[ $LOG_FILE == /* ]] || LOG_FILE="$DEPLOY_DIR/$LOG_FILE"
LOG_LEVEL="$(config_string log_level)"
# The "started:" line is logged at INFO: with a quieter level there is nothing to wait for.
need_started_line=1
case "${LOG_LEVEL:-info}" in
  off | error | warn) need_started_line=0 ;;
esac

log_before="$(file_size "$LOG_FILE")"
out_before="$(file_size "$OUT_FILE")"

cd -- "$DEPLOY_DIR"
printf '=== %s start.sh: %s --config %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$BIN" "$CONFIG" >>"$OUT_FILE"
# setsid: own session, no controlling terminal (a closing ssh session or a Ctrl-C in it
# does not reach the sync); nohup: ignore SIGHUP anyway. fd 9 (the lock) is not inherited,
# so the sync does not keep start.sh's lock held. NO_COLOR: plain text in the .out file.
NO_COLOR=1 nohup setsid "$BIN" --config "$CONFIG" </dev/null >>"$OUT_FILE" 2>&1 9>&- &
pid=$!
printf '%s\n' "$pid" >"$PID_FILE.tmp"
mv -f -- "$PID_FILE.tmp" "$PID_FILE"

started_line=''
for ((tick = 0; ; tick++)); do
  if ! child_alive "$pid"; then
    rc=0
    wait "$pid" || rc=$?
    rm -f -- "$PID_FILE"
    {
      printf 'start.sh: mysql-gp-sync exited with status %s during start-up; last lines of %s:\n' "$rc" "$OUT_FILE"
      since "$OUT_FILE" "$out_before" | { grep -v '^=== .* start\.sh: ' || true; } | tail -n 20
    } >&2
    exit 1
  fi
  if ((tick >= MIN_ALIVE * 4)); then
    if ((need_started_line)); then
      started_line="$(grep -m 1 -E 'mysql-gp-sync [^ ]+ started: ' < <(since "$LOG_FILE" "$log_before") || true)"
    fi
    if [[ -n $started_line ]] || ! ((need_started_line)); then
      break
    fi
    if ((tick >= START_TIMEOUT * 4)); then
      printf 'start.sh: mysql-gp-sync (pid %s) is running but has not logged its "started:" line within %s s (still connecting or loading tables?); watch %s\n' \
        "$pid" "$START_TIMEOUT" "$LOG_FILE" >&2
      exit 0
    fi
  fi
  sleep 0.25
done

say "mysql-gp-sync started (pid $pid); log: $LOG_FILE"
if [[ -n $started_line ]]; then
  printf '%s\n' "$started_line"
fi
