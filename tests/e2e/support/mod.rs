//! The harness of the end-to-end tests: real MariaDB / MySQL, real PostgreSQL,
//! the real `mysql-gp-sync` binary run as a subprocess. No mocks.
//!
//! Server addresses come from env vars (defaults in brackets):
//! MGS_MYSQL_HOST [127.0.0.1], MGS_MYSQL_PORT [13306], MGS_MYSQL_ADMIN_USER [mgs],
//! MGS_MYSQL_ADMIN_PASS [mgs-pass], MGS_MYSQL_REPL_USER [repl], MGS_MYSQL_REPL_PASS [repl-pass],
//! MGS_PG_HOST [127.0.0.1], MGS_PG_PORT [15432], MGS_PG_USER [mgs], MGS_PG_PASS [mgs-pass],
//! MGS_PG_DB [mgs], MGS_FLAVOR [mariadb] (`mysql` for a MySQL source: the sync's `flavor`
//! and the statements the tests use follow it).
//!
//! `scripts/test.sh` runs the suite once per source server (MariaDB 10.11, MySQL 9.7,
//! MariaDB 11.8) by pointing these variables at each; a test that needs one flavor's feature
//! asks [`Env::is_mysql`] and says why it skips.
//!
//! Set MGS_KEEP_TMP=1 to keep every sync's temp dir (config, master.info, logs);
//! it is always kept (and its path printed) when a test panics.
#![allow(dead_code)]

mod servers;
pub use servers::Servers;

use std::cmp::Ordering as CmpOrdering;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mysql_async::consts::ColumnType;
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, Row, Value};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

pub const BIN: &str = env!("CARGO_BIN_EXE_mysql-gp-sync");

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---------------------------------------------------------------------------
// Environment / connections
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Env {
    pub mysql_host: String,
    pub mysql_port: u16,
    pub admin_user: String,
    pub admin_pass: String,
    pub repl_user: String,
    pub repl_pass: String,
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_user: String,
    pub pg_pass: String,
    pub pg_db: String,
    /// `mariadb` or `mysql`: the source server's flavor.
    pub flavor: String,
    /// An account with SELECT and replication rights but no RELOAD (lock-free `init`).
    pub noreload: (String, String),
    /// TLS material and TLS-only accounts made by `scripts/test-env.sh`.
    pub tls: TlsEnv,
}

#[derive(Clone, Debug)]
pub struct TlsEnv {
    /// `ca.pem`, `server-cert.pem` (DNS:localhost only), `client-cert.pem`/`client-key.pem`
    /// (CN mgs_cert), `other-ca.pem` (an unrelated CA).
    pub dir: PathBuf,
    /// MariaDB accounts created `REQUIRE SSL` and `REQUIRE X509`: (user, password).
    pub mysql_tls: (String, String),
    pub mysql_x509: (String, String),
    /// PostgreSQL roles allowed only by `hostssl` lines, the second with `clientcert=verify-full`.
    pub pg_tls: (String, String),
    pub pg_cert: (String, String),
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

impl Env {
    pub fn get() -> Env {
        let port = |name: &str, d: &str| -> u16 {
            let v = var(name, d);
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a port number"))
        };
        Env {
            mysql_host: var("MGS_MYSQL_HOST", "127.0.0.1"),
            mysql_port: port("MGS_MYSQL_PORT", "13306"),
            admin_user: var("MGS_MYSQL_ADMIN_USER", "mgs"),
            admin_pass: var("MGS_MYSQL_ADMIN_PASS", "mgs-pass"),
            repl_user: var("MGS_MYSQL_REPL_USER", "repl"),
            repl_pass: var("MGS_MYSQL_REPL_PASS", "repl-pass"),
            pg_host: var("MGS_PG_HOST", "127.0.0.1"),
            pg_port: port("MGS_PG_PORT", "15432"),
            pg_user: var("MGS_PG_USER", "mgs"),
            pg_pass: var("MGS_PG_PASS", "mgs-pass"),
            pg_db: var("MGS_PG_DB", "mgs"),
            flavor: var("MGS_FLAVOR", "mariadb").to_ascii_lowercase(),
            noreload: (
                var("MGS_MYSQL_NORELOAD_USER", "repl_noreload"),
                var("MGS_MYSQL_NORELOAD_PASS", "repl-noreload-pass"),
            ),
            tls: TlsEnv {
                dir: PathBuf::from(var("MGS_TLS_DIR", "/tmp/mgs-test-env/tls")),
                mysql_tls: (
                    var("MGS_MYSQL_TLS_USER", "repl_tls"),
                    var("MGS_MYSQL_TLS_PASS", "repl-tls-pass"),
                ),
                mysql_x509: (
                    var("MGS_MYSQL_X509_USER", "repl_x509"),
                    var("MGS_MYSQL_X509_PASS", "repl-x509-pass"),
                ),
                pg_tls: (
                    var("MGS_PG_TLS_USER", "mgs_tls"),
                    var("MGS_PG_TLS_PASS", "mgs-tls-pass"),
                ),
                pg_cert: (
                    var("MGS_PG_CERT_USER", "mgs_cert"),
                    var("MGS_PG_CERT_PASS", "mgs-cert-pass"),
                ),
            },
        }
    }

