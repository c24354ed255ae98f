#!/usr/bin/env bash
# Starts/stops a throw-away MariaDB (binlog on, ROW/FULL) and PostgreSQL 15
# for the integration tests and the demo.  Everything lives under one base
# directory and listens on 127.0.0.1 only.
#
#   scripts/test-env.sh up|down|status|env|install
#
# Knobs: MGS_TEST_DIR (default /tmp/mgs-test-env), MGS_MYSQL_PORT (33306),
#        MGS_PG_PORT (55432).
#
# Both servers also speak TLS with a throw-away CA in <dir>/tls (ca.pem, server
# cert for DNS:localhost only, client cert CN mgs_cert, unrelated other-ca.pem);
# TLS-only users: MariaDB repl_tls (REQUIRE SSL), repl_x509 (REQUIRE X509),
# PostgreSQL mgs_tls (hostssl), mgs_cert (hostssl + clientcert=verify-full).
set -euo pipefail

# mariadbd and friends live in /usr/sbin, which a normal user's PATH lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

BASE="${MGS_TEST_DIR:-/tmp/mgs-test-env}"
MYSQL_PORT="${MGS_MYSQL_PORT:-33306}"
PG_PORT="${MGS_PG_PORT:-55432}"
PG_BIN=/usr/lib/postgresql/15/bin

ADMIN_USER=mgs
ADMIN_PASS=mgs-pass
REPL_USER=repl
REPL_PASS=repl-pass
PG_DB=mgs
# TLS-only accounts (see the header).
MY_TLS_USER=repl_tls
MY_TLS_PASS=repl-tls-pass
MY_X509_USER=repl_x509
MY_X509_PASS=repl-x509-pass
PG_TLS_USER=mgs_tls
PG_TLS_PASS=mgs-tls-pass
PG_CERT_USER=mgs_cert
PG_CERT_PASS=mgs-cert-pass

MY_DIR="$BASE/mysql"
MY_DATA="$MY_DIR/data"
MY_CNF="$BASE/my.cnf"
MY_SOCK="$MY_DIR/mysqld.sock"
MY_PID="$MY_DIR/mysqld.pid"
MY_LOG="$MY_DIR/mysqld.err"
PG_DIR="$BASE/pg"
PG_DATA="$PG_DIR/data"
PG_SOCK_DIR="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"
MARKER="$BASE/.mgs-test-env" # proves the dir is ours before `down` deletes it
TLS_DIR="$BASE/tls"
HBA_MARKER="# mgs-test-env: TLS-only users (scripts/test-env.sh)"

# As root the servers must not run as root (mariadbd refuses without --user,
# postgres refuses outright), so use the accounts the packages create.
if [[ $EUID -eq 0 ]]; then
  MY_USER=mysql
  PG_USER=postgres
else
  MY_USER="$(id -un)"
  PG_USER="$MY_USER"
fi

