//! Start-up checks and the pipeline: reader → workers → window → master.info.
//!
//! A pipeline runs from the last saved position until shutdown or failure. A lost connection
//! ends it like a failure does, but the loop around it starts a new one from the acknowledged
//! position after a backoff: replaying is always safe (upserts and deletes of full images are
//! idempotent), skipping never is.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::{Config, PgTarget};
use crate::error::Transient;
use crate::model::position::{self, Position};
use crate::model::rules::{TableRules, TargetName};
use crate::ops::metrics::{Metrics, Snapshot};
use crate::ops::status;
use crate::pipeline::window::AckWindow;
use crate::schema::{LoadOptions, SchemaLoader, Skip, TableMeta};
use crate::source::reader::{Reader, Stop};
use crate::state::checkpoint::{self, Checkpoints};
use crate::target::writer::Worker;
use crate::tls::{MysqlTls, PgTls};

/// MySQL connection options: TLS as configured, or plain text (`plain`) once `preferred` has
/// met a server without TLS.
pub fn mysql_opts(cfg: &Config, tls: &MysqlTls, plain: bool) -> Result<mysql_async::Opts> {
    let (host, port) = cfg.mysql_host_port()?;
    Ok(mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cfg.mysql_user.clone()))
        .pass(Some(cfg.mysql_pass.clone()))
        .prefer_socket(false)
        .ssl_opts(tls.ssl_opts(plain))
        .into())
}

/// PostgreSQL connections: TLS as configured, or plain text (`plain`) once `prefer` has failed
/// a handshake.
pub fn pg_pool(
    cfg: &Config,
    size: usize,
    tls: &PgTls,
    plain: bool,
) -> Result<deadpool_postgres::Pool> {
    let mut pc = deadpool_postgres::Config::new();
    pc.host = Some(cfg.pg_host.clone());
    pc.port = Some(cfg.pg_port);
    pc.user = Some(cfg.pg_user.clone());
    pc.password = Some(cfg.pg_pass.clone());
    pc.dbname = Some(cfg.pg_dbname.clone());
    pc.application_name = Some("mysql-gp-sync".into());
    pc.ssl_mode = Some(tls.ssl_mode(plain));
    // The batch statements are prepared once and run with arrays of any size: a generic plan
    // cached while a table was nearly empty (a hash join over a full scan) would be kept for
    // every later batch, until auto-analyze. Plan each execution for its actual keys instead
    // (Greenplum mode, 10 tiny batches then a 300 000-row backlog: 10.6 s → 8.3 s here; at
    // 1M rows auto-analyze ran early and both took 17 s).
    pc.options = Some("-c plan_cache_mode=force_custom_plan".into());
    pc.manager = Some(deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Fast,
    });
    pc.pool = Some(deadpool_postgres::PoolConfig::new(size));
    pc.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tls.connector())
        .context("PostgreSQL pool settings")
}

/// What the server's binlog must be for the sync, with what to do otherwise: checked at start
/// (the first one missing stops it) and listed by `check`.
pub const BINLOG_REQUIREMENTS: [(&str, &[&str], &str); 3] = [
    (
        "log_bin",
        &["1", "ON"],
        "set log_bin and server_id in the server's configuration and restart it",
    ),
    (
        "binlog_format",
        &["ROW"],
        "run SET GLOBAL binlog_format = 'ROW' and put binlog_format = ROW in the server's configuration \
         (sessions opened before keep their format)",
    ),
    (
        "binlog_row_image",
        &["FULL"],
        "run SET GLOBAL binlog_row_image = 'FULL' and put binlog_row_image = FULL in the server's configuration",
    ),
];

/// Greenplum mode: configured, or (`auto`) when `version()` says so.
pub async fn is_greenplum(cfg: &Config, client: &tokio_postgres::Client) -> Result<bool> {
    Ok(match cfg.pg_target {
        PgTarget::Postgres => false,
        PgTarget::Greenplum => true,
        PgTarget::Auto => {
            let v: String = client.query_one("SELECT version()", &[]).await?.get(0);
            v.contains("Greenplum")
        }
    })
}

/// What the server says about its binlog, checked before anything is read.
pub struct ServerInfo {
    pub version: String,
    pub checksum: bool,
}