    pub fn is_mysql(&self) -> bool {
        self.flavor == "mysql"
    }

    /// A name for the source server in messages: "MySQL" or "MariaDB".
    pub fn server_name(&self) -> &'static str {
        if self.is_mysql() {
            "MySQL"
        } else {
            "MariaDB"
        }
    }

    /// The statement that reports the current binlog position on this server.
    pub fn binlog_status_sql(&self) -> &'static str {
        if self.is_mysql() {
            "SHOW BINARY LOG STATUS"
        } else {
            "SHOW MASTER STATUS"
        }
    }

    /// A row source with one column `seq` = 1..=n, usable after FROM: MariaDB's SEQUENCE
    /// engine table, or on MySQL (which has none) a cross join of digits.
    pub fn seq(&self, n: u64) -> String {
        self.seq_range(1, n)
    }

    /// Like [`Env::seq`], `seq` = lo..=hi.
    pub fn seq_range(&self, lo: u64, hi: u64) -> String {
        if !self.is_mysql() {
            return format!("seq_{lo}_to_{hi}");
        }
        let n = hi;
        let digits = (n.max(1) as f64).log10().ceil().max(1.0) as u32;
        let d = "(SELECT 0 i UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL \
                 SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL \
                 SELECT 8 UNION ALL SELECT 9)";
        let from: Vec<String> = (0..digits).map(|k| format!("{d} d{k}")).collect();
        let sum: Vec<String> = (0..digits)
            .map(|k| format!("d{k}.i * {}", 10u64.pow(k)))
            .collect();
        format!(
            "(SELECT {} + 1 AS seq FROM {}) seq_t WHERE seq BETWEEN {lo} AND {n}",
            sum.join(" + "),
            from.join(" CROSS JOIN ")
        )
    }

    pub fn mysql_addr(&self) -> String {
        format!("{}:{}", self.mysql_host, self.mysql_port)
    }

    /// Admin connection (all privileges), optionally with a default database.
    pub async fn mysql_db(&self, db: Option<&str>) -> Conn {
        let opts = OptsBuilder::default()
            .ip_or_hostname(self.mysql_host.clone())
            .tcp_port(self.mysql_port)
            .user(Some(self.admin_user.clone()))
            .pass(Some(self.admin_pass.clone()))
            .db_name(db.map(|s| s.to_string()))
            .prefer_socket(false);
        match tokio::time::timeout(secs(15), Conn::new(opts)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "cannot connect to the source server at {} as {}: {e}\n\
                 The test servers are not running: run scripts/test.sh \
                 (it starts them with `bash scripts/test-env.sh up`).",
                self.mysql_addr(),
                self.admin_user
            ),
            Err(_) => panic!(
                "timed out connecting to the source server at {}. The test servers are not running: \
                 run scripts/test.sh (it starts them with `bash scripts/test-env.sh up`).",
                self.mysql_addr()
            ),
        }
    }

    pub async fn mysql(&self) -> Conn {
        self.mysql_db(None).await
    }

    pub async fn pg(&self) -> Client {
        let conn_str = format!(
            "host={} port={} user={} password={} dbname={} connect_timeout=15",
            self.pg_host, self.pg_port, self.pg_user, self.pg_pass, self.pg_db
        );
        match tokio_postgres::connect(&conn_str, NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                client
            }
            Err(e) => panic!(
                "cannot connect to PostgreSQL at {}:{} db {} as {}: {e}\n\
                 The test servers are not running: run scripts/test.sh \
                 (it starts them with `bash scripts/test-env.sh up`).",
                self.pg_host, self.pg_port, self.pg_db, self.pg_user
            ),
        }
    }
}

/// Run one statement on MySQL; panic with the statement on error.
pub async fn my_q(conn: &mut Conn, sql: &str) {
    if let Err(e) = conn.query_drop(sql).await {
        panic!("MySQL statement failed: {e}\n  SQL: {}", abbrev(sql));
    }
}

/// Run one statement on MySQL and return its affected rows.
pub async fn my_affected(conn: &mut Conn, sql: &str) -> u64 {
    my_q(conn, sql).await;
    conn.affected_rows()
}

pub async fn my_exec<P: Into<mysql_async::Params> + Send>(conn: &mut Conn, sql: &str, params: P) {
    if let Err(e) = conn.exec_drop(sql, params).await {
        panic!(
            "MySQL prepared statement failed: {e}\n  SQL: {}",
            abbrev(sql)
        );
    }
}

pub async fn pg_q(client: &Client, sql: &str) {
    if let Err(e) = client.batch_execute(sql).await {
        panic!("PostgreSQL statement failed: {e:?}\n  SQL: {}", abbrev(sql));
    }
}

/// First column of first row, as text (simple query protocol), None for NULL / no row.
pub async fn pg_value(client: &Client, sql: &str) -> Option<String> {
    let msgs = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL query failed: {e:?}\n  SQL: {sql}"));
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m {
            return r.get(0).map(|s| s.to_string());
        }
    }
    None
}

