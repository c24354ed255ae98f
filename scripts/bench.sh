#!/usr/bin/env bash
# Throughput, memory and lag benchmark of mysql-gp-sync against real servers.
#
#   scripts/bench.sh
#
# Starts its OWN MariaDB + PostgreSQL (scripts/test-env.sh on ports 13406 / 15532 in
# /tmp/mgs-bench-env, so the test suite's servers on the default ports are left alone), builds
# the sync and examples/mgs-bench/, and runs `mgs-bench run`, which measures:
#   copy:   COPY ceiling: one tokio-postgres COPY (text) of ROWS sysbench-shaped rows
#           (id int PRIMARY KEY, k int, c char(120), pad char(60)) into an empty table, after a
#           CHECKPOINT -> rows/s.
#   init:   MariaDB table sbinit with ROWS sysbench-shaped rows; for every INIT_CONFIG and run:
#           drop the PostgreSQL table, `mysql-gp-sync init --no-follow --truncate`
#           (create_missing_tables = true) under /usr/bin/time: wall time, the rows/s it
#           reports, peak RSS, CPU of it / PostgreSQL / MariaDB; count + checksum and
#           master.info checked.
#   insert, mixed: two binlog backlogs, each written ONCE while no sync runs:
#           A: ROWS inserts, INSERT ... SELECT from the Sequence engine, CHUNK rows per statement;
#           B: CHANGES single-row autocommit transactions on the ROWS rows A left: 25 % INSERT,
#              25 % UPDATE k, 25 % UPDATE c, 25 % DELETE (GEN_CONNS connections; every statement
#              changes exactly one row). PostgreSQL's state at B's start is a dump of MariaDB.
#           For every config and run: reset the PostgreSQL table to the backlog's start, write
#           master.info at the start position, start the sync and time it until the position in
#           its status file (what `mysql-gp-sync status` prints) reaches the end position; check
#           count + checksum against MariaDB's at that end; peak RSS (VmHWM just before SIGTERM)
#           and CPU used by the sync, PostgreSQL and MariaDB.
#   steady: sysbench oltp_write_only (STEADY_THREADS threads, STEADY_SECS s) with the sync
#           running; a probe inserts (id, UTC_TIMESTAMP(6)) every 50 ms and polls PostgreSQL
#           every 10 ms: lag = arrival - MariaDB timestamp, p50 / p99.
# Prints a table (and one for init): median (min-max) over the runs; throughputs also as a ratio
# to the COPY ceiling. Exits 1 when any result was wrong (tables differ, sync died or stalled).
#
# Knobs (defaults = the full benchmark: 24 min on a busy 2-core machine, 13 of them steady load,
# 1 the initial load):
#   MGS_BENCH_ROWS=1000000       rows of COPY and backlog A, and the table size for B / steady
#   MGS_BENCH_CHANGES=ROWS       single-row transactions of backlog B
#   MGS_BENCH_RUNS=3             repetitions of every measurement
#   MGS_BENCH_CONFIGS="pg:1 pg:4 pg:8 gp:4"   pg:N = pg_target postgres, concurrent_size N;
#                                              gp:N = pg_target greenplum, concurrent_size N;
#                                              pg:txn / gp:txn = consistency "transaction"
#   MGS_BENCH_PHASES="copy init insert mixed steady"   which parts to run
#   MGS_BENCH_INIT_CONFIGS="repl:1 admin:2 admin:4"   USER:N = init_parallel N as that MariaDB user:
#                                repl has no RELOAD (lock-free snapshot, one reader), admin has it
#                                (commits blocked a moment, N readers on key ranges)
#   MGS_BENCH_STEADY_SECS=60, MGS_BENCH_STEADY_THREADS=16
#   MGS_BENCH_CHUNK=10000        rows per INSERT ... SELECT statement in backlog A
#   MGS_BENCH_GEN_CONNS=8        connections writing backlog B
#   MGS_BENCH_BATCH_SIZE=1000, MGS_BENCH_ACK_WIN=8192   the sync's batch_size / concurrent_ack_win
#   MGS_BENCH_STALL_SECS=180     a sync whose position does not move that long has stalled
#   MGS_BENCH_BUILD=1            0: use the binaries already in target/release
#   MGS_BENCH_ENV_DIR, MGS_BENCH_MYSQL_PORT, MGS_BENCH_PG_PORT   the private servers
#   MGS_KEEP_ENV=1               leave the servers (and the work dir) up at the end
#   MGS_BENCH_SYNC_EXTRA='checkpoint_schema = ""'   extra lines for the sync's config (A/B runs)
# Example, small scale: MGS_BENCH_ROWS=50000 MGS_BENCH_RUNS=1 MGS_BENCH_STEADY_SECS=10 scripts/bench.sh
#
# This script only builds, installs what is missing, and starts and stops the servers; the
# measuring, the checks and the tables are in examples/mgs-bench/ (read by it from MGS_BENCH_*).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export MGS_BENCH_PHASES="${MGS_BENCH_PHASES:-copy init insert txn mixed peer steady}"
BUILD="${MGS_BENCH_BUILD:-1}"
KEEP_ENV="${MGS_KEEP_ENV:-0}"
# Our own servers: never the test suite's (MGS_TEST_DIR etc. from a caller's env are ignored).
export MGS_TEST_DIR="${MGS_BENCH_ENV_DIR:-/tmp/mgs-bench-env}"
export MGS_MYSQL_PORT="${MGS_BENCH_MYSQL_PORT:-13406}"
export MGS_PG_PORT="${MGS_BENCH_PG_PORT:-15532}"
# Only the MariaDB 10.11 source: the MySQL 9.7 / MariaDB 11.8 chroots are for the tests.
export MGS_SOURCES="${MGS_SOURCES:-mariadb}"

