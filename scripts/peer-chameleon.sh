#!/usr/bin/env bash
# The benchmark's peer: pg_chameleon (PyPI pg_chameleon, MySQL/MariaDB -> PostgreSQL) replaying
# the same binlog backlog as the sync, timed from its start until ITS OWN catalog says the rows
# up to the backlog's end are in the target table.
#
#   scripts/peer-chameleon.sh install     venv + pg_chameleon (once); prints the chameleon binary
#   scripts/peer-chameleon.sh prepare     config, create_replica_schema, add_source, init_replica
#                                         of the one table into PostgreSQL schema $PEER_SCHEMA
#   scripts/peer-chameleon.sh replay FROM_FILE FROM_POS END_FILE END_POS
#                                         reset chameleon's catalog to FROM, run start_replica
#                                         until everything up to END is replayed, stop it; prints
#                                         on stdout: elapsed_secs= (chameleon's start -> END
#                                         replayed), cpu_secs= and rss_mib= (its 3 processes:
#                                         CPU, summed VmHWM), position= (chameleon's), log=, and
#                                         last status=reached, or status=died|error|stalled WHY
#                                         with exit 1
#   scripts/peer-chameleon.sh stop        stops a replica left running (after a crash)
#   scripts/peer-chameleon.sh cleanup     stop + drop chameleon's schemas in PostgreSQL and its
#                                         config (the venv stays as a cache, the logs stay)
#
# `replay` does NOT touch the target table: the caller resets $PEER_SCHEMA.$PEER_TABLE to the
# backlog's start state first (the bench COPYs its dump of MariaDB's table at FROM into it, as it
# does for the sync's table).
#
# Connection settings are those of `scripts/test-env.sh env`: MGS_MYSQL_HOST, MGS_MYSQL_PORT,
# MGS_MYSQL_ADMIN_USER, MGS_MYSQL_ADMIN_PASS (chameleon's init_replica needs FLUSH TABLES ... WITH
# READ LOCK, so the admin user), MGS_PG_HOST, MGS_PG_PORT, MGS_PG_USER, MGS_PG_PASS, MGS_PG_DB.
# Knobs:
#   MGS_BENCH_PEER_DIR=/tmp/mgs-peer   venv, the peer user's HOME (config, chameleon's files)
#   MGS_PEER_WORK=$MGS_BENCH_PEER_DIR/work   this script's files: the logs of chameleon's runs
#                       (replica.out, <step>.log), a mariadb defaults file, the pid file
#   MGS_PEER_USER       OS user chameleon runs as (it refuses root). Default: the current user;
#                       as root an account `mgs-peer` (created with useradd when missing;
#                       `postgres` when that fails)
#   MGS_PEER_DB=mgsbench, MGS_PEER_TABLE=sbtest1   the MariaDB table replicated
#   MGS_PEER_SCHEMA=peer_chameleon                 its PostgreSQL schema (chameleon's own)
#   MGS_PEER_BATCH_SIZE=10000     replica_batch_size (row events per batch read)
#   MGS_PEER_REPLAY_ROWS=10000    replay_max_rows (events per fn_replay_mysql call)
#   MGS_PEER_SLEEP=1              sleep_loop seconds (read and replay loops)
#   MGS_PEER_STALL_SECS=180       replay fails when chameleon's progress stops that long
#   MGS_PEER_POLL=0.2             seconds between two polls of chameleon's catalog
#   MGS_PEER_LOG=$MGS_PEER_WORK/replica.out   chameleon's output (debug log) during `replay`
# Passwords go only to files of mode 600 (chameleon's yml, a mariadb defaults file) and
# PGPASSWORD in the environment: never on a command line.
set -euo pipefail

CHAMELEON_VERSION=2.0.21
# Its dependencies that matter, pinned too (pg_chameleon asks only mysql-replication>=0.31):
# the binlog reader, its MySQL driver and the PostgreSQL driver it was measured with.
PINS=(mysql-replication==1.0.17 PyMySQL==1.2.4 psycopg2-binary==2.9.13)
STAMP="$CHAMELEON_VERSION ${PINS[*]}"

