//! The load the benchmark puts on the servers: the COPY ceiling, loading a dump into
//! PostgreSQL, backlog B's single-row transactions, and the replication-lag probe.

use std::io::{Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::SinkExt;
use mysql_async::prelude::Queryable;
use tokio::sync::Mutex;

use crate::db::{mysql_opts, pg_connect};

/// Random test data in sysbench's shapes (a seeded `fastrand::Rng`: the same data every run).
struct Rng(fastrand::Rng);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(fastrand::Rng::with_seed(seed))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n)
    }
    /// `groups` groups of `width` digits joined by '-'.
    fn digits(&mut self, groups: usize, width: usize) -> String {
        let mut out = String::with_capacity(groups * (width + 1));
        for g in 0..groups {
            if g > 0 {
                out.push('-');
            }
            out.extend((0..width).map(|_| self.0.digit(10)));
        }
        out
    }
    /// sysbench's `c`: 11 groups of 10 digits.
    fn c(&mut self) -> String {
        self.digits(11, 10)
    }
    /// sysbench's `pad`: 5 groups of 11 digits.
    fn pad(&mut self) -> String {
        self.digits(5, 11)
    }
}

const CHUNK: usize = 1 << 20;

async fn copy_chunks(
    client: &tokio_postgres::Client,
    table: &str,
    chunks: impl IntoIterator<Item = Result<Vec<u8>>>,
) -> Result<u64> {
    let sink = client
        .copy_in::<_, Cursor<Vec<u8>>>(&format!("COPY {table} (id, k, c, pad) FROM STDIN"))
        .await?;
    futures_util::pin_mut!(sink);
    for chunk in chunks {
        sink.send(Cursor::new(chunk?)).await?;
    }
    Ok(sink.finish().await?)
}

/// The COPY ceiling: (re)creates `table` (id int PRIMARY KEY, k int, c char(120), pad
/// char(60)), generates `rows` sysbench-shaped rows in memory, then times one text-format
/// COPY of them on one connection. Returns rows/s: the most PostgreSQL takes in on this
/// machine, which the sync's throughputs are compared with.
pub async fn copy_ceiling(rows: u64, table: &str) -> Result<f64> {
    let client = pg_connect().await?;
    client
        .batch_execute(&format!(
            "SET client_min_messages = warning; DROP TABLE IF EXISTS {table};
             CREATE TABLE {table} (id int PRIMARY KEY, k int, c char(120), pad char(60))"
        ))
        .await?;
    // Generate everything first: the client's work must not count against PostgreSQL.
    let mut rng = Rng::new(rows ^ 0x5eed);
    let mut chunks = Vec::new();
    let mut cur = Vec::with_capacity(CHUNK + 256);
    for id in 1..=rows {
        let k = 1 + rng.below(rows.max(1));
        let line = format!("{id}\t{k}\t{}\t{}\n", rng.c(), rng.pad());
        cur.extend_from_slice(line.as_bytes());
        if cur.len() >= CHUNK {
            chunks.push(std::mem::replace(&mut cur, Vec::with_capacity(CHUNK + 256)));
        }
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    let started = Instant::now();
    let n = copy_chunks(&client, table, chunks.into_iter().map(Ok)).await?;
    let secs = started.elapsed().as_secs_f64();
    if n != rows {
        bail!("COPY reported {n} rows, expected {rows}");
    }
    Ok(n as f64 / secs)
}

/// TRUNCATE `table`, then COPY the tab-separated `file` into it.
pub async fn copy_file(client: &tokio_postgres::Client, table: &str, file: &Path) -> Result<()> {
    client.batch_execute(&format!("TRUNCATE {table}")).await?;
    let mut f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    // A chunk may end mid-line: COPY's data stream does not care where messages split.
    let chunks = std::iter::from_fn(move || {
        let mut buf = vec![0u8; CHUNK];
        match f.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok(buf))
            }
            Err(e) => Some(Err(anyhow!("reading {}: {e}", file.display()))),
        }
    });
    copy_chunks(client, table, chunks)
        .await
        .with_context(|| format!("COPY {table} from {}", file.display()))?;
    Ok(())
}

/// Backlog B: `changes` single-row autocommit transactions on MariaDB's `table`, whose ids
/// 1..=`existing` exist, spread over `conns` connections: 25 % INSERT, 25 % UPDATE of k
/// (indexed), 25 % UPDATE of c, 25 % DELETE. Every statement changes exactly one row
/// (checked), so the binlog holds exactly `changes` row changes. Returns the seconds taken.
/// Returns the seconds it took and what was done, as `(op, id)` with op 0 insert, 1–2 update,
/// 3 delete: each connection's operations in order, the connections interleaved one by one
/// (they own disjoint ids, so this is an order MariaDB could have committed them in).
pub async fn gen_mixed(
    table: &str,
    existing: u64,
    changes: u64,
    conns: u64,
) -> Result<(f64, Vec<(u8, u64)>)> {
    let opts = mysql_opts(None)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for j in 0..conns {
        let opts = opts.clone();
        let table = table.to_string();
        let todo = changes / conns + u64::from(j < changes % conns);
        tasks.push(tokio::spawn(async move {
            mixed_worker(opts, &table, existing, conns, j, todo).await
        }));
    }
    let mut per_conn = Vec::new();
    for t in tasks {
        per_conn.push(t.await??);
    }
    let secs = started.elapsed().as_secs_f64();
    let mut ops = Vec::with_capacity(changes as usize);
    let longest = per_conn.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        ops.extend(per_conn.iter().filter_map(|c| c.get(i).copied()));
    }
    if ops.len() as u64 != changes {
        bail!("wrote {} changes instead of {changes}", ops.len());
    }
    Ok((secs, ops))
}