/// Runs `attempt` until it succeeds, fails for good, or `start_retry_secs` have passed: a server
/// that is down (or restarting) at start is waited for with backoff, a wrong password is not.
async fn retry_at_start<T, F, Fut>(cfg: &Config, what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, (anyhow::Error, bool)>>,
{
    let deadline = Instant::now() + Duration::from_secs(cfg.start_retry_secs);
    let mut backoff = Duration::from_secs(1);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err((e, retryable)) if retryable && Instant::now() + backoff < deadline => {
                tracing::warn!("{what} not reachable ({e:#}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// A first MySQL connection, with the options every later one uses and what its TLS is.
pub struct MysqlLink {
    pub conn: mysql_async::Conn,
    pub opts: mysql_async::Opts,
    pub tls: String,
    /// Known to be unencrypted (for `check`'s warning).
    pub plain_text: bool,
}

/// Connects to MySQL (retried at start while the server does not answer). With `preferred`, a
/// server that offers no TLS, or whose handshake fails, is connected to in plain text, as the
/// mysql client does.
pub async fn connect_mysql(cfg: &Config) -> Result<MysqlLink> {
    let addr = &cfg.mysql_addr;
    let tls = MysqlTls::new(cfg)?;
    let attempt = |plain: bool| {
        let tls = &tls;
        async move {
            let opts = mysql_opts(cfg, tls, plain).map_err(|e| (e, false))?;
            match tokio::time::timeout(Duration::from_secs(15), mysql_async::Conn::new(opts.clone())).await {
                Err(_) => Err((anyhow!("cannot connect to MySQL at {addr}: no answer in 15 s; check mysql_addr and that the server is running"), true)),
                Ok(Ok(c)) => Ok((c, opts)),
                Ok(Err(e)) => Err(mysql_connect_error(cfg, tls, e)),
            }
        }
    };
    let (mut conn, opts) = retry_at_start(cfg, &format!("MySQL at {addr}"), || async {
        match attempt(false).await {
            Err((e, _)) if tls.tls.fallback && tls.tls.on && e.is::<NoTls>() => {
                tracing::warn!(
                    "MySQL at {addr}: {e:#}; connecting without TLS (mysql_ssl = preferred: set \
                     required or verify_identity to insist on TLS)"
                );
                attempt(true).await
            }
            other => other,
        }
    })
    .await?;
    let version: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .await
        .unwrap_or(None);
    let version = version.map(|v| v.1).filter(|v| !v.is_empty());
    Ok(MysqlLink {
        conn,
        opts,
        tls: tls.tls.describe(version.as_deref()),
        plain_text: version.is_none(),
    })
}

/// Marks a failed TLS attempt that `preferred` may retry in plain text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct NoTls(String);

/// One error message per kind of failure, each saying what to change, and whether it is worth
/// retrying at start (only when the server may still be starting).
fn mysql_connect_error(
    cfg: &Config,
    tls: &MysqlTls,
    e: mysql_async::Error,
) -> (anyhow::Error, bool) {
    let addr = &cfg.mysql_addr;
    if matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    ) {
        let e = NoTls(format!(
            "MySQL at {addr} offers no TLS but mysql_ssl = {}: configure ssl_cert and ssl_key on the \
             server, or set mysql_ssl = preferred",
            cfg.mysql_ssl
        ));
        return (e.into(), false);
    }
    if let Some(t) = crate::tls::tls_failure(&e) {
        let e = NoTls(format!(
            "cannot connect to MySQL at {addr} over TLS: {t}; {}",
            crate::tls::advice(t, "MySQL")
        ));
        return (e.into(), false);
    }
    if let mysql_async::Error::Server(_) = e {
        let hint = match (tls.tls.on, cfg.mysql_ssl_cert.is_some()) {
            (false, _) => " (an account created REQUIRE SSL or X509 also needs mysql_ssl, and mysql_ssl_cert / mysql_ssl_key)",
            (true, false) => " (an account created REQUIRE X509 also needs mysql_ssl_cert and mysql_ssl_key)",
            (true, true) => "",
        };
        let e = anyhow!(
            "cannot connect to MySQL at {addr} as {}: {e}; check mysql_addr, mysql_user and mysql_pass{hint}",
            cfg.mysql_user
        );
        return (e, false);
    }
    let e = anyhow!(
        "cannot connect to MySQL at {addr} as {}: {e}; check mysql_addr and that the server is running",
        cfg.mysql_user
    );
    (e, true)
}

/// A PostgreSQL pool whose first connection worked, and what its TLS is.
pub struct PgLink {
    pub pool: deadpool_postgres::Pool,
    pub tls: String,
    /// Known to be unencrypted (for `check`'s warning).
    pub plain_text: bool,
}

/// Opens the PostgreSQL pool (retried at start while the server does not answer). With
/// `prefer`, a failed TLS handshake is retried in plain text, as libpq does.
pub async fn connect_pg(cfg: &Config, size: usize) -> Result<PgLink> {
    let what = format!("PostgreSQL at {}:{}", cfg.pg_host, cfg.pg_port);
    let tls = PgTls::new(cfg)?;
    let attempt = |plain: bool| {
        let (what, tls) = (&what, &tls);
        async move {
            let pool = pg_pool(cfg, size, tls, plain).map_err(|e| (e, false))?;
            match tokio::time::timeout(Duration::from_secs(15), pool.get()).await {
                Err(_) => Err((anyhow!("cannot connect to {what}: no answer in 15 s"), true)),
                Ok(Ok(c)) => Ok((pool, c)),
                Ok(Err(e)) => {
                    let backend = match &e {
                        deadpool_postgres::PoolError::Backend(b) => Some(b),
                        _ => None,
                    };
                    if let Some(t) = backend.and_then(|b| crate::tls::tls_failure(b)) {
                        return Err((
                            NoTls(format!(
                                "cannot connect to {what} over TLS: {t}; {}",
                                crate::tls::advice(t, "PostgreSQL")
                            ))
                            .into(),
                            false,
                        ));
                    }
                    let refused_by_server = backend.is_some_and(|b| b.as_db_error().is_some());
                    if pool_error(&e).contains("server does not support TLS") {
                        return Err((
                            anyhow!(
                                "{what} offers no TLS but pg_sslmode = {}: set ssl = on on the server, or pg_sslmode = prefer",
                                cfg.pg_sslmode
                            ),
                            false,
                        ));
                    }
                    let hint = if !refused_by_server || tls.tls.on {
                        ""
                    } else {
                        " (a hostssl line in pg_hba.conf also needs pg_sslmode, and pg_sslcert / pg_sslkey for clientcert)"
                    };
                    Err((
                        anyhow!(
                            "cannot connect to {what} database {} as {}: {}; check pg_host, pg_port, pg_dbname, pg_user and pg_pass{hint}",
                            cfg.pg_dbname,
                            cfg.pg_user,
                            pool_error(&e)
                        ),
                        !refused_by_server,
                    ))
                }
            }
        }
    };
    let (pool, client) = retry_at_start(cfg, &what, || async {
        match attempt(false).await {
            Err((e, _)) if tls.tls.fallback && tls.tls.on && e.is::<NoTls>() => {
                tracing::warn!(
                    "{what}: {e:#}; connecting without TLS (pg_sslmode = prefer: set require or \
                     verify-full to insist on TLS)"
                );
                attempt(true).await
            }
            other => other,
        }
    })
    .await?;
    let version = client
        .query_opt(
            "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl",
            &[],
        )
        .await;
    let (tls, plain_text) = match version {
        Ok(row) => {
            let version = row.map(|r| r.get::<_, String>(0));
            (tls.tls.describe(version.as_deref()), version.is_none())
        }
        Err(_) => (
            "TLS state unknown (this server has no pg_stat_ssl)".into(),
            false,
        ),
    };
    drop(client);
    Ok(PgLink {
        pool,
        tls,
        plain_text,
    })
}

/// MySQL connected and checked at start, with the pool and options later connections use.
pub struct MysqlServer {
    pub pool: mysql_async::Pool,
    pub opts: mysql_async::Opts,
    pub info: ServerInfo,
}

pub async fn check_mysql(cfg: &Config) -> Result<MysqlServer> {
    let addr = &cfg.mysql_addr;
    let link = connect_mysql(cfg).await?;
    tracing::info!("MySQL at {addr}: {}", link.tls);
    let mut conn = link.conn;
    let (version, checksum): (String, String) = conn
        .query_first("SELECT @@version, @@global.binlog_checksum")
        .await?
        .ok_or_else(|| anyhow!("MySQL at {addr} returned no server variables"))?;
    for (name, accepted, fix) in BINLOG_REQUIREMENTS {
        let value: Option<String> = conn.query_first(format!("SELECT @@global.{name}")).await?;
        let value = value.unwrap_or_default();
        if !accepted.iter().any(|a| value.eq_ignore_ascii_case(a)) {
            bail!(
                "{name} is {value} on MySQL at {addr}; the sync needs {}: {fix}",
                accepted[accepted.len() - 1]
            );
        }
    }
    let metadata: Option<String> = conn
        .query_first("SELECT @@global.binlog_row_metadata")
        .await
        .unwrap_or(None);
    match metadata {
        Some(m) if m.eq_ignore_ascii_case("FULL") => {}
        Some(m) => tracing::info!(
            "binlog_row_metadata is {m}: column names come from information_schema; \
             binlog_row_metadata = FULL lets the sync check them against each row event"
        ),
        None => {}
    }
    let info = ServerInfo {
        version,
        checksum: !checksum.eq_ignore_ascii_case("NONE"),
    };
    let _ = conn.disconnect().await;
    Ok(MysqlServer {
        pool: mysql_async::Pool::new(link.opts.clone()),
        opts: link.opts,
        info,
    })
}

/// `8.0.22-log` → (8, 0, 22); missing parts are 0.
pub fn version_triple(version: &str) -> (u32, u32, u32) {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

/// The statement that reports the binlog position now: `SHOW BINARY LOG STATUS` on MySQL 8.2
/// and later (`SHOW MASTER STATUS` was removed in 8.4), `SHOW MASTER STATUS` on MySQL 5.7–8.1
/// and on MariaDB (which keeps it).
pub fn binlog_status_sql(version: &str) -> &'static str {
    if version.to_ascii_lowercase().contains("mariadb") {
        return "SHOW MASTER STATUS";
    }
    if version_triple(version) >= (8, 2, 0) {
        "SHOW BINARY LOG STATUS"
    } else {
        "SHOW MASTER STATUS"
    }
}

/// The binlog position now (the end of the last event written).
pub async fn binlog_status(conn: &mut mysql_async::Conn) -> Result<Position> {
    let version: String = conn
        .query_first("SELECT @@version")
        .await?
        .unwrap_or_default();
    let sql = binlog_status_sql(&version);
    let row: Option<mysql_async::Row> = conn.query_first(sql).await.with_context(|| {
        format!(
            "{sql} on server {version} (the sync user needs REPLICATION CLIENT; on MariaDB BINLOG MONITOR)"
        )
    })?;
    let row = row.ok_or_else(|| {
        anyhow!("{sql} returned nothing on server {version}: the binlog is off (set log_bin and restart the server)")
    })?;
    let file: String = row.get(0).unwrap_or_default();
    let pos: u64 = row.get(1).unwrap_or(0);
    Ok(Position::new(file, pos))
}

/// Before streaming again from `pos` (the acknowledged position): asks PostgreSQL whether it
/// still holds what it confirmed. If it lost commits, rewinds to the saved position it still
/// holds (everything before it survived: a target that loses commits loses the newest, and
/// the checkpoint went with its data), with a WARN saying how far and why. Then notes the
/// position in PostgreSQL and in master.info, in that order. Returns where to stream from.
async fn settle(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    committed: &crate::state::checkpoint::Committed,
    recorded: &std::sync::Mutex<Option<Position>>,
    pos: &Position,
    cfg: &Config,
) -> Result<Position> {
    let mine = committed.lock().unwrap().clone();
    let last = recorded.lock().unwrap().clone();
    let mut pos = pos.clone();
    if let Some(loss) = cp
        .lost(pg, &mine, last.as_ref())
        .await
        .context("checking what PostgreSQL holds")?
    {
        let Some(saved) = loss.saved else {
            bail!(
                "PostgreSQL lost commits it had confirmed ({}) and holds no saved position of this sync: \
                 the sync cannot tell what to replay; re-load the tables with init",
                loss.what
            );
        };
        tracing::warn!(
            "PostgreSQL lost commits it had confirmed ({}): rewinding the binlog from {pos} to {saved}, the \
             position PostgreSQL still holds, and replaying (a crash with synchronous_commit = off, or a \
             failover to a standby that was behind)",
            loss.what
        );
        pos = saved;
        committed.lock().unwrap().iter_mut().for_each(|m| *m = None);
    }
    cp.record_position(pg, &pos).await?;
    *recorded.lock().unwrap() = Some(pos.clone());
    position::save(&cfg.master_info_path(), &pos)
        .with_context(|| format!("saving position {pos}"))?;
    Ok(pos)
}

/// At start: master.info is saved only after PostgreSQL noted the same position, so a
/// master.info ahead of PostgreSQL's note (same binlog sequence, a place the server has) means
/// PostgreSQL lost commits: start from its note instead. A master.info behind it is an
/// operator's rewind and is honoured (see `Checkpoints::load`).
async fn resume_where_postgres_is(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    mysql: &mysql_async::Pool,
    start: Position,
    cfg: &Config,
) -> Result<Position> {
    let saved = match cp.saved_position(pg).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                "cannot read the saved position in PostgreSQL ({e:#}); starting from {start}"
            );
            return Ok(start);
        }
    };
    let Some(saved) = saved else { return Ok(start) };
    let (s, m) = (
        crate::model::mark::Mark::at(&saved),
        crate::model::mark::Mark::at(&start),
    );
    if !s.same_sequence(&m) || s >= m {
        return Ok(start);
    }
    let mut conn = mysql.get_conn().await?;
    let logs = binary_logs(&mut conn).await?;
    if !logs
        .iter()
        .any(|(f, size)| **f == *saved.file && saved.pos <= *size)
    {
        bail!(
            "PostgreSQL holds this sync's work only up to {saved}, but master.info says {start}: the target lost \
             commits it had confirmed, and the server no longer has {saved} to replay from; re-load the tables with init"
        );
    }
    tracing::warn!(
        "master.info says {start}, but PostgreSQL holds this sync's work only up to {saved}: the target lost \
         commits it had confirmed (synchronous_commit = off and a crash, or a failover); starting from {saved} \
         (if you moved master.info forward on purpose, delete this sync's rows from the checkpoint table first)"
    );
    position::save(&cfg.master_info_path(), &saved)?;
    Ok(saved)
}