/// The columns of a PostgreSQL table's primary key, by name, comma-separated (`table` as
/// `regclass` reads it).
pub async fn pg_primary_key(client: &Client, table: &str) -> Option<String> {
    let sql = format!(
        "SELECT string_agg(a.attname, ',' ORDER BY a.attname) FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = {}::regclass AND i.indisprimary",
        lit(table)
    );
    pg_value(client, &sql).await
}

pub async fn my_value(conn: &mut Conn, sql: &str) -> Option<String> {
    let row: Option<Row> = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("MySQL query failed: {e}\n  SQL: {sql}"));
    row.and_then(|r| {
        let vals = r.unwrap();
        match vals.into_iter().next() {
            Some(Value::NULL) | None => None,
            Some(v) => Some(value_text(&v)),
        }
    })
}

/// Lower-case hex of `b` (also a valid `X'…'` literal in MySQL).
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn abbrev(s: &str) -> String {
    if s.len() > 400 {
        let mut end = 400;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes)", &s[..end], s.len())
    } else {
        s.to_string()
    }
}

/// MySQL string literal (default sql_mode: backslash escapes active).
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

pub fn lit_opt(s: Option<&str>) -> String {
    match s {
        Some(s) => lit(s),
        None => "NULL".to_string(),
    }
}

// ---------------------------------------------------------------------------
// Binlog positions
// ---------------------------------------------------------------------------

pub type BinPos = (String, u64);

/// Current (file, pos) of the source server (`SHOW MASTER STATUS` / `SHOW BINARY LOG STATUS`).
pub async fn master_pos(env: &Env) -> BinPos {
    let mut c = env.mysql().await;
    let pos = master_pos_on(&mut c).await;
    let _ = c.disconnect().await;
    pos
}

pub async fn master_pos_on(c: &mut Conn) -> BinPos {
    let sql = Env::get().binlog_status_sql();
    let row: Row = c
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_else(|| {
            panic!("{sql} returned no row: binary logging is off on the test server")
        });
    let file: String = row.get(0).expect("File column");
    let pos: u64 = row.get(1).expect("Position column");
    (file, pos)
}

/// All binlog files the server has (`SHOW BINARY LOGS`): (name, size).
pub async fn binary_logs(env: &Env) -> Vec<(String, u64)> {
    let mut c = env.mysql().await;
    let rows: Vec<Row> = c.query("SHOW BINARY LOGS").await.expect("SHOW BINARY LOGS");
    let _ = c.disconnect().await;
    rows.into_iter()
        .map(|r| (r.get::<String, _>(0).unwrap(), r.get::<u64, _>(1).unwrap()))
        .collect()
}

fn binlog_seq(name: &str) -> u64 {
    name.rsplit('.')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("binlog file name without numeric suffix: {name:?}"))
}

/// Compare two binlog positions (file sequence number, then offset).
pub fn pos_cmp(a: &BinPos, b: &BinPos) -> CmpOrdering {
    (binlog_seq(&a.0), a.1).cmp(&(binlog_seq(&b.0), b.1))
}

pub fn pos_ge(a: &BinPos, b: &BinPos) -> bool {
    pos_cmp(a, b) != CmpOrdering::Less
}

// ---------------------------------------------------------------------------
// Per-test database
// ---------------------------------------------------------------------------

/// One MySQL database and one PostgreSQL schema with the same name `t_{name}_{pid}`.
pub struct TestDb {
    pub name: String,
    pub env: Env,
}

