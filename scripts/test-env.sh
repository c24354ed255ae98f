#!/usr/bin/env bash
# Starts/stops a throw-away MariaDB (binlog on, ROW/FULL) and PostgreSQL 15
# for the integration tests and the demo, plus two more binlog sources: MySQL
# 9.7 and MariaDB 11.8, each run from its own Debian sid chroot (the packages
# Debian 12 lacks).  Everything lives under one base directory and listens on
# 127.0.0.1 only.
#
#   scripts/test-env.sh up|down|status|env|install
#
# Knobs: MGS_TEST_DIR (default /tmp/mgs-test-env), MGS_MYSQL_PORT (13306),
#        MGS_PG_PORT (15432), MGS_MYSQL97_PORT (13307), MGS_MARIADB118_PORT
#        (13308), MGS_SOURCES (all | mariadb = only the MariaDB 10.11 | a
#        comma list of mariadb,mysql97,mariadb118), MGS_CHROOT_DIR (default
#        /var/tmp/mgs-chroots: the chroots, kept by `down` as a cache; built by
#        `install` or `up` when missing, which needs root and the network),
#        MGS_DEBIAN_MIRROR (default: the Debian mirror this machine's own apt
#        configuration uses for its release; the repository names none).
#
# All servers also speak TLS with a throw-away CA in <dir>/tls (ca.pem, server
# cert for DNS:localhost only, client cert CN mgs_cert, unrelated other-ca.pem);
# TLS-only users: MariaDB/MySQL repl_tls (REQUIRE SSL), repl_x509 (REQUIRE
# X509), PostgreSQL mgs_tls (hostssl), mgs_cert (hostssl + clientcert=verify-full).
# repl_noreload (all three binlog sources) has no RELOAD / LOCK TABLES.
#
# The chroot servers' directories (<dir>/mysql97, <dir>/mariadb118) are bind-
# mounted at the same path inside their chroot, so paths (socket, logs) are
# the same on the host and in the chroot; the chroot's /proc and /dev are
# mounted while a server runs from it.  `down` unmounts before deleting.
set -euo pipefail

# mariadbd and friends live in /usr/sbin, which a normal user's PATH lacks.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
# The mysql/mariadb clients (and servers) read these from the environment: a
# caller's MYSQL_PWD would, e.g., make root's password-less socket login fail.
unset MYSQL_HOST MYSQL_TCP_PORT MYSQL_PWD MYSQL_UNIX_PORT

BASE="${MGS_TEST_DIR:-/tmp/mgs-test-env}"
# Ports stay below 32768: Linux hands out 32768-60999 to outgoing connections,
# so a server started late (the failover pair) could find its port taken by a
# client's socket (seen in CI).
MYSQL_PORT="${MGS_MYSQL_PORT:-13306}"
PG_PORT="${MGS_PG_PORT:-15432}"
PG_BIN=/usr/lib/postgresql/15/bin
MYSQL97_PORT="${MGS_MYSQL97_PORT:-13307}"
MARIADB118_PORT="${MGS_MARIADB118_PORT:-13308}"
SOURCES="${MGS_SOURCES:-all}"
CHROOT_DIR="${MGS_CHROOT_DIR:-/var/tmp/mgs-chroots}"
DEBIAN_MIRROR="${MGS_DEBIAN_MIRROR:-}" # see apt_mirror

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
# Binlog reader without RELOAD / LOCK TABLES (lock-free initial load).
NORELOAD_USER=repl_noreload
NORELOAD_PASS=repl-noreload-pass

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

# apt_mirror: the mirror this machine's apt takes its own release from (the first enabled
# entry, deb822 `.sources` or one-line `sources.list`, whose suite is the release's codename:
# the main archive, not security updates nor a third party's repository). Empty if none.
apt_mirror() {
  local codename f
  # shellcheck source=/dev/null
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [[ -n $codename ]] || return 0
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk -v want="$codename" '
      function flush() {
        if (on && deb && uri != "" && ok) { print uri; found = 1; exit }
        on = 1; deb = 0; uri = ""; ok = 0
      }
      BEGIN { on = 1 }
      /^[[:space:]]*$/ { flush(); next }
      tolower($1) == "enabled:" && tolower($2) == "no" { on = 0 }
      tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == want) ok = 1 }
      END { if (!found) flush() }
    ' "$f" | head -n 1 | grep . && return 0
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    # deb [options] URI suite components...
    sed -e 's/\[[^]]*\]//' "$f" | awk -v want="$codename" '$1 == "deb" && $3 == want { print $2; exit }' |
      grep . && return 0
  done
  return 0
}
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
    command -v shellcheck >/dev/null # tests/e2e/ops.rs lints the operator scripts
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

# mariadb_cnf DIR PORT SERVER_ID: the [mysqld] settings of a MariaDB test
# server whose files all live in DIR (data, binlog, tmp, socket, TLS copies).
mariadb_cnf() {
  cat <<EOF
[mysqld]
datadir                        = $1/data
socket                         = $1/mysqld.sock
pid-file                       = $1/mysqld.pid
log_error                      = $1/mysqld.err
tmpdir                         = $1/tmp
port                           = $2
bind-address                   = 127.0.0.1
skip-name-resolve
server_id                      = $3
log_bin                        = $1/binlog/mysql-bin
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
ssl_ca                         = $1/ca.pem
ssl_cert                       = $1/server-cert.pem
ssl_key                        = $1/server-key.pem
EOF
}