PEER_DIR="${MGS_BENCH_PEER_DIR:-/tmp/mgs-peer}"
VENV="$PEER_DIR/venv"
PEER_HOME="$PEER_DIR/home"
# The script's own files: chameleon's output, the mariadb client's defaults file, the pid file.
WORK="${MGS_PEER_WORK:-$PEER_DIR/work}"
CHAMELEON="$VENV/bin/chameleon"
CONF_NAME=mgsbench
SOURCE=mysql
SRC_DB="${MGS_PEER_DB:-mgsbench}"
SRC_TABLE="${MGS_PEER_TABLE:-sbtest1}"
PEER_SCHEMA="${MGS_PEER_SCHEMA:-peer_chameleon}"
BATCH_SIZE="${MGS_PEER_BATCH_SIZE:-10000}"
REPLAY_ROWS="${MGS_PEER_REPLAY_ROWS:-10000}"
SLEEP_LOOP="${MGS_PEER_SLEEP:-1}"
STALL_SECS="${MGS_PEER_STALL_SECS:-180}"
POLL="${MGS_PEER_POLL:-0.2}"
PID_FILE="$WORK/replica.pid"

log() { printf '[peer %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

need() { [[ -n ${!1:-} ]] || die "$1 is not set (eval \"\$(scripts/test-env.sh env)\")"; }

# ------------------------------------------------------------- the peer user --

peer_user() {
  if [[ -n ${MGS_PEER_USER:-} ]]; then
    echo "$MGS_PEER_USER"
  elif [[ $EUID -ne 0 ]]; then
    id -un
  elif id mgs-peer >/dev/null 2>&1; then
    echo mgs-peer
  elif useradd --system --user-group --no-create-home --home-dir "$PEER_HOME" \
    --shell /usr/sbin/nologin mgs-peer >/dev/null 2>&1; then
    log "created the OS user mgs-peer (pg_chameleon refuses to run as root)"
    echo mgs-peer
  elif id postgres >/dev/null 2>&1; then
    echo postgres
  else
    die "no unprivileged user to run pg_chameleon as: set MGS_PEER_USER"
  fi
}
PEER_USER="$(peer_user)"
[[ $(id -u "$PEER_USER") -ne 0 ]] || die "MGS_PEER_USER=$PEER_USER is root: pg_chameleon refuses root"
PEER_GROUP="$(id -gn "$PEER_USER")"

# AS_PEER: the prefix that runs a command as the peer user with HOME=$PEER_HOME (chameleon's
# config lives in ~/.pg_chameleon) and only the environment it needs; setpriv and env exec in
# place, so the command keeps the pid it is started with.
AS_PEER=(env -i HOME="$PEER_HOME" USER="$PEER_USER" LOGNAME="$PEER_USER"
  PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8 PYTHONUNBUFFERED=1)
if [[ $EUID -eq 0 ]]; then
  AS_PEER=(setpriv --reuid="$PEER_USER" --regid="$PEER_GROUP" --init-groups "${AS_PEER[@]}")
fi

# as_peer CMD...: CMD as the peer user, from a directory it can read.
as_peer() { (cd "$PEER_DIR" && exec "${AS_PEER[@]}" "$@"); }

# mine PATH...: owned by the peer user (a no-op when we are it).
mine() { [[ $EUID -ne 0 ]] || chown -R "$PEER_USER:$PEER_GROUP" "$@"; }

# ------------------------------------------------------------------ install --

cmd_install() {
  mkdir -p "$PEER_DIR"
  chmod 0755 "$PEER_DIR"
  mine "$PEER_DIR"
  if [[ -x $CHAMELEON && $(cat "$VENV/.mgs-installed" 2>/dev/null) == "$STAMP" ]]; then
    echo "$CHAMELEON"
    return 0
  fi
  # The system's python3 (pyenv's shims under /root are not readable by the peer user).
  local py=/usr/bin/python3
  [[ -x $py ]] || py="$(command -v python3)" || die "python3 is missing"
  if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
    [[ $EUID -eq 0 ]] || die "python3's venv module is missing: apt-get install python3-venv"
    log "installing python3-venv (missing)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv >/dev/null; }
  fi
  log "installing pg_chameleon==$CHAMELEON_VERSION into $VENV (as $PEER_USER)"
  rm -rf "$VENV"
  as_peer "$py" -m venv "$VENV"
  as_peer "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "pg_chameleon==$CHAMELEON_VERSION" "${PINS[@]}" >&2 ||
    die "pip install pg_chameleon==$CHAMELEON_VERSION ${PINS[*]} failed"
  echo "$STAMP" >"$VENV/.mgs-installed"
  mine "$VENV/.mgs-installed"
  echo "$CHAMELEON"
}

# ------------------------------------------------------------- the clients --

# psql on the target database; PGPASSWORD in the environment, never on the command line.
# shellcheck disable=SC2153  # MGS_PG_* come from `scripts/test-env.sh env`
pg() {
  PGPASSWORD="$MGS_PG_PASS" psql -X -q -At -v ON_ERROR_STOP=1 \
    "host=$MGS_PG_HOST port=$MGS_PG_PORT user=$MGS_PG_USER dbname=$MGS_PG_DB application_name=mgs-peer" "$@"
}

# mariadb as the admin user, its password in a defaults file of mode 600.
MY_CNF="$WORK/client.cnf"
my() {
  if [[ ! -f $MY_CNF ]]; then
    mkdir -p "$WORK"
    (
      umask 077
      printf '[client]\nhost=%s\nport=%s\nuser=%s\npassword="%s"\n' "$MGS_MYSQL_HOST" \
        "$MGS_MYSQL_PORT" "$MGS_MYSQL_ADMIN_USER" "$MGS_MYSQL_ADMIN_PASS" >"$MY_CNF"
    )
  fi
  mariadb --defaults-extra-file="$MY_CNF" --protocol=tcp -N -B "$@"
}

need_env() {
  local v
  for v in MGS_MYSQL_HOST MGS_MYSQL_PORT MGS_MYSQL_ADMIN_USER MGS_MYSQL_ADMIN_PASS \
    MGS_PG_HOST MGS_PG_PORT MGS_PG_USER MGS_PG_PASS MGS_PG_DB; do
    need "$v"
  done
}

chameleon() { as_peer "$CHAMELEON" "$@"; }

# ------------------------------------------------------------------ prepare --

# yq 'STRING': a single-quoted YAML scalar.
yq() { printf "'%s'" "${1//\'/\'\'}"; }

write_config() {
  local dir="$PEER_HOME/.pg_chameleon"
  mkdir -p "$dir/configuration" "$dir/logs" "$dir/pid" "$PEER_HOME/out" "$WORK"
  local conf="$dir/configuration/$CONF_NAME.yml"
  (
    umask 077
    cat >"$conf" <<EOF
---
# Written by scripts/peer-chameleon.sh (mysql-gp-sync's benchmark peer).
pid_dir: $(yq "$dir/pid/")
log_dir: $(yq "$dir/logs/")
log_dest: stdout
log_level: info
log_days_keep: 1
rollbar_key: ''
rollbar_env: ''
type_override:
  "tinyint(1)":
    override_to: boolean
    override_tables:
      - "*"
pg_conn:
  host: $(yq "$MGS_PG_HOST")
  port: $(yq "$MGS_PG_PORT")
  user: $(yq "$MGS_PG_USER")
  password: $(yq "$MGS_PG_PASS")
  database: $(yq "$MGS_PG_DB")
  charset: 'utf8'
sources:
  $SOURCE:
    db_conn:
      host: $(yq "$MGS_MYSQL_HOST")
      port: $(yq "$MGS_MYSQL_PORT")
      user: $(yq "$MGS_MYSQL_ADMIN_USER")
      password: $(yq "$MGS_MYSQL_ADMIN_PASS")
      # Also a Python codec name for its copy files: 'utf8mb4' fails (LookupError).
      charset: 'utf8'
      connect_timeout: 10
    schema_mappings:
      $SRC_DB: $PEER_SCHEMA
    limit_tables:
      - $SRC_DB.$SRC_TABLE
    skip_tables: []
    grant_select_to: []
    lock_timeout: "120s"
    my_server_id: 4343
    replica_batch_size: $BATCH_SIZE
    replay_max_rows: $REPLAY_ROWS
    batch_retention: '1 day'
    copy_max_memory: "300M"
    copy_mode: 'file'
    out_dir: $(yq "$PEER_HOME/out")
    sleep_loop: $SLEEP_LOOP
    on_error_replay: exit
    on_error_read: exit
    auto_maintenance: "disabled"
    gtid_enable: false
    type: mysql
    skip_events:
      insert: []
      delete: []
      update: []
    keep_existing_schema: No
    net_read_timeout: 600
EOF
  )
  mine "$PEER_HOME"
  chmod 0700 "$PEER_HOME" "$dir"
}

cmd_prepare() {
  need_env
  cmd_install >/dev/null
  cmd_stop
  write_config
  # From scratch: a catalog or schema of an earlier run (other table, other server) would
  # make add_source / init_replica refuse or keep stale state.
  pg -c "SET client_min_messages = warning" \
    -c "DROP SCHEMA IF EXISTS sch_chameleon CASCADE" -c "DROP SCHEMA IF EXISTS \"$PEER_SCHEMA\" CASCADE" \
    -c "DROP SCHEMA IF EXISTS \"_${PEER_SCHEMA}_tmp\" CASCADE"
  # chameleon exits 0 on most of its errors: each step is checked in its catalog afterwards.
  local step
  for step in create_replica_schema add_source init_replica; do
    log "chameleon $step"
    local args=(--config "$CONF_NAME" --debug)
    # With a --source, every command but add_source first looks the source up in the catalog.
    [[ $step == create_replica_schema ]] || args+=(--source "$SOURCE")
    chameleon "$step" "${args[@]}" >"$WORK/$step.log" 2>&1 ||
      { tail -20 "$WORK/$step.log" >&2; die "chameleon $step failed (log: $WORK/$step.log)"; }
  done
  local n
  n="$(pg -c "SELECT count(*) FROM sch_chameleon.t_replica_tables WHERE v_schema_name = '$PEER_SCHEMA' AND v_table_name = '$SRC_TABLE' AND b_replica_enabled")"
  [[ $n == 1 ]] || { tail -20 "$WORK/init_replica.log" >&2; die "init_replica did not register $PEER_SCHEMA.$SRC_TABLE (log: $WORK/init_replica.log)"; }
  log "prepared: $SRC_DB.$SRC_TABLE -> $PEER_SCHEMA.$SRC_TABLE ($(pg -c "SELECT count(*) FROM \"$PEER_SCHEMA\".\"$SRC_TABLE\"") rows copied)"
}