/// One connection owns the ids ≡ j (mod conns), so it knows which exist without asking and
/// no two connections ever touch the same row.
async fn mixed_worker(
    opts: mysql_async::Opts,
    table: &str,
    existing: u64,
    conns: u64,
    j: u64,
    todo: u64,
) -> Result<Vec<(u8, u64)>> {
    let mut conn = mysql_async::Conn::new(opts).await?;
    conn.query_drop("SET autocommit = 1").await?;
    let ins = conn
        .prep(format!(
            "INSERT INTO {table} (id, k, c, pad) VALUES (?, ?, ?, ?)"
        ))
        .await?;
    let upd_k = conn
        .prep(format!("UPDATE {table} SET k = k + 1 WHERE id = ?"))
        .await?;
    let upd_c = conn
        .prep(format!("UPDATE {table} SET c = ? WHERE id = ?"))
        .await?;
    let del = conn
        .prep(format!("DELETE FROM {table} WHERE id = ?"))
        .await?;
    let first = if j == 0 { conns } else { j };
    let mut live: Vec<u64> = (first..=existing).step_by(conns as usize).collect();
    let mut dead: Vec<u64> = Vec::new();
    let mut next_new = existing + 1 + ((conns - (existing + 1) % conns) + j) % conns;
    let mut rng = Rng::new(0xb00c + j);
    let mut done = Vec::with_capacity(todo as usize);
    for _ in 0..todo {
        let mut op = rng.below(4);
        if live.is_empty() {
            op = 0;
        }
        match op {
            0 => {
                let id = if !dead.is_empty() && rng.below(2) == 0 {
                    let i = rng.below(dead.len() as u64) as usize;
                    dead.swap_remove(i)
                } else {
                    next_new += conns;
                    next_new - conns
                };
                let k = 1 + rng.below(existing.max(1));
                conn.exec_drop(&ins, (id, k, rng.c(), rng.pad())).await?;
                live.push(id);
                done.push((0, id));
            }
            1 | 2 => {
                let id = live[rng.below(live.len() as u64) as usize];
                if op == 1 {
                    conn.exec_drop(&upd_k, (id,)).await?;
                } else {
                    conn.exec_drop(&upd_c, (rng.c(), id)).await?;
                }
                done.push((op as u8, id));
            }
            _ => {
                let i = rng.below(live.len() as u64) as usize;
                let id = live.swap_remove(i);
                conn.exec_drop(&del, (id,)).await?;
                dead.push(id);
                done.push((3, id));
            }
        }
        if conn.affected_rows() != 1 {
            bail!(
                "connection {j}: a statement changed {} rows instead of 1 (op {op}); is the table in the expected state?",
                conn.affected_rows()
            );
        }
    }
    conn.disconnect().await?;
    Ok(done)
}

/// PostgreSQL's own ceiling for backlog B's work: one connection applies `ops` as the sync's
/// workers would, collapsed per `batch` operations to the last per row, in one transaction
/// per batch of one `DELETE … = ANY` and one `INSERT … SELECT unnest … ON CONFLICT DO UPDATE`
/// (the sync's own statements, from `mysql_gp_sync::sql`), rows of the same shape and size.
/// `table` holds B's starting rows. Returns rows/s over `ops`.
pub async fn mixed_ceiling(table: &str, ops: &[(u8, u64)], batch: usize) -> Result<f64> {
    use std::collections::HashMap;
    let mut client = pg_connect().await?;
    let typed = [
        ("id", "integer"),
        ("k", "integer"),
        ("c", "character(120)"),
        ("pad", "character(60)"),
    ];
    let (schema, name) = table.split_once('.').expect("schema.table");
    let quoted = mysql_gp_sync::sql::qualified(schema, name);
    let upsert = client
        .prepare(&mysql_gp_sync::sql::upsert(&quoted, &typed, &[0]))
        .await?;
    let delete = client
        .prepare(&mysql_gp_sync::sql::delete(&quoted, &typed[..1]))
        .await?;
    // The values first: the client's work must not count against PostgreSQL.
    let mut rng = Rng::new(0xce11);
    type Arrays = (Vec<String>, [Vec<String>; 4]);
    let mut batches: Vec<Arrays> = Vec::new();
    for chunk in ops.chunks(batch.max(1)) {
        let mut last: HashMap<u64, u8> = HashMap::with_capacity(chunk.len());
        for &(op, id) in chunk {
            last.insert(id, op);
        }
        let mut rows: Vec<(u64, u8)> = last.into_iter().collect();
        rows.sort_unstable();
        let (mut dels, mut ups) = (Vec::new(), [vec![], vec![], vec![], vec![]]);
        for (id, op) in rows {
            if op == 3 {
                dels.push(id.to_string());
            } else {
                ups[0].push(id.to_string());
                ups[1].push((1 + rng.below(1_000_000)).to_string());
                ups[2].push(rng.c());
                ups[3].push(rng.pad());
            }
        }
        batches.push((dels, ups));
    }
    let started = Instant::now();
    for (dels, ups) in &batches {
        let tx = client.transaction().await?;
        if !dels.is_empty() {
            tx.execute(&delete, &[dels]).await?;
        }
        if !ups[0].is_empty() {
            tx.execute(&upsert, &[&ups[0], &ups[1], &ups[2], &ups[3]])
                .await?;
        }
        tx.commit().await?;
    }
    Ok(ops.len() as f64 / started.elapsed().as_secs_f64())
}

