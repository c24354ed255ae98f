//! Reading a consistent snapshot of MySQL for the initial load: connections that share one
//! snapshot (or a low watermark the replay makes consistent), and the plan of chunks to copy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use mysql_async::prelude::Queryable;
use mysql_async::Value;

use crate::config::{Config, Flavor};
use crate::model::kind::Kind;
use crate::model::position::Position;
use crate::model::table::TableMeta;
use crate::mysql::connect::binlog_status;

/// Rows per key range when a large table is split.
const RANGE_ROWS: u64 = 250_000;

/// One unit of copying: a whole table, or a range of its integer key.
pub struct Chunk {
    pub meta: Arc<TableMeta>,
    pub range: Option<(i64, i64)>,
}

impl Chunk {
    /// The SELECT that reads this chunk, and its parameters.
    pub fn select(&self) -> (String, Vec<Value>) {
        let m = &self.meta;
        // ENUM and SET as their numbers and TIMESTAMP as epoch seconds: the same forms the binlog
        // carries, so one conversion serves both paths.
        let select: Vec<String> = m
            .columns
            .iter()
            .map(|c| {
                let q = quote_my(&c.name);
                match c.kind {
                    // Not `{q}+0`: MySQL sends that as a DOUBLE over the binary protocol.
                    Kind::Enum(_) | Kind::Set(_) => format!("CAST({q} AS UNSIGNED)"),
                    Kind::Timestamp => format!("UNIX_TIMESTAMP({q})"),
                    _ => q,
                }
            })
            .collect();
        let mut sql = format!(
            "SELECT {} FROM {}.{}",
            select.join(", "),
            quote_my(&m.source.schema),
            quote_my(&m.source.table)
        );
        let mut params: Vec<Value> = Vec::new();
        if let Some((lo, hi)) = self.range {
            let k = quote_my(&m.columns[m.key[0]].name);
            sql.push_str(&format!(" WHERE {k} >= ? AND {k} < ?"));
            params = vec![Value::Int(lo), Value::Int(hi)];
        }
        (sql, params)
    }
}

/// A reading connection inside `START TRANSACTION WITH CONSISTENT SNAPSHOT`.
async fn snapshot_conn(mysql: &mysql_async::Pool) -> Result<mysql_async::Conn> {
    let mut c = mysql.get_conn().await?;
    // TIMESTAMP columns are read as UNIX_TIMESTAMP(), but keep the session neutral anyway.
    c.query_drop("SET SESSION time_zone = '+00:00'").await?;
    // Text as the column stores it, in its own character set, as the binlog carries it: one
    // decoding for both paths (converted to the connection's charset, a gbk column's text was
    // then decoded as gbk a second time).
    c.query_drop("SET SESSION character_set_results = binary")
        .await?;
    c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        .await?;
    Ok(c)
}

/// Opens the reading connections on one consistent snapshot and returns its position (and,
/// on MySQL with GTIDs, the executed GTID set there).
pub async fn open_snapshots(
    cfg: &Config,
    mysql: &mysql_async::Pool,
    parallel: usize,
) -> Result<(Vec<mysql_async::Conn>, Position, Option<String>)> {
    let mut control = mysql.get_conn().await?;
    // Both need RELOAD; without it they fail at once and the lock-free path is taken.
    let locked = match cfg.flavor {
        Flavor::Mariadb => {
            control.query_drop("BACKUP STAGE START").await.is_ok()
                && control
                    .query_drop("BACKUP STAGE BLOCK_COMMIT")
                    .await
                    .is_ok()
        }
        Flavor::Mysql => control
            .query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .is_ok(),
    };
    if locked {
        let held = Instant::now();
        let mut conns = Vec::with_capacity(parallel);
        let opened: Result<()> = async {
            for _ in 0..parallel {
                conns.push(snapshot_conn(mysql).await?);
            }
            Ok(())
        }
        .await;
        let pos = binlog_status(&mut control).await;
        let unlock = match cfg.flavor {
            Flavor::Mariadb => "BACKUP STAGE END",
            Flavor::Mysql => "UNLOCK TABLES",
        };
        control.query_drop(unlock).await?;
        opened?;
        let (pos, gtids) = pos?;
        tracing::info!(
            "commits were blocked for {} ms while {parallel} snapshot(s) opened",
            held.elapsed().as_millis()
        );
        return Ok((conns, pos, gtids));
    }
    if cfg.flavor == Flavor::Mysql {
        return lock_free_mysql(mysql, &mut control, parallel).await;
    }
    tracing::info!(
        "no RELOAD privilege for BACKUP STAGE: lock-free snapshot (binlog_snapshot_position) on one connection"
    );
    let mut c = snapshot_conn(mysql).await?;
    let rows: Vec<(String, String)> = c.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await?;
    let get = |k: &str| {
        rows.iter()
            .find(|r| r.0.eq_ignore_ascii_case(k))
            .map(|r| r.1.clone())
    };
    let file = get("binlog_snapshot_file").filter(|f| !f.is_empty());
    let pos = get("binlog_snapshot_position").and_then(|p| p.parse().ok());
    match (file, pos) {
        (Some(f), Some(p)) => Ok((vec![c], Position::new(f, p), None)),
        _ => bail!("the server did not report binlog_snapshot_file / binlog_snapshot_position (is log_bin on?)"),
    }
}