impl TestDb {
    pub async fn create(name: &str) -> TestDb {
        let env = Env::get();
        let full = format!("t_{}_{}", name, std::process::id()).to_lowercase();
        assert!(full.len() <= 63, "test db name too long: {full}");
        let mut my = env.mysql().await;
        my_q(&mut my, &format!("DROP DATABASE IF EXISTS `{full}`")).await;
        my_q(
            &mut my,
            &format!("CREATE DATABASE `{full}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
        )
        .await;
        let _ = my.disconnect().await;
        let pg = env.pg().await;
        pg_q(
            &pg,
            &format!("DROP SCHEMA IF EXISTS \"{full}\" CASCADE; CREATE SCHEMA \"{full}\""),
        )
        .await;
        TestDb { name: full, env }
    }

    /// `db.table` (same string names the MySQL table and the PG table).
    pub fn t(&self, table: &str) -> String {
        format!("{}.{}", self.name, table)
    }

    /// Admin MySQL connection with this database as default.
    pub async fn my(&self) -> Conn {
        self.env.mysql_db(Some(&self.name)).await
    }

    /// PG client with search_path set to this schema.
    pub async fn pg(&self) -> Client {
        let c = self.env.pg().await;
        pg_q(&c, &format!("SET search_path TO \"{}\"", self.name)).await;
        c
    }

    pub async fn my_exec_all(&self, sqls: &[&str]) {
        let mut c = self.my().await;
        for s in sqls {
            my_q(&mut c, s).await;
        }
        let _ = c.disconnect().await;
    }

    pub async fn pg_exec_all(&self, sqls: &[&str]) {
        let c = self.pg().await;
        for s in sqls {
            pg_q(&c, s).await;
        }
    }

    /// Create a table in MySQL (DDL `my`) and its target in PG (DDL `pg`).
    pub async fn create_table(&self, my: &str, pg: &str) {
        self.my_exec_all(&[my]).await;
        self.pg_exec_all(&[pg]).await;
    }

    /// Drop the MySQL database and the PG schema (call at the end of a passing test).
    pub async fn cleanup(self) {
        let mut my = self.env.mysql().await;
        my_q(&mut my, &format!("DROP DATABASE IF EXISTS `{}`", self.name)).await;
        let _ = my.disconnect().await;
        let pg = self.env.pg().await;
        pg_q(
            &pg,
            &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
        )
        .await;
    }
}

// ---------------------------------------------------------------------------
// Sync config
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Rule {
    pub schema: String,
    pub table: String,
    pub pg_schema: String,
    pub pg_table: String,
}

#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// The sync's `flavor` (from the environment's source server).
    pub flavor: String,
    pub mysql_addr: String,
    pub mysql_user: String,
    pub mysql_pass: String,
    pub server_id: u32,
    pub pg_host: String,
    pub pg_port: u16,
    pub pg_user: String,
    pub pg_pass: String,
    pub pg_dbname: String,
    pub concurrent_size: u32,
    pub concurrent_ack_win: u32,
    pub skip_no_pk_table: bool,
    /// (schema, tables)
    pub sources: Vec<(String, Vec<String>)>,
    pub rules: Vec<Rule>,
    /// Write master.info at the current master position before the first start.
    pub write_master_info: bool,
    /// Further top-level TOML lines (e.g. TLS settings), written before the sections.
    pub extra: String,
}

static SERVER_ID_COUNTER: AtomicU32 = AtomicU32::new(1);

/// Unique per running sync instance: pid and a counter.
pub fn alloc_server_id() -> u32 {
    let n = SERVER_ID_COUNTER.fetch_add(1, Ordering::SeqCst) % 1000;
    (std::process::id() % 1_000_000) * 1000 + n + 100
}

/// Runs `scripts/test-env.sh` with `args` (`pair-up mysql97`, `twin-down`, …); panics with its
/// stderr when it fails.
pub fn test_env(args: &[&str]) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/test-env.sh"))
        .args(args)
        .output()
        .expect("run scripts/test-env.sh");
    assert!(
        out.status.success(),
        "scripts/test-env.sh {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// TOML string literal.
pub fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

impl SyncConfig {
    /// Replication user, one source schema `db` with `tables`, concurrent_size 4.
    pub fn new(env: &Env, db: &str, tables: &[&str]) -> SyncConfig {
        SyncConfig {
            flavor: env.flavor.clone(),
            mysql_addr: env.mysql_addr(),
            mysql_user: env.repl_user.clone(),
            mysql_pass: env.repl_pass.clone(),
            server_id: alloc_server_id(),
            pg_host: env.pg_host.clone(),
            pg_port: env.pg_port,
            pg_user: env.pg_user.clone(),
            pg_pass: env.pg_pass.clone(),
            pg_dbname: env.pg_db.clone(),
            concurrent_size: 4,
            concurrent_ack_win: 8192,
            skip_no_pk_table: false,
            sources: vec![(
                db.to_string(),
                tables.iter().map(|s| s.to_string()).collect(),
            )],
            rules: vec![],
            write_master_info: true,
            extra: String::new(),
        }
    }

    /// Adds a top-level `key = value` line (value given as TOML).
    pub fn set(mut self, key: &str, toml_value: &str) -> Self {
        let _ = writeln!(self.extra, "{key} = {toml_value}");
        self
    }

    pub fn concurrent(mut self, n: u32) -> Self {
        self.concurrent_size = n;
        self
    }

    pub fn skip_no_pk(mut self, v: bool) -> Self {
        self.skip_no_pk_table = v;
        self
    }

    pub fn rule(mut self, schema: &str, table: &str, pg_schema: &str, pg_table: &str) -> Self {
        self.rules.push(Rule {
            schema: schema.into(),
            table: table.into(),
            pg_schema: pg_schema.into(),
            pg_table: pg_table.into(),
        });
        self
    }

    pub fn to_toml(&self, data_dir: &Path) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "mysql_addr = {}", toml_str(&self.mysql_addr));
        let _ = writeln!(s, "mysql_user = {}", toml_str(&self.mysql_user));
        let _ = writeln!(s, "mysql_pass = {}", toml_str(&self.mysql_pass));
        let _ = writeln!(s, "mysql_charset = \"utf8mb4\"");
        let _ = writeln!(s, "server_id = {}", self.server_id);
        let _ = writeln!(s, "flavor = {}", toml_str(&self.flavor));
        let _ = writeln!(s, "pg_host = {}", toml_str(&self.pg_host));
        let _ = writeln!(s, "pg_port = {}", self.pg_port);
        let _ = writeln!(s, "pg_user = {}", toml_str(&self.pg_user));
        let _ = writeln!(s, "pg_pass = {}", toml_str(&self.pg_pass));
        let _ = writeln!(s, "pg_dbname = {}", toml_str(&self.pg_dbname));
        let _ = writeln!(s, "data_dir = {}", toml_str(&data_dir.to_string_lossy()));
        let _ = writeln!(s, "concurrent_size = {}", self.concurrent_size);
        let _ = writeln!(s, "concurrent_ack_win = {}", self.concurrent_ack_win);
        let _ = writeln!(s, "skip_no_pk_table = {}", self.skip_no_pk_table);
        let _ = writeln!(s, "statsd_host = \"\"");
        let _ = writeln!(s, "statsd_port = 8125");
        let _ = writeln!(s, "statsd_prefix = \"mysql_gp_sync\"");
        s.push_str(&self.extra);
        for (schema, tables) in &self.sources {
            let list: Vec<String> = tables.iter().map(|t| toml_str(t)).collect();
            let _ = writeln!(
                s,
                "\n[[source]]\nschema = {}\ntables = [{}]",
                toml_str(schema),
                list.join(", ")
            );
        }
        for r in &self.rules {
            let _ = writeln!(
                s,
                "\n[[rule]]\nschema = {}\ntable = {}\npg_schema = {}\npg_table = {}",
                toml_str(&r.schema),
                toml_str(&r.table),
                toml_str(&r.pg_schema),
                toml_str(&r.pg_table)
            );
        }
        s
    }
}

