//! The TOML configuration, with the keys users of the Go `mysql-gp-sync` already have.
//!
//! Unknown keys are refused (a typo must not silently fall back to a default), and every
//! error names the file, the line and the key so that an operator can fix it in one look.

mod tls;

pub use tls::{MysqlSsl, PgSslMode};

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use secrecy::SecretString;
use serde::Deserialize;

/// Which server family speaks on the other end of the replication connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Mysql,
    Mariadb,
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavor::Mysql => "mysql",
            Flavor::Mariadb => "mariadb",
        })
    }
}

/// What kind of server the PostgreSQL side is; decides how an upsert is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PgTarget {
    /// Greenplum if `version()` says so, else PostgreSQL.
    Auto,
    /// `INSERT … ON CONFLICT DO UPDATE`.
    Postgres,
    /// `DELETE` of the batch's keys, then `INSERT`, in one transaction.
    Greenplum,
}

/// `[[source]]`: a MySQL schema and the tables of it to replicate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub schema: String,
    /// Plain names, `"*"` for every table, or whole-name regular expressions.
    pub tables: Vec<String>,
    /// What schema changes of these tables do (overrides the top-level `ddl`).
    pub ddl: Option<DdlPolicy>,
}

/// `[[rule]]`: where the rows of matching source tables go in PostgreSQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub schema: String,
    pub table: String,
    pub pg_schema: Option<String>,
    pub pg_table: Option<String>,
    /// What schema changes of the matching tables do (overrides `[[source]]` and top level).
    pub ddl: Option<DdlPolicy>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mysql_addr: String,
    pub mysql_user: String,
    /// A secret: redacted in every `{:?}`, read only where the connection is made.
    #[serde(default = "no_password")]
    pub mysql_pass: SecretString,
    /// A file holding the MySQL password (first line), instead of `mysql_pass`.
    #[serde(default)]
    pub mysql_pass_file: Option<PathBuf>,
    #[serde(default = "default_charset")]
    pub mysql_charset: String,
    pub server_id: u32,
    #[serde(default = "default_flavor")]
    pub flavor: Flavor,

    pub pg_host: String,
    #[serde(default = "default_pg_port")]
    pub pg_port: u16,
    pub pg_user: String,
    #[serde(default = "no_password")]
    pub pg_pass: SecretString,
    /// A file holding the PostgreSQL password (first line), instead of `pg_pass`.
    #[serde(default)]
    pub pg_pass_file: Option<PathBuf>,
    pub pg_dbname: String,
    /// `auto`, `postgres` or `greenplum`.
    #[serde(default = "default_pg_target")]
    pub pg_target: PgTarget,

    /// TLS to MySQL: `disabled`, `preferred` (default), `required`, `verify_ca`,
    /// `verify_identity` (see `tls.rs`).
    #[serde(default)]
    pub mysql_ssl: MysqlSsl,
    /// PEM file of the CA that signed MySQL's certificate.
    #[serde(default)]
    pub mysql_ssl_ca: Option<PathBuf>,
    /// Client certificate and key (PEM), for accounts created `REQUIRE X509`.
    #[serde(default)]
    pub mysql_ssl_cert: Option<PathBuf>,
    #[serde(default)]
    pub mysql_ssl_key: Option<PathBuf>,
    /// TLS to PostgreSQL: `disable`, `prefer` (default), `require`, `verify-ca`, `verify-full`.
    #[serde(default)]
    pub pg_sslmode: PgSslMode,
    /// PEM file of the CA that signed PostgreSQL's certificate (`"system"`: the public roots).
    #[serde(default)]
    pub pg_sslrootcert: Option<PathBuf>,
    /// Client certificate and key (PEM), for `clientcert=` lines in pg_hba.conf.
    #[serde(default)]
    pub pg_sslcert: Option<PathBuf>,
    #[serde(default)]
    pub pg_sslkey: Option<PathBuf>,

    /// `init`: tables copied at once (reading connections on one snapshot).
    #[serde(default = "default_init_parallel")]
    pub init_parallel: usize,
    /// `init`: empty target tables that already hold rows instead of refusing.
    #[serde(default)]
    pub init_truncate: bool,
    /// Run `init` at start when there is no master.info yet.
    #[serde(default)]
    pub init_on_start: bool,
    /// Schema of the transactional checkpoint table (`<schema>.checkpoint`) in PostgreSQL;
    /// empty turns it off.
    #[serde(default = "default_checkpoint_schema")]
    pub checkpoint_schema: String,
    /// What zero dates become: `"null"` (default) or `"-infinity"`.
    #[serde(default)]
    pub zero_date: ZeroDate,
    /// How the binlog stream is resumed: `"auto"` (default), `"gtid"` or `"file"`.
    #[serde(default)]
    pub resume_by: ResumeBy,
    /// What a saved position of another binlog history does (see [`NewHistory`]): `"stop"`
    /// (default) or `"replay"`.
    #[serde(default)]
    pub new_history: NewHistory,
    /// Create missing PostgreSQL target tables from the MySQL schema at start.
    #[serde(default)]
    pub create_missing_tables: bool,
    /// What a schema change of a configured table does: `"apply"` (default), `"ignore"` or
    /// `"stop"` (see [`DdlPolicy`]).
    #[serde(default)]
    pub ddl: DdlPolicy,
    /// What readers of PostgreSQL may see: `"key"` (default: each key's changes in order,
    /// applied in parallel) or `"transaction"` (only whole source transactions, in commit order;
    /// see [`Consistency`]).
    #[serde(default)]
    pub consistency: Consistency,
    /// What `DROP COLUMN` / `DROP TABLE` do to the target when `ddl = "apply"`: `"apply"`
    /// (default) or `"keep"` (the column is kept, made nullable; the table is kept).
    #[serde(default)]
    pub ddl_drop: DdlDrop,

    /// Holds `master.info`. Relative paths are taken from the working directory, as the Go tool does.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,

    /// Empty host: metrics are off.
    #[serde(default)]
    pub statsd_host: String,
    #[serde(default = "default_statsd_port")]
    pub statsd_port: u16,
    #[serde(default = "default_statsd_prefix")]
    pub statsd_prefix: String,

    #[serde(default = "default_concurrent_size")]
    pub concurrent_size: usize,
    #[serde(default = "default_concurrent_ack_win")]
    pub concurrent_ack_win: usize,
    #[serde(default)]
    pub skip_no_pk_table: bool,

    /// Most changes one worker puts into one PostgreSQL transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// Where the log file goes; relative to the working directory.
    #[serde(default = "default_log_file")]
    pub log_file: PathBuf,
    /// The log file is rotated once it passes this size…
    #[serde(default = "default_log_max_size_mb")]
    pub log_max_size_mb: usize,
    /// …and this many old files are kept (`sync.log.1` is the newest).
    #[serde(default = "default_log_max_files")]
    pub log_max_files: usize,
    /// At start, a MySQL or PostgreSQL server that does not answer is retried with backoff for
    /// this long before the sync gives up with an error (0: give up at once).
    #[serde(default = "default_start_retry_secs")]
    pub start_retry_secs: u64,
    /// `host:port` for an HTTP endpoint with `/metrics` (Prometheus) and `/health`; empty: off.
    #[serde(default)]
    pub stat_addr: String,

    pub source: Vec<Source>,
    #[serde(default)]
    pub rule: Vec<Rule>,
}

