//! `mysql-gp-sync init`: the initial load. Copies every configured table into PostgreSQL
//! while the application keeps writing, and records the binlog position that matches the copy,
//! so that the sync then streams from exactly there. Changes made during the copy are replayed
//! from the binlog afterwards; replay is idempotent (full-row upserts and deletes by key).
//!
//! Consistency: every reading connection opens `START TRANSACTION WITH CONSISTENT SNAPSHOT`
//! at the same point, and the position is read at that point.
//! - With the RELOAD privilege, commits are blocked for a moment (MariaDB `BACKUP STAGE
//!   BLOCK_COMMIT`, MySQL `FLUSH TABLES WITH READ LOCK`) while `init_parallel` connections open
//!   their snapshots and the position is read; then tables and key ranges are copied in parallel.
//! - Without it, on MariaDB, one connection opens a snapshot and reads `binlog_snapshot_file` /
//!   `binlog_snapshot_position`, which MariaDB keeps consistent with it: no lock at all, one reader.
//!   On MySQL, which has no such status, the position is a low watermark read before the
//!   readers open their snapshots, and the replay from it makes the copy consistent (see
//!   `lock_free_mysql`): no lock either, and parallel readers.
//!
//! Rows are streamed (memory stays bounded by one buffer per reader) and written with `COPY`.
//! Progress survives a crash in `init.state`: tables already copied are not copied again, a table
//! that was being copied is emptied and copied again, and replay starts from the oldest snapshot.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use serde::{Deserialize, Serialize};

use crate::catalog::{LoadOptions, SchemaLoader};
use crate::commands::Settings;
use crate::config::{Config, Flavor};
use crate::convert::to_pg_text_replacing;
use crate::model::kind::Kind;
use crate::model::position::Position;
use crate::model::rules::TargetName;
use crate::model::table::TableMeta;
use crate::pipeline::start::load_tables;
use crate::source::connect::binlog_status;
use crate::source::connect::check_mysql;
use crate::sql::qualified;
use crate::state::checkpoint::Checkpoints;
use crate::state::master_info;
use crate::target::connect::connect_pg;
use crate::target::connect::is_greenplum;

/// Rows per key range when a large table is split.
const RANGE_ROWS: u64 = 250_000;
/// Bytes of COPY data sent to PostgreSQL at a time.
const COPY_BUFFER: usize = 256 * 1024;

/// What survives a crash of `init`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// The position of the first snapshot: replay starts here, whatever was copied later.
    bin_name: String,
    bin_pos: u64,
    /// Source tables whose copy completed.
    done: Vec<String>,
    /// Target tables this run has written into (safe to empty again on resume).
    started: Vec<String>,
    /// A reload of some tables (`init --tables`): nothing to resume, so nothing is saved.
    #[serde(skip)]
    reload: bool,
}

fn state_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("init.state")
}

fn save_state(cfg: &Config, s: &State) -> Result<()> {
    if s.reload {
        return Ok(());
    }
    master_info::atomic_write(&state_path(cfg), &serde_json::to_vec_pretty(s)?)
}

/// One unit of copying: a whole table, or a range of its integer key.
struct Chunk {
    meta: Arc<TableMeta>,
    range: Option<(i64, i64)>,
}

struct Progress {
    rows: AtomicU64,
    estimate: u64,
    started: Instant,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn add(&self, n: u64) {
        let total = self.rows.fetch_add(n, Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_position(total);
        }
    }
}

/// Copies the configured tables and writes master.info at the matching position.
pub async fn run(s: &Settings, truncate: bool) -> Result<Position> {
    load(s, truncate, &[]).await
}

/// `init --tables`: copies only `tables` (`schema.table`) at a new consistent position while
/// every other table keeps its own; `master.info` stays where it is, and the reader skips
/// these tables' changes from before their copy (see [`crate::state::reload`]). The sync must be
/// stopped meanwhile.
pub async fn reload(s: &Settings, tables: &[String]) -> Result<Position> {
    load(s, true, tables).await
}