write_my_cnf() {
  {
    echo "# Generated by scripts/test-env.sh; mariadbd reads only this file."
    mariadb_cnf "$MY_DIR" "$MYSQL_PORT" 1
    cat <<EOF

[client]
socket                         = $MY_SOCK
port                           = $MYSQL_PORT
EOF
  } >"$MY_CNF"
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
CREATE USER IF NOT EXISTS '$NORELOAD_USER'@'127.0.0.1' IDENTIFIED BY '$NORELOAD_PASS';
ALTER USER '$NORELOAD_USER'@'127.0.0.1' IDENTIFIED BY '$NORELOAD_PASS';
SQL
  # Least privilege for the sync itself.  REPLICATION CLIENT is an alias of
  # BINLOG MONITOR on MariaDB >= 10.5; older servers only know the former.
  # None of them has RELOAD here, so $NORELOAD_USER gets the same as $REPL_USER.
  local u
  for u in "$REPL_USER" "$MY_TLS_USER" "$MY_X509_USER" "$NORELOAD_USER"; do
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

# --------------------------------------------------- chroot binlog sources --
#
# MySQL 9.7 and MariaDB 11.8 are not in Debian 12: each runs from a minimal
# Debian sid chroot in $CHROOT_DIR/<name> (built once, kept across up/down).
# The server's own directory $BASE/<name> is bind-mounted at the same path in
# its chroot; the server runs as the host's $MY_USER uid/gid, its clients
# (the chroot's own mysql/mariadb) as root.  All of this needs root.

# Sources besides the MariaDB 10.11, which always runs.
CHROOT_SOURCES=()
parse_sources() {
  local item items
  case $SOURCES in
    all) CHROOT_SOURCES=(mysql97 mariadb118) ;;
    *)
      IFS=, read -r -a items <<<"$SOURCES"
      for item in "${items[@]}"; do
        case $item in
          mariadb) ;;
          mysql97 | mariadb118) CHROOT_SOURCES+=("$item") ;;
          *) die "MGS_SOURCES='$SOURCES': expected all, mariadb, or a comma list of mariadb,mysql97,mariadb118" ;;
        esac
      done
      ;;
  esac
}

source_enabled() {
  local s
  for s in "${CHROOT_SOURCES[@]}"; do
    [[ $s == "$1" ]] && return 0
  done
  return 1
}

# Environment of every command run in a chroot: nothing of the caller's.
CHROOT_ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  HOME=/root LANG=C.UTF-8)

# in_chroot ROOT CMD...: CMD as root in the chroot ROOT.
in_chroot() {
  local root=$1
  shift
  chroot "$root" "${CHROOT_ENV[@]}" "$@"
}

# src_load NAME: the S_* settings of the chroot source NAME.
src_load() {
  S_NAME=$1
  case $1 in
    mysql97)
      S_LABEL="MySQL 9.7"
      S_PORT=$MYSQL97_PORT
      S_ID=97
      S_FLAVOR=mysql
      S_PKGS="mysql-server-core mysql-client-core"
      S_SERVER=/usr/sbin/mysqld
      S_CLIENT=mysql
      S_ADMIN=mysqladmin
      ;;
    mariadb118)
      S_LABEL="MariaDB 11.8"
      S_PORT=$MARIADB118_PORT
      S_ID=118
      S_FLAVOR=mariadb
      S_PKGS="mariadb-server mariadb-client"
      S_SERVER=/usr/sbin/mariadbd
      S_CLIENT=mariadb
      S_ADMIN=mariadb-admin
      ;;
    *) die "unknown source $1" ;;
  esac
  S_DIR="$BASE/$1"
  S_CNF="$S_DIR/my.cnf"
  S_SOCK="$S_DIR/mysqld.sock"
  S_PID="$S_DIR/mysqld.pid"
  S_LOG="$S_DIR/mysqld.err"
  # The chroot a server was started from is recorded next to it, so `down`
  # finds its mounts even if MGS_CHROOT_DIR changed since.
  S_ROOT="$CHROOT_DIR/$1"
  if [[ -s $S_DIR/chroot ]]; then
    S_ROOT="$(cat "$S_DIR/chroot")"
  fi
}

# Mount points at or below DIR, deepest first.
mounts_under() {
  findmnt -rn -o TARGET | awk -v p="$1" '$0 == p || index($0, p "/") == 1' | sort -r
}

# rm -rf DIR, but never through a mount (a chroot's /dev is the host's /dev).
safe_rm_rf() {
  [[ $1 == /?* && $1 != *[[:space:]]* ]] || die "refusing to delete '$1'"
  if [[ -n $(mounts_under "$1") ]]; then
    die "refusing to delete $1: still mounted below it: $(mounts_under "$1" | tr '\n' ' ')"
  fi
  rm -rf "$1"
}

# True when a process runs with ROOT as its root directory.
chroot_in_use() {
  local p r
  for p in /proc/[0-9]*; do
    r="$(readlink "$p/root" 2>/dev/null)" || continue
    [[ $r == "$1" ]] && return 0
  done
  return 1
}

chroot_mount_sys() {
  if ! mountpoint -q "$1/proc"; then
    mount -t proc proc "$1/proc" || die "cannot mount proc on $1/proc"
  fi
  if ! mountpoint -q "$1/dev"; then
    mount --bind /dev "$1/dev" || die "cannot bind-mount /dev on $1/dev"
  fi
}

