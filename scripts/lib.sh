# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are for the scripts that source this file
# What start.sh, stop.sh and monitor_process.sh share: where the deployment is, which binary and
# config, and how to tell a running mysql-gp-sync from a stale pid. Sourced, never run.
#
# The deployment directory (DEPLOY_DIR) holds scripts/, conf/ and var/; it is found from this
# file's own path, so the scripts work from any working directory (cron included).

SCRIPT_DIR="$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")"
DEPLOY_DIR="$(dirname -- "$SCRIPT_DIR")"
VAR_DIR="$DEPLOY_DIR/var"
PID_FILE="$VAR_DIR/mysql-gp-sync.pid"
OUT_FILE="$VAR_DIR/mysql-gp-sync.out"
LOCK_FILE="$VAR_DIR/mysql-gp-sync.lock"
STOPPED_FILE="$VAR_DIR/mysql-gp-sync.stopped"

# An operator-given relative path is relative to where they ran the command.
absolute() {
  if [[ $1 == /* ]]; then
    printf '%s\n' "$1"
  else
    printf '%s/%s\n' "$PWD" "$1"
  fi
}

if [[ -n ${MGS_BIN:-} ]]; then
  BIN="$(absolute "$MGS_BIN")"
elif [[ -x $DEPLOY_DIR/bin/mysql-gp-sync ]]; then
  BIN="$DEPLOY_DIR/bin/mysql-gp-sync"
else
  BIN="$DEPLOY_DIR/target/release/mysql-gp-sync"
fi
CONFIG="$(absolute "${MGS_CONFIG:-$DEPLOY_DIR/conf/mysql-gp-sync.toml}")"

# is_sync PID: PID is a live (not zombie) mysql-gp-sync process. Checks argv[0], so a pid
# reused by another program (even one whose arguments mention mysql-gp-sync) does not count.
is_sync() {
  local pid="$1" argv0=''
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  # A zombie or a vanished process has an empty (or no) cmdline.
  IFS= read -r -d '' argv0 2>/dev/null <"/proc/$pid/cmdline" || true
  [[ -n $argv0 ]] || return 1
  [[ ${argv0##*/} == mysql-gp-sync* || $argv0 == "$BIN" ]]
}

# The pid in the pid file, if that process is a running mysql-gp-sync.
running_pid() {
  local pid
  pid="$(tr -d '[:space:]' 2>/dev/null <"$PID_FILE")" || return 1
  is_sync "$pid" || return 1
  printf '%s\n' "$pid"
}

# config_string KEY: the value of a top-level `KEY = "..."` (or '...') line of the config,
# empty when absent. Good enough for log_file / log_level; the binary parses the real TOML.
config_string() {
  [[ -r $CONFIG ]] || return 0
  sed -n -e '/^[[:space:]]*\[/q' \
    -e "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*[\"']\\([^\"']*\\)[\"'].*/\\1/p" "$CONFIG" | tail -n 1
}

file_size() { stat -c %s -- "$1" 2>/dev/null || echo 0; }