fn default_charset() -> String {
    "utf8mb4".into()
}
fn default_flavor() -> Flavor {
    Flavor::Mysql
}
fn default_pg_port() -> u16 {
    5432
}
fn default_checkpoint_schema() -> String {
    "mysql_gp_sync".into()
}
fn default_start_retry_secs() -> u64 {
    20
}
fn default_init_parallel() -> usize {
    4
}
fn default_pg_target() -> PgTarget {
    PgTarget::Auto
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("var")
}
fn default_statsd_port() -> u16 {
    8125
}
fn default_statsd_prefix() -> String {
    "mysql_gp_sync".into()
}
fn default_concurrent_size() -> usize {
    4
}
fn default_concurrent_ack_win() -> usize {
    8192
}
fn default_batch_size() -> usize {
    1000
}
fn default_log_level() -> String {
    "info".into()
}
fn default_log_max_size_mb() -> usize {
    100
}
fn default_log_max_files() -> usize {
    10
}
fn no_password() -> SecretString {
    SecretString::from(String::new())
}
fn default_log_file() -> PathBuf {
    PathBuf::from("sync.log")
}

/// The fields an operator needs in a log line; the passwords print as `secrecy` redacts them.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mysql_addr", &self.mysql_addr)
            .field("mysql_user", &self.mysql_user)
            .field("mysql_pass", &self.mysql_pass)
            .field("server_id", &self.server_id)
            .field("flavor", &self.flavor)
            .field("pg_host", &self.pg_host)
            .field("pg_port", &self.pg_port)
            .field("pg_user", &self.pg_user)
            .field("pg_pass", &self.pg_pass)
            .field("pg_dbname", &self.pg_dbname)
            .field("data_dir", &self.data_dir)
            .field("concurrent_size", &self.concurrent_size)
            .field("concurrent_ack_win", &self.concurrent_ack_win)
            .field("source", &self.source)
            .field("rule", &self.rule)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut cfg = Self::parse(&text, path)?;
        cfg.resolve_passwords()
            .with_context(|| format!("config file {}", path.display()))?;
        // Whole transactions in commit order: one applier (see `Consistency`).
        if cfg.consistency == Consistency::Transaction {
            cfg.concurrent_size = 1;
        }
        Ok(cfg)
    }

    /// Passwords may also come from `MYSQL_GP_SYNC_MYSQL_PASS` / `MYSQL_GP_SYNC_PG_PASS` or from
    /// `mysql_pass_file` / `pg_pass_file`, so that the config file can be shared without them.
    /// The environment wins over the file, the file over the key.
    fn resolve_passwords(&mut self) -> Result<()> {
        for (value, file, env) in [
            (
                &mut self.mysql_pass,
                &self.mysql_pass_file,
                "MYSQL_GP_SYNC_MYSQL_PASS",
            ),
            (
                &mut self.pg_pass,
                &self.pg_pass_file,
                "MYSQL_GP_SYNC_PG_PASS",
            ),
        ] {
            if let Ok(v) = std::env::var(env) {
                *value = SecretString::from(v);
            } else if let Some(f) = file {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read password file {}", f.display()))?;
                *value = SecretString::from(text.lines().next().unwrap_or("").to_string());
            }
        }
        Ok(())
    }

    /// A config file others may read should not hold a password: say so (once, at start).
    pub fn warn_if_exposed(&self, path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let holds_password = text.lines().any(|l| {
            let l = l.trim_start();
            (l.starts_with("mysql_pass") || l.starts_with("pg_pass"))
                && !l.contains("_file")
                && l.split_once('=').is_some_and(|(_, v)| v.trim() != "\"\"")
        });
        if holds_password && meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                "{} holds a password and is readable by every user: chmod 600 it, or move the password to \
                 mysql_pass_file / pg_pass_file or MYSQL_GP_SYNC_MYSQL_PASS / MYSQL_GP_SYNC_PG_PASS",
                path.display()
            );
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let cfg: Config = serde_path_to_error::deserialize(toml::Deserializer::new(text))
            .map_err(|e| describe_toml_error(&e, text, path))?;
        cfg.validate()
            .with_context(|| format!("config file {}", path.display()))?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<()> {
        for a in self.mysql_addrs() {
            if let Some((_, port)) = a.rsplit_once(':') {
                if port.parse::<u16>().is_err() {
                    bail!("`mysql_addr`: {a:?} has no valid port (host:port, several separated by commas)");
                }
            }
        }
        if self.mysql_addrs().is_empty() {
            bail!("`mysql_addr` names no server");
        }
        if self.concurrent_size == 0 {
            bail!("`concurrent_size` must be at least 1");
        }
        if self.concurrent_ack_win == 0 {
            bail!("`concurrent_ack_win` must be at least 1");
        }
        if self.batch_size == 0 {
            bail!("`batch_size` must be at least 1");
        }
        // The applier holds a group of up to about batch_size changes unacknowledged while it
        // streams a large transaction: the window must have room beyond that.
        if self.consistency == Consistency::Transaction
            && self.batch_size.saturating_mul(2) > self.concurrent_ack_win
        {
            bail!(
                "consistency = \"transaction\" needs concurrent_ack_win ({}) at least twice batch_size ({})",
                self.concurrent_ack_win,
                self.batch_size
            );
        }
        if self.server_id == 0 {
            bail!("`server_id` must not be 0 (a replica needs an id of its own, unique among the server's replicas)");
        }
        if self.source.is_empty() {
            bail!("no [[source]] section: name at least one schema and its tables");
        }
        for s in &self.source {
            if s.tables.is_empty() {
                bail!(
                    "[[source]] schema = {:?} has an empty `tables` list",
                    s.schema
                );
            }
        }
        Ok(())
    }

    /// `host:port` split for the MySQL connection (port 3306 when absent).
    /// The servers `mysql_addr` lists (`host:port`, comma-separated): the sync reads from the
    /// first that answers and has its GTIDs, and moves to another when it goes away.
    pub fn mysql_addrs(&self) -> Vec<String> {
        self.mysql_addr
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect()
    }

    /// This config pointed at one of the servers of `mysql_addr`.
    pub fn for_server(&self, addr: &str) -> Config {
        Config {
            mysql_addr: addr.to_string(),
            ..self.clone()
        }
    }

    /// Host and port of the (first) server of `mysql_addr`; `run` moves along the list itself.
    pub fn mysql_host_port(&self) -> Result<(String, u16)> {
        let first = self.mysql_addrs().into_iter().next().unwrap_or_default();
        match first.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse()
                    .with_context(|| format!("`mysql_addr` {first:?}: bad port"))?;
                Ok((h.to_string(), port))
            }
            None => Ok((first, 3306)),
        }
    }

    pub fn master_info_path(&self) -> PathBuf {
        self.data_dir.join("master.info")
    }

    /// Rewritten ten times a second by the running sync; read by `mysql-gp-sync status`.
    pub fn status_path(&self) -> PathBuf {
        self.data_dir.join("status.json")
    }
}