/// The server's binlog files and their sizes (SHOW BINARY LOGS).
pub async fn binary_logs(conn: &mut mysql_async::Conn) -> Result<Vec<(String, u64)>> {
    conn.query_map("SHOW BINARY LOGS", |row: mysql_async::Row| {
        (
            row.get::<String, _>(0).unwrap_or_default(),
            row.get::<u64, _>(1).unwrap_or(0),
        )
    })
    .await
    .context("SHOW BINARY LOGS (the sync user needs REPLICATION CLIENT, on MariaDB BINLOG MONITOR)")
}

/// master.info's position, checked against the server's binlogs; or the first binlog it has.
async fn start_position(cfg: &Config, pool: &mysql_async::Pool) -> Result<Position> {
    let path = cfg.master_info_path();
    let mut conn = pool.get_conn().await?;
    let logs = binary_logs(&mut conn).await?;
    match position::load(&path)? {
        Some(p) => {
            match logs.iter().find(|(name, _)| **name == *p.file) {
                None => bail!(
                    "{} says {p}, but the server no longer has {} (its binlogs: {}): it was purged; \
                     re-load the tables and write a position the server still has into {}",
                    path.display(),
                    p.file,
                    logs.first().map(|l| format!("{} … {}", l.0, logs.last().unwrap().0)).unwrap_or_default(),
                    path.display()
                ),
                Some((_, size)) if p.pos > *size => bail!(
                    "{} says {p}, but {} is only {size} bytes long; fix the position in {}",
                    path.display(),
                    p.file,
                    path.display()
                ),
                _ => {}
            }
            tracing::info!("resuming from {p} (read from {})", path.display());
            Ok(p)
        }
        None => {
            let first = logs.first().ok_or_else(|| {
                anyhow!("the server lists no binary logs (SHOW BINARY LOGS is empty)")
            })?;
            let p = Position::new(first.0.clone(), 4);
            tracing::warn!(
                "no position in {}: starting from the first binlog the server still has, {p}",
                path.display()
            );
            Ok(p)
        }
    }
}