# ------------------------------------------------------------------- replay --

# file_index NAME: the numeric suffix of a binlog name (mysql-bin.000012 -> 12).
file_index() { echo $((10#${1##*.})); }

# before F1 P1 F2 P2: (F1, P1) is before (F2, P2) in the binlog.
before() {
  local a b
  a="$(file_index "$1")" b="$(file_index "$3")"
  ((a < b || (a == b && $2 < $4)))
}

# The position everything before which chameleon has replayed into the target table: the start
# of its oldest batch not yet applied. chameleon keeps one row per batch in
# sch_chameleon.t_replica_batch, (t_binlog_name, i_binlog_position) = where reading that batch
# started (the end of the previous one); the reader sets b_processed when the batch's row images
# are all in t_log_replica_<source>_N, and fn_replay_mysql sets b_replayed when it has run all
# of them against the target table (it deletes them from the log table as it goes). A processed
# batch with no event at all (closed by a rotate or an empty read) never gets b_replayed: it
# counts as applied when neither t_batch_events nor the log table holds anything of it.
# Prints: binlog|position|status|progress|errors|tables_disabled|discarded
POLL_SQL="
WITH src AS (SELECT i_id_source, enm_status FROM sch_chameleon.t_sources WHERE t_source = '$SOURCE'),
pending AS (
  SELECT b.t_binlog_name, b.i_binlog_position
  FROM sch_chameleon.t_replica_batch b, src
  WHERE b.i_id_source = src.i_id_source AND NOT b.b_replayed
    AND NOT (b.b_processed
      AND NOT EXISTS (SELECT 1 FROM sch_chameleon.t_batch_events e WHERE e.i_id_batch = b.i_id_batch)
      AND NOT EXISTS (SELECT 1 FROM sch_chameleon.t_log_replica l WHERE l.i_id_batch = b.i_id_batch))
  ORDER BY b.i_id_batch LIMIT 1)
SELECT coalesce(p.t_binlog_name, ''), coalesce(p.i_binlog_position, 0), src.enm_status,
  (SELECT coalesce(max(i_id_batch), 0) || ':' || coalesce(sum(i_replayed), 0)
     FROM sch_chameleon.t_replica_batch b WHERE b.i_id_source = src.i_id_source),
  (SELECT count(*) FROM sch_chameleon.t_error_log e WHERE e.i_id_source = src.i_id_source),
  (SELECT count(*) FROM sch_chameleon.t_replica_tables t
     WHERE t.i_id_source = src.i_id_source AND NOT t.b_replica_enabled),
  (SELECT count(*) FROM sch_chameleon.t_discarded_rows)
FROM src LEFT JOIN pending p ON true"

# caught_up FILE POS END_FILE END_POS: nothing of the table lies between chameleon's position
# and the end. chameleon's position is the end of the last ROW event it read (the Xid / COMMIT
# after it is not an event it stores), so it stays short of END_POS by the transaction's
# trailing events. Asks MariaDB for the events in between (few, by then): caught up when none is
# a Table_map of the replicated table.
caught_up() {
  local f="$1" p="$2" ef="$3" ep="$4"
  before "$f" "$p" "$ef" "$ep" || return 0 # at or past the end
  [[ $f == "$ef" ]] && ((ep - p < 65536)) || return 1
  local events
  events="$(my -e "SHOW BINLOG EVENTS IN '$f' FROM $p LIMIT 200")" || return 1
  local _log _pos type _sid end info
  while IFS=$'\t' read -r _log _pos type _sid end info; do
    ((end <= ep)) || return 0
    if [[ $type == Table_map && $info == *"($SRC_DB.$SRC_TABLE)"* ]]; then
      return 1
    fi
    ((end < ep)) || return 0
  done <<<"$events"
  return 1 # END not within those events
}

# Every process of chameleon's tree: the start_replica process and its read/replay children.
tree_pids() {
  local pids=("$1") i=0 p kids
  while ((i < ${#pids[@]})); do
    p="${pids[i]}"
    kids="$(cat /proc/"$p"/task/*/children 2>/dev/null || true)"
    for k in $kids; do pids+=("$k"); done
    i=$((i + 1))
  done
  echo "${pids[@]}"
}

# usage PID: "CPU_SECONDS PEAK_RSS_MIB" of the tree (CPU: utime+stime of the live processes
# plus what the root has reaped; RSS: the sum of the processes' VmHWM, shared pages counted in
# each).
usage() {
  local hz ticks=0 kib=0 p f h a
  hz="$(getconf CLK_TCK)"
  for p in $(tree_pids "$1"); do
    # A process may be gone (or a zombie without VmHWM) by the time it is read.
    f="$(sed 's/^.*) //' /proc/"$p"/stat 2>/dev/null)" || continue
    read -r -a a <<<"$f"
    ((${#a[@]} > 14)) || continue
    # a[0] is field 3 (state): utime=14 stime=15 cutime=16 cstime=17 -> a[11..14]
    ticks=$((ticks + a[11] + a[12]))
    [[ $p != "$1" ]] || ticks=$((ticks + a[13] + a[14]))
    h="$(awk '/^VmHWM:/ {print $2}' /proc/"$p"/status 2>/dev/null)" || h=0
    kib=$((kib + ${h:-0}))
  done
  awk -v t="$ticks" -v hz="$hz" -v k="$kib" 'BEGIN { printf "%.2f %.1f\n", t / hz, k / 1024 }'
}

# alive PID: running (an exited child of ours stays a zombie until waited for).
alive() {
  local st
  st="$(sed 's/^.*) //' /proc/"$1"/stat 2>/dev/null)" || return 1
  [[ -n $st && ${st:0:1} != Z ]]
}

stop_pid() {
  local pid="$1" i
  kill -INT "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    alive "$pid" || return 0
    sleep 0.1
  done
  log "chameleon $pid did not stop on SIGINT within 10 s: SIGKILL"
  local p
  for p in $(tree_pids "$pid"); do kill -KILL "$p" 2>/dev/null || true; done
}

cmd_replay() {
  (($# == 4)) || die "usage: $0 replay FROM_FILE FROM_POS END_FILE END_POS"
  local from_file="$1" from_pos="$2" end_file="$3" end_pos="$4"
  need_env
  [[ -x $CHAMELEON ]] || die "pg_chameleon is not installed: $0 install"
  [[ -f $PEER_HOME/.pg_chameleon/configuration/$CONF_NAME.yml ]] || die "not prepared: $0 prepare"
  cmd_stop
  write_config # the knobs of this run
  # chameleon's state back to "nothing read": no batches (their log rows and event lists go
  # with them, ON DELETE CASCADE), no errors, the table consistent (a table's own binlog
  # position from init_replica would make the reader drop every event before it), the source
  # stopped; then one batch to start reading at FROM, as init_replica's save_master_status
  # leaves it.
  pg <<SQL
BEGIN;
DELETE FROM sch_chameleon.t_replica_batch
  WHERE i_id_source = (SELECT i_id_source FROM sch_chameleon.t_sources WHERE t_source = '$SOURCE');
DELETE FROM sch_chameleon.t_error_log;
DELETE FROM sch_chameleon.t_discarded_rows;
UPDATE sch_chameleon.t_replica_tables SET t_binlog_name = NULL, i_binlog_position = NULL, b_replica_enabled = true
  WHERE i_id_source = (SELECT i_id_source FROM sch_chameleon.t_sources WHERE t_source = '$SOURCE');
UPDATE sch_chameleon.t_sources
  SET enm_status = 'stopped', b_consistent = true, t_binlog_name = NULL, i_binlog_position = NULL,
      b_paused = false, b_maintenance = false
  WHERE t_source = '$SOURCE';
INSERT INTO sch_chameleon.t_replica_batch (i_id_source, t_binlog_name, i_binlog_position, v_log_table)
  SELECT i_id_source, '$from_file', $from_pos, v_log_table[1]
  FROM sch_chameleon.t_sources WHERE t_source = '$SOURCE';
COMMIT;
SQL
  local n
  n="$(pg -c "SELECT count(*) FROM sch_chameleon.t_log_replica")"
  [[ $n == 0 ]] || die "chameleon's log tables still hold $n rows after the reset"
  # Every run starts from settled tables (the previous run left its log rows dead), as the
  # sync's runs do.
  pg -c "VACUUM (ANALYZE) sch_chameleon.t_log_replica_${SOURCE}_1, sch_chameleon.t_log_replica_${SOURCE}_2,
    sch_chameleon.t_replica_batch, sch_chameleon.t_batch_events" -c "CHECKPOINT"

  local out="${MGS_PEER_LOG:-$WORK/replica.out}"
  log "chameleon start_replica from $from_file:$from_pos until $end_file:$end_pos (log: $out)"
  local t0=$EPOCHREALTIME
  # --debug: runs in the foreground (no daemonize), logging to stdout; SIGINT stops it cleanly.
  # exec all the way down: $! is chameleon's own pid, which SIGINT stops cleanly (it sets its
  # own handler, so the SIGINT a background job inherits ignored does not matter).
  (cd "$PEER_DIR" && exec "${AS_PEER[@]}" "$CHAMELEON" start_replica --config "$CONF_NAME" \
    --source "$SOURCE" --debug >"$out" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  # Whatever ends this script (an error, a signal) stops chameleon with it.
  REPLICA_PID=$pid
  trap 'stop_pid "$REPLICA_PID"; rm -f "$PID_FILE"' EXIT

  local row f p status progress errors disabled discarded last="" since=$EPOCHREALTIME result="" why=""
  while :; do
    if ! alive "$pid"; then
      result=died why="chameleon exited before reaching $end_file:$end_pos (at ${f:-?}:${p:-?})"
      break
    fi
    row="$(pg -F '|' -c "$POLL_SQL" 2>/dev/null)" || row=""
    if [[ -n $row ]]; then
      IFS='|' read -r f p status progress errors disabled discarded <<<"$row"
      if ((errors > 0 || disabled > 0 || discarded > 0)); then
        result=error why="chameleon logged $errors replay error(s), disabled $disabled table(s), discarded $discarded row(s)"
        why+="$(pg -c "SELECT ': ' || t_error_message FROM sch_chameleon.t_error_log ORDER BY i_id_log LIMIT 1" |
          tr '\n' ' ' || true)"
        break
      fi
      if [[ $status == error ]]; then
        result=error why="chameleon's source status is 'error'"
        break
      fi
      if [[ -n $f ]] && caught_up "$f" "$p" "$end_file" "$end_pos"; then
        result=reached
        break
      fi
      if [[ "$f:$p:$progress" != "$last" ]]; then
        last="$f:$p:$progress" since=$EPOCHREALTIME
      fi
    fi
    if awk -v a="$EPOCHREALTIME" -v b="$since" -v s="$STALL_SECS" 'BEGIN { exit !(a - b > s) }'; then
      result=stalled why="no progress for $STALL_SECS s (at $f:$p, batches $progress)"
      break
    fi
    sleep "$POLL"
  done
  local t1=$EPOCHREALTIME
  local cpu_rss
  cpu_rss="$(usage "$pid")"
  stop_pid "$pid"
  wait "$pid" 2>/dev/null || true
  trap - EXIT
  rm -f "$PID_FILE"
  local secs
  secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
  echo "elapsed_secs=$secs"
  echo "cpu_secs=${cpu_rss% *}"
  echo "rss_mib=${cpu_rss#* }"
  echo "position=$f:$p"
  echo "log=$out"
  if [[ $result == reached ]]; then
    echo "status=reached"
    log "replayed up to $end_file:$end_pos in $secs s (chameleon at $f:$p; CPU ${cpu_rss% *} s)"
  else
    echo "status=$result $why"
    tail -15 "$out" >&2
    log "FAILED: $why"
    return 1
  fi
}

# --------------------------------------------------------------- stop, cleanup --

cmd_stop() {
  if [[ -f $PID_FILE ]]; then
    local pid
    pid="$(cat "$PID_FILE")"
    if alive "$pid"; then
      log "stopping chameleon (pid $pid)"
      stop_pid "$pid"
    fi
    rm -f "$PID_FILE"
  fi
}

cmd_cleanup() {
  cmd_stop
  if [[ -n ${MGS_PG_HOST:-} && -n ${MGS_PG_PASS:-} ]]; then
    pg -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS sch_chameleon CASCADE" \
      -c "DROP SCHEMA IF EXISTS \"$PEER_SCHEMA\" CASCADE" || log "could not drop chameleon's schemas"
  fi
  rm -rf "$PEER_HOME"
  rm -f "$MY_CNF" "$PID_FILE"
}

case "${1:-}" in
  install) cmd_install ;;
  prepare) cmd_prepare ;;
  replay)
    shift
    cmd_replay "$@"
    ;;
  stop) cmd_stop ;;
  cleanup) cmd_cleanup ;;
  *)
    echo "usage: $0 install | prepare | replay FROM_FILE FROM_POS END_FILE END_POS | stop | cleanup" >&2
    exit 2
    ;;
esac