/// Turns toml's multi-line report into one line that names the file, the line and the key.
/// A TOML or type error, with the file, the line and the path of the key inside the file
/// (`rule[2].pg_table`, as serde_path_to_error tracks it: a `[[rule]]` is counted from 0).
fn describe_toml_error(
    e: &serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    path: &Path,
) -> anyhow::Error {
    let inner = e.inner();
    let msg = inner.message().trim();
    let key = e.path().to_string();
    let at = match key.as_str() {
        "" | "." => String::new(),
        k => format!(", key `{k}`"),
    };
    match inner.span() {
        // A missing key has no line of its own: the span is the whole document.
        Some(span) if !text.is_empty() && !msg.starts_with("missing field") => {
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            anyhow::anyhow!("config file {}, line {line_no}{at}: {msg}", path.display())
        }
        _ => anyhow::anyhow!("config file {}{at}: {msg}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const MIN: &str = r#"
mysql_addr = "127.0.0.1:3306"
mysql_user = "repl"
server_id = 7
pg_host = "127.0.0.1"
pg_user = "u"
pg_dbname = "d"
[[source]]
schema = "s"
tables = ["*"]
"#;

    fn parse(t: &str) -> Result<Config> {
        Config::parse(t, Path::new("conf/x.toml"))
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.concurrent_size, 4);
        assert_eq!(c.pg_port, 5432);
        assert_eq!(c.flavor, Flavor::Mysql);
        assert_eq!(c.mysql_host_port().unwrap(), ("127.0.0.1".into(), 3306));
    }

    #[test]
    fn unknown_key_is_named_with_file_and_line() {
        let t = MIN.replace("mysql_user", "mysql_usr");
        let e = format!("{:#}", parse(&t).unwrap_err());
        assert!(e.contains("mysql_usr"), "{e}");
        assert!(e.contains("conf/x.toml"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let t = format!("concurrent_size = \"x\"\n{MIN}");
        let e = format!("{:#}", parse(&t).unwrap_err());
        assert!(e.contains("concurrent_size"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn a_key_inside_a_section_is_named_by_its_path() {
        let rules = "[[rule]]\nschema = \"s\"\ntable = \"a\"\n[[rule]]\nschema = \"s\"\ntable = \"b\"\npg_table = 5\n";
        let e = format!("{:#}", parse(&format!("{MIN}{rules}")).unwrap_err());
        assert!(e.contains("key `rule[1].pg_table`"), "{e}");
        let e = format!(
            "{:#}",
            parse(&format!("{MIN}[[rule]]\ntable = \"a\"\n")).unwrap_err()
        );
        assert!(e.contains("rule[0]") && e.contains("schema"), "{e}");
    }

    #[test]
    fn missing_key_is_named() {
        let t = MIN.replace("server_id = 7\n", "");
        let e = format!("{:#}", parse(&t).unwrap_err());
        assert!(e.contains("server_id"), "{e}");
        assert!(!e.contains("line"), "a missing key has no line: {e}");
    }

    #[test]
    fn bad_flavor_and_zero_workers_are_refused() {
        let t = format!("flavor = \"oracle\"\n{MIN}");
        assert!(format!("{:#}", parse(&t).unwrap_err()).contains("flavor"));
        let t = format!("concurrent_size = 0\n{MIN}");
        assert!(format!("{:#}", parse(&t).unwrap_err()).contains("concurrent_size"));
    }

    #[test]
    fn shipped_example_parses() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/conf/mysql-gp-sync.toml"
        ));
        let c = Config::load(path).unwrap();
        assert_eq!(c.flavor, Flavor::Mariadb);
        assert_eq!(c.rule.len(), 1);
    }

    #[test]
    fn password_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let t = format!("mysql_pass_file = {:?}\n{MIN}", pw.display().to_string());
        let cfg_path = dir.path().join("c.toml");
        std::fs::write(&cfg_path, t).unwrap();
        assert_eq!(
            Config::load(&cfg_path).unwrap().mysql_pass.expose_secret(),
            "s3cret"
        );
    }

    #[test]
    fn debug_hides_passwords() {
        let t = format!("mysql_pass = \"s3cret\"\npg_pass = \"hunter2\"\n{MIN}");
        let d = format!("{:?}", parse(&t).unwrap());
        assert!(!d.contains("s3cret") && !d.contains("hunter2"), "{d}");
    }
}

/// How the reader asks the server for the binlog (see `pipeline::start::plan_resume`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResumeBy {
    /// By file and offset where this server wrote them (it has the file, and its history there
    /// agrees with the GTID state); by GTID otherwise (another server of the group: a failover,
    /// or `mysql_addr` changed), when the GTID state is known.
    #[default]
    Auto,
    /// Always by GTID (MySQL `COM_BINLOG_DUMP_GTID`, MariaDB `@slave_connect_state` in strict
    /// mode); refused when the server has no GTIDs or the state is unknown.
    Gtid,
    /// Always by file and offset, as the Go tool does.
    File,
}

/// What the sync does when its saved position belongs to another binlog history than the
/// server's (the history restarted at `RESET MASTER`, or `mysql_addr` points at another
/// server; see `model::history`). Never decided silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum NewHistory {
    /// Stop with an error that says what happened and the ways forward.
    #[default]
    Stop,
    /// Replay the server's binlog from the first file it has into the existing tables (the
    /// operator's choice, for a history that holds every change since the tables were right).
    Replay,
}