/// Loads every configured table; tables without a key stop the start unless skipping is on.
pub async fn load_tables(
    cfg: &Config,
    loader: &SchemaLoader,
) -> Result<HashMap<(String, String), Option<Arc<TableMeta>>>> {
    let mut metas = HashMap::new();
    let mut no_key = Vec::new();
    for (schema, table) in loader.configured_tables().await? {
        match loader.load(&schema, &table).await? {
            Ok(m) => {
                tracing::info!(
                    "table {schema}.{table} → {} (key {})",
                    m.target,
                    m.key_names().join(", ")
                );
                metas.insert((schema, table), Some(m));
            }
            Err(Skip::NoKey) => {
                no_key.push(format!("{schema}.{table}"));
                metas.insert((schema, table), None);
            }
        }
    }
    if !no_key.is_empty() {
        if !cfg.skip_no_pk_table {
            bail!(
                "table(s) {} have no primary key and no NOT NULL unique key, so their rows cannot be matched in \
                 PostgreSQL; add a primary key, or set skip_no_pk_table = true to skip such tables",
                no_key.join(", ")
            );
        }
        for t in &no_key {
            tracing::warn!("skipping table {t}: it has no primary key and no NOT NULL unique key");
        }
    }
    if metas.values().all(Option::is_none) {
        tracing::warn!("no configured table exists yet; tables that appear later are picked up when first written");
    }
    Ok(metas)
}