BIN=target/release/mysql-gp-sync
TOOL=target/release/examples/mgs-bench

has_phase() { [[ " $MGS_BENCH_PHASES " == *" $1 "* ]]; }
log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# apt_install PACKAGE WHY: as root, from the distribution.
apt_install() {
  [[ $EUID -eq 0 ]] || die "$1 is missing ($2): apt-get install $1"
  log "installing $1 (missing)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y "$1" >/dev/null; }
}

# ------------------------------------------------------------------ setup ---

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may lack.
if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi
if [[ $BUILD == 1 ]]; then
  log "building the sync and examples/mgs-bench/ (cargo build --release)"
  cargo build --release --quiet --bin mysql-gp-sync --example mgs-bench
fi
[[ -x $BIN && -x $TOOL ]] || die "$BIN or $TOOL missing (MGS_BENCH_BUILD=0 needs a previous build)"
"$TOOL" check || exit 2

if has_phase peer; then
  log "pg_chameleon for the peer phase (a venv, installed once)"
  scripts/peer-chameleon.sh install >/dev/null ||
    die "pg_chameleon could not be installed (scripts/peer-chameleon.sh install)"
fi
if has_phase steady && ! command -v sysbench >/dev/null; then
  apt_install sysbench "the steady load"
fi
# GNU time: peak RSS and CPU of an `init` run, which exits before /proc could be read.
if has_phase init && [[ ! -x /usr/bin/time ]]; then
  apt_install time "peak RSS and CPU of init"
fi

export MGS_BENCH_WORK
MGS_BENCH_WORK="$(mktemp -d /tmp/mgs-bench-work.XXXXXX)"
export MGS_BENCH_COMMIT
MGS_BENCH_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n "$(git status --porcelain --untracked-files=no -- src Cargo.toml Cargo.lock vendor 2>/dev/null)" ]]; then
  MGS_BENCH_COMMIT="$MGS_BENCH_COMMIT+uncommitted changes"
fi

# shellcheck disable=SC2317  # reached through the trap
on_exit() {
  local rc=$?
  # A sync the measuring tool started outlives it when the tool is killed: it would go on
  # reading as the same replica (server_id) and disturb the next run.
  pkill -f "^$MGS_BENCH_WORK/mysql-gp-sync" 2>/dev/null || true
  if [[ $KEEP_ENV == 1 ]]; then
    log "servers left up (MGS_KEEP_ENV=1); work dir $MGS_BENCH_WORK"
  else
    scripts/test-env.sh down >/dev/null 2>&1 || log "scripts/test-env.sh down failed"
    if ((rc != 0)); then
      rm -f "$MGS_BENCH_WORK"/*.tsv "$MGS_BENCH_WORK/mysql-gp-sync" "$MGS_BENCH_WORK/mgs-bench"
      log "logs of the runs kept in $MGS_BENCH_WORK"
    else
      rm -rf "$MGS_BENCH_WORK"
    fi
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Private copies: a `cargo build` elsewhere during the run must not swap the binary under us.
cp "$BIN" "$TOOL" "$MGS_BENCH_WORK/"

log "starting private MariaDB :$MGS_MYSQL_PORT and PostgreSQL :$MGS_PG_PORT in $MGS_TEST_DIR"
scripts/test-env.sh up 2>&1 | grep -v '^test-env: \(starting\|initialising\)' >&2 || true
scripts/test-env.sh status >/dev/null || die "the benchmark servers did not come up"
# Sets MGS_MYSQL_HOST, MGS_MYSQL_ADMIN_USER, MGS_PG_HOST, ... for the servers above.
eval "$(scripts/test-env.sh env)"

"$MGS_BENCH_WORK/mgs-bench" run
