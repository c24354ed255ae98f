#!/usr/bin/env bash
# Throughput, memory and lag benchmark of mysql-gp-sync against real servers.
#
#   scripts/bench.sh
#
# Starts its OWN MariaDB + PostgreSQL (scripts/test-env.sh on ports 33406 / 55532 in
# /tmp/mgs-bench-env, so the test suite's servers on the default ports are left alone), builds
# the sync and examples/mgs-bench.rs, then:
#   1. COPY ceiling: one tokio-postgres COPY (text) of ROWS sysbench-shaped rows
#      (id int PRIMARY KEY, k int, c char(120), pad char(60)) into an empty table, after a
#      CHECKPOINT -> rows/s.
#   1b. Initial load: MariaDB table sbinit with ROWS sysbench-shaped rows; for every INIT_CONFIG
#      and run: drop the PostgreSQL table, `mysql-gp-sync init --no-follow --truncate`
#      (create_missing_tables = true) under /usr/bin/time: wall time, the rows/s it logs, peak
#      RSS, CPU of it / PostgreSQL / MariaDB; count + checksum and master.info checked.
#   2. Two binlog backlogs, each written ONCE while no sync runs:
#      A: ROWS inserts, INSERT ... SELECT from the Sequence engine, CHUNK rows per statement;
#      B: CHANGES single-row autocommit transactions on the ROWS rows A left: 25 % INSERT,
#         25 % UPDATE k, 25 % UPDATE c, 25 % DELETE (8 connections; every statement changes
#         exactly one row). PostgreSQL's state at B's start comes from a dump of MariaDB.
#   3. For every config and run: reset the PostgreSQL table to the backlog's start, write
#      master.info at the start position, start the sync and time it until master.info reaches
#      the end position; check count + checksum against MariaDB's at that end; peak RSS
#      (VmHWM just before SIGTERM) and CPU used by the sync, PostgreSQL and MariaDB.
#   4. Steady load: sysbench oltp_write_only (STEADY_THREADS threads, STEADY_SECS s) with the
#      sync running; a probe inserts (id, UTC_TIMESTAMP(6)) every 50 ms and another task polls
#      PostgreSQL every 10 ms: lag = arrival - MariaDB timestamp, p50 / p99.
# Prints a table (and one for init): median (min-max) over the runs; throughputs also as a ratio to the COPY
# ceiling. Exits 1 when any result was wrong (tables differ, sync died or stalled).
#
# Knobs (defaults = the full benchmark: 24 min on a busy 2-core machine, 13 of them steady load,
# 1 the initial load):
#   MGS_BENCH_ROWS=1000000       rows of COPY and backlog A, and the table size for B / steady
#   MGS_BENCH_CHANGES=ROWS       single-row transactions of backlog B
#   MGS_BENCH_RUNS=3             repetitions of every measurement
#   MGS_BENCH_CONFIGS="pg:1 pg:4 pg:8 gp:4"   pg:N = pg_target postgres, concurrent_size N;
#                                              gp:N = pg_target greenplum, concurrent_size N
#   MGS_BENCH_PHASES="copy init insert mixed steady"   which parts to run
#   MGS_BENCH_INIT_CONFIGS="repl:1 admin:2 admin:4"   USER:N = init_parallel N as that MariaDB user:
#                                repl has no RELOAD (lock-free snapshot, one reader), admin has it
#                                (commits blocked a moment, N readers on key ranges)
#   MGS_BENCH_STEADY_SECS=60, MGS_BENCH_STEADY_THREADS=16
#   MGS_BENCH_CHUNK=10000        rows per INSERT ... SELECT statement in backlog A
#   MGS_BENCH_GEN_CONNS=8        connections writing backlog B
#   MGS_BENCH_BATCH_SIZE=1000, MGS_BENCH_ACK_WIN=8192   the sync's batch_size / concurrent_ack_win
#   MGS_BENCH_STALL_SECS=180     a sync whose master.info does not move that long has stalled
#   MGS_BENCH_BUILD=1            0: use the binaries already in target/release
#   MGS_BENCH_ENV_DIR, MGS_BENCH_MYSQL_PORT, MGS_BENCH_PG_PORT   the private servers
#   MGS_KEEP_ENV=1               leave the servers (and the work dir) up at the end
#   MGS_BENCH_SYNC_EXTRA='checkpoint_schema = ""'   extra lines for the sync's config (A/B runs)
# Example, small scale: MGS_BENCH_ROWS=50000 MGS_BENCH_RUNS=1 MGS_BENCH_STEADY_SECS=10 scripts/bench.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROWS="${MGS_BENCH_ROWS:-1000000}"
CHANGES="${MGS_BENCH_CHANGES:-$ROWS}"
RUNS="${MGS_BENCH_RUNS:-3}"
CONFIGS="${MGS_BENCH_CONFIGS:-pg:1 pg:4 pg:8 gp:4}"
PHASES="${MGS_BENCH_PHASES:-copy init insert mixed steady}"
INIT_CONFIGS="${MGS_BENCH_INIT_CONFIGS:-repl:1 admin:2 admin:4}"
STEADY_SECS="${MGS_BENCH_STEADY_SECS:-60}"
STEADY_THREADS="${MGS_BENCH_STEADY_THREADS:-16}"
CHUNK="${MGS_BENCH_CHUNK:-10000}"
GEN_CONNS="${MGS_BENCH_GEN_CONNS:-8}"
BATCH_SIZE="${MGS_BENCH_BATCH_SIZE:-1000}"
ACK_WIN="${MGS_BENCH_ACK_WIN:-8192}"
STALL_SECS="${MGS_BENCH_STALL_SECS:-180}"
BUILD="${MGS_BENCH_BUILD:-1}"
KEEP_ENV="${MGS_KEEP_ENV:-0}"
# Our own servers: never the test suite's (MGS_TEST_DIR etc. from a caller's env are ignored).
export MGS_TEST_DIR="${MGS_BENCH_ENV_DIR:-/tmp/mgs-bench-env}"
export MGS_MYSQL_PORT="${MGS_BENCH_MYSQL_PORT:-33406}"
export MGS_PG_PORT="${MGS_BENCH_PG_PORT:-55532}"