/// MySQL without RELOAD: no moment without commits, and no status consistent with a snapshot
/// (MariaDB's `binlog_snapshot_position`). The load is made consistent by replay instead, as
/// watermark-based snapshots (Flink CDC) do: the position `low` is read first, every row is
/// then read after it, and the sync replays every change from `low` on. A key changed after
/// `low` ends with its last change (full-row upserts and deletes by key, in binlog order); a key
/// not changed since `low` was copied with the value it still has. So when the replay has passed
/// the end of the copy, every table equals the source, and the readers need not share one
/// snapshot: they open theirs in parallel without any lock.
///
/// The rows of a transaction written to the binlog before `low` become visible to readers a
/// moment later (MySQL writes the binlog before the engine commits): the snapshots are opened
/// `SETTLE` after `low` was read, so that such a transaction is visible to them.
async fn lock_free_mysql(
    mysql: &mysql_async::Pool,
    control: &mut mysql_async::Conn,
    parallel: usize,
) -> Result<(Vec<mysql_async::Conn>, Position, Option<String>)> {
    const SETTLE: Duration = Duration::from_secs(1);
    // The set read with `low`: what the replay from `low` does not need to redo.
    let (low, gtids) = binlog_status(control).await?;
    tokio::time::sleep(SETTLE).await;
    let mut conns = Vec::with_capacity(parallel);
    for _ in 0..parallel {
        conns.push(snapshot_conn(mysql).await?);
    }
    tracing::info!(
        "no RELOAD privilege (FLUSH TABLES WITH READ LOCK refused): lock-free load on {parallel} connection(s), \
         commits were never blocked; rows are read after the low watermark {low} and the sync replays from there"
    );
    Ok((conns, low, gtids))
}

/// Splits large tables with a single integer key into ranges; estimates the rows.
pub async fn plan(mysql: &mysql_async::Pool, todo: &[Arc<TableMeta>]) -> Result<(Vec<Chunk>, u64)> {
    let mut conn = mysql.get_conn().await?;
    let mut chunks = Vec::new();
    let mut estimate = 0;
    for m in todo {
        let rows: u64 = conn
            .exec_first(
                "SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&m.source.schema, &m.source.table),
            )
            .await?
            .unwrap_or(0);
        estimate += rows;
        let int_key = m.key.len() == 1
            && matches!(m.columns[m.key[0]].kind, Kind::Int { bits, unsigned } if bits < 64 || !unsigned);
        if !int_key || rows < 2 * RANGE_ROWS {
            chunks.push(Chunk {
                meta: m.clone(),
                range: None,
            });
            continue;
        }
        let k = quote_my(&m.columns[m.key[0]].name);
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_first(format!(
                "SELECT MIN({k}), MAX({k}) FROM {}.{}",
                quote_my(&m.source.schema),
                quote_my(&m.source.table)
            ))
            .await?
            .unwrap_or((None, None));
        let (Some(lo), Some(hi)) = (lo, hi) else {
            chunks.push(Chunk {
                meta: m.clone(),
                range: None,
            });
            continue;
        };
        let parts = rows.div_ceil(RANGE_ROWS).max(1) as i64;
        let step = ((hi - lo) / parts).max(1);
        let mut start = lo;
        // Ranges are [start, end); the last one is open above so rows inserted past the
        // planned MAX (outside the snapshot anyway) cannot fall between ranges.
        while start <= hi {
            let end = start.saturating_add(step);
            let range = if end > hi {
                (start, i64::MAX)
            } else {
                (start, end)
            };
            chunks.push(Chunk {
                meta: m.clone(),
                range: Some(range),
            });
            if end > hi {
                break;
            }
            start = end;
        }
    }
    Ok((chunks, estimate))
}

pub fn quote_my(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}
