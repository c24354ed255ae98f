#!/usr/bin/env bash
# "See it work": starts MariaDB + PostgreSQL (scripts/test-env.sh), builds the
# sync, loads demo.orders (MariaDB, 10 000 rows) into public.orders (PostgreSQL)
# with `init`, keeps replicating while writing to MariaDB, and shows both sides
# converge.  Leaves the servers up.
#
#   scripts/demo.sh            (MGS_DEMO_ROUNDS=10 changes the number of rounds)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${MGS_DEMO_ROUNDS:-10}"
DEMO_DIR=var/demo
CONFIG="$DEMO_DIR/mysql-gp-sync.toml"
SYNC_OUT="$DEMO_DIR/sync.out"
SYNC_PID_FILE="$DEMO_DIR/sync.pid"
BIN=target/release/mysql-gp-sync

# Bold/green/red only on a terminal, so logs stay free of escape codes.
if [[ -t 1 ]]; then
  B=$'\033[1m' G=$'\033[1;32m' R=$'\033[1;31m' N=$'\033[0m'
else
  B='' G='' R='' N=''
fi
say() { printf '%s== %s%s\n' "$B" "$*" "$N"; }

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may lack.
if ! command -v cargo >/dev/null && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"
fi

# Only the MariaDB 10.11 source: the MySQL 9.7 / MariaDB 11.8 chroots are for the tests.
export MGS_SOURCES="${MGS_SOURCES:-mariadb}"
say "starting MariaDB and PostgreSQL (installs them if missing)"
scripts/test-env.sh up
eval "$(scripts/test-env.sh env)"

say "building the sync (cargo build --release)"
cargo build --release

# Admin clients over TCP, exactly as an outside user would connect.
my() {
  MYSQL_PWD="$MGS_MYSQL_ADMIN_PASS" mariadb --no-defaults -h"$MGS_MYSQL_HOST" -P"$MGS_MYSQL_PORT" \
    -u"$MGS_MYSQL_ADMIN_USER" -N -B "$@"
}
pg() {
  PGPASSWORD="$MGS_PG_PASS" psql -X -q -v ON_ERROR_STOP=1 -h "$MGS_PG_HOST" -p "$MGS_PG_PORT" \
    -U "$MGS_PG_USER" -d "$MGS_PG_DB" -At -F $'\t' "$@"
}