pub async fn run(cfg: Config, config_path: &Path) -> Result<()> {
    // Listen for SIGTERM / SIGINT from the very start: a stop during start-up is a clean stop.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested: finishing in-flight batches");
        let _ = shutdown_tx.send(true);
    });
    cfg.warn_if_exposed(config_path);
    if cfg.init_on_start && position::load(&cfg.master_info_path())?.is_none() {
        tracing::info!("no master.info and init_on_start = true: running the initial load first");
        crate::commands::init::run(&cfg, false).await?;
    }
    let cfg = Arc::new(cfg);
    let rules = TableRules::new(&cfg)?;
    let MysqlServer {
        pool: mysql,
        opts,
        info: server,
    } = check_mysql(&cfg).await?;
    let link = connect_pg(&cfg, cfg.concurrent_size + 2).await?;
    tracing::info!(
        "PostgreSQL at {}:{}: {}",
        cfg.pg_host,
        cfg.pg_port,
        link.tls
    );
    let pg = link.pool;
    let probe = pg.get().await.context("connecting to PostgreSQL")?;
    let greenplum = is_greenplum(&cfg, &probe).await?;
    if greenplum {
        tracing::info!("Greenplum mode: a batch deletes its keys, then inserts the final rows, in one transaction");
    }
    drop(probe);
    let checkpoints = Checkpoints::setup(&cfg, &pg, greenplum).await;
    let loader = Arc::new(SchemaLoader::new(
        mysql.clone(),
        Some(pg.clone()),
        rules,
        LoadOptions {
            greenplum,
            zero_date: cfg.zero_date,
            create_tables: cfg.create_missing_tables,
        },
    ));
    let metas = load_tables(&cfg, &loader).await?;
    let start = start_position(&cfg, &mysql).await?;
    tracing::info!(
        "mysql-gp-sync {} started: config {}, flavor {}, server {} at {}, {} workers, window {}, from {start}",
        env!("CARGO_PKG_VERSION"),
        config_path.display(),
        cfg.flavor,
        server.version,
        cfg.mysql_addr,
        cfg.concurrent_size,
        cfg.concurrent_ack_win
    );

    let metrics = Metrics::new(&cfg)?;
    let snapshot: status::Shared = Default::default();
    if !cfg.stat_addr.is_empty() {
        let (addr, shared) = (cfg.stat_addr.clone(), snapshot.clone());
        tokio::spawn(async move {
            if let Err(e) = status::serve(addr, shared).await {
                tracing::error!("{e:#}");
            }
        });
    }
    let mut pos = start;
    let committed: crate::state::checkpoint::Committed =
        Arc::new(std::sync::Mutex::new(vec![None; cfg.concurrent_size]));
    let recorded: Arc<std::sync::Mutex<Option<Position>>> = Default::default();
    if let Some(cp) = &checkpoints {
        pos = resume_where_postgres_is(cp, &pg, &mysql, pos, &cfg).await?;
    }
    let reload_path = crate::state::reload::path(&cfg);
    let mut reloads = crate::state::reload::Reloads::load(&reload_path)?;
    if reloads.forget_before(&pos) {
        if reloads.is_empty() {
            let _ = std::fs::remove_file(&reload_path);
        } else {
            reloads.save(&reload_path)?;
        }
    }
    if !reloads.is_empty() {
        tracing::info!(
            "tables reloaded by init --tables: {}; their changes before that are in the copy and are skipped",
            reloads.describe()
        );
    }

    let mut backoff = Duration::from_secs(1);
    let mut metas = metas;
    let mut first = true;
    loop {
        if *shutdown_rx.borrow() {
            if first {
                position::save(&cfg.master_info_path(), &pos)?;
            }
            tracing::info!("stopped before reading, at {pos}");
            return Ok(());
        }
        if let (Some(cp), false) = (&checkpoints, first) {
            // After a failure: PostgreSQL may have lost what it had confirmed (a crash with
            // synchronous_commit = off, a failover to an asynchronous standby).
            match settle(cp, &pg, &committed, &recorded, &pos, &cfg).await {
                Ok(p) => pos = p,
                // Only a connection that failed is worth another look.
                Err(e) if !crate::source::reader::is_connection_error(&e) => return Err(e),
                Err(e) => {
                    tracing::warn!("{e:#}; checking again in {backoff:?}");
                    let mut sd = shutdown_rx.clone();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = sd.changed() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        first = false;
        let pipeline = Pipeline {
            cfg: cfg.clone(),
            opts: opts.clone(),
            loader: loader.clone(),
            pg: pg.clone(),
            metrics: metrics.clone(),
            snapshot: snapshot.clone(),
            checkpoints: checkpoints.clone(),
            shutdown: shutdown_rx.clone(),
            reloads: reloads.clone(),
            committed: committed.clone(),
            recorded: recorded.clone(),
        };
        let started = Instant::now();
        let (acked, result) = pipeline.run(pos.clone(), metas.clone()).await;
        match &checkpoints {
            // Noted after the check for lost commits (at the next round, or here at a stop):
            // noting first would overwrite the evidence.
            Some(cp) if result.is_ok() => {
                match settle(cp, &pg, &committed, &recorded, &acked, &cfg).await {
                    Ok(p) => tracing::info!("stopped cleanly at {p}"),
                    Err(e) => tracing::warn!(
                        "stopped; {e:#}: master.info stays at the last position PostgreSQL confirmed"
                    ),
                }
                return Ok(());
            }
            Some(_) => {}
            None => position::save(&cfg.master_info_path(), &acked)
                .with_context(|| format!("saving position {acked}"))?,
        }
        match result {
            Ok(()) => {
                tracing::info!("stopped cleanly at {acked}");
                return Ok(());
            }
            Err(e) if e.is::<Transient>() && !*shutdown_rx.borrow() => {
                metrics.reconnect();
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_secs(1);
                }
                tracing::warn!("{e:#}; restarting from {acked} in {backoff:?}");
                let mut sd = shutdown_rx.clone();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = sd.changed() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                pos = acked;
                // Reload layouts: the table may have changed while we were away.
                metas = HashMap::new();
            }
            Err(e) if e.is::<Transient>() => return Ok(()),
            Err(e) => {
                // Keep what was applied before the failure (best effort: PostgreSQL may be
                // what failed).
                if let Some(cp) = &checkpoints {
                    let _ = settle(cp, &pg, &committed, &recorded, &acked, &cfg).await;
                }
                return Err(e);
            }
        }
    }
}

/// `mysql-gp-sync schema`: the PostgreSQL `CREATE TABLE` statements for the configured tables,
/// from the MySQL schema (shards mapped into one table give one statement).
pub async fn print_schema(cfg: &Config) -> Result<()> {
    let mysql = check_mysql(cfg).await?.pool;
    let loader = SchemaLoader::new(mysql, None, TableRules::new(cfg)?, LoadOptions::default());
    let mut done: HashSet<TargetName> = HashSet::new();
    let tables = loader.configured_tables().await?;
    if tables.is_empty() {
        bail!("no MySQL table matches the [[source]] sections of the config");
    }
    for (schema, table) in tables {
        let target = loader.rules().target(&schema, &table);
        if !done.insert(target.clone()) {
            println!("-- {schema}.{table} also maps into {target}\n");
            continue;
        }
        let src = loader.source_table(&schema, &table).await?;
        println!("-- from MySQL {schema}.{table}");
        if src.key.is_empty() {
            println!("-- WARNING: no primary key or NOT NULL unique key: the sync cannot replicate this table");
        }
        println!(
            "CREATE SCHEMA IF NOT EXISTS {};",
            crate::sql::quote_ident(&target.schema)
        );
        println!("{}\n", src.create_table_sql(&target, cfg.zero_date)?);
    }
    Ok(())
}

struct Pipeline {
    cfg: Arc<Config>,
    opts: mysql_async::Opts,
    loader: Arc<SchemaLoader>,
    pg: deadpool_postgres::Pool,
    metrics: Metrics,
    snapshot: status::Shared,
    shutdown: watch::Receiver<bool>,
    checkpoints: Option<Arc<Checkpoints>>,
    /// Tables reloaded by `init --tables` (see [`crate::state::reload`]).
    reloads: crate::state::reload::Reloads,
    /// Each worker's last committed batch, and the last position noted in PostgreSQL: what
    /// this process knows PostgreSQL confirmed (see [`Checkpoints::lost`]).
    committed: crate::state::checkpoint::Committed,
    recorded: Arc<std::sync::Mutex<Option<Position>>>,
}

impl Pipeline {
    /// Runs until shutdown or failure; returns the acknowledged position either way.
    async fn run(
        self,
        start: Position,
        metas: HashMap<(String, String), Option<Arc<TableMeta>>>,
    ) -> (Position, Result<()>) {
        let cfg = &self.cfg;
        let marks = match &self.checkpoints {
            Some(cp) => match cp.load(&self.pg, &start).await {
                Ok(m) => m,
                Err(e) => {
                    return (
                        start,
                        Err(Transient(format!("reading the checkpoints: {e:#}")).into()),
                    )
                }
            },
            None => vec![None; cfg.concurrent_size],
        };
        if let Some(cp) = &self.checkpoints {
            if marks.iter().any(Option::is_some) {
                let logs = async {
                    let mut conn = mysql_async::Conn::new(self.opts.clone()).await?;
                    binary_logs(&mut conn).await
                }
                .await;
                let placed = match logs {
                    Ok(logs) => checkpoint::check_placed(&marks, &start, &logs, cp.table()),
                    Err(e) => Err(Transient(format!("listing the binlogs: {e:#}")).into()),
                };
                if let Err(e) = placed {
                    return (start, Err(e));
                }
            }
        }
        let truncate_floor = checkpoint::floor(&marks);
        let window = Arc::new(AckWindow::new(cfg.concurrent_ack_win, start.clone()));
        let mut senders = Vec::with_capacity(cfg.concurrent_size);
        let mut workers = JoinSet::new();
        for (id, applied) in marks.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(cfg.batch_size.max(64) * 2);
            senders.push(tx);
            workers.spawn(
                Worker {
                    id,
                    rx,
                    pool: self.pg.clone(),
                    window: window.clone(),
                    batch_size: cfg.batch_size,
                    metrics: self.metrics.clone(),
                    checkpoints: self.checkpoints.clone(),
                    applied,
                    skipped: 0,
                    copy_rest: 0,
                    committed: self.checkpoints.as_ref().map(|_| self.committed.clone()),
                }
                .run(),
            );
        }
        let mut target_sources: HashMap<TargetName, HashSet<(String, String)>> = HashMap::new();
        for (k, m) in &metas {
            if let Some(m) = m {
                target_sources
                    .entry(m.target.clone())
                    .or_default()
                    .insert(k.clone());
            }
        }
        let saver = tokio::spawn(save_positions(
            cfg.clone(),
            window.clone(),
            self.metrics.clone(),
            self.snapshot.clone(),
            self.checkpoints.clone().map(|cp| {
                (
                    cp,
                    self.pg.clone(),
                    self.recorded.clone(),
                    self.committed.clone(),
                )
            }),
        ));
        let reader = Reader {
            cfg: cfg.clone(),
            opts: self.opts.clone(),
            loader: self.loader.clone(),
            pg: self.pg.clone(),
            window: window.clone(),
            workers: senders,
            shutdown: self.shutdown.clone(),
            metas,
            target_sources,
            metrics: self.metrics.clone(),
            checkpoints: self.checkpoints.clone(),
            truncate_floor,
            reloads: self.reloads.clone(),
            committed: self.checkpoints.as_ref().map(|_| self.committed.clone()),
        };
        let mut reader = tokio::spawn(reader.run(start));

        let mut saver = saver;
        let result = tokio::select! {
            biased;
            r = &mut reader => drain(r, &mut workers).await,
            // The saver found that PostgreSQL lost commits: restart from what it holds.
            Ok(e) = &mut saver => {
                reader.abort();
                workers.abort_all();
                while workers.join_next().await.is_some() {}
                Err(e)
            }
            Some(w) = workers.join_next() => match flatten(w) {
                // Its queue closed: the reader is done, so are the others once they drain.
                Ok(()) => {
                    let r = (&mut reader).await;
                    drain(r, &mut workers).await
                }
                // A worker failed while the reader still feeds it: stop everything.
                Err(e) => {
                    reader.abort();
                    workers.abort_all();
                    while workers.join_next().await.is_some() {}
                    Err(e)
                }
            },
        };
        saver.abort();
        (window.acked(), result)
    }
}