BIN=target/release/mysql-gp-sync
TOOL=target/release/examples/mgs-bench
DB=mgsbench # MariaDB database and PostgreSQL schema
CHECKPOINT_SCHEMA=mysql_gp_sync # the sync's checkpoint_schema (its default; not set in the config)
T="$DB.sbtest1"

for v in ROWS CHANGES RUNS STEADY_SECS STEADY_THREADS CHUNK GEN_CONNS BATCH_SIZE ACK_WIN STALL_SECS; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || {
    echo "bench: $v must be a positive integer, not '${!v}'" >&2
    exit 2
  }
done
for cfg in $CONFIGS; do
  [[ $cfg =~ ^(pg|gp):[0-9]+$ ]] || {
    echo "bench: MGS_BENCH_CONFIGS: '$cfg' is not pg:N or gp:N" >&2
    exit 2
  }
done
for ph in $PHASES; do
  [[ " copy init insert mixed steady " == *" $ph "* ]] || {
    echo "bench: MGS_BENCH_PHASES: unknown phase '$ph' (copy init insert mixed steady)" >&2
    exit 2
  }
done
for cfg in $INIT_CONFIGS; do
  [[ $cfg =~ ^(repl|admin):[1-9][0-9]*$ ]] || {
    echo "bench: MGS_BENCH_INIT_CONFIGS: '$cfg' is not repl:N or admin:N" >&2
    exit 2
  }
done
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# ------------------------------------------------------------------ setup ---

if ! command -v sysbench >/dev/null; then
  if has_phase steady; then
    [[ $EUID -eq 0 ]] || die "sysbench is missing: apt-get install sysbench"
    log "installing sysbench (missing)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y sysbench >/dev/null ||
      { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y sysbench >/dev/null; }
  fi
fi
# GNU time: peak RSS and CPU of an `init` run, which exits before /proc could be read.
if has_phase init && [[ ! -x /usr/bin/time ]]; then
  [[ $EUID -eq 0 ]] || die "/usr/bin/time is missing: apt-get install time"
  log "installing time (missing)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y time >/dev/null; }
fi

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may lack.
if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi
if [[ $BUILD == 1 ]]; then
  log "building the sync and examples/mgs-bench.rs (cargo build --release)"
  cargo build --release --quiet --bin mysql-gp-sync --example mgs-bench
fi
[[ -x $BIN && -x $TOOL ]] || die "$BIN or $TOOL missing (MGS_BENCH_BUILD=0 needs a previous build)"

FAILURES=()
WORK="$(mktemp -d /tmp/mgs-bench-work.XXXXXX)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n "$(git status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock vendor 2>/dev/null)" ]]; then
  commit="$commit+uncommitted changes"
fi
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
GEN_NOTE=""
sync_pid=
bg_pids=()

stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid ignored SIGTERM for 60 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317  # reached through the trap
on_exit() {
  local rc=$? p
  if [[ -n $sync_pid ]]; then
    stop_pid "$sync_pid"
  fi
  for p in "${bg_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then stop_pid "$p"; fi
  done
  if [[ $KEEP_ENV == 1 ]]; then
    log "servers left up (MGS_KEEP_ENV=1); work dir $WORK"
  else
    scripts/test-env.sh down >/dev/null 2>&1 || log "scripts/test-env.sh down failed"
    if ((${#FAILURES[@]})); then
      rm -f "$WORK"/*.tsv "$WORK/mysql-gp-sync" "$WORK/mgs-bench"
      log "sync logs of the runs kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies: a `cargo build` elsewhere during the run must not swap the binary under us.
cp "$BIN" "$WORK/mysql-gp-sync"
cp "$TOOL" "$WORK/mgs-bench"
BIN="$WORK/mysql-gp-sync" TOOL="$WORK/mgs-bench"

# Only the MariaDB 10.11 source: the MySQL 9.7 / MariaDB 11.8 chroots are for the tests.
export MGS_SOURCES="${MGS_SOURCES:-mariadb}"
log "starting private MariaDB :$MGS_MYSQL_PORT and PostgreSQL :$MGS_PG_PORT in $MGS_TEST_DIR"
scripts/test-env.sh up 2>&1 | grep -v '^test-env: \(starting\|initialising\)' >&2 || true
scripts/test-env.sh status >/dev/null || die "the benchmark servers did not come up"
# Sets MGS_MYSQL_HOST, MGS_MYSQL_ADMIN_USER, MGS_PG_HOST, ... for the servers above.
eval "$(scripts/test-env.sh env)"

# shellcheck disable=SC2153  # MGS_MYSQL_HOST comes from the eval above
my() {
  MYSQL_PWD="$MGS_MYSQL_ADMIN_PASS" mariadb --no-defaults -h"$MGS_MYSQL_HOST" -P"$MGS_MYSQL_PORT" \
    -u"$MGS_MYSQL_ADMIN_USER" -N -B "$@"
}
# shellcheck disable=SC2153  # MGS_PG_HOST comes from the eval above
pg() {
  PGPASSWORD="$MGS_PG_PASS" psql -X -q -v ON_ERROR_STOP=1 -h "$MGS_PG_HOST" -p "$MGS_PG_PORT" \
    -U "$MGS_PG_USER" -d "$MGS_PG_DB" -At -F ' ' "$@"
}

MY_PIDFILE="$MGS_TEST_DIR/mysql/mysqld.pid"
PG_PIDFILE="$MGS_TEST_DIR/pg/data/postmaster.pid"
CLK_TCK="$(getconf CLK_TCK)"

# A private server: start from a clean slate (old binlogs of earlier runs would pile up).
my -e "RESET MASTER; DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
my -D "$DB" <<'SQL'
CREATE TABLE sbtest1 (
  id  INT NOT NULL AUTO_INCREMENT,
  k   INT NOT NULL DEFAULT 0,
  c   CHAR(120) NOT NULL DEFAULT '',
  pad CHAR(60) NOT NULL DEFAULT '',
  PRIMARY KEY (id),
  KEY k_1 (k)
) ENGINE=InnoDB;
CREATE TABLE probe (id BIGINT NOT NULL PRIMARY KEY, ts DATETIME(6) NOT NULL) ENGINE=InnoDB;
SQL
pg <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS $DB CASCADE;
CREATE SCHEMA $DB;
CREATE TABLE $T (id int PRIMARY KEY, k int, c char(120), pad char(60));
CREATE TABLE $DB.probe (id bigint PRIMARY KEY, ts timestamp(6));
SQL

# ---------------------------------------------------------------- helpers ---

# Sets MP_FILE / MP_POS to the server's current binlog end.
master_pos() {
  local out
  out="$(my -e "SHOW MASTER STATUS")"
  read -r MP_FILE MP_POS _ <<<"$out"
  [[ -n ${MP_FILE:-} && -n ${MP_POS:-} ]] || die "SHOW MASTER STATUS returned nothing"
}

# pos_ge FILE1 POS1 FILE2 POS2: is position 1 at or after position 2?
pos_ge() {
  local i1=$((10#${1##*.})) i2=$((10#${3##*.}))
  ((i1 > i2 || (i1 == i2 && $2 >= $4)))
}

# Sets MI_FILE / MI_POS from a master.info (replaced atomically by the sync, so never torn).
read_master_info() {
  local line
  MI_FILE='' MI_POS=''
  [[ -f $1 ]] || return 1
  while IFS= read -r line; do
    case $line in
      'bin_name = "'*) MI_FILE="${line#bin_name = \"}" MI_FILE="${MI_FILE%\"}" ;;
      'bin_pos = '*) MI_POS="${line#bin_pos = }" ;;
    esac
  done <"$1"
  [[ -n $MI_FILE && -n $MI_POS ]]
}

# my_sum / pg_sum [TABLE]: "count checksum" of a sysbench-shaped table ($T by default).
my_sum() {
  my -e "SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', id, k, c, pad)), 1, 8), 16, 10) AS UNSIGNED)), 0)
         FROM ${1:-$T}" | tr '\t' ' '
}
# char(n)::text drops the padding, as MariaDB does when it returns a CHAR.
pg_sum() {
  pg -c "SELECT count(*), COALESCE(sum(('x' || substr(md5(concat_ws('|', id, k, c::text, pad::text)), 1, 8))::bit(32)::bigint), 0)
         FROM ${1:-$T}"
}

# Load a `mariadb --batch` dump of the table into PostgreSQL (TRUNCATE + COPY), then VACUUM
# ANALYZE so every config starts from the same settled table.
pg_load() {
  "$TOOL" copy-file "$T" "$1" >/dev/null
  pg -c "VACUUM (ANALYZE) $T"
}

# insert_sql TABLE: INSERT ... SELECT statements (CHUNK rows each) of ids 1..ROWS, sysbench's
# shape: k random in 1..ROWS, c = 11 groups of 10 digits, pad = 5 groups of 11 digits.
insert_sql() {
  local d10="LPAD(FLOOR(RAND() * 1e10), 10, '0')" d11="LPAD(FLOOR(RAND() * 1e11), 11, '0')" lo hi
  local c_expr="CONCAT_WS('-', $d10, $d10, $d10, $d10, $d10, $d10, $d10, $d10, $d10, $d10, $d10)"
  local pad_expr="CONCAT_WS('-', $d11, $d11, $d11, $d11, $d11)"
  for ((lo = 1; lo <= ROWS; lo += CHUNK)); do
    hi=$((lo + CHUNK - 1 > ROWS ? ROWS : lo + CHUNK - 1))
    echo "INSERT INTO $1 (id, k, c, pad) SELECT seq, 1 + FLOOR(RAND() * $ROWS), $c_expr, $pad_expr FROM seq_${lo}_to_${hi};"
  done
}

dump_table() {
  my --quick -e "SELECT id, k, c, pad FROM $T" >"$1"
}

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# CPU ticks per PostgreSQL process (children of the postmaster), for deltas over a run.
declare -A PG_BASE=()
pg_ticks_snapshot() {
  local pm p
  PG_BASE=()
  pm="$(head -n1 "$PG_PIDFILE")"
  for p in $(pgrep -P "$pm"); do PG_BASE[$p]="$(ticks "$p")"; done
}
pg_ticks_delta() {
  local pm p sum=0 t
  pm="$(head -n1 "$PG_PIDFILE")"
  for p in $(pgrep -P "$pm"); do
    t="$(ticks "$p")"
    sum=$((sum + t - ${PG_BASE[$p]:-0}))
  done
  echo "$sum"
}

# All CPU ticks of PostgreSQL so far: its live children, and the postmaster with (cutime /
# cstime) the children it has reaped -- the backends of a command that has exited. Read again
# while the children change underneath (one reaped in between would count twice or not at all).
pg_ticks_total() {
  local pm p sum kids i
  pm="$(head -n1 "$PG_PIDFILE")"
  for ((i = 0; i < 100; i++)); do
    kids="$(pgrep -P "$pm" || true)"
    sum=0
    for p in $kids; do sum=$((sum + $(ticks "$p"))); done
    sum=$((sum + $(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")))
    [[ "$(pgrep -P "$pm" || true)" != "$kids" ]] || break
    sleep 0.05
  done
  echo "$sum"
}

# config name -> "postgres|greenplum N"
cfg_target() { if [[ ${1%%:*} == gp ]]; then echo greenplum; else echo postgres; fi; }
cfg_label() { echo "$(cfg_target "$1") c=${1#*:}"; }

write_config() { # cfg data_dir
  config_text "$MGS_MYSQL_REPL_USER" "$MGS_MYSQL_REPL_PASS" "$(cfg_target "$1")" "${1#*:}" "$2" \
    '"sbtest1", "probe"' '' >"$2/sync.toml"
}

# config_text MYSQL_USER MYSQL_PASS PG_TARGET CONCURRENT DATA_DIR TABLES EXTRA_LINES
config_text() {
  cat <<EOF
mysql_addr = "$MGS_MYSQL_HOST:$MGS_MYSQL_PORT"
mysql_user = "$1"
mysql_pass = "$2"
mysql_charset = "utf8mb4"
server_id = 4242
flavor = "mariadb"
pg_host = "$MGS_PG_HOST"
pg_port = $MGS_PG_PORT
pg_user = "$MGS_PG_USER"
pg_pass = "$MGS_PG_PASS"
pg_dbname = "$MGS_PG_DB"
pg_target = "$3"
data_dir = "$5"
concurrent_size = $4
concurrent_ack_win = $ACK_WIN
batch_size = $BATCH_SIZE
skip_no_pk_table = false
log_level = "info"
log_file = "$5/sync.log"
statsd_host = ""
statsd_port = 8125
statsd_prefix = "mysql_gp_sync"
$7
${MGS_BENCH_SYNC_EXTRA:-}
[[source]]
schema = "$DB"
tables = [$6]
EOF
}

# start_sync CFG RUN_DIR FILE POS: master.info at FILE:POS, sync started; sets sync_pid.
start_sync() {
  local dir="$2"
  rm -rf "$dir"
  mkdir -p "$dir"
  write_config "$1" "$dir"
  printf 'bin_name = "%s"\nbin_pos = %s\n' "$3" "$4" >"$dir/master.info"
  # The sync's own per-worker positions in PostgreSQL (checkpoint_schema, default
  # mysql_gp_sync) belong to the state being reset: left from the previous run with the same
  # server_id and concurrent_size, they would make this one skip the whole backlog.
  pg -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $CHECKPOINT_SCHEMA CASCADE" -c "CHECKPOINT"
  pg_ticks_snapshot
  MY_T0="$(ticks "$(cat "$MY_PIDFILE")")"
  T0="${EPOCHREALTIME/./}"
  "$BIN" --config "$dir/sync.toml" >"$dir/sync.out" 2>&1 &
  sync_pid=$!
}

# wait_pos DIR FILE POS: until master.info reaches FILE:POS. Sets WAIT_US (since start_sync).
# Fails when the sync exits or master.info stops moving for STALL_SECS.
wait_pos() {
  local dir="$1" last="" since="${EPOCHREALTIME/./}" now
  while :; do
    if read_master_info "$dir/master.info" && pos_ge "$MI_FILE" "$MI_POS" "$2" "$3"; then
      WAIT_US=$((${EPOCHREALTIME/./} - T0))
      return 0
    fi
    now="${EPOCHREALTIME/./}"
    if ! kill -0 "$sync_pid" 2>/dev/null; then
      log "the sync exited before reaching $2:$3 (at $MI_FILE:$MI_POS); last lines of $dir/sync.out:"
      tail -n 15 "$dir/sync.out" >&2
      wait "$sync_pid" || true
      sync_pid=
      return 1
    fi
    if [[ "$MI_FILE:$MI_POS" != "$last" ]]; then
      last="$MI_FILE:$MI_POS"
      since="$now"
    elif ((now - since > STALL_SECS * 1000000)); then
      log "STALL: master.info stuck at $last for ${STALL_SECS}s (target $2:$3); last lines of $dir/sync.out:"
      tail -n 15 "$dir/sync.out" >&2
      return 1
    fi
    sleep 0.1
  done
}

# stop_sync: VmHWM and CPU figures, then SIGTERM. Sets RSS_MB, CPU_SYNC/PG/MY (cores).
stop_sync() {
  local dir="$1" hwm el rc=0
  el=$((${EPOCHREALTIME/./} - T0))
  hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$sync_pid/status" 2>/dev/null || echo 0)"
  RSS_MB="$(awk -v k="${hwm:-0}" 'BEGIN { printf "%.1f", k / 1024 }')"
  CPU_SYNC="$(awk -v t="$(ticks "$sync_pid")" -v h="$CLK_TCK" -v us="$el" 'BEGIN { printf "%.2f", t / h / (us / 1e6) }')"
  CPU_PG="$(awk -v t="$(pg_ticks_delta)" -v h="$CLK_TCK" -v us="$el" 'BEGIN { printf "%.2f", t / h / (us / 1e6) }')"
  CPU_MY="$(awk -v t="$(($(ticks "$(cat "$MY_PIDFILE")") - MY_T0))" -v h="$CLK_TCK" -v us="$el" 'BEGIN { printf "%.2f", t / h / (us / 1e6) }')"
  kill -TERM "$sync_pid"
  wait "$sync_pid" || rc=$?
  sync_pid=
  if ((rc != 0)); then
    log "the sync exited with status $rc on SIGTERM; see $dir/sync.out"
    return 1
  fi
}

# ---------------------------------------------------------------- results ---

declare -A RES=() # "metric cfg" -> space-separated values, one per run
declare -A BAD=() # "A|B|steady cfg" -> '!' when a run of it left PostgreSQL wrong
add() { RES["$1 $2"]="${RES["$1 $2"]:-}${RES["$1 $2"]:+ }$3"; }
fail() {
  FAILURES+=("$*")
  log "FAILED: $*"
}

# "median min max" of the values (median of an even count: mean of the middle two).
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    print m, v[1], v[NR] }'
}

# cell METRIC CFG PRINTF_FMT: "median (min–max)", or "-" without values.
cell() {
  local vals s med lo hi
  vals="${RES["$1 $2"]:-}"
  [[ -n $vals ]] || {
    echo "-"
    return
  }
  # shellcheck disable=SC2086  # word splitting wanted
  s="$(stats $vals)"
  read -r med lo hi <<<"$s"
  if [[ $lo == "$hi" ]]; then
    # shellcheck disable=SC2059  # the format is the argument
    printf "$3" "$med"
  else
    # shellcheck disable=SC2059
    printf "$3 ($3–$3)" "$med" "$lo" "$hi"
  fi
}

# ratio METRIC CFG: median throughput / median COPY ceiling.
ratio() {
  local a b s
  [[ -n ${RES["$1 $2"]:-} && -n ${RES["copy -"]:-} ]] || {
    echo "-"
    return
  }
  # shellcheck disable=SC2086
  s="$(stats ${RES["$1 $2"]})"
  a="${s%% *}"
  # shellcheck disable=SC2086
  s="$(stats ${RES["copy -"]})"
  b="${s%% *}"
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'
}

# ------------------------------------------------------------ 1: COPY -------

if has_phase copy; then
  for ((r = 1; r <= RUNS; r++)); do
    # Every run starts from a checkpoint, as the replay and init runs do: no WAL and dirty
    # buffers of the previous run left to flush.
    pg -c "CHECKPOINT"
    out="$("$TOOL" copy-ceiling "$ROWS" "$DB.copy_ceiling")"
    read -r n secs rps <<<"$out"
    log "COPY ceiling run $r: $n rows in ${secs}s = $rps rows/s"
    add copy - "$rps"
  done
  pg -c "DROP TABLE $DB.copy_ceiling"
fi

# ------------------------------------------------------ 1b: initial load ----

init_label() { # repl:1 -> "init p=1 (lock-free)", admin:4 -> "init p=4"
  if [[ ${1%%:*} == repl ]]; then echo "init p=${1#*:} (lock-free)"; else echo "init p=${1#*:}"; fi
}

# init_run CFG RUN: one `init --no-follow --truncate` into a dropped PostgreSQL table.
init_run() {
  local cfg="$1" r="$2" dir user pass limit rc=0 t0 us pg0 my0 tm done_line lock_ms got line
  local n_rows log_rps rss cpu_s cpu_pg cpu_my
  dir="$WORK/init-${cfg/:/}-$r"
  mkdir -p "$dir"
  if [[ ${cfg%%:*} == repl ]]; then
    user="$MGS_MYSQL_REPL_USER" pass="$MGS_MYSQL_REPL_PASS"
  else
    user="$MGS_MYSQL_ADMIN_USER" pass="$MGS_MYSQL_ADMIN_PASS"
  fi
  config_text "$user" "$pass" postgres 1 "$dir" '"sbinit"' \
    "init_parallel = ${cfg#*:}
create_missing_tables = true" >"$dir/sync.toml"
  pg -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS $DB.sbinit" -c "CHECKPOINT"
  # A floor of 1000 rows/s: slower than that, the run counts as stalled.
  limit=$((STALL_SECS + ROWS / 1000))
  pg0="$(pg_ticks_total)"
  my0="$(ticks "$(cat "$MY_PIDFILE")")"
  t0="${EPOCHREALTIME/./}"
  # time's wait4() figures cover timeout's child too (maximum RSS and CPU of descendants).
  /usr/bin/time -f '%M %U %S' -o "$dir/time.out" timeout -k 30 "$limit" \
    "$BIN" --config "$dir/sync.toml" init --no-follow --truncate >"$dir/init.out" 2>&1 || rc=$?
  us=$((${EPOCHREALTIME/./} - t0))
  cpu_pg="$(awk -v t="$(($(pg_ticks_total) - pg0))" -v h="$CLK_TCK" -v us="$us" 'BEGIN { printf "%.2f", t / h / (us / 1e6) }')"
  cpu_my="$(awk -v t="$(($(ticks "$(cat "$MY_PIDFILE")") - my0))" -v h="$CLK_TCK" -v us="$us" 'BEGIN { printf "%.2f", t / h / (us / 1e6) }')"
  if ((rc != 0)); then
    if ((rc == 124)); then
      fail "$(init_label "$cfg"), run $r: init still running after ${limit}s, killed (logs: $dir)"
    else
      fail "$(init_label "$cfg"), run $r: init exited with status $rc (logs: $dir): $(grep -m1 -i 'error' "$dir/init.out" || tail -n 1 "$dir/init.out")"
    fi
    tail -n 15 "$dir/init.out" >&2
    return 0
  fi
  # "... initial load done: 1 table(s), 1000000 rows in 12.3 s (81234 rows/s); master.info = f:p"
  done_line="$(grep -m1 'initial load done:' "$dir/init.out" || true)"
  line="$(sed -n 's/.*initial load done: [0-9]* table(s), \([0-9]*\) rows in [0-9.]* s (\([0-9]*\) rows\/s).*/\1 \2/p' <<<"$done_line")"
  read -r n_rows log_rps <<<"$line"
  if [[ -z ${log_rps:-} ]]; then
    fail "$(init_label "$cfg"), run $r: no 'initial load done' line in $dir/init.out"
    return 0
  fi
  # Which snapshot path it took: the label must be true.
  lock_ms="$(sed -n 's/.*commits were blocked for \([0-9]*\) ms while.*/\1/p' "$dir/init.out" | head -n1)"
  if [[ ${cfg%%:*} == repl ]] && ! grep -q 'lock-free snapshot' "$dir/init.out"; then
    fail "$(init_label "$cfg"), run $r: the repl user did not take the lock-free path (see $dir/init.out)"
  elif [[ ${cfg%%:*} == admin && -z $lock_ms ]]; then
    fail "$(init_label "$cfg"), run $r: the admin user did not take the BACKUP STAGE path (see $dir/init.out)"
  fi
  got="$(pg_sum "$DB.sbinit")"
  if [[ $got != "$INIT_SUM" ]]; then
    fail "$(init_label "$cfg"), run $r: PostgreSQL has count+checksum '$got', MariaDB '$INIT_SUM' (logs: $dir)"
    BAD["init $cfg"]='!'
  elif [[ $n_rows != "${INIT_SUM%% *}" ]]; then
    fail "$(init_label "$cfg"), run $r: init logged $n_rows rows, the table has ${INIT_SUM%% *}"
    BAD["init $cfg"]='!'
  fi
  # Nothing writes to MariaDB meanwhile: the snapshot position is the binlog's end.
  master_pos
  if ! read_master_info "$dir/master.info" || [[ "$MI_FILE:$MI_POS" != "$MP_FILE:$MP_POS" ]]; then
    fail "$(init_label "$cfg"), run $r: master.info says '${MI_FILE:-}:${MI_POS:-}', the binlog ends at $MP_FILE:$MP_POS"
    BAD["init $cfg"]='!'
  fi
  tm="$(tail -n 1 "$dir/time.out")"
  read -r rss cpu_s <<<"$(awk -v us="$us" -v h="$CLK_TCK" '{ printf "%.1f %.2f", $1 / 1024, ($2 + $3) / (us / 1e6) }' <<<"$tm")"
  add init_rps "$cfg" "$(awk -v n="$ROWS" -v us="$us" 'BEGIN { printf "%.0f", n / (us / 1e6) }')"
  add init_secs "$cfg" "$(awk -v us="$us" 'BEGIN { printf "%.2f", us / 1e6 }')"
  add init_lrps "$cfg" "$log_rps"
  add init_rss "$cfg" "$rss"
  add init_cpu "$cfg" "$cpu_s/$cpu_pg/$cpu_my"
  [[ -z $lock_ms ]] || add init_lock "$cfg" "$lock_ms"
  log "$(init_label "$cfg"), run $r: $ROWS rows in $((us / 1000)) ms wall ($log_rps rows/s logged), peak RSS $rss MiB, CPU init $cpu_s pg $cpu_pg mariadb $cpu_my${lock_ms:+, commits blocked $lock_ms ms}"
}

if has_phase init; then
  log "init: MariaDB table $DB.sbinit with $ROWS rows (INSERT ... SELECT of $CHUNK rows, not binlogged)"
  t0="${EPOCHREALTIME/./}"
  {
    echo "SET SESSION sql_log_bin = 0;"
    echo "DROP TABLE IF EXISTS sbinit; CREATE TABLE sbinit LIKE sbtest1;"
    insert_sql sbinit
    # TABLE_ROWS, which init's planner splits by, from fresh statistics.
    echo "ANALYZE TABLE sbinit;"
  } | my -D "$DB" >/dev/null
  INIT_SUM="$(my_sum "$DB.sbinit")"
  log "init: sbinit written in $(((${EPOCHREALTIME/./} - t0) / 1000)) ms; MariaDB count+checksum $INIT_SUM"
  for ((r = 1; r <= RUNS; r++)); do
    for cfg in $INIT_CONFIGS; do
      init_run "$cfg" "$r"
    done
  done
  pg -c "DROP TABLE IF EXISTS $DB.sbinit"
  my -D "$DB" -e "SET SESSION sql_log_bin = 0; DROP TABLE sbinit"
fi

# replay NAME START_FILE START_POS END_FILE END_POS EXPECTED_SUM ROWCOUNT RESET_CMD...
# Every config, RUNS times: reset PostgreSQL, sync from the start to the end, check.
replay() {
  local name="$1" sf="$2" sp="$3" ef="$4" ep="$5" want="$6" count="$7" r cfg dir got rps ok
  shift 7
  for ((r = 1; r <= RUNS; r++)); do
    for cfg in $CONFIGS; do
      "$@" # reset the table
      dir="$WORK/$name-${cfg/:/}-$r"
      start_sync "$cfg" "$dir" "$sf" "$sp"
      ok=1
      if ! wait_pos "$dir" "$ef" "$ep"; then
        fail "backlog $name, $(cfg_label "$cfg"), run $r: did not reach $ef:$ep"
        ok=0
      fi
      if [[ -n $sync_pid ]] && ! stop_sync "$dir"; then
        fail "backlog $name, $(cfg_label "$cfg"), run $r: bad exit on SIGTERM"
        ok=0
      fi
      ((ok)) || continue
      got="$(pg_sum)"
      if [[ $got != "$want" ]]; then
        fail "backlog $name, $(cfg_label "$cfg"), run $r: PostgreSQL has count+checksum '$got', MariaDB had '$want' (logs: $dir)"
        BAD["$name $cfg"]='!'
      fi
      rps="$(awk -v n="$count" -v us="$WAIT_US" 'BEGIN { printf "%.0f", n / (us / 1e6) }')"
      log "backlog $name, $(cfg_label "$cfg"), run $r: $count changes in $((WAIT_US / 1000)) ms = $rps rows/s, peak RSS $RSS_MB MiB, CPU sync $CPU_SYNC pg $CPU_PG mariadb $CPU_MY"
      add "${name}_rps" "$cfg" "$rps"
      add "${name}_rss" "$cfg" "$RSS_MB"
      add "${name}_cpu" "$cfg" "$CPU_SYNC/$CPU_PG/$CPU_MY"
    done
  done
}

pg_truncate() { pg -c "TRUNCATE $T"; }

# ------------------------------------------------- 2a/3: backlog A, inserts --

if has_phase insert || has_phase mixed || has_phase steady; then
  master_pos
  A_FILE="$MP_FILE" A_POS="$MP_POS"
  log "backlog A: $ROWS rows in INSERT ... SELECT statements of $CHUNK rows, from $A_FILE:$A_POS"
  t0="${EPOCHREALTIME/./}"
  insert_sql sbtest1 | my -D "$DB"
  master_pos
  A_END_FILE="$MP_FILE" A_END_POS="$MP_POS"
  A_SUM="$(my_sum)"
  gen_ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
  log "backlog A written in $gen_ms ms, up to $A_END_FILE:$A_END_POS; MariaDB count+checksum $A_SUM"
  GEN_NOTE="MariaDB wrote A ($A_FILE:$A_POS-$A_END_FILE:$A_END_POS) in $((gen_ms / 1000)).$(((gen_ms % 1000) / 100)) s"
  if has_phase insert; then
    replay A "$A_FILE" "$A_POS" "$A_END_FILE" "$A_END_POS" "$A_SUM" "$ROWS" pg_truncate
  fi
fi

# --------------------------------------------- 2b/3: backlog B, 1-row txns --

if has_phase mixed; then
  master_pos
  B_FILE="$MP_FILE" B_POS="$MP_POS"
  dump_table "$WORK/b-start.tsv"
  log "backlog B: $CHANGES single-row transactions (25 % insert, 50 % update, 25 % delete) over $GEN_CONNS connections, from $B_FILE:$B_POS"
  out="$("$TOOL" gen-mixed "$T" "$ROWS" "$CHANGES" "$GEN_CONNS")"
  read -r n secs cps <<<"$out"
  master_pos
  B_END_FILE="$MP_FILE" B_END_POS="$MP_POS"
  B_SUM="$(my_sum)"
  log "backlog B written: $n changes in ${secs}s ($cps/s), up to $B_END_FILE:$B_END_POS; MariaDB count+checksum $B_SUM"
  GEN_NOTE="$GEN_NOTE, B ($B_FILE:$B_POS-$B_END_FILE:$B_END_POS) in ${secs%.*} s ($cps txn/s, $GEN_CONNS connections)"
  replay B "$B_FILE" "$B_POS" "$B_END_FILE" "$B_END_POS" "$B_SUM" "$CHANGES" pg_load "$WORK/b-start.tsv"
fi

# ------------------------------------------------------ 4: steady load -----

if has_phase steady; then
  steady_sync_table() {
    log "steady: loading PostgreSQL with MariaDB's current table"
    dump_table "$WORK/steady.tsv"
    pg_load "$WORK/steady.tsv"
    rm -f "$WORK/steady.tsv"
  }
  if [[ "$(pg_sum)" != "$(my_sum)" ]]; then
    steady_sync_table
  fi
  for ((r = 1; r <= RUNS; r++)); do
    for cfg in $CONFIGS; do
      dir="$WORK/steady-${cfg/:/}-$r"
      master_pos
      start_sync "$cfg" "$dir" "$MP_FILE" "$MP_POS"
      sleep 1 # connected and reading before the load starts
      "$TOOL" probe "$DB" "$STEADY_SECS" >"$dir/probe.out" 2>"$dir/probe.err" &
      probe_pid=$!
      bg_pids+=("$probe_pid")
      sysbench oltp_write_only --db-driver=mysql --mysql-host="$MGS_MYSQL_HOST" \
        --mysql-port="$MGS_MYSQL_PORT" --mysql-user="$MGS_MYSQL_ADMIN_USER" \
        --mysql-password="$MGS_MYSQL_ADMIN_PASS" --mysql-db="$DB" --tables=1 \
        --table-size="$ROWS" --threads="$STEADY_THREADS" --time="$STEADY_SECS" \
        --report-interval=0 run >"$dir/sysbench.out" 2>&1 ||
        fail "steady, $(cfg_label "$cfg"), run $r: sysbench failed (see $dir/sysbench.out)"
      ok=1
      wait "$probe_pid" || {
        fail "steady, $(cfg_label "$cfg"), run $r: the probe failed: $(tail -n 3 "$dir/probe.err")"
        ok=0
      }
      bg_pids=()
      master_pos
      if ! wait_pos "$dir" "$MP_FILE" "$MP_POS"; then
        fail "steady, $(cfg_label "$cfg"), run $r: did not catch up to $MP_FILE:$MP_POS"
        ok=0
      fi
      if [[ -n $sync_pid ]] && ! stop_sync "$dir"; then
        fail "steady, $(cfg_label "$cfg"), run $r: bad exit on SIGTERM"
        ok=0
      fi
      ((ok)) || steady_sync_table # whatever the sync left behind, the next run starts equal
      tps="$(sed -n 's/^ *transactions: *[0-9]* *(\([0-9.]*\) per sec.)/\1/p' "$dir/sysbench.out")"
      if ((ok)); then
        read -r pn pmiss p50 p99 pmax <"$dir/probe.out"
        want="$(my_sum)"
        got="$(pg_sum)"
        if [[ $got != "$want" ]]; then
          fail "steady, $(cfg_label "$cfg"), run $r: PostgreSQL has count+checksum '$got', MariaDB '$want' (logs: $dir)"
          BAD["steady $cfg"]='!'
          steady_sync_table
        fi
        if ((pmiss > 0)); then
          fail "steady, $(cfg_label "$cfg"), run $r: $pmiss of $((pn + pmiss)) probe rows never arrived"
        else
          log "steady, $(cfg_label "$cfg"), run $r: sysbench ${tps:-?} tps, lag p50 $p50 ms p99 $p99 ms max $pmax ms ($pn probes), CPU sync $CPU_SYNC pg $CPU_PG mariadb $CPU_MY"
          add lag50 "$cfg" "$p50"
          add lag99 "$cfg" "$p99"
          [[ -n $tps ]] && add tps "$cfg" "$tps"
        fi
      fi
    done
  done
fi

# ------------------------------------------------------------ the table ----

cpu_cell() { # medians of the three CPU figures
  local vals="${RES["$1 $2"]:-}" i out=""
  [[ -n $vals ]] || {
    echo "-"
    return
  }
  for i in 1 2 3; do
    # shellcheck disable=SC2046,SC2086
    out="$out${out:+/}$(stats $(printf '%s\n' $vals | cut -d/ -f"$i") | awk '{ printf "%.2f", $1 }')"
  done
  echo "$out"
}
replays=0
if has_phase insert || has_phase mixed || has_phase steady; then replays=1; fi

echo
echo "mysql-gp-sync benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, $(nproc) CPUs, MariaDB $(my -e 'SELECT VERSION()'), $(pg -c 'SHOW server_version' | cut -d' ' -f1) PostgreSQL"
if ((replays)); then
  echo "A = $ROWS inserts in INSERT ... SELECT of $CHUNK rows; B = $CHANGES single-row txns (25 % ins / 50 % upd / 25 % del) on $ROWS rows;"
  echo "steady = sysbench oltp_write_only, $STEADY_THREADS threads, ${STEADY_SECS}s, lag probe every 50 ms. batch_size $BATCH_SIZE, concurrent_ack_win $ACK_WIN."
fi
echo "Each figure: median (min–max) of $RUNS run(s). xCOPY = median rows/s / median COPY rows/s (COPY of $ROWS generated rows"
echo "of the same shape, one tokio-postgres connection). CPU = cores used by sync/PostgreSQL/MariaDB (medians)."
if ((replays)); then
  echo "Backlog times run from the sync's start until master.info (saved about once a second) names the end position."
fi
if has_phase init; then
  echo "init = \`mysql-gp-sync init --no-follow --truncate\` of $DB.sbinit ($ROWS rows) into a dropped PostgreSQL table that init"
  echo "creates; wall = the command end to end, logged = the rows/s of its 'initial load done' line. p=N: init_parallel N as the"
  echo "admin user (RELOAD: commits blocked while N snapshots open, N readers on key ranges; init splits only tables of 500 000+"
  echo "rows, into ~250 000-row ranges); lock-free: the repl user, no RELOAD, one reader."
fi
[[ -z $GEN_NOTE ]] || echo "$GEN_NOTE."
echo "Load average (1/5/15 min) at start: $LOAD_START, at end: $(cut -d' ' -f1-3 /proc/loadavg) -- other work on the machine skews every figure."
copy_row() { echo "COPY ceiling (1 conn)|$(cell copy - '%.0f')|1.00$1"; }
if ((replays)) || ! has_phase init; then
  {
    echo "config|A rows/s|xCOPY|A peak RSS MiB|A CPU s/pg/my|B rows/s|xCOPY|B peak RSS MiB|B CPU s/pg/my|steady lag p50 ms|steady lag p99 ms|sysbench tps"
    if [[ -n ${RES["copy -"]:-} ]]; then
      copy_row "|-|-|-|-|-|-|-|-|-"
    fi
    for cfg in $CONFIGS; do
      ((replays)) || break
      a="${BAD["A $cfg"]:-}" b="${BAD["B $cfg"]:-}" s="${BAD["steady $cfg"]:-}"
      printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$(cfg_label "$cfg")" \
        "$(cell A_rps "$cfg" '%.0f')$a" "$(ratio A_rps "$cfg")$a" "$(cell A_rss "$cfg" '%.1f')" "$(cpu_cell A_cpu "$cfg")" \
        "$(cell B_rps "$cfg" '%.0f')$b" "$(ratio B_rps "$cfg")$b" "$(cell B_rss "$cfg" '%.1f')" "$(cpu_cell B_cpu "$cfg")" \
        "$(cell lag50 "$cfg" '%.1f')$s" "$(cell lag99 "$cfg" '%.1f')$s" "$(cell tps "$cfg" '%.0f')"
    done
  } | column -t -s '|' -o ' | '
fi
if has_phase init; then
  if ((replays)); then echo; fi
  {
    echo "config|init rows/s (wall)|xCOPY|rows/s (logged)|xCOPY|wall s|peak RSS MiB|CPU init/pg/my|commits blocked ms"
    if [[ -n ${RES["copy -"]:-} ]]; then
      copy_row "|$(cell copy - '%.0f')|1.00|-|-|-|-"
    fi
    for cfg in $INIT_CONFIGS; do
      i="${BAD["init $cfg"]:-}"
      printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$(init_label "$cfg")" \
        "$(cell init_rps "$cfg" '%.0f')$i" "$(ratio init_rps "$cfg")$i" \
        "$(cell init_lrps "$cfg" '%.0f')$i" "$(ratio init_lrps "$cfg")$i" \
        "$(cell init_secs "$cfg" '%.1f')" "$(cell init_rss "$cfg" '%.1f')" "$(cpu_cell init_cpu "$cfg")" \
        "$(cell init_lock "$cfg" '%.0f')"
    done
  } | column -t -s '|' -o ' | '
fi
if ((${#FAILURES[@]})); then
  echo
  echo "FAILURES (figures marked ! include runs that left PostgreSQL different from MariaDB; runs where"
  echo "the sync or init died or stalled are left out):"
  printf '  - %s\n' "${FAILURES[@]}"
  exit 1
fi