# Unmounts the chroot's /proc and /dev unless a process still runs in it.
chroot_umount_sys() {
  local m
  if chroot_in_use "$1"; then
    log "processes still run in $1: leaving its /proc and /dev mounted"
    return 0
  fi
  for m in "$1/dev" "$1/proc"; do
    if mountpoint -q "$m"; then
      umount "$m" || log "WARNING: cannot unmount $m"
    fi
  done
}

# The marker a complete chroot gets as its very last step; a chroot without
# it (or built for other packages) is half-built and is made again.
CHROOT_READY=.mgs-chroot-ready
chroot_stamp() {
  echo "mgs-chroot 1 debian=sid packages=$S_PKGS"
}

chroot_ready() {
  [[ -f $1/$CHROOT_READY && $(cat "$1/$CHROOT_READY") == "$(chroot_stamp)" ]]
}

need_root_for_sources() {
  if [[ $EUID -ne 0 ]]; then
    die "MGS_SOURCES=$SOURCES: MySQL 9.7 and MariaDB 11.8 run from Debian sid chroots, which needs root (chroot, mount, debootstrap); run as root, or set MGS_SOURCES=mariadb to start only the MariaDB 10.11 and PostgreSQL"
  fi
}

# chroot_build NAME: makes $CHROOT_DIR/NAME with the source's packages,
# unless it is complete already.
chroot_build() {
  src_load "$1"
  local root="$CHROOT_DIR/$1" blog="$CHROOT_DIR/$1.build.log" lock_fd
  if chroot_ready "$root"; then
    return 0
  fi
  need_root_for_sources
  mkdir -p "$CHROOT_DIR"
  # One builder at a time (parallel CI jobs share the cache).
  exec {lock_fd}>"$CHROOT_DIR/.lock"
  flock -w 1800 "$lock_fd" || die "timed out waiting for the lock on $CHROOT_DIR/.lock"
  if chroot_ready "$root"; then
    exec {lock_fd}>&-
    return 0
  fi
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap (missing)"
    apt-get update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >/dev/null ||
      die "cannot install debootstrap"
  fi
  if [[ -e $root ]]; then
    if chroot_in_use "$root"; then
      die "$root is incomplete or outdated but processes run in it; stop them (scripts/test-env.sh down) first"
    fi
    log "removing the incomplete or outdated chroot $root"
    local m
    while read -r m; do
      if [[ -n $m ]]; then
        umount "$m" || die "cannot unmount $m"
      fi
    done < <(mounts_under "$root")
    safe_rm_rf "$root"
  fi
  log "building the $S_LABEL chroot in $root (debootstrap sid + $S_PKGS; log: $blog)"
  local t0=$SECONDS
  : >"$blog"
  local mirror="${DEBIAN_MIRROR:-$(apt_mirror)}"
  [[ -n $mirror ]] ||
    die "no Debian mirror in this machine's apt configuration (/etc/apt/sources.list*); set MGS_DEBIAN_MIRROR"
  if ! debootstrap --variant=minbase sid "$root" "$mirror" >>"$blog" 2>&1; then
    chroot_build_failed "$root" "$blog" "debootstrap"
  fi
  # No service starts from package scripts inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  chroot_mount_sys "$root"
  # Check-Valid-Until: sid's Release files expire within days; a machine
  # whose clock is off must still be able to build.
  if ! in_chroot "$root" apt-get -o Acquire::Check-Valid-Until=false update >>"$blog" 2>&1; then
    chroot_build_failed "$root" "$blog" "apt-get update"
  fi
  # shellcheck disable=SC2086 # S_PKGS is a list of package names
  if ! in_chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    --no-install-recommends $S_PKGS >>"$blog" 2>&1; then
    chroot_build_failed "$root" "$blog" "apt-get install $S_PKGS"
  fi
  in_chroot "$root" apt-get clean >>"$blog" 2>&1 || true
  chroot_umount_sys "$root"
  [[ -x $root$S_SERVER ]] || chroot_build_failed "$root" "$blog" "checking for $S_SERVER"
  chroot_stamp >"$root/$CHROOT_READY" # last: marks the chroot complete
  log "built $root in $((SECONDS - t0)) s: $(in_chroot "$root" "$S_SERVER" --version 2>/dev/null || true)"
  exec {lock_fd}>&-
}

chroot_build_failed() {
  tail -n 30 "$2" >&2 || true
  chroot_umount_sys "$1"
  die "building the chroot $1 failed at: $3 (log: $2)"
}

# src_mount: /proc, /dev and the server's directory (same path) in its chroot.
src_mount() {
  local target="$S_ROOT$S_DIR"
  chroot_mount_sys "$S_ROOT"
  if mountpoint -q "$target"; then
    # A mount of an older, deleted $S_DIR shows a different inode.
    if [[ $(stat -c %d:%i "$S_DIR") == "$(stat -c %d:%i "$target")" ]]; then
      return 0
    fi
    umount "$target" || die "cannot unmount the stale $target"
  fi
  mkdir -p "$target"
  mount --bind "$S_DIR" "$target" || die "cannot bind-mount $S_DIR on $target"
}