/// The reader is gone, so are its senders: the workers commit what they hold and stop.
/// A worker's failure outranks the reader's (a lost connection is only a reason to restart).
async fn drain(
    reader: Result<Result<Stop>, tokio::task::JoinError>,
    workers: &mut JoinSet<Result<()>>,
) -> Result<()> {
    let mut result = flatten(reader).map(|Stop::Shutdown| ());
    while let Some(w) = workers.join_next().await {
        if let Err(e) = flatten(w) {
            if result
                .as_ref()
                .map_or_else(|e| e.is::<Transient>(), |_| true)
            {
                result = Err(e);
            }
        }
    }
    result
}

fn flatten<T>(r: Result<Result<T>, tokio::task::JoinError>) -> Result<T> {
    match r {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(anyhow!("internal error: a task panicked: {e}")),
        Err(e) => Err(anyhow!("task cancelled: {e}")),
    }
}

/// Saves the acknowledged position about once a second, writes the status file for
/// `mysql-gp-sync status`, and logs a progress line every ten seconds.
/// What the saver needs to note positions in PostgreSQL: the checkpoints, the pool, the last
/// position noted, and each worker's last committed batch (to check for a loss first).
type SaverCheckpoints = (
    Arc<Checkpoints>,
    deadpool_postgres::Pool,
    Arc<std::sync::Mutex<Option<Position>>>,
    crate::state::checkpoint::Committed,
);