async fn load(s: &Settings, truncate: bool, only: &[String]) -> Result<Position> {
    let cfg = &*s.cfg;
    let started = Instant::now();
    let mysql = check_mysql(cfg, &s.mysql_tls).await?.pool;
    let parallel = cfg.init_parallel.max(1);
    let pg = connect_pg(cfg, &s.pg_tls, parallel + 2).await?.pool;
    let greenplum = {
        let c = pg.get().await.context("connecting to PostgreSQL")?;
        is_greenplum(cfg, &c).await?
    };
    let loader = SchemaLoader::new(
        mysql.clone(),
        Some(pg.clone()),
        s.rules.clone(),
        LoadOptions {
            greenplum,
            zero_date: cfg.zero_date,
            create_tables: true,
        },
    );
    let mut metas: Vec<Arc<TableMeta>> = load_tables(cfg, &loader)
        .await?
        .into_values()
        .flatten()
        .collect();
    // In name order: progress lines and a resumed load read the same way every time.
    metas.sort_by(|a, b| a.name.cmp(&b.name));
    if metas.is_empty() {
        bail!("no configured table to copy: check the [[source]] sections");
    }
    let reload = !only.is_empty();
    let kept_at = if reload {
        let Some(at) = master_info::load(&cfg.master_info_path())? else {
            bail!(
                "init --tables reloads tables of a sync that has a position, but there is no {}: run init without --tables",
                cfg.master_info_path().display()
            );
        };
        if let Some(unknown) = only.iter().find(|t| !metas.iter().any(|m| &m.name == *t)) {
            bail!(
                "init --tables: {unknown} is not a configured table (configured: {})",
                metas
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let named: Vec<Arc<TableMeta>> = metas
            .iter()
            .filter(|m| only.contains(&m.name))
            .cloned()
            .collect();
        // Emptying a target that other source tables also write into would lose their rows.
        for m in &named {
            if let Some(other) = metas
                .iter()
                .find(|o| o.target == m.target && !only.contains(&o.name))
            {
                bail!(
                    "init --tables: {} also holds the rows of {}; name it as well, since the target is emptied",
                    m.target,
                    other.name
                );
            }
        }
        metas = named;
        Some(at)
    } else {
        None
    };

    let mut state: State = match std::fs::read(state_path(cfg)) {
        _ if reload => State {
            reload: true,
            ..State::default()
        },
        Ok(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "{} is damaged; delete it to start the load over",
                state_path(cfg).display()
            )
        })?,
        Err(_) => State::default(),
    };
    // A target is complete only when every source table mapped into it is: one that is not
    // gets emptied, so the copied shards feeding it must be copied again with the rest.
    let unfinished: HashSet<&TargetName> = metas
        .iter()
        .filter(|m| !state.done.contains(&m.name))
        .map(|m| &m.target)
        .collect();
    state.done.retain(|name| {
        metas
            .iter()
            .find(|m| &m.name == name)
            .is_some_and(|m| !unfinished.contains(&m.target))
    });
    if !state.done.is_empty() {
        tracing::info!(
            "resuming an interrupted load: already copied, kept as they are: {}",
            state.done.join(", ")
        );
    }
    let todo: Vec<Arc<TableMeta>> = metas
        .iter()
        .filter(|m| !state.done.contains(&m.name))
        .cloned()
        .collect();
    prepare_targets(cfg, &pg, &todo, &state, truncate).await?;

    let (conns, snap_pos) = open_snapshots(cfg, &mysql, parallel).await?;
    if state.bin_name.is_empty() {
        state.bin_name = snap_pos.file.to_string();
        state.bin_pos = snap_pos.pos;
    }
    let replay_from = Position::new(state.bin_name.clone(), state.bin_pos);
    for m in &todo {
        let t = m.target.to_string();
        if !state.started.contains(&t) {
            state.started.push(t);
        }
    }
    save_state(cfg, &state)?;
    tracing::info!(
        "snapshot at {snap_pos} on {} connection(s); copying {} table(s); the sync will replay from {replay_from}",
        conns.len(),
        todo.len()
    );

    let (chunks, estimate) = plan(&mysql, &todo).await?;
    let mut per_table: HashMap<String, usize> = HashMap::new();
    for c in &chunks {
        *per_table.entry(c.meta.name.clone()).or_default() += 1;
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(estimate);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress = Arc::new(Progress {
        rows: AtomicU64::new(0),
        estimate,
        started: Instant::now(),
        bar,
    });
    let queue = Arc::new(Mutex::new(VecDeque::from(chunks)));
    let state = Arc::new(Mutex::new((state, per_table)));

    let reporter = tokio::spawn(report(progress.clone(), queue.clone()));
    let mut tasks = tokio::task::JoinSet::new();
    for conn in conns {
        tasks.spawn(copy_worker(
            conn,
            pg.clone(),
            queue.clone(),
            progress.clone(),
            state.clone(),
            cfg.clone(),
        ));
    }
    let mut result = Ok(());
    while let Some(r) = tasks.join_next().await {
        let r = r
            .map_err(|e| anyhow!("a copy task failed: {e}"))
            .and_then(|r| r);
        if r.is_err() && result.is_ok() {
            tasks.abort_all();
            result = r;
        }
    }
    reporter.abort();
    if let Some(bar) = &progress.bar {
        bar.finish_and_clear();
    }
    result?;

    if let Some(kept) = kept_at {
        if let Some(cp) = Checkpoints::setup(cfg, &pg, greenplum).await {
            cp.forget_workers(&pg).await?;
        }
        let path = crate::state::reload::path(cfg);
        let mut reloads = crate::state::reload::Reloads::load(&path)?;
        for m in &todo {
            reloads.set(&m.name, replay_from.clone());
        }
        reloads.save(&path)?;
        tracing::info!(
            "reloaded {} table(s), {} rows in {:.1} s; master.info stays {kept}: the sync skips their changes \
             before {replay_from}, which the copy holds",
            todo.len(),
            progress.rows.load(Relaxed),
            started.elapsed().as_secs_f64()
        );
        return Ok(kept);
    }
    if let Some(cp) = Checkpoints::setup(cfg, &pg, greenplum).await {
        cp.clear(&pg).await?;
    }
    master_info::save(&cfg.master_info_path(), &replay_from)?;
    let _ = std::fs::remove_file(state_path(cfg));
    let rows = progress.rows.load(Relaxed);
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "initial load done: {} table(s), {rows} rows in {secs:.1} s ({:.0} rows/s); master.info = {replay_from}",
        todo.len(),
        rows as f64 / secs.max(0.001)
    );
    Ok(replay_from)
}

