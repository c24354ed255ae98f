#!/usr/bin/env bash
# THE test command: brings up real MariaDB 10.11, MySQL 9.7, MariaDB 11.8 and PostgreSQL 15
# on loopback (scripts/test-env.sh), runs `cargo test --release` against each source server,
# tears them down again.
#
#   scripts/test.sh [extra args for the test binaries, e.g. a name filter]
#
# MGS_KEEP_ENV=1 leaves the servers running afterwards (for debugging).
# The exit code is cargo's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# rustup puts cargo in ~/.cargo/bin, which a non-login shell (CI) may lack.
if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null || {
  echo "test.sh: cargo not found; install Rust with rustup first" >&2
  exit 1
}

scripts/test-env.sh install

# Only tear down an environment this run started: if one was already up
# (e.g. left by scripts/demo.sh), it belongs to someone else.
started_env=1
if scripts/test-env.sh status >/dev/null 2>&1; then
  started_env=0
fi

# shellcheck disable=SC2317  # only reached through the trap below
cleanup() {
  local rc=$?
  if [[ ${MGS_KEEP_ENV:-0} == 1 ]]; then
    echo "test.sh: MGS_KEEP_ENV=1: servers left running; stop them with scripts/test-env.sh down" >&2
  elif ((started_env)); then
    scripts/test-env.sh down || true
  else
    echo "test.sh: servers were already running before this run; left them up" >&2
  fi
  exit "$rc"
}
# Always clean up, also when interrupted or when `up` itself fails half-way.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/test-env.sh up
# Export MGS_MYSQL_* / MGS_PG_* for the tests (same lines as <dir>/env.sh).
eval "$(scripts/test-env.sh env)"

# The suite runs once per source server. Everything runs against MariaDB 10.11 (Debian 12's
# own); against MySQL 9.7 every end-to-end suite that is not about a MariaDB feature; against
# MariaDB 11.8 (binlog_legacy_event_pos = OFF by default) the suites about positions,
# restarts, rotations, kills, checkpoints and the initial load. Unit and fixture tests do not
# touch a server and run once. MGS_SOURCES=mariadb runs only the first pass.
cargo build --release --tests
rc=0
pass() {
  local name=$1 port=$2 flavor=$3 dir=$4
  shift 4
  echo "== tests against $name (127.0.0.1:$port)"
  if ! MGS_MYSQL_PORT=$port MGS_FLAVOR=$flavor MGS_MYSQL_SERVER_DIR=$dir \
    cargo test --release --no-fail-fast "$@"; then
    echo "== FAILED against $name" >&2
    rc=1
  fi
}
set +e
pass "MariaDB 10.11" "$MGS_MYSQL_PORT" mariadb mysql -- --test-threads=4 "$@"
# What PostgreSQL does (restarts, crashes, outages) and memory bounds do not depend on the
# source server: those run in the first pass only.
not_about_the_source=(--skip postgres --skip million_row_transaction)
if [[ ${MGS_SOURCES:-all} != mariadb ]]; then
  # The end-to-end binary's modules are the areas: filters name them (`sync::`), so a test's
  # area is in its name.
  pass "MySQL 9.7" "$MGS_MYSQL97_PORT" mysql mysql97 \
    --test e2e -- --test-threads=4 --skip greenplum:: "${not_about_the_source[@]}" "$@"
  pass "MariaDB 11.8" "$MGS_MARIADB118_PORT" mariadb mariadb118 \
    --test e2e -- --test-threads=4 sync:: charsets:: checkpoint:: init:: errors:: observability:: gtid:: history:: standby:: schema_changes:: field:: consistency:: \
    "${not_about_the_source[@]}" "$@"
  # Of the fault tests, those about positions: kills, restarts, rotations, purged positions.
  pass "MariaDB 11.8 (positions under faults)" "$MGS_MARIADB118_PORT" mariadb mariadb118 \
    --test e2e -- --test-threads=4 faults::kill9 faults::restarts_across faults::flush_binary_logs \
    faults::server_side_kills faults::purged_binlog "$@"
fi
set -e
exit "$rc"