/// What a schema change (`ALTER`, `CREATE`, `DROP`, `RENAME TABLE`) of a configured table does.
/// In every mode the sync follows the change on the source side, so later rows are decoded
/// with the columns they were written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DdlPolicy {
    /// The target follows: the change runs in PostgreSQL in one transaction with the checkpoint.
    #[default]
    Apply,
    /// The target is left alone (hand-made targets: partitioned tables, Greenplum
    /// distribution); rows after the change stop with a clear error if the target cannot take them.
    Ignore,
    /// The sync stops before the change, naming it: the operator changes the target by hand.
    Stop,
}

impl std::fmt::Display for DdlPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DdlPolicy::Apply => "apply",
            DdlPolicy::Ignore => "ignore",
            DdlPolicy::Stop => "stop",
        })
    }
}

/// What readers of PostgreSQL may see while the sync applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Each key's changes in source order; a source transaction's rows may become visible
    /// in parts (workers commit on their own). The fastest: `concurrent_size` workers.
    #[default]
    Key,
    /// PostgreSQL only ever shows the source's state after some source transaction: whole
    /// transactions, in source commit order, several grouped into one PostgreSQL transaction.
    /// One applier (`concurrent_size` is taken as 1).
    Transaction,
}

/// What destructive schema changes do to the target under `ddl = "apply"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DdlDrop {
    #[default]
    Apply,
    /// Keep dropped columns (made nullable) and dropped tables in PostgreSQL.
    Keep,
}

/// What a zero or partly-zero date (`0000-00-00`, `2020-00-15`) becomes: PostgreSQL has no such
/// dates, and refusing them would stop the whole sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ZeroDate {
    #[default]
    Null,
    /// `-infinity`, which date, timestamp and timestamptz all accept.
    #[serde(rename = "-infinity")]
    NegInfinity,
}
