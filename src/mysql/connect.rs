//! Connecting to the source server: TLS as configured (with `preferred`'s fallback), what the
//! server says about its binlog, and the statements that read its position and files.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;

use crate::config::Config;
use crate::error::{retry_at_start, retryable};
use crate::model::position::Position;
use crate::tls::{MysqlTls, NoTls};
use secrecy::ExposeSecret;

/// MySQL connection options: TLS as configured, or plain text (`plain`) once `preferred` has
/// met a server without TLS.
pub fn mysql_opts(cfg: &Config, tls: &MysqlTls, plain: bool) -> Result<mysql_async::Opts> {
    let (host, port) = cfg.mysql_host_port()?;
    Ok(mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(cfg.mysql_user.clone()))
        .pass(Some(cfg.mysql_pass.expose_secret().to_string()))
        .prefer_socket(false)
        .ssl_opts(tls.ssl_opts(plain))
        .into())
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

/// What the server says about its binlog, checked before anything is read.
pub struct ServerInfo {
    pub version: String,
    pub checksum: bool,
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
pub async fn connect_mysql(cfg: &Config, tls: &MysqlTls) -> Result<MysqlLink> {
    let addr = &cfg.mysql_addr;
    let attempt = |plain: bool| async move {
        let opts = mysql_opts(cfg, tls, plain)?;
        match tokio::time::timeout(Duration::from_secs(15), mysql_async::Conn::new(opts.clone())).await {
                Err(_) => Err(retryable(anyhow!("cannot connect to MySQL at {addr}: no answer in 15 s; check mysql_addr and that the server is running"))),
                Ok(Ok(c)) => Ok((c, opts)),
                Ok(Err(e)) => Err(mysql_connect_error(cfg, tls, e)),
            }
    };
    let (mut conn, opts) = retry_at_start(cfg, &format!("MySQL at {addr}"), || async {
        match attempt(false).await {
            Err(e) if tls.tls.fallback && tls.tls.on && e.is::<NoTls>() => {
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

/// One error message per kind of failure, each saying what to change, marked [`retryable`]
/// when it is worth retrying at start (only when the server may still be starting).
fn mysql_connect_error(cfg: &Config, tls: &MysqlTls, e: mysql_async::Error) -> anyhow::Error {
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
        return e.into();
    }
    if let Some(t) = crate::tls::tls_failure(&e) {
        let e = NoTls(format!(
            "cannot connect to MySQL at {addr} over TLS: {t}; {}",
            crate::tls::advice(t, "MySQL")
        ));
        return e.into();
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
        return e;
    }
    let e = anyhow!(
        "cannot connect to MySQL at {addr} as {}: {e}; check mysql_addr and that the server is running",
        cfg.mysql_user
    );
    retryable(e)
}

/// MySQL connected and checked at start, with the pool and options later connections use.
pub struct MysqlServer {
    pub pool: mysql_async::Pool,
    pub opts: mysql_async::Opts,
    pub info: ServerInfo,
}

pub async fn check_mysql(cfg: &Config, tls: &MysqlTls) -> Result<MysqlServer> {
    let addr = &cfg.mysql_addr;
    let link = connect_mysql(cfg, tls).await?;
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
/// The server's current binlog position, and (MySQL) its executed GTID set read in the same
/// statement, so that both name one moment (empty when GTIDs are off).
pub async fn binlog_status(conn: &mut mysql_async::Conn) -> Result<(Position, Option<String>)> {
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
    // MySQL: File, Position, Binlog_Do_DB, Binlog_Ignore_DB, Executed_Gtid_Set.
    let gtids = row
        .get_opt::<String, usize>(4)
        .and_then(Result::ok)
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty());
    Ok((Position::new(file, pos), gtids))
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

/// MariaDB's GTID position at `pos` of its own binlog (`BINLOG_GTID_POS()`); `None` when
/// the server names none there.
pub async fn binlog_gtid_pos(
    conn: &mut mysql_async::Conn,
    pos: &Position,
) -> Result<Option<crate::model::gtid::GtidState>> {
    let text: Option<Option<String>> = conn
        .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&*pos.file, pos.pos))
        .await
        .with_context(|| format!("BINLOG_GTID_POS({pos})"))?;
    text.flatten()
        .map(|t| crate::model::gtid::GtidState::parse(&t, true))
        .transpose()
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