log() { printf 'test-env: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Prefix that makes a command run as the given OS user: setpriv execs in
# place (no lingering root parent, unlike su/runuser).  Empty when we already
# are that user.
run_as_prefix() {
  RUN_AS=()
  if [[ $EUID -eq 0 && $1 != root ]]; then
    RUN_AS=(setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups
      env HOME="$BASE" USER="$1" LOGNAME="$1")
  fi
}

# Run a command as the given OS user, from the base dir so tools don't trip
# over an unreadable cwd such as /root.
as_user() {
  run_as_prefix "$1"
  shift
  (cd "$BASE" && exec "${RUN_AS[@]}" "$@")
}

# ---------------------------------------------------------------- install --

have_packages() {
  command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null &&
    command -v mariadb >/dev/null && command -v mariadb-admin >/dev/null &&
    [[ -x $PG_BIN/postgres && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] &&
    command -v psql >/dev/null && command -v openssl >/dev/null &&
    command -v shellcheck >/dev/null # tests/ops.rs lints the operator scripts
}

install_packages() {
  if have_packages; then
    return 0
  fi
  local sudo=()
  if [[ $EUID -ne 0 ]]; then
    # A normal user can only install through passwordless sudo.
    if ! { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }; then
      die "mariadb-server/postgresql-15 are missing and we are not root; install them: apt-get install mariadb-server mariadb-client postgresql-15 postgresql-client-15 openssl shellcheck"
    fi
    sudo=(sudo -n)
  fi
  log "installing mariadb-server, postgresql-15, openssl and shellcheck (missing)"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    mariadb-server mariadb-client postgresql-15 postgresql-client-15 openssl shellcheck
  hash -r
  have_packages || die "packages installed but binaries still missing"
}

# ----------------------------------------------------------------- checks --

# True when something accepts TCP connections on 127.0.0.1:$1 (bash-only, so
# no dependency on ss/netstat).
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

mysql_pid() {
  local pid
  [[ -s $MY_PID ]] || return 1
  pid="$(cat "$MY_PID")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# "answering" = the admin account can log in over TCP, exactly as tests do.
mysql_answers() {
  mariadb --no-defaults --connect-timeout=3 -h127.0.0.1 -P"$MYSQL_PORT" \
    -u"$ADMIN_USER" -p"$ADMIN_PASS" -N -e 'SELECT 1' >/dev/null 2>&1
}

pg_running() {
  [[ -f $PG_DATA/PG_VERSION ]] && as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_answers() {
  PGPASSWORD="$ADMIN_PASS" PGCONNECT_TIMEOUT=3 psql -X -q -h 127.0.0.1 -p "$PG_PORT" \
    -U "$ADMIN_USER" -d "$PG_DB" -tAc 'SELECT 1' >/dev/null 2>&1
}

# Root talks to MariaDB over the unix socket (root@localhost, no password).
mysql_root() {
  mariadb --no-defaults --socket="$MY_SOCK" -uroot "$@"
}

# The bootstrap superuser over the unix socket (local auth is trust).
pg_super() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK_DIR" -p "$PG_PORT" -U "$ADMIN_USER" "$@"
}

# A running MariaDB has TLS on with the current certificates.  One started by
# an older version of this script has none (@@have_ssl = DISABLED).
mysql_tls_current() {
  [[ $(mysql_root -N -e 'SELECT @@have_ssl' 2>/dev/null) == YES ]] &&
    tls_copies_current "$MY_DIR"
}

mysql_tls_users() {
  [[ $(mysql_root -N -e "SELECT COUNT(*) FROM mysql.user WHERE host = '127.0.0.1' AND
    ((user = '$MY_TLS_USER' AND ssl_type = 'ANY') OR (user = '$MY_X509_USER' AND ssl_type = 'X509'))" \
    2>/dev/null) == 2 ]]
}

# Likewise for PostgreSQL: ssl on, current certificates, our pg_hba.conf lines.
pg_tls_current() {
  [[ $(pg_super -d postgres -tAc 'SHOW ssl' 2>/dev/null) == on ]] &&
    tls_copies_current "$PG_DIR" && grep -qxF "$HBA_MARKER" "$PG_DATA/pg_hba.conf"
}

pg_tls_users() {
  [[ $(pg_super -d postgres -tAc "SELECT count(*) FROM pg_roles WHERE rolcanlogin AND
    rolname IN ('$PG_TLS_USER', '$PG_CERT_USER')" 2>/dev/null) == 2 ]]
}

# Everything the TLS tests rely on is in place on the running servers.
tls_ready() {
  tls_files_present && mysql_tls_current && mysql_tls_users &&
    pg_tls_current && pg_tls_users
}

# -------------------------------------------------------------------- tls --

# The extensions rustls/webpki insists on: v3 certificates, a CA marked as
# one, leaves with subjectAltName (the CN is ignored) and an extendedKeyUsage.
# The server is DNS:localhost only, on purpose: a client verifying the host
# name succeeds for "localhost" and fails for "127.0.0.1".
write_openssl_cnf() {
  cat >"$1" <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[server_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
[client_ext]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = clientAuth
subjectAltName         = DNS:mgs_cert
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
CNF
}

# tls_new_key FILE: RSA 2048 in PKCS#8 PEM ("BEGIN PRIVATE KEY").
tls_new_key() {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null
}

# tls_new_ca CNF NAME CN: self-signed CA NAME.pem + NAME-key.pem.
tls_new_ca() {
  tls_new_key "$TLS_DIR/$2-key.pem"
  openssl req -new -x509 -config "$1" -extensions ca_ext -sha256 -days 3650 \
    -key "$TLS_DIR/$2-key.pem" -subj "/CN=$3" -out "$TLS_DIR/$2.pem"
}

# tls_new_leaf CNF NAME CN EXT: NAME-cert.pem + NAME-key.pem signed by ca.pem.
tls_new_leaf() {
  tls_new_key "$TLS_DIR/$2-key.pem"
  openssl req -new -config "$1" -key "$TLS_DIR/$2-key.pem" -subj "/CN=$3" \
    -out "$TLS_DIR/$2.csr"
  openssl x509 -req -in "$TLS_DIR/$2.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 3650 \
    -extfile "$1" -extensions "$4" -out "$TLS_DIR/$2-cert.pem" 2>/dev/null
  rm -f "$TLS_DIR/$2.csr"
}

# True when NAME-cert.pem (with its key) exists and ca.pem vouches for it for
# the given purpose (sslserver/sslclient).
tls_leaf_ok() {
  [[ -s $TLS_DIR/$1-key.pem && -s $TLS_DIR/$1-cert.pem ]] &&
    openssl verify -CAfile "$TLS_DIR/ca.pem" -purpose "$2" "$TLS_DIR/$1-cert.pem" >/dev/null 2>&1
}

tls_files_present() {
  local f
  for f in ca.pem ca-key.pem server-cert.pem server-key.pem client-cert.pem \
    client-key.pem other-ca.pem other-ca-key.pem; do
    [[ -s $TLS_DIR/$f ]] || return 1
  done
}

# Test CA, server and client certificates in $TLS_DIR; only what is missing
# (or no longer signed by ca.pem) is made.  Owned by the invoking user, who
# also runs the tests: keys 0600 (psql insists on that for the client key),
# certificates 0644.  The servers get their own copies (tls_copy_for).
tls_certs() {
  mkdir -p "$TLS_DIR"
  chmod 0755 "$TLS_DIR"
  if tls_files_present && tls_leaf_ok server sslserver && tls_leaf_ok client sslclient; then
    return 0
  fi
  log "generating the test CA and certificates in $TLS_DIR"
  local cnf="$TLS_DIR/openssl.cnf"
  (
    umask 077 # keys must never be readable by others, not even briefly
    write_openssl_cnf "$cnf"
    if [[ ! -s $TLS_DIR/ca.pem || ! -s $TLS_DIR/ca-key.pem ]]; then
      tls_new_ca "$cnf" ca "mysql-gp-sync test CA"
      rm -f "$TLS_DIR/server-cert.pem" "$TLS_DIR/client-cert.pem" # old CA's
    fi
    tls_leaf_ok server sslserver || tls_new_leaf "$cnf" server localhost server_ext
    tls_leaf_ok client sslclient || tls_new_leaf "$cnf" client mgs_cert client_ext
    if [[ ! -s $TLS_DIR/other-ca.pem || ! -s $TLS_DIR/other-ca-key.pem ]]; then
      tls_new_ca "$cnf" other-ca "mysql-gp-sync unrelated test CA"
    fi
    rm -f "$cnf"
  ) || die "generating TLS certificates in $TLS_DIR failed"
  chmod 0644 "$TLS_DIR"/ca.pem "$TLS_DIR"/server-cert.pem "$TLS_DIR"/client-cert.pem \
    "$TLS_DIR"/other-ca.pem
  chmod 0600 "$TLS_DIR"/*-key.pem
  if ! { tls_leaf_ok server sslserver && tls_leaf_ok client sslclient; }; then
    die "the certificates in $TLS_DIR do not verify against $TLS_DIR/ca.pem"
  fi
}

# The server's copies of ca.pem, server-cert.pem, server-key.pem in DIR, owned
# by USER and 0600: mariadbd must be able to read its key, and PostgreSQL
# refuses a key that others can read unless root owns it.
tls_copy_for() {
  local f owner=()
  if [[ $EUID -eq 0 ]]; then
    owner=(-o "$1" -g "$(id -g "$1")")
  fi
  for f in ca.pem server-cert.pem server-key.pem; do
    install -m 0600 "${owner[@]}" "$TLS_DIR/$f" "$2/$f"
  done
}

# True when DIR holds the current copies (a server started from stale ones
# would present a certificate the tests' ca.pem does not know).
tls_copies_current() {
  local f
  for f in ca.pem server-cert.pem server-key.pem; do
    cmp -s "$TLS_DIR/$f" "$1/$f" || return 1
  done
}

# ---------------------------------------------------------------- mariadb --

write_my_cnf() {
  cat >"$MY_CNF" <<EOF
# Generated by scripts/test-env.sh; mariadbd reads only this file.
[mysqld]
datadir                        = $MY_DATA
socket                         = $MY_SOCK
pid-file                       = $MY_PID
log_error                      = $MY_LOG
tmpdir                         = $MY_DIR/tmp
port                           = $MYSQL_PORT
bind-address                   = 127.0.0.1
skip-name-resolve
server_id                      = 1
log_bin                        = $MY_DIR/binlog/mysql-bin
binlog_format                  = ROW
binlog_row_image               = FULL
binlog_row_metadata            = FULL
max_binlog_size                = 64M
sync_binlog                    = 0
character-set-server           = utf8mb4
collation-server               = utf8mb4_general_ci
innodb_buffer_pool_size        = 256M
innodb_flush_log_at_trx_commit = 2
max_allowed_packet             = 256M
# tests run several binlog readers plus writers in parallel
max_connections                = 500
# TLS is offered, not required (require_secure_transport stays off): only
# the $MY_TLS_USER/$MY_X509_USER accounts insist on it.
ssl_ca                         = $MY_DIR/ca.pem
ssl_cert                       = $MY_DIR/server-cert.pem
ssl_key                        = $MY_DIR/server-key.pem

[client]
socket                         = $MY_SOCK
port                           = $MYSQL_PORT
EOF
  chmod 0644 "$MY_CNF"
}

mysql_init() {
  # A data dir without the marker is a half-finished init: start over.
  if [[ -f $MY_DIR/.initialized ]]; then
    return 0
  fi
  log "initialising MariaDB data dir in $MY_DATA"
  rm -rf "$MY_DIR"
  mkdir -p "$MY_DATA" "$MY_DIR/binlog" "$MY_DIR/tmp"
  chown -R "$MY_USER:" "$MY_DIR"
  chmod 0755 "$MY_DIR"
  if ! as_user "$MY_USER" mariadb-install-db --no-defaults \
    --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
    --datadir="$MY_DATA" >"$BASE/mysql-install.log" 2>&1; then
    tail -n 40 "$BASE/mysql-install.log" >&2
    die "mariadb-install-db failed (log: $BASE/mysql-install.log)"
  fi
  touch "$MY_DIR/.initialized"
}

mysql_start() {
  if mysql_pid >/dev/null; then
    log "MariaDB already running (pid $(mysql_pid))"
    return 0
  fi
  if port_busy "$MYSQL_PORT"; then
    die "port $MYSQL_PORT is taken by another process; set MGS_MYSQL_PORT"
  fi
  mysql_init
  tls_copy_for "$MY_USER" "$MY_DIR"
  write_my_cnf
  rm -f "$MY_PID" "$MY_SOCK"
  log "starting MariaDB on 127.0.0.1:$MYSQL_PORT"
  # setsid: own session, so a Ctrl-C in the caller's terminal (e.g. ending
  # scripts/test.sh) does not also kill the server behind our back.
  # exec all the way down so $! is mariadbd itself, not a waiting subshell.
  run_as_prefix "$MY_USER"
  (cd "$BASE" && exec "${RUN_AS[@]}" setsid mariadbd --defaults-file="$MY_CNF") \
    </dev/null >>"$BASE/mysqld.stdout" 2>&1 &
  local bg=$! i
  for ((i = 0; i < 60; i++)); do
    if mariadb-admin --no-defaults --socket="$MY_SOCK" -uroot --connect-timeout=2 \
      ping >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$bg" 2>/dev/null; then
      break # died early: no point waiting the full minute
    fi
    sleep 1
  done
  log "MariaDB did not come up; last lines of $MY_LOG:"
  tail -n 40 "$MY_LOG" >&2 2>/dev/null || true
  tail -n 20 "$BASE/mysqld.stdout" >&2 2>/dev/null || true
  die "MariaDB start failed"
}

mysql_provision() {
  # Idempotent: IF NOT EXISTS + ALTER so a re-run also fixes a wrong password.
  mysql_root <<SQL
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$ADMIN_PASS';
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PASS';
ALTER USER '$ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$ADMIN_PASS';
ALTER USER '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'localhost' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASS';
ALTER USER '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASS';
CREATE USER IF NOT EXISTS '$MY_TLS_USER'@'127.0.0.1' IDENTIFIED BY '$MY_TLS_PASS';
ALTER USER '$MY_TLS_USER'@'127.0.0.1' IDENTIFIED BY '$MY_TLS_PASS' REQUIRE SSL;
CREATE USER IF NOT EXISTS '$MY_X509_USER'@'127.0.0.1' IDENTIFIED BY '$MY_X509_PASS';
ALTER USER '$MY_X509_USER'@'127.0.0.1' IDENTIFIED BY '$MY_X509_PASS' REQUIRE X509;
SQL
  # Least privilege for the sync itself.  REPLICATION CLIENT is an alias of
  # BINLOG MONITOR on MariaDB >= 10.5; older servers only know the former.
  local u
  for u in "$REPL_USER" "$MY_TLS_USER" "$MY_X509_USER"; do
    if ! mysql_root -e "GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION CLIENT, SELECT ON *.* TO '$u'@'127.0.0.1'" 2>/dev/null; then
      mysql_root -e "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO '$u'@'127.0.0.1'"
    fi
  done
  # install-db's anonymous accounts would shadow logins, and its password-less
  # root@127.0.0.1/::1/<hostname> would let anything on the machine in over
  # TCP: keep only root@localhost (unix socket), which this script uses.
  mysql_root -N -e "SELECT CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.user
    WHERE user = '' OR (user = 'root' AND host <> 'localhost')" |
    mysql_root
}

mysql_stop() {
  local pid i
  if ! pid="$(mysql_pid)"; then
    return 0
  fi
  log "stopping MariaDB (pid $pid)"
  mariadb-admin --no-defaults --socket="$MY_SOCK" -uroot --connect-timeout=3 shutdown >/dev/null 2>&1 ||
    kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 1
  done
  log "MariaDB (pid $pid) ignored shutdown for 60s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

# ------------------------------------------------------------- postgresql --

pg_init() {
  if [[ -f $PG_DIR/.initialized ]]; then
    return 0
  fi
  log "initialising PostgreSQL data dir in $PG_DATA"
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DATA" "$PG_SOCK_DIR"
  chmod 0700 "$PG_DATA" # initdb insists on it
  chmod 0755 "$PG_DIR" "$PG_SOCK_DIR"
  local pwfile="$PG_DIR/pwfile"
  printf '%s\n' "$ADMIN_PASS" >"$pwfile"
  chown -R "$PG_USER:" "$PG_DIR"
  chmod 0600 "$pwfile"
  # C.UTF-8 gives UTF8 with byte-order collation; fall back to plain C.
  local locale=C
  if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then
    locale=C.UTF-8
  fi
  if ! as_user "$PG_USER" "$PG_BIN/initdb" -D "$PG_DATA" -U "$ADMIN_USER" --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale="$locale" \
    >"$BASE/pg-initdb.log" 2>&1; then
    rm -f "$pwfile"
    tail -n 40 "$BASE/pg-initdb.log" >&2
    die "initdb failed (log: $BASE/pg-initdb.log)"
  fi
  rm -f "$pwfile"
  touch "$PG_DIR/.initialized"
}

# Put the TLS-only rules in front of initdb's (the first matching line
# wins, and initdb's "host all all 127.0.0.1/32" would also let these users in
# without TLS).  Written in place, so the file keeps its owner and mode; read
# by PostgreSQL at (re)start.
pg_hba_tls() {
  local hba="$PG_DATA/pg_hba.conf" rules
  if grep -qxF "$HBA_MARKER" "$hba"; then
    return 0
  fi
  rules="$(
    cat <<EOF
$HBA_MARKER
hostssl   all $PG_TLS_USER  127.0.0.1/32 scram-sha-256
hostnossl all $PG_TLS_USER  127.0.0.1/32 reject
hostssl   all $PG_CERT_USER 127.0.0.1/32 scram-sha-256 clientcert=verify-full
hostnossl all $PG_CERT_USER 127.0.0.1/32 reject

EOF
    cat "$hba"
  )"
  printf '%s\n' "$rules" >"$hba"
}

pg_start() {
  if pg_running; then
    log "PostgreSQL already running"
    return 0
  fi
  if port_busy "$PG_PORT"; then
    die "port $PG_PORT is taken by another process; set MGS_PG_PORT"
  fi
  pg_init
  pg_hba_tls
  tls_copy_for "$PG_USER" "$PG_DIR"
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  # Durability is irrelevant for a throw-away test server: trade it for speed.
  # ssl_ca_file makes the server ask for (not require) a client certificate.
  if ! as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 60 -l "$PG_LOG" \
    -o "-p $PG_PORT -k $PG_SOCK_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB -c ssl=on -c ssl_cert_file=$PG_DIR/server-cert.pem -c ssl_key_file=$PG_DIR/server-key.pem -c ssl_ca_file=$PG_DIR/ca.pem" \
    start >/dev/null; then
    log "PostgreSQL did not come up; last lines of $PG_LOG:"
    tail -n 40 "$PG_LOG" >&2 || true
    die "PostgreSQL start failed"
  fi
}

pg_provision() {
  if [[ -z $(pg_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
    pg_super -d postgres -c "CREATE DATABASE $PG_DB OWNER $ADMIN_USER"
  fi
  # Superusers, since they write into tables the tests create as $ADMIN_USER.
  # Create if absent, then ALTER always so a re-run also fixes the password.
  local u pass
  for u in "$PG_TLS_USER" "$PG_CERT_USER"; do
    if [[ $u == "$PG_TLS_USER" ]]; then pass="$PG_TLS_PASS"; else pass="$PG_CERT_PASS"; fi
    if [[ -z $(pg_super -d postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$u'") ]]; then
      pg_super -d postgres -c "CREATE ROLE $u"
    fi
    pg_super -d postgres -c "ALTER ROLE $u WITH LOGIN SUPERUSER PASSWORD '$pass'"
  done
}

pg_stop() {
  if pg_running; then
    log "stopping PostgreSQL"
    as_user "$PG_USER" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null ||
      log "pg_ctl stop failed (see $PG_LOG)"
  fi
}

# ------------------------------------------------------------------- env ---

print_env() {
  cat <<EOF
export MGS_TEST_DIR='$BASE'
export MGS_MYSQL_HOST=127.0.0.1
export MGS_MYSQL_PORT=$MYSQL_PORT
export MGS_MYSQL_ADMIN_USER=$ADMIN_USER
export MGS_MYSQL_ADMIN_PASS=$ADMIN_PASS
export MGS_MYSQL_REPL_USER=$REPL_USER
export MGS_MYSQL_REPL_PASS=$REPL_PASS
export MGS_MYSQL_SOCKET='$MY_SOCK'
export MGS_PG_HOST=127.0.0.1
export MGS_PG_PORT=$PG_PORT
export MGS_PG_USER=$ADMIN_USER
export MGS_PG_PASS=$ADMIN_PASS
export MGS_PG_DB=$PG_DB
export MGS_TLS_DIR='$TLS_DIR'
export MGS_MYSQL_TLS_USER=$MY_TLS_USER
export MGS_MYSQL_TLS_PASS=$MY_TLS_PASS
export MGS_MYSQL_X509_USER=$MY_X509_USER
export MGS_MYSQL_X509_PASS=$MY_X509_PASS
export MGS_PG_TLS_USER=$PG_TLS_USER
export MGS_PG_TLS_PASS=$PG_TLS_PASS
export MGS_PG_CERT_USER=$PG_CERT_USER
export MGS_PG_CERT_PASS=$PG_CERT_PASS
EOF
}

# -------------------------------------------------------------- commands ---

cmd_up() {
  install_packages
  if mysql_pid >/dev/null && pg_running && mysql_answers && pg_answers; then
    if tls_ready; then
      log "already up (MariaDB 127.0.0.1:$MYSQL_PORT, PostgreSQL 127.0.0.1:$PG_PORT, dir $BASE)"
      print_env >"$BASE/env.sh"
      return 0
    fi
    # E.g. started by an older version of this script, which had no TLS.
    log "up, but the TLS set-up is missing or out of date: fixing it in place"
  fi
  [[ $BASE == /* && $BASE != *[[:space:]]* ]] ||
    die "MGS_TEST_DIR must be an absolute path without spaces: '$BASE'"
  mkdir -p "$BASE"
  touch "$MARKER"
  chmod 0755 "$BASE"
  # Both service users must be able to walk down to their directories.
  local u
  for u in "$MY_USER" "$PG_USER"; do
    as_user "$u" test -x "$BASE" ||
      die "user $u cannot enter $BASE; put MGS_TEST_DIR under /tmp"
  done

  tls_certs
  # A server already running without TLS (or with stale certificates) must
  # restart to pick up the settings; its data dir is kept.
  if mysql_pid >/dev/null && ! mysql_tls_current; then
    log "MariaDB runs without the current TLS settings: restarting it"
    mysql_stop
  fi
  if pg_running && ! pg_tls_current; then
    log "PostgreSQL runs without the current TLS settings: restarting it"
    pg_stop
  fi

  mysql_start
  mysql_provision
  pg_start
  pg_provision

  mysql_answers || die "MariaDB is up but $ADMIN_USER cannot log in over TCP"
  pg_answers || die "PostgreSQL is up but $ADMIN_USER cannot log in over TCP"
  print_env >"$BASE/env.sh"
  log "up: MariaDB 127.0.0.1:$MYSQL_PORT (socket $MY_SOCK), PostgreSQL 127.0.0.1:$PG_PORT; env: $BASE/env.sh"
}

cmd_down() {
  if [[ ! -d $BASE ]]; then
    log "nothing to stop ($BASE does not exist)"
    return 0
  fi
  mysql_stop
  pg_stop
  # Only ever delete a directory this script created.
  if [[ -f $MARKER ]]; then
    rm -rf "$BASE"
    log "down: stopped and removed $BASE"
  else
    log "down: $BASE has no $MARKER; not deleting it"
  fi
}

cmd_status() {
  local rc=0 pid
  if pid="$(mysql_pid)"; then
    if mysql_answers; then
      echo "mariadb: up (pid $pid, 127.0.0.1:$MYSQL_PORT, socket $MY_SOCK)"
    else
      echo "mariadb: running (pid $pid) but not answering on 127.0.0.1:$MYSQL_PORT"
      rc=1
    fi
  else
    echo "mariadb: down"
    rc=1
  fi
  if pg_running; then
    if pg_answers; then
      echo "postgres: up (127.0.0.1:$PG_PORT, socket dir $PG_SOCK_DIR)"
    else
      echo "postgres: running but not answering on 127.0.0.1:$PG_PORT"
      rc=1
    fi
  else
    echo "postgres: down"
    rc=1
  fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  install) install_packages ;;
  *)
    echo "usage: $0 up|down|status|env|install" >&2
    exit 2
    ;;
esac