# src_umount: undoes src_mount (the chroot's /proc and /dev only when no
# server runs from it any more); removes only the now empty mount points.
src_umount() {
  local target="$S_ROOT$S_DIR"
  [[ -d $S_ROOT ]] || return 0
  if mountpoint -q "$target"; then
    umount "$target" || log "WARNING: cannot unmount $target"
  fi
  if [[ -d $target ]] && ! mountpoint -q "$target"; then
    rmdir "$target" 2>/dev/null || true
    rmdir "$S_ROOT$BASE" 2>/dev/null || true
  fi
  chroot_umount_sys "$S_ROOT"
}

src_client() {
  in_chroot "$S_ROOT" "$S_CLIENT" --no-defaults "$@"
}

# The server's root@localhost over its unix socket (no password).
src_root() {
  src_client --socket="$S_SOCK" -uroot "$@"
}

src_pid() {
  local pid
  [[ -s $S_PID ]] || return 1
  pid="$(cat "$S_PID")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# The admin account logs in over TCP, with TLS: prints the TLS cipher.
src_tls_cipher() {
  local tls=(--ssl-mode=REQUIRED)
  if [[ $S_FLAVOR == mariadb ]]; then
    tls=(--ssl --ssl-verify-server-cert=OFF)
  fi
  src_client --connect-timeout=3 -h127.0.0.1 -P"$S_PORT" -u"$ADMIN_USER" -p"$ADMIN_PASS" \
    "${tls[@]}" -N -e "SHOW SESSION STATUS LIKE 'Ssl_cipher'" 2>/dev/null | awk '{print $2}'
}

src_answers() {
  [[ -n $(src_tls_cipher) ]]
}

# SQL that creates (or fixes) the accounts; the same for every `up`.
src_accounts_sql() {
  local repl_privs noreload_privs h
  if [[ $S_FLAVOR == mysql ]]; then
    repl_privs="SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT, LOCK TABLES, BACKUP_ADMIN"
    noreload_privs="SELECT, REPLICATION SLAVE, REPLICATION CLIENT"
  else
    # As on the 10.11: no RELOAD, so both the same.
    repl_privs="REPLICATION SLAVE, BINLOG MONITOR, REPLICATION CLIENT, SELECT"
    noreload_privs="$repl_privs"
  fi
  # skip-name-resolve: TCP logins match @'127.0.0.1', socket ones @'localhost'.
  for h in 127.0.0.1 localhost; do
    cat <<SQL
CREATE USER IF NOT EXISTS '$ADMIN_USER'@'$h' IDENTIFIED BY '$ADMIN_PASS';
ALTER USER '$ADMIN_USER'@'$h' IDENTIFIED BY '$ADMIN_PASS' REQUIRE NONE;
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'$h' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$REPL_USER'@'$h' IDENTIFIED BY '$REPL_PASS';
ALTER USER '$REPL_USER'@'$h' IDENTIFIED BY '$REPL_PASS' REQUIRE NONE;
GRANT $repl_privs ON *.* TO '$REPL_USER'@'$h';
CREATE USER IF NOT EXISTS '$MY_TLS_USER'@'$h' IDENTIFIED BY '$MY_TLS_PASS';
ALTER USER '$MY_TLS_USER'@'$h' IDENTIFIED BY '$MY_TLS_PASS' REQUIRE SSL;
GRANT $repl_privs ON *.* TO '$MY_TLS_USER'@'$h';
CREATE USER IF NOT EXISTS '$MY_X509_USER'@'$h' IDENTIFIED BY '$MY_X509_PASS';
ALTER USER '$MY_X509_USER'@'$h' IDENTIFIED BY '$MY_X509_PASS' REQUIRE X509;
GRANT $repl_privs ON *.* TO '$MY_X509_USER'@'$h';
CREATE USER IF NOT EXISTS '$NORELOAD_USER'@'$h' IDENTIFIED BY '$NORELOAD_PASS';
ALTER USER '$NORELOAD_USER'@'$h' IDENTIFIED BY '$NORELOAD_PASS' REQUIRE NONE;
GRANT $noreload_privs ON *.* TO '$NORELOAD_USER'@'$h';
SQL
  done
}

src_accounts_sum() {
  src_accounts_sql | sha256sum | cut -d' ' -f1
}

# Provisioning is skipped when the running server already got exactly this
# SQL (a stamp in its directory): every ALTER USER lands in the binlog and
# would show up in the middle of a test that calls `up` (tests/e2e/faults.rs).
src_provision() {
  local stamp="$S_DIR/.provisioned"
  if [[ -f $stamp && $(cat "$stamp") == "$(src_accounts_sum)" ]] &&
    [[ $(src_root -N -e "SELECT COUNT(*) FROM mysql.user WHERE user = '$NORELOAD_USER'" 2>/dev/null) == 2 ]]; then
    return 0
  fi
  log "creating the accounts on $S_LABEL"
  src_accounts_sql | src_root || die "creating the accounts on $S_LABEL failed"
  if [[ $S_FLAVOR == mariadb ]]; then
    # As on the 10.11: no anonymous accounts, root only over the socket.
    src_root -N -e "SELECT CONCAT('DROP USER ', QUOTE(user), '@', QUOTE(host), ';') FROM mysql.user
      WHERE user = '' OR (user = 'root' AND host <> 'localhost')" | src_root
  fi
  src_accounts_sum >"$stamp"
}

write_src_cnf() {
  {
    echo "# Generated by scripts/test-env.sh; $S_SERVER in $S_ROOT reads only this file."
    if [[ $S_FLAVOR == mariadb ]]; then
      # The 10.11's settings; binlog_legacy_event_pos (OFF) and
      # binlog_gtid_index (ON) stay on 11.8's defaults.
      mariadb_cnf "$S_DIR" "$S_PORT" "$S_ID"
    else
      cat <<CNF
[mysqld]
datadir                        = $S_DIR/data
socket                         = $S_DIR/mysqld.sock
pid-file                       = $S_DIR/mysqld.pid
log_error                      = $S_DIR/mysqld.err
tmpdir                         = $S_DIR/tmp
secure_file_priv               = $S_DIR/files
port                           = $S_PORT
bind_address                   = 127.0.0.1
# X Protocol would listen on 33060 on all addresses.
loose-mysqlx                   = OFF
skip_name_resolve
local_infile                   = 0
server_id                      = $S_ID
log_bin                        = $S_DIR/binlog/mysql-bin
binlog_format                  = ROW
binlog_row_image               = FULL
binlog_row_metadata            = FULL
binlog_checksum                = CRC32
gtid_mode                      = ON
enforce_gtid_consistency       = ON
max_binlog_size                = 64M
sync_binlog                    = 0
character_set_server           = utf8mb4
innodb_buffer_pool_size        = 128M
innodb_flush_log_at_trx_commit = 2
max_allowed_packet             = 256M
max_connections                = 300
# TLS is offered, not required: only $MY_TLS_USER/$MY_X509_USER insist on it.
ssl_ca                         = $S_DIR/ca.pem
ssl_cert                       = $S_DIR/server-cert.pem
ssl_key                        = $S_DIR/server-key.pem
CNF
    fi
  } >"$S_CNF"
  chmod 0644 "$S_CNF"
}

# CMD... in the chroot as the host's $MY_USER (the chroots have no such user).
src_as_server_user() {
  local gid
  gid="$(id -g "$MY_USER")"
  chroot --userspec="$(id -u "$MY_USER"):$gid" --groups="$gid" "$S_ROOT" "${CHROOT_ENV[@]}" "$@"
}

src_init() {
  if [[ -f $S_DIR/.initialized ]]; then
    return 0
  fi
  log "initialising the $S_LABEL data dir in $S_DIR/data"
  src_umount # the old directory's bind mount, if any
  safe_rm_rf "$S_DIR"
  mkdir -p "$S_DIR/data" "$S_DIR/binlog" "$S_DIR/tmp" "$S_DIR/files"
  echo "$S_ROOT" >"$S_DIR/chroot"
  write_src_cnf
  chown -R "$MY_USER:" "$S_DIR"
  chmod 0755 "$S_DIR"
  chmod 0750 "$S_DIR/files" # secure_file_priv: the server's only
  tls_copy_for "$MY_USER" "$S_DIR" # the cnf names them, also for --initialize
  src_mount
  local rc=0
  if [[ $S_FLAVOR == mysql ]]; then
    # root@localhost without a password, over the socket only.
    src_as_server_user "$S_SERVER" --defaults-file="$S_CNF" --initialize-insecure \
      >"$S_DIR/install.log" 2>&1 || rc=$?
  else
    # --force: the host name does not resolve in the chroot.
    src_as_server_user mariadb-install-db --no-defaults --force \
      --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
      --datadir="$S_DIR/data" >"$S_DIR/install.log" 2>&1 || rc=$?
  fi
  if ((rc != 0)); then
    tail -n 40 "$S_DIR/install.log" "$S_LOG" >&2 2>/dev/null || true
    die "initialising $S_LABEL failed (logs: $S_DIR/install.log, $S_LOG)"
  fi
  touch "$S_DIR/.initialized"
}

src_start() {
  local pid
  if pid="$(src_pid)"; then
    log "$S_LABEL already running (pid $pid)"
    return 0
  fi
  if port_busy "$S_PORT"; then
    die "port $S_PORT is taken by another process; set MGS_${S_NAME^^}_PORT"
  fi
  chroot_build "$S_NAME"
  # A stopped server moves to the current MGS_CHROOT_DIR.
  if [[ $S_ROOT != "$CHROOT_DIR/$S_NAME" ]]; then
    src_umount
    S_ROOT="$CHROOT_DIR/$S_NAME"
    if [[ -d $S_DIR ]]; then
      echo "$S_ROOT" >"$S_DIR/chroot"
    fi
  fi
  src_init
  src_mount
  tls_copy_for "$MY_USER" "$S_DIR"
  write_src_cnf
  rm -f "$S_PID" "$S_SOCK"
  log "starting $S_LABEL on 127.0.0.1:$S_PORT (chroot $S_ROOT)"
  # setsid/exec as for the MariaDB 10.11: $! is the server itself.
  (cd / && exec setsid chroot --userspec="$(id -u "$MY_USER"):$(id -g "$MY_USER")" \
    --groups="$(id -g "$MY_USER")" "$S_ROOT" "${CHROOT_ENV[@]}" \
    "$S_SERVER" --defaults-file="$S_CNF") </dev/null >>"$S_DIR/stdout" 2>&1 &
  local bg=$! i
  for ((i = 0; i < 180; i++)); do
    if in_chroot "$S_ROOT" "$S_ADMIN" --no-defaults --socket="$S_SOCK" -uroot \
      --connect-timeout=2 ping >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$bg" 2>/dev/null; then
      break
    fi
    sleep 0.5
  done
  log "$S_LABEL did not come up; last lines of $S_LOG:"
  tail -n 40 "$S_LOG" >&2 2>/dev/null || true
  tail -n 20 "$S_DIR/stdout" >&2 2>/dev/null || true
  die "$S_LABEL start failed"
}

src_stop() {
  local pid i
  if ! pid="$(src_pid)"; then
    return 0
  fi
  log "stopping $S_LABEL (pid $pid)"
  in_chroot "$S_ROOT" "$S_ADMIN" --no-defaults --socket="$S_SOCK" -uroot --connect-timeout=3 \
    shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "$S_LABEL (pid $pid) ignored shutdown for 60s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  sleep 1
}

# Running, answering over TLS with the current certificates, accounts made.
src_ready() {
  src_pid >/dev/null && tls_copies_current "$S_DIR" && src_answers &&
    [[ -f $S_DIR/.provisioned && $(cat "$S_DIR/.provisioned") == "$(src_accounts_sum)" ]]
}

src_status() {
  local pid version
  if pid="$(src_pid)"; then
    if src_answers; then
      version="$(src_root -N -e 'SELECT @@version' 2>/dev/null || true)"
      echo "$S_NAME: up (pid $pid, $S_LABEL $version, 127.0.0.1:$S_PORT, socket $S_SOCK, chroot $S_ROOT)"
    else
      echo "$S_NAME: running (pid $pid) but not answering over TLS on 127.0.0.1:$S_PORT"
      return 1
    fi
  elif source_enabled "$S_NAME"; then
    echo "$S_NAME: down"
    return 1
  else
    echo "$S_NAME: down (not in MGS_SOURCES=$SOURCES)"
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
export MGS_MYSQL97_PORT=$MYSQL97_PORT
export MGS_MARIADB118_PORT=$MARIADB118_PORT
export MGS_MYSQL_NORELOAD_USER=$NORELOAD_USER
export MGS_MYSQL_NORELOAD_PASS=$NORELOAD_PASS
export MGS_SOURCES='$SOURCES'
EOF
}

# -------------------------------------------------------------- commands ---

# The chroot sources (and their chroots) need root, and the chroot cache must
# not overlap the test dir, which `down` deletes.
check_chroot_setup() {
  ((${#CHROOT_SOURCES[@]} > 0)) || return 0
  need_root_for_sources
  [[ $CHROOT_DIR == /?* && $CHROOT_DIR != *[[:space:]]* ]] ||
    die "MGS_CHROOT_DIR must be an absolute path without spaces: '$CHROOT_DIR'"
  if [[ $CHROOT_DIR == "$BASE" || $CHROOT_DIR == "$BASE"/* || $BASE == "$CHROOT_DIR"/* ]]; then
    die "MGS_CHROOT_DIR ($CHROOT_DIR) and MGS_TEST_DIR ($BASE) must not contain each other"
  fi
}

cmd_install() {
  install_packages
  check_chroot_setup
  local s
  for s in "${CHROOT_SOURCES[@]}"; do
    chroot_build "$s"
  done
}

# Every enabled chroot source is ready (see src_ready).
sources_ready() {
  local s
  for s in "${CHROOT_SOURCES[@]}"; do
    src_load "$s"
    src_ready || return 1
  done
}

cmd_up() {
  install_packages
  check_chroot_setup
  if mysql_pid >/dev/null && pg_running && mysql_answers && pg_answers; then
    if tls_ready && sources_ready; then
      log "already up (MariaDB 127.0.0.1:$MYSQL_PORT, PostgreSQL 127.0.0.1:$PG_PORT, sources ${CHROOT_SOURCES[*]:-none more}, dir $BASE)"
      print_env >"$BASE/env.sh"
      return 0
    fi
    # E.g. started by an older version of this script, which had no TLS or
    # no chroot sources.
    log "up, but the TLS set-up or a source is missing or out of date: fixing it in place"
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

  local s labels=""
  for s in "${CHROOT_SOURCES[@]}"; do
    src_load "$s"
    if src_pid >/dev/null && ! tls_copies_current "$S_DIR"; then
      log "$S_LABEL runs without the current TLS certificates: restarting it"
      src_stop
    fi
    src_start
    src_provision
    src_answers || die "$S_LABEL is up but $ADMIN_USER cannot log in over TCP with TLS"
    labels+=", $S_LABEL 127.0.0.1:$S_PORT"
  done

  mysql_answers || die "MariaDB is up but $ADMIN_USER cannot log in over TCP"
  pg_answers || die "PostgreSQL is up but $ADMIN_USER cannot log in over TCP"
  print_env >"$BASE/env.sh"
  log "up: MariaDB 127.0.0.1:$MYSQL_PORT (socket $MY_SOCK), PostgreSQL 127.0.0.1:$PG_PORT$labels; env: $BASE/env.sh"
}

cmd_down() {
  local s
  if [[ ! -d $BASE ]]; then
    # Still undo mounts a deleted test dir may have left in the chroots.
    if [[ $EUID -eq 0 ]]; then
      for s in mysql97 mariadb118; do
        src_load "$s"
        src_umount
      done
    fi
    log "nothing to stop ($BASE does not exist)"
    return 0
  fi
  # A failover pair a test left behind (it is removed when the test ends).
  [[ -d $PAIR_DIR ]] && cmd_pair_down mariadb
  [[ -d $PAIR97_DIR ]] && cmd_pair97_down
  [[ -d $TWIN_DIR ]] && cmd_twin_down
  mysql_stop
  pg_stop
  # Every source this test dir has, whatever MGS_SOURCES says now.
  for s in mysql97 mariadb118; do
    src_load "$s"
    if [[ -d $S_DIR ]]; then
      src_stop
      src_umount
    fi
  done
  # Only ever delete a directory this script created.
  if [[ -f $MARKER ]]; then
    safe_rm_rf "$BASE"
    log "down: stopped and removed $BASE"
  else
    log "down: $BASE has no $MARKER; not deleting it"
  fi
}

cmd_status() {
  local rc=0 pid s
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
  for s in mysql97 mariadb118; do
    src_load "$s"
    if [[ $EUID -ne 0 ]]; then
      if source_enabled "$s"; then
        echo "$s: unknown (checking it needs root)"
        rc=1
      else
        echo "$s: not in MGS_SOURCES=$SOURCES"
      fi
    elif ! src_status; then
      rc=1
    fi
  done
  return "$rc"
}

# ------------------------------------------------------ failover pair --
# A primary and its replica (GTIDs, log_slave_updates), for the failover test
# (tests/e2e/failover.rs), which kills the primary: so they are servers of
# their own, started only on request, removed by `pair-down`. `pair-up` (or
# `pair-up mariadb`): MariaDB 10.11 in $BASE/pair on MGS_PAIR_PORT (13316) and
# the next port; `pair-up mysql97`: MySQL 9.7 (in its chroot) in $BASE/pair97
# on the two ports after those.
PAIR_DIR="$BASE/pair"
PAIR_PORT="${MGS_PAIR_PORT:-13316}"

pair_sock() { echo "$PAIR_DIR/$1/mysqld.sock"; }
pair_root() {
  local who=$1
  shift
  mariadb --no-defaults --socket="$(pair_sock "$who")" -uroot "$@"
}

# pair_start NAME PORT SERVER_ID: a fresh MariaDB in $PAIR_DIR/NAME.
pair_start() {
  local name=$1 port=$2 id=$3 dir="$PAIR_DIR/$1" i
  if [[ -S $dir/mysqld.sock ]] && pair_root "$name" -e "SELECT 1" >/dev/null 2>&1; then
    return 0
  fi
  if port_busy "$port"; then
    die "port $port is taken by another process; set MGS_PAIR_PORT"
  fi
  rm -rf "$dir"
  mkdir -p "$dir/data" "$dir/binlog" "$dir/tmp"
  chown -R "$MY_USER:" "$dir"
  as_user "$MY_USER" mariadb-install-db --no-defaults --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve --datadir="$dir/data" >"$dir/install.log" 2>&1 ||
    die "mariadb-install-db for the $name of the pair failed (log: $dir/install.log)"
  tls_copy_for "$MY_USER" "$dir"
  {
    mariadb_cnf "$dir" "$port" "$id"
    echo "log_slave_updates              = ON"
    echo "gtid_strict_mode               = ON"
  } >"$dir/my.cnf"
  chmod 0644 "$dir/my.cnf"
  run_as_prefix "$MY_USER"
  (cd "$dir" && exec "${RUN_AS[@]}" setsid mariadbd --defaults-file="$dir/my.cnf") \
    </dev/null >>"$dir/stdout" 2>&1 &
  for ((i = 0; i < 60; i++)); do
    pair_root "$name" -e "SELECT 1" >/dev/null 2>&1 && break
    sleep 1
  done
  pair_root "$name" -e "SELECT 1" >/dev/null 2>&1 ||
    die "the $name of the pair did not start (log: $dir/mysqld.err)"
  # Not binlogged: each server has its own accounts, and the replica does not replay them.
  pair_root "$name" <<SQL
SET sql_log_bin = 0;
CREATE USER '$ADMIN_USER'@'127.0.0.1' IDENTIFIED BY '$ADMIN_PASS';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASS';
GRANT REPLICATION SLAVE, BINLOG MONITOR, REPLICATION CLIENT, SELECT ON *.* TO '$REPL_USER'@'127.0.0.1';
SQL
}

# pair97_load NAME PORT SERVER_ID: the src_* settings of a MySQL 9.7 of the pair, in the
# mysql97 chroot, its files in $PAIR97_DIR/NAME.
PAIR97_DIR="$BASE/pair97"
pair97_load() {
  src_load mysql97
  S_NAME=mysql97
  S_LABEL="MySQL 9.7 pair $1"
  S_DIR="$PAIR97_DIR/$1"
  S_CNF="$S_DIR/my.cnf"
  S_SOCK="$S_DIR/mysqld.sock"
  S_PID="$S_DIR/mysqld.pid"
  S_LOG="$S_DIR/mysqld.err"
  S_PORT=$2
  S_ID=$3
  S_ROOT="$CHROOT_DIR/mysql97"
}

# pair97_start: src_start for a server of the pair (src_start itself would load the
# main mysql97's settings again through chroot_build).
pair97_start() {
  local i bg
  if src_pid >/dev/null; then
    return 0
  fi
  if port_busy "$S_PORT"; then
    die "port $S_PORT is taken by another process; set MGS_PAIR_PORT"
  fi
  src_init
  src_mount
  tls_copy_for "$MY_USER" "$S_DIR"
  write_src_cnf
  rm -f "$S_PID" "$S_SOCK"
  (cd / && exec setsid chroot --userspec="$(id -u "$MY_USER"):$(id -g "$MY_USER")" \
    --groups="$(id -g "$MY_USER")" "$S_ROOT" "${CHROOT_ENV[@]}" \
    "$S_SERVER" --defaults-file="$S_CNF") </dev/null >>"$S_DIR/stdout" 2>&1 &
  bg=$!
  for ((i = 0; i < 180; i++)); do
    if in_chroot "$S_ROOT" "$S_ADMIN" --no-defaults --socket="$S_SOCK" -uroot \
      --connect-timeout=2 ping >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 40 "$S_LOG" >&2 2>/dev/null || true
  die "$S_LABEL start failed"
}

cmd_pair97_up() {
  # Always a fresh pair: one a failed test left may have a promoted replica.
  [[ -d $PAIR97_DIR ]] && cmd_pair97_down
  mkdir -p "$PAIR97_DIR"
  chmod 0755 "$BASE" "$PAIR97_DIR"
  tls_certs
  chroot_build mysql97
  pair97_load primary "$((PAIR_PORT + 2))" 21
  pair97_start
  src_provision
  pair97_load replica "$((PAIR_PORT + 3))" 22
  pair97_start
  src_provision
  src_root <<SQL
STOP REPLICA;
CHANGE REPLICATION SOURCE TO SOURCE_HOST = '127.0.0.1', SOURCE_PORT = $((PAIR_PORT + 2)),
  SOURCE_USER = '$ADMIN_USER', SOURCE_PASSWORD = '$ADMIN_PASS', SOURCE_AUTO_POSITION = 1, SOURCE_SSL = 1;
START REPLICA;
SQL
  log "pair up: MySQL 9.7 primary 127.0.0.1:$((PAIR_PORT + 2)), replica 127.0.0.1:$((PAIR_PORT + 3)) (in $PAIR97_DIR)"
}

cmd_pair97_down() {
  local name pid
  for name in primary replica; do
    pair97_load "$name" 0 0
    pid="$(cat "$S_PID" 2>/dev/null || true)"
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  sleep 1
  for name in primary replica; do
    pair97_load "$name" 0 0
    local target="$S_ROOT$S_DIR"
    if mountpoint -q "$target"; then
      umount "$target" || log "WARNING: cannot unmount $target"
    fi
    rmdir "$target" 2>/dev/null || true
  done
  rmdir "$S_ROOT$PAIR97_DIR" 2>/dev/null || true
  safe_rm_rf "$PAIR97_DIR"
}

cmd_pair_up() {
  if [[ ${1:-mariadb} == mysql97 ]]; then
    cmd_pair97_up
    return
  fi
  [[ -d $PAIR_DIR ]] && cmd_pair_down mariadb
  mkdir -p "$PAIR_DIR"
  chmod 0755 "$BASE" "$PAIR_DIR"
  tls_certs
  pair_start primary "$PAIR_PORT" 11
  pair_start replica "$((PAIR_PORT + 1))" 12
  pair_root replica <<SQL
STOP SLAVE;
CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $PAIR_PORT, MASTER_USER = '$ADMIN_USER',
  MASTER_PASSWORD = '$ADMIN_PASS', MASTER_USE_GTID = slave_pos;
START SLAVE;
SQL
  log "pair up: primary 127.0.0.1:$PAIR_PORT, replica 127.0.0.1:$((PAIR_PORT + 1)) (in $PAIR_DIR)"
}

cmd_pair_down() {
  if [[ ${1:-mariadb} == mysql97 ]]; then
    cmd_pair97_down
    return
  fi
  local name pid
  for name in primary replica; do
    pid="$(cat "$PAIR_DIR/$name/mysqld.pid" 2>/dev/null || true)"
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  sleep 1
  rm -rf "$PAIR_DIR"
}

# ----------------------------------------------------------------- twin --
# Another MariaDB 10.11 with the main one's server_id (1) and GTID domain (0), as every
# MariaDB has unless someone changed them, for the test of a sync pointed at another server
# (tests/e2e/history.rs): `twin-up` starts it fresh in $BASE/twin on MGS_TWIN_PORT (13320),
# `twin-down` removes it.
TWIN_DIR="$BASE/twin"
TWIN_PORT="${MGS_TWIN_PORT:-$((PAIR_PORT + 4))}"

cmd_twin_up() {
  cmd_twin_down
  mkdir -p "$TWIN_DIR"
  chmod 0755 "$BASE" "$TWIN_DIR"
  tls_certs
  (PAIR_DIR="$TWIN_DIR" && pair_start twin "$TWIN_PORT" 1) || exit 1
  log "twin up: 127.0.0.1:$TWIN_PORT, server_id 1 (in $TWIN_DIR)"
}

cmd_twin_down() {
  local pid
  pid="$(cat "$TWIN_DIR/twin/mysqld.pid" 2>/dev/null || true)"
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
  fi
  rm -rf "$TWIN_DIR"
}

[[ $CHROOT_DIR == /* ]] && CHROOT_DIR="$(realpath -m "$CHROOT_DIR")"
parse_sources

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  install) cmd_install ;;
  pair-up) cmd_pair_up "${2:-mariadb}" ;;
  pair-down) cmd_pair_down "${2:-mariadb}" ;;
  twin-up) cmd_twin_up ;;
  twin-down) cmd_twin_down ;;
  *)
    echo "usage: $0 up|down|status|env|install|pair-up|pair-down|twin-up|twin-down" >&2
    exit 2
    ;;
esac