// ---------------------------------------------------------------------------
// The sync subprocess
// ---------------------------------------------------------------------------

pub struct SyncProc {
    dir: Option<tempfile::TempDir>,
    pub dir_path: PathBuf,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    child: Option<Child>,
    /// Exit status of the last run, once it has exited.
    pub last_status: Option<ExitStatus>,
    pub starts: u32,
    env: Env,
}

impl SyncProc {
    /// Write the config (and master.info at the current master position unless
    /// `cfg.write_master_info` is false) into a fresh temp dir and start the binary.
    pub async fn start(env: &Env, cfg: &SyncConfig) -> SyncProc {
        let mut p = SyncProc::prepare(env);
        let toml = cfg.to_toml(&p.data_dir);
        fs::write(&p.config_path, toml).expect("write config");
        if cfg.write_master_info {
            let pos = master_pos(env).await;
            p.write_master_info(&pos);
        }
        p.spawn();
        p
    }

    /// Start with a hand-written config text (`{DATA_DIR}` is replaced by the data dir path)
    /// and an optional master.info position.
    pub async fn start_raw(env: &Env, toml_text: &str, master_info: Option<BinPos>) -> SyncProc {
        let mut p = SyncProc::prepare(env);
        let toml = toml_text.replace("{DATA_DIR}", &p.data_dir.to_string_lossy());
        fs::write(&p.config_path, toml).expect("write config");
        if let Some(pos) = master_info {
            p.write_master_info(&pos);
        }
        p.spawn();
        p
    }

    /// Temp dir, config path and data dir, without writing or starting anything.
    pub fn prepare(env: &Env) -> SyncProc {
        let dir = tempfile::Builder::new()
            .prefix("mgs-test-")
            .tempdir()
            .expect("tempdir");
        let dir_path = dir.path().to_path_buf();
        let data_dir = dir_path.join("var");
        fs::create_dir_all(&data_dir).expect("create data_dir");
        SyncProc {
            config_path: dir_path.join("sync.toml"),
            data_dir,
            dir_path,
            dir: Some(dir),
            child: None,
            last_status: None,
            starts: 0,
            env: env.clone(),
        }
    }