# A sync left over from an interrupted earlier demo would fight over the
# same tables: stop it (only that pid, and only if it is our binary).
stop_pid() {
  local pid="$1" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  echo "sync (pid $pid) ignored SIGTERM for 30s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
if [[ -s $SYNC_PID_FILE ]]; then
  old_pid="$(cat "$SYNC_PID_FILE")"
  if kill -0 "$old_pid" 2>/dev/null && grep -q mysql-gp-sync "/proc/$old_pid/cmdline" 2>/dev/null; then
    say "stopping sync left over from an earlier demo (pid $old_pid)"
    stop_pid "$old_pid"
  fi
fi

say "creating demo.orders in MariaDB with 10 000 rows (PostgreSQL gets nothing: init creates it)"
my <<'SQL'
DROP DATABASE IF EXISTS demo;
CREATE DATABASE demo;
USE demo;
CREATE TABLE demo.orders (
  id         INT PRIMARY KEY AUTO_INCREMENT,
  customer   VARCHAR(64),
  amount     DECIMAL(12,2),
  created_at DATETIME(6)
) ENGINE=InnoDB;
INSERT INTO demo.orders (id, customer, amount, created_at)
  SELECT seq, CONCAT('customer-', seq % 97), (seq % 50000) / 100, NOW(6) - INTERVAL seq SECOND
  FROM seq_1_to_10000;
SQL
pg <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS public.orders;
SQL

# Fresh state dir: a saved binlog position from an old run would point at
# tables that no longer exist.
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
cat >"$CONFIG" <<EOF
# Written by scripts/demo.sh
mysql_addr = "$MGS_MYSQL_HOST:$MGS_MYSQL_PORT"
mysql_user = "$MGS_MYSQL_REPL_USER"
mysql_pass = "$MGS_MYSQL_REPL_PASS"
mysql_charset = "utf8mb4"
server_id = 1001
flavor = "mariadb"
pg_host = "$MGS_PG_HOST"
pg_port = $MGS_PG_PORT
pg_user = "$MGS_PG_USER"
pg_pass = "$MGS_PG_PASS"
pg_dbname = "$MGS_PG_DB"
data_dir = "$DEMO_DIR"
concurrent_size = 4
concurrent_ack_win = 8192
skip_no_pk_table = false
statsd_host = ""          # empty = metrics off
statsd_port = 8125
statsd_prefix = "mysql_gp_sync"
create_missing_tables = true

[[source]]
schema = "demo"
tables = ["orders"]

[[rule]]
schema = "demo"
table = "orders"
pg_schema = "public"
pg_table = "orders"
EOF
echo "config: $CONFIG"

# No master.info: `init` copies demo.orders at a consistent snapshot (creating
# public.orders from the MariaDB schema), writes master.info at the matching
# binlog position, and goes on streaming from there.
say "starting $BIN --config $CONFIG init (output: $SYNC_OUT)"
"$BIN" --config "$CONFIG" init >"$SYNC_OUT" 2>&1 &
sync_pid=$!
echo "$sync_pid" >"$SYNC_PID_FILE"

# Whatever happens from here on, don't leave the sync running behind us.
# shellcheck disable=SC2317  # only reached through the trap
on_exit() {
  local rc=$?
  if [[ -n ${sync_pid:-} ]] && kill -0 "$sync_pid" 2>/dev/null; then
    stop_pid "$sync_pid"
  fi
  rm -f "$SYNC_PID_FILE"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sync_alive() {
  if ! kill -0 "$sync_pid" 2>/dev/null; then
    echo "the sync exited early; last lines of $SYNC_OUT:" >&2
    tail -n 30 "$SYNC_OUT" >&2
    return 1
  fi
}
# Wait for the initial copy to finish (the sync says so in its log), then write.
for ((i = 0; i < 120; i++)); do
  sync_alive
  grep -q "initial load done" "$SYNC_OUT" && break
  sleep 1
done
grep "initial load done" "$SYNC_OUT" || {
  echo "the initial load did not finish in 120 s; last lines of $SYNC_OUT:" >&2
  tail -n 30 "$SYNC_OUT" >&2
  exit 1
}
sleep 1

my_stats() { my -e "SELECT COUNT(*), COALESCE(SUM(amount), 0.00) FROM demo.orders" | tr '\t' ' '; }
pg_stats() { pg -c "SELECT COUNT(*), COALESCE(SUM(amount), 0.00) FROM public.orders" 2>/dev/null | tr '\t' ' ' || echo "?"; }

show() {
  local label="$1" m p mark
  m="$(my_stats)"
  p="$(pg_stats)"
  mark="catching up"
  [[ $m == "$p" ]] && mark="in sync"
  printf '%-10s | %-24s | %-24s | %s\n' "$label" "$m" "$p" "$mark"
  [[ $m == "$p" ]]
}

customers=(alice bob carol dave erin frank grace heidi ivan judy)
rand_customer() { echo "${customers[RANDOM % ${#customers[@]}]}"; }
rand_amount() { printf '%d.%02d' $((RANDOM % 500)) $((RANDOM % 100)); }

say "writing to MariaDB for $ROUNDS rounds; columns are COUNT(*) SUM(amount)"
printf '%-10s | %-24s | %-24s | %s\n' "" "MariaDB demo.orders" "PostgreSQL public.orders" ""
for ((r = 1; r <= ROUNDS; r++)); do
  # Each round: a multi-row insert, a transaction mixing insert+update,
  # and (every other round) a delete, so all three row events show up.
  my -e "INSERT INTO demo.orders (customer, amount, created_at) VALUES
           ('$(rand_customer)', $(rand_amount), NOW(6)),
           ('$(rand_customer)', $(rand_amount), NOW(6)),
           ('$(rand_customer)', $(rand_amount), NOW(6))"
  my -e "BEGIN;
         INSERT INTO demo.orders (customer, amount, created_at) VALUES ('$(rand_customer)', $(rand_amount), NOW(6));
         UPDATE demo.orders SET amount = amount + 10.00, customer = '$(rand_customer)' ORDER BY RAND() LIMIT 2;
         COMMIT"
  if ((r % 2 == 0)); then
    my -e "DELETE FROM demo.orders ORDER BY RAND() LIMIT 1"
  fi
  show "round $r" || true
  sync_alive
  sleep 1
done

say "writes done; waiting (up to 30s) for PostgreSQL to catch up"
caught_up=0
for ((i = 1; i <= 30; i++)); do
  if show "+${i}s"; then
    caught_up=1
    break
  fi
  sync_alive
  sleep 1
done
((caught_up)) || echo "PostgreSQL did not catch up within 30s" >&2

say "stopping the sync (SIGTERM)"
stop_pid "$sync_pid"
set +e
wait "$sync_pid"
sync_rc=$?
set -e
sync_pid=
echo "sync exited with status $sync_rc (output: $SYNC_OUT)"

say "comparing SELECT id, customer, amount ... ORDER BY id on both sides"
my -e "SELECT id, customer, amount FROM demo.orders ORDER BY id" >"$DEMO_DIR/mysql-rows.tsv"
pg -c "SELECT id, customer, amount FROM public.orders ORDER BY id" >"$DEMO_DIR/pg-rows.tsv" || true
rows="$(wc -l <"$DEMO_DIR/mysql-rows.tsv")"
if cmp -s "$DEMO_DIR/mysql-rows.tsv" "$DEMO_DIR/pg-rows.tsv"; then
  printf '%sRESULT: tables are EQUAL (%d rows)%s\n' "$G" "$rows" "$N"
  result=0
else
  printf '%sRESULT: tables DIFFER%s (< MariaDB, > PostgreSQL):\n' "$R" "$N"
  diff "$DEMO_DIR/mysql-rows.tsv" "$DEMO_DIR/pg-rows.tsv" | head -n 20 || true
  result=1
fi

cat <<EOF

The servers are still running, so you can look around:
  MYSQL_PWD=$MGS_MYSQL_ADMIN_PASS mariadb -h$MGS_MYSQL_HOST -P$MGS_MYSQL_PORT -u$MGS_MYSQL_ADMIN_USER demo
  PGPASSWORD=$MGS_PG_PASS psql -h $MGS_PG_HOST -p $MGS_PG_PORT -U $MGS_PG_USER $MGS_PG_DB
Stop them with:
  scripts/test-env.sh down
EOF
exit "$result"