/// Refuses targets that already hold rows, unless `--truncate` or this load wrote them.
async fn prepare_targets(
    cfg: &Config,
    pg: &deadpool_postgres::Pool,
    todo: &[Arc<TableMeta>],
    state: &State,
    truncate: bool,
) -> Result<()> {
    let client = pg.get().await?;
    let mut seen: HashSet<&TargetName> = HashSet::new();
    let mut occupied = Vec::new();
    for m in todo {
        if !seen.insert(&m.target) {
            continue;
        }
        let t = qualified(&m.target.schema, &m.target.table);
        let has_rows: bool = client
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {t})"), &[])
            .await?
            .get(0);
        if !has_rows {
            continue;
        }
        let ours = state.started.contains(&m.target.to_string());
        if truncate || cfg.init_truncate || ours {
            if ours {
                tracing::info!(
                    "{} was partly loaded by an interrupted run: emptying it",
                    m.target
                );
            }
            client.batch_execute(&m.truncate_sql).await?;
        } else {
            occupied.push(m.target.to_string());
        }
    }
    if !occupied.is_empty() {
        bail!(
            "PostgreSQL table(s) {} already hold rows; run `init --truncate` (or set init_truncate = true) \
             to empty them first",
            occupied.join(", ")
        );
    }
    Ok(())
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

/// Opens the reading connections on one consistent snapshot and returns its position.
async fn open_snapshots(
    cfg: &Config,
    mysql: &mysql_async::Pool,
    parallel: usize,
) -> Result<(Vec<mysql_async::Conn>, Position)> {
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
        let pos = pos?;
        tracing::info!(
            "commits were blocked for {} ms while {parallel} snapshot(s) opened",
            held.elapsed().as_millis()
        );
        return Ok((conns, pos));
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
        (Some(f), Some(p)) => Ok((vec![c], Position::new(f, p))),
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
) -> Result<(Vec<mysql_async::Conn>, Position)> {
    const SETTLE: Duration = Duration::from_secs(1);
    let low = binlog_status(control).await?;
    tokio::time::sleep(SETTLE).await;
    let mut conns = Vec::with_capacity(parallel);
    for _ in 0..parallel {
        conns.push(snapshot_conn(mysql).await?);
    }
    tracing::info!(
        "no RELOAD privilege (FLUSH TABLES WITH READ LOCK refused): lock-free load on {parallel} connection(s), \
         commits were never blocked; rows are read after the low watermark {low} and the sync replays from there"
    );
    Ok((conns, low))
}