async fn save_positions(
    cfg: Arc<Config>,
    window: Arc<AckWindow>,
    metrics: Metrics,
    snapshot: Arc<std::sync::Mutex<Option<Snapshot>>>,
    checkpoints: Option<SaverCheckpoints>,
) -> anyhow::Error {
    let path = cfg.master_info_path();
    let status_path = cfg.status_path();
    let mut saved = window.acked();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    let (mut last_rows, mut last_at) = (metrics.rows_total(), Instant::now());
    let mut progress_rows = last_rows;
    loop {
        tick.tick().await;
        n += 1;
        let acked = window.acked();
        if acked != saved {
            // PostgreSQL first, then the file: master.info is never ahead of what PostgreSQL
            // notes, so one ahead of it at start means PostgreSQL lost commits.
            let noted = match &checkpoints {
                Some((cp, pg, recorded, committed)) => {
                    // Never note a position over a loss: that would erase its evidence.
                    let mine = committed.lock().unwrap().clone();
                    let last = recorded.lock().unwrap().clone();
                    match cp.lost(pg, &mine, last.as_ref()).await {
                        Ok(Some(loss)) => {
                            return Transient(format!(
                                "PostgreSQL lost commits it had confirmed ({})",
                                loss.what
                            ))
                            .into()
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!("cannot read the checkpoints: {e:#}");
                            continue;
                        }
                    }
                    match cp.record_position(pg, &acked).await {
                        Ok(()) => {
                            *recorded.lock().unwrap() = Some(acked.clone());
                            true
                        }
                        Err(e) => {
                            tracing::debug!("cannot note the position in PostgreSQL: {e:#}");
                            false
                        }
                    }
                }
                None => true,
            };
            if noted {
                match position::save(&path, &acked) {
                    Ok(()) => saved = acked.clone(),
                    Err(e) => tracing::error!("cannot save position {acked}: {e:#}"),
                }
            }
        }
        let in_flight = window.in_flight();
        metrics.position(&acked, in_flight);
        let rows = metrics.rows_total();
        let rate = (rows - last_rows) as f64 / last_at.elapsed().as_secs_f64().max(0.001);
        (last_rows, last_at) = (rows, Instant::now());
        let snap = metrics.snapshot(&acked, in_flight, rate);
        if let Err(e) = status::write(&status_path, &snap) {
            tracing::debug!("cannot write {}: {e:#}", status_path.display());
        }
        *snapshot.lock().unwrap() = Some(snap);
        if n.is_multiple_of(10) {
            tracing::info!(
                "progress: applied up to {acked}, {:.0} rows/s over 10 s, {in_flight} changes in flight, lag {} ms",
                (rows - progress_rows) as f64 / 10.0,
                metrics.lag_ms()
            );
            progress_rows = rows;
        }
    }
}

pub fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(b) => match b.as_db_error() {
            Some(db) => db.message().to_string(),
            // tokio-postgres keeps the reason (e.g. "server does not support TLS") as the source.
            None => {
                let mut text = b.to_string();
                let mut cause = std::error::Error::source(b);
                while let Some(c) = cause {
                    text = format!("{text}: {c}");
                    cause = c.source();
                }
                text
            }
        },
        other => other.to_string(),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn binlog_status_statement_by_version() {
        use super::binlog_status_sql as f;
        assert_eq!(f("9.7.4"), "SHOW BINARY LOG STATUS");
        assert_eq!(f("8.4.3-log"), "SHOW BINARY LOG STATUS");
        assert_eq!(f("8.2.0"), "SHOW BINARY LOG STATUS");
        assert_eq!(f("8.0.40"), "SHOW MASTER STATUS");
        assert_eq!(f("5.7.44-log"), "SHOW MASTER STATUS");
        assert_eq!(f("11.8.9-MariaDB-4"), "SHOW MASTER STATUS");
        assert_eq!(f("10.11.19-MariaDB-0+deb12u1-log"), "SHOW MASTER STATUS");
    }
}