fn epoch_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// What the lag probe saw: lag = the row's arrival in PostgreSQL − its MariaDB timestamp.
pub struct Lags {
    /// Probe rows that arrived.
    pub arrived: usize,
    /// Probe rows that never arrived (within 120 s of the last insert).
    pub missing: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Replication lag probe: every `interval_ms` inserts (id, UTC_TIMESTAMP(6)) into
/// `schema.probe` on MariaDB for `secs` seconds; meanwhile polls PostgreSQL's `schema.probe`
/// every 10 ms and records arrival time − the row's timestamp. Waits up to 120 s after the
/// last insert for stragglers.
pub async fn probe(schema: &str, secs: f64, interval_ms: u64) -> Result<Lags> {
    let mut my = mysql_async::Conn::new(mysql_opts(Some(schema))?).await?;
    // The timestamps are UTC on both sides: UTC_TIMESTAMP(6) into a DATETIME(6) (no time zone
    // conversion anywhere), read in PostgreSQL as a timestamp without time zone, whose epoch is
    // taken as UTC.
    let start_id: u64 = my
        .query_first("SELECT COALESCE(MAX(id), 0) + 1 FROM probe")
        .await?
        .unwrap_or(1);
    let pg = pg_connect().await?;
    let poll = pg
        .prepare(&format!(
            "SELECT id, extract(epoch FROM ts)::float8 FROM {schema}.probe WHERE id >= $1 ORDER BY id"
        ))
        .await?;
    let sent = Arc::new(Mutex::new(None::<u64>)); // last id inserted, once the writer is done
    let writer = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let ins = my
                .prep("INSERT INTO probe (id, ts) VALUES (?, UTC_TIMESTAMP(6))")
                .await?;
            let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let deadline = Instant::now() + Duration::from_secs_f64(secs);
            let mut id = start_id;
            while Instant::now() < deadline {
                tick.tick().await;
                my.exec_drop(&ins, (id as i64,)).await?;
                id += 1;
            }
            *sent.lock().await = Some(id - 1);
            my.disconnect().await?;
            anyhow::Ok(())
        })
    };
    let mut lags: Vec<f64> = Vec::new();
    // Rows of different keys may commit out of order (they go to different workers), so keep
    // track of every id seen and poll from the lowest one not seen yet.
    let mut seen: Vec<bool> = Vec::new();
    let mut lowest_unseen = start_id;
    let mut done_at: Option<Instant> = None;
    let mut writer = Some(writer);
    loop {
        let rows = pg.query(&poll, &[&(lowest_unseen as i64)]).await?;
        let now = epoch_secs();
        for r in rows {
            let id = r.get::<_, i64>(0) as u64;
            let ts: f64 = r.get(1);
            let i = (id - start_id) as usize;
            if i >= seen.len() {
                seen.resize(i + 1, false);
            }
            if !seen[i] {
                seen[i] = true;
                lags.push((now - ts) * 1000.0);
            }
        }
        while seen
            .get((lowest_unseen - start_id) as usize)
            .copied()
            .unwrap_or(false)
        {
            lowest_unseen += 1;
        }
        if writer.as_ref().is_some_and(|w| w.is_finished()) {
            writer.take().unwrap().await??;
            done_at = Some(Instant::now());
        }
        if let Some(last) = *sent.lock().await {
            if lowest_unseen > last {
                break;
            }
            if done_at.is_some_and(|t| t.elapsed() > Duration::from_secs(120)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last = sent.lock().await.unwrap_or(start_id - 1);
    let expected = (last + 1).saturating_sub(start_id);
    let missing = expected.saturating_sub(lags.len() as u64);
    lags.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| -> f64 {
        if lags.is_empty() {
            return f64::NAN;
        }
        let i = ((p * lags.len() as f64).ceil() as usize).clamp(1, lags.len()) - 1;
        lags[i]
    };
    Ok(Lags {
        arrived: lags.len(),
        missing,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
    })
}