/// Splits large tables with a single integer key into ranges; estimates the rows.
async fn plan(mysql: &mysql_async::Pool, todo: &[Arc<TableMeta>]) -> Result<(Vec<Chunk>, u64)> {
    let mut conn = mysql.get_conn().await?;
    let mut chunks = Vec::new();
    let mut estimate = 0;
    for m in todo {
        let rows: u64 = conn
            .exec_first(
                "SELECT COALESCE(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&m.schema, &m.table),
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
                quote_my(&m.schema),
                quote_my(&m.table)
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

fn quote_my(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// One reader: takes chunks off the queue and streams each into PostgreSQL with COPY.
async fn copy_worker(
    mut conn: mysql_async::Conn,
    pg: deadpool_postgres::Pool,
    queue: Arc<Mutex<VecDeque<Chunk>>>,
    progress: Arc<Progress>,
    state: Arc<Mutex<(State, HashMap<String, usize>)>>,
    cfg: Config,
) -> Result<()> {
    let client = pg.get().await.context("connecting to PostgreSQL")?;
    loop {
        let Some(chunk) = queue.lock().unwrap().pop_front() else {
            return Ok(());
        };
        let m = &chunk.meta;
        copy_chunk(&mut conn, &client, &chunk, &progress)
            .await
            .with_context(|| format!("copying {} into {}", m.name, m.target))?;
        let mut guard = state.lock().unwrap();
        let (st, left) = &mut *guard;
        let n = left.get_mut(&m.name).expect("planned table");
        *n -= 1;
        if *n == 0 {
            st.done.push(m.name.clone());
            save_state(&cfg, st)?;
            tracing::info!("copied {} into {}", m.name, m.target);
        }
    }
}

async fn copy_chunk(
    conn: &mut mysql_async::Conn,
    client: &tokio_postgres::Client,
    chunk: &Chunk,
    progress: &Progress,
) -> Result<()> {
    let m = &chunk.meta;
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
        quote_my(&m.schema),
        quote_my(&m.table)
    );
    let mut params: Vec<Value> = Vec::new();
    if let Some((lo, hi)) = chunk.range {
        let k = quote_my(&m.columns[m.key[0]].name);
        sql.push_str(&format!(" WHERE {k} >= ? AND {k} < ?"));
        params = vec![Value::Int(lo), Value::Int(hi)];
    }
    let sink = client.copy_in(&m.copy_sql).await?;
    futures_util::pin_mut!(sink);
    let mut result = conn.exec_iter(sql, params).await?;
    let mut stream = result
        .stream::<mysql_async::Row>()
        .await?
        .ok_or_else(|| anyhow!("no result set"))?;
    let mut buf = BytesMut::with_capacity(COPY_BUFFER + 4096);
    let mut rows = 0u64;
    while let Some(row) = stream.next().await {
        let row = row?;
        let values = row.unwrap();
        for (i, (col, v)) in m.columns.iter().zip(&values).enumerate() {
            if i > 0 {
                buf.put_u8(b'\t');
            }
            let text = to_pg_text_replacing(col, v, m.key.contains(&i), |e, n| {
                tracing::warn!(
                    "MySQL table {} (key {}, initial load): {e}{}",
                    m.name,
                    crate::model::change::describe_key(m, &values),
                    if n == 10 {
                        "; further ones in this column are not logged"
                    } else {
                        ""
                    }
                )
            })
            .map_err(|e| {
                anyhow!(
                    "cannot convert a row of MySQL table {} (key {}, initial load): {e}",
                    m.name,
                    crate::model::change::describe_key(m, &values)
                )
            })?;
            crate::sql::copy_field(&mut buf, text.as_deref());
        }
        buf.put_u8(b'\n');
        rows += 1;
        if buf.len() >= COPY_BUFFER {
            sink.send(buf.split().freeze()).await?;
            progress.add(rows);
            rows = 0;
        }
    }
    drop(stream);
    drop(result);
    if !buf.is_empty() {
        sink.send(buf.split().freeze()).await?;
    }
    progress.add(rows);
    sink.finish().await?;
    Ok(())
}

/// Progress as log lines every 5 s (the bar, when there is a terminal, moves by itself).
async fn report(progress: Arc<Progress>, queue: Arc<Mutex<VecDeque<Chunk>>>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    loop {
        tick.tick().await;
        let rows = progress.rows.load(Relaxed);
        let rate = rows as f64 / progress.started.elapsed().as_secs_f64().max(0.001);
        let left = queue.lock().unwrap().len();
        if let Some(bar) = &progress.bar {
            bar.set_message(format!("{left} chunk(s) queued"));
        } else {
            tracing::info!(
                "init: {rows} of ~{} rows ({rate:.0} rows/s), {left} chunk(s) still queued",
                progress.estimate
            );
        }
    }
}
