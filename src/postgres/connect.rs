//! Connecting to the target: the PostgreSQL pool with TLS as configured, and whether it is
//! Greenplum.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::config::{Config, PgTarget};
use crate::error::{retry_at_start, retryable};
use crate::tls::{NoTls, PgTls};
use secrecy::ExposeSecret;

/// A PostgreSQL pool whose first connection worked, and what its TLS is.
pub struct PgLink {
    pub pool: deadpool_postgres::Pool,
    pub tls: String,
    /// Known to be unencrypted (for `check`'s warning).
    pub plain_text: bool,
}

/// Opens the PostgreSQL pool (retried at start while the server does not answer). With
/// `prefer`, a failed TLS handshake is retried in plain text, as libpq does.
pub async fn connect_pg(cfg: &Config, tls: &PgTls, size: usize) -> Result<PgLink> {
    let what = format!("PostgreSQL at {}:{}", cfg.pg_host, cfg.pg_port);
    let attempt = |plain: bool| {
        let what = &what;
        async move {
            let pool = pg_pool(cfg, size, tls, plain)?;
            match tokio::time::timeout(Duration::from_secs(15), pool.get()).await {
                Err(_) => Err(retryable(anyhow!(
                    "cannot connect to {what}: no answer in 15 s"
                ))),
                Ok(Ok(c)) => Ok((pool, c)),
                Ok(Err(e)) => {
                    let backend = match &e {
                        deadpool_postgres::PoolError::Backend(b) => Some(b),
                        _ => None,
                    };
                    if let Some(t) = backend.and_then(|b| crate::tls::tls_failure(b)) {
                        return Err(NoTls(format!(
                            "cannot connect to {what} over TLS: {t}; {}",
                            crate::tls::advice(t, "PostgreSQL")
                        ))
                        .into());
                    }
                    let refused_by_server = backend.is_some_and(|b| b.as_db_error().is_some());
                    if pool_error(&e).contains("server does not support TLS") {
                        return Err(anyhow!(
                            "{what} offers no TLS but pg_sslmode = {}: set ssl = on on the server, or pg_sslmode = prefer",
                            cfg.pg_sslmode
                        ));
                    }
                    let hint = if !refused_by_server || tls.tls.on {
                        ""
                    } else {
                        " (a hostssl line in pg_hba.conf also needs pg_sslmode, and pg_sslcert / pg_sslkey for clientcert)"
                    };
                    let e = anyhow!(
                        "cannot connect to {what} database {} as {}: {}; check pg_host, pg_port, pg_dbname, pg_user and pg_pass{hint}",
                        cfg.pg_dbname,
                        cfg.pg_user,
                        pool_error(&e)
                    );
                    // Only a server that is not there (yet) is worth waiting for.
                    Err(if refused_by_server { e } else { retryable(e) })
                }
            }
        }
    };
    let (pool, client) = retry_at_start(cfg, &what, || async {
        match attempt(false).await {
            Err(e) if tls.tls.fallback && tls.tls.on && e.is::<NoTls>() => {
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
    pc.password = Some(cfg.pg_pass.expose_secret().to_string());
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