    pub fn write_master_info(&self, pos: &BinPos) {
        let text = format!("bin_name = {}\nbin_pos = {}\n", toml_str(&pos.0), pos.1);
        fs::write(self.data_dir.join("master.info"), text).expect("write master.info");
    }

    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "sync already running");
        let open = |name: &str| {
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir_path.join(name))
                .expect("open output file")
        };
        let out = open("stdout.txt");
        let err = open("stderr.txt");
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config_path)
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {BIN}: {e}"));
        self.child = Some(child);
        self.last_status = None;
        self.starts += 1;
    }

    /// Start again with the same config; master.info is whatever the last run left.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            panic!("restart() while the sync is still running; stop it first");
        }
        self.spawn();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// If the child has exited, reap it and return its status.
    pub fn try_exited(&mut self) -> Option<ExitStatus> {
        if let Some(c) = self.child.as_mut() {
            if let Some(st) = c.try_wait().expect("try_wait") {
                self.child = None;
                self.last_status = Some(st);
                return Some(st);
            }
            None
        } else {
            self.last_status
        }
    }

    /// Panic (with logs) if the sync is not running.
    pub fn assert_alive(&mut self, context: &str) {
        if self.child.is_none() {
            panic!(
                "{context}: the sync is not running (last status {:?})\n{}",
                self.last_status,
                self.diag()
            );
        }
        if let Some(st) = self.try_exited() {
            panic!(
                "{context}: the sync exited unexpectedly with {st}\n{}",
                self.diag()
            );
        }
    }

    /// Wait for the child to exit by itself; panic after `timeout` (and kill it).
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if self.child.is_none() {
                return self.last_status.expect("sync was never started");
            }
            if let Some(st) = self.try_exited() {
                return st;
            }
            if Instant::now() >= deadline {
                let d = self.diag();
                self.kill9();
                panic!("the sync did not exit within {timeout:?}\n{d}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -TERM <pid>`; assert exit code 0 within 30 s.
    pub async fn sigterm_and_wait(&mut self) {
        self.assert_alive("before SIGTERM");
        let pid = self.pid().unwrap();
        let st = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill -TERM");
        assert!(st.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + secs(30);
        loop {
            if let Some(st) = self.try_exited() {
                if st.code() != Some(0) {
                    panic!(
                        "after SIGTERM the sync exited with {st}, expected exit code 0\n{}",
                        self.diag()
                    );
                }
                return;
            }
            if Instant::now() >= deadline {
                let d = self.diag();
                self.kill9();
                panic!("the sync did not exit within 30 s of SIGTERM\n{d}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            if let Ok(st) = c.wait() {
                self.last_status = Some(st);
            }
        }
    }

    fn read_file(&self, name: &str) -> String {
        fs::read(self.dir_path.join(name))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Contents of `sync.log` in the sync's working dir (and of any rotated `sync.log*`).
    pub fn log(&self) -> String {
        let mut names: Vec<String> = fs::read_dir(&self.dir_path)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("sync.log"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .map(|n| self.read_file(n))
            .collect::<Vec<_>>()
            .join("")
    }

    pub fn stdout(&self) -> String {
        self.read_file("stdout.txt")
    }

    pub fn stderr(&self) -> String {
        self.read_file("stderr.txt")
    }

    /// (bin_name, bin_pos) from `<data_dir>/master.info`; None if absent.
    /// Panics if it exists but is not the documented TOML.
    pub fn master_info(&self) -> Option<BinPos> {
        let path = self.data_dir.join("master.info");
        let text = fs::read_to_string(&path).ok()?;
        let v: toml::Value = text
            .parse()
            .unwrap_or_else(|e| panic!("master.info is not valid TOML: {e}\n---\n{text}"));
        let name = v
            .get("bin_name")
            .and_then(|x| x.as_str())
            .unwrap_or_else(|| panic!("master.info has no string bin_name\n---\n{text}"));
        let pos = v
            .get("bin_pos")
            .and_then(|x| x.as_integer())
            .unwrap_or_else(|| panic!("master.info has no integer bin_pos\n---\n{text}"));
        Some((name.to_string(), pos as u64))
    }

    /// Tails of sync.log and stderr, for failure messages.
    pub fn diag(&self) -> String {
        fn tail(s: &str, n: usize) -> String {
            let lines: Vec<&str> = s.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines[start..].join("\n")
        }
        format!(
            "--- sync temp dir: {} (starts: {}, config {})\n--- sync.log (tail) ---\n{}\n--- stderr (tail) ---\n{}\n--- stdout (tail, 15) ---\n{}\n---",
            self.dir_path.display(),
            self.starts,
            self.config_path.display(),
            tail(&self.log(), 40),
            tail(&self.stderr(), 20),
            tail(&self.stdout(), 15),
        )
    }

    /// Poll until master.info is at or past `target`.
    pub async fn wait_master_info_at_least(
        &mut self,
        target: &BinPos,
        timeout: Duration,
    ) -> BinPos {
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_alive("waiting for master.info");
            let mi = self.master_info();
            if let Some(p) = &mi {
                if pos_ge(p, target) {
                    return p.clone();
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "master.info did not reach {target:?} within {timeout:?}; it is {mi:?}\n{}",
                    self.diag()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Poll a PG query (first column of first row, text) until it returns `expected`.
    pub async fn wait_pg_value(&mut self, sql: &str, expected: Option<&str>, timeout: Duration) {
        let pg = self.env.pg().await;
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_alive("waiting for a PG value");
            let got = pg_value(&pg, sql).await;
            if got.as_deref() == expected {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "PG query {sql:?} returned {got:?}, expected {expected:?} after {timeout:?}\n{}",
                    self.diag()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Poll until the MySQL table `my_table` ("db.table") and the PG table `pg_table`
    /// ("schema.table") hold the same rows; panic with a diff after `timeout`.
    pub async fn wait_tables_equal(
        &mut self,
        my_table: &str,
        pg_table: &str,
        keys: &[&str],
        timeout: Duration,
    ) {
        let sql = format!("SELECT * FROM {}", quote_my(my_table));
        self.wait_query_equal(&sql, pg_table, keys, timeout).await
    }

    /// Like `wait_tables_equal`, with an arbitrary MySQL SELECT (e.g. a UNION ALL of
    /// shards) whose column names are the PG table's column names.
    pub async fn wait_query_equal(
        &mut self,
        my_sql: &str,
        pg_table: &str,
        keys: &[&str],
        timeout: Duration,
    ) {
        let mut my = self.env.mysql().await;
        let pg = self.env.pg().await;
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_alive(&format!("waiting for {pg_table} to equal MySQL"));
            let started = Instant::now();
            let last = compare_once(&mut my, &pg, my_sql, pg_table, keys, false).await;
            match last {
                Ok(_) => {
                    let _ = my.disconnect().await;
                    return;
                }
                Err(diff) => {
                    if Instant::now() >= deadline {
                        // full diff for the message
                        let full =
                            match compare_once(&mut my, &pg, my_sql, pg_table, keys, true).await {
                                Ok(_) => "(became equal while building the message)".to_string(),
                                Err(d) => d,
                            };
                        let _ = diff;
                        panic!(
                            "MySQL `{my_sql}` and PG {pg_table} still differ after {timeout:?}:\n{full}\n{}",
                            self.diag()
                        );
                    }
                }
            }
            let took = started.elapsed();
            let interval = (took * 2).clamp(Duration::from_millis(200), secs(3));
            tokio::time::sleep(interval).await;
        }
    }

    /// Keep the temp dir (it is printed) instead of deleting it.
    pub fn keep_dir(&mut self) -> PathBuf {
        if let Some(d) = self.dir.take() {
            let _ = d.keep();
        }
        self.dir_path.clone()
    }
}

impl Drop for SyncProc {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() || std::env::var_os("MGS_KEEP_TMP").is_some() {
            let p = self.keep_dir();
            eprintln!("(sync temp dir kept: {})", p.display());
        }
    }
}

// ---------------------------------------------------------------------------
// Table comparison
// ---------------------------------------------------------------------------

/// `db.table` → `` `db`.`table` ``
pub fn quote_my(name: &str) -> String {
    name.split('.')
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(".")
}

/// `schema.table` → `"schema"."table"`
pub fn quote_pg(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

type Cell = Option<String>;

struct Snapshot {
    cols: Vec<String>,
    time_cols: Vec<bool>,
    rows: Vec<Vec<Cell>>,
}

fn value_text(v: &Value) -> String {
    match v {
        Value::NULL => "NULL".into(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// PG prints timestamp fractional seconds without trailing zeros, MySQL prints all
/// fsp digits: normalise both to the trimmed form. Nothing else is normalised.
fn norm_time(s: &str) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.strip_suffix('.').unwrap_or(t).to_string()
    } else {
        s.to_string()
    }
}

async fn fetch_mysql(my: &mut Conn, sql: &str) -> Snapshot {
    // Text protocol: values come back as strings.
    let res = my
        .query_iter(sql)
        .await
        .unwrap_or_else(|e| panic!("MySQL query failed: {e}\n  SQL: {sql}"));
    let columns = res
        .columns()
        .unwrap_or_else(|| panic!("MySQL query returned no result set: {sql}"));
    let cols: Vec<String> = columns.iter().map(|c| c.name_str().into_owned()).collect();
    let time_cols: Vec<bool> = columns
        .iter()
        .map(|c| {
            matches!(
                c.column_type(),
                ColumnType::MYSQL_TYPE_DATETIME
                    | ColumnType::MYSQL_TYPE_DATETIME2
                    | ColumnType::MYSQL_TYPE_TIMESTAMP
                    | ColumnType::MYSQL_TYPE_TIMESTAMP2
                    | ColumnType::MYSQL_TYPE_TIME
                    | ColumnType::MYSQL_TYPE_TIME2
            )
        })
        .collect();
    let rows: Vec<Row> = res
        .collect_and_drop()
        .await
        .unwrap_or_else(|e| panic!("MySQL query failed: {e}\n  SQL: {sql}"));
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let vals = r.unwrap();
        let row: Vec<Cell> = vals
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::NULL => None,
                v => {
                    let s = value_text(&v);
                    Some(if time_cols[i] { norm_time(&s) } else { s })
                }
            })
            .collect();
        out.push(row);
    }
    Snapshot {
        cols,
        time_cols,
        rows: out,
    }
}

async fn fetch_pg(
    pg: &Client,
    table: &str,
    cols: &[String],
    time_cols: &[bool],
) -> Result<Vec<Vec<Cell>>, String> {
    let list: Vec<String> = cols.iter().map(|c| format!("\"{c}\"::text")).collect();
    let sql = format!("SELECT {} FROM {}", list.join(", "), quote_pg(table));
    let msgs = pg
        .simple_query(&sql)
        .await
        .map_err(|e| format!("PG query failed: {e:?}\n  SQL: {sql}"))?;
    let mut out = Vec::new();
    for m in msgs {
        if let SimpleQueryMessage::Row(r) = m {
            let row: Vec<Cell> = (0..cols.len())
                .map(|i| {
                    r.get(i).map(|s| {
                        if time_cols[i] {
                            norm_time(s)
                        } else {
                            s.to_string()
                        }
                    })
                })
                .collect();
            out.push(row);
        }
    }
    Ok(out)
}

fn cmp_cell(a: &Cell, b: &Cell) -> CmpOrdering {
    match (a, b) {
        (None, None) => CmpOrdering::Equal,
        (None, Some(_)) => CmpOrdering::Less,
        (Some(_), None) => CmpOrdering::Greater,
        (Some(x), Some(y)) => match (x.parse::<i128>(), y.parse::<i128>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            _ => x.as_bytes().cmp(y.as_bytes()),
        },
    }
}

fn cmp_keys(a: &[Cell], b: &[Cell], key_idx: &[usize]) -> CmpOrdering {
    for &i in key_idx {
        let c = cmp_cell(&a[i], &b[i]);
        if c != CmpOrdering::Equal {
            return c;
        }
    }
    CmpOrdering::Equal
}

fn fmt_row(cols: &[String], row: &[Cell]) -> String {
    let parts: Vec<String> = cols
        .iter()
        .zip(row)
        .map(|(c, v)| match v {
            None => format!("{c}=NULL"),
            Some(s) => format!("{c}={s:?}"),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// Ok(row count) when equal; Err(readable diff) otherwise.
async fn compare_once(
    my: &mut Conn,
    pg: &Client,
    my_sql: &str,
    pg_table: &str,
    keys: &[&str],
    full: bool,
) -> Result<usize, String> {
    let snap = fetch_mysql(my, my_sql).await;
    if snap.cols.is_empty() {
        return Err(format!(
            "MySQL query `{my_sql}` returned no column metadata"
        ));
    }
    let key_idx: Vec<usize> =
        keys.iter()
            .map(|k| {
                snap.cols.iter().position(|c| c == k).unwrap_or_else(|| {
                    panic!("key column {k} not in MySQL columns {:?}", snap.cols)
                })
            })
            .collect();
    let mut pg_rows = match fetch_pg(pg, pg_table, &snap.cols, &snap.time_cols).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let mut my_rows = snap.rows;
    my_rows.sort_by(|a, b| cmp_keys(a, b, &key_idx));
    pg_rows.sort_by(|a, b| cmp_keys(a, b, &key_idx));
    if my_rows == pg_rows {
        return Ok(my_rows.len());
    }
    let max_diffs = if full { 10 } else { 1 };
    let mut diffs = Vec::new();
    let mut counts = (0usize, 0usize, 0usize); // only mysql, only pg, differing
    let (mut i, mut j) = (0, 0);
    while i < my_rows.len() || j < pg_rows.len() {
        let ord = if i >= my_rows.len() {
            CmpOrdering::Greater
        } else if j >= pg_rows.len() {
            CmpOrdering::Less
        } else {
            cmp_keys(&my_rows[i], &pg_rows[j], &key_idx)
        };
        match ord {
            CmpOrdering::Less => {
                counts.0 += 1;
                if diffs.len() < max_diffs {
                    diffs.push(format!(
                        "  only in MySQL: {}",
                        fmt_row(&snap.cols, &my_rows[i])
                    ));
                }
                i += 1;
            }
            CmpOrdering::Greater => {
                counts.1 += 1;
                if diffs.len() < max_diffs {
                    diffs.push(format!(
                        "  only in PG:    {}",
                        fmt_row(&snap.cols, &pg_rows[j])
                    ));
                }
                j += 1;
            }
            CmpOrdering::Equal => {
                if my_rows[i] != pg_rows[j] {
                    counts.2 += 1;
                    if diffs.len() < max_diffs {
                        let mut cd = Vec::new();
                        for (c, name) in snap.cols.iter().enumerate() {
                            if my_rows[i][c] != pg_rows[j][c] {
                                cd.push(format!(
                                    "{name}: MySQL={:?} PG={:?}",
                                    my_rows[i][c], pg_rows[j][c]
                                ));
                            }
                        }
                        diffs.push(format!(
                            "  differs: {}\n      {}",
                            fmt_row(&snap.cols, &my_rows[i]),
                            cd.join("; ")
                        ));
                    }
                }
                i += 1;
                j += 1;
            }
        }
    }
    Err(format!(
        "MySQL rows: {}, PG rows: {}; only in MySQL: {}, only in PG: {}, differing: {}\nfirst differences (sorted by key {:?}):\n{}",
        my_rows.len(),
        pg_rows.len(),
        counts.0,
        counts.1,
        counts.2,
        keys,
        diffs.join("\n")
    ))
}

/// Compare once, without a sync process (e.g. after stopping it).
pub async fn assert_tables_equal_now(env: &Env, my_table: &str, pg_table: &str, keys: &[&str]) {
    if let Err(d) = tables_equal_now(env, my_table, pg_table, keys).await {
        panic!("MySQL {my_table} and PG {pg_table} differ:\n{d}");
    }
}

/// Compare once: Ok(row count) when equal, Err(readable diff) otherwise.
pub async fn tables_equal_now(
    env: &Env,
    my_table: &str,
    pg_table: &str,
    keys: &[&str],
) -> Result<usize, String> {
    let mut my = env.mysql().await;
    let pg = env.pg().await;
    let sql = format!("SELECT * FROM {}", quote_my(my_table));
    let r = compare_once(&mut my, &pg, &sql, pg_table, keys, true).await;
    let _ = my.disconnect().await;
    r
}

// ---------------------------------------------------------------------------
// Small deterministic PRNG (no extra dependency)
// ---------------------------------------------------------------------------

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [lo, hi)
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(hi > lo);
        lo + self.next_u64() % (hi - lo)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}
