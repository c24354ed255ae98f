//! The copy of the initial load: readers that take chunks off a queue and stream each one
//! from its MySQL snapshot into PostgreSQL with COPY, converting values as the stream does.

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use mysql_async::prelude::Queryable;

use crate::config::Config;
use crate::convert::to_pg_text_replacing;
use crate::mysql::snapshot::Chunk;
use crate::state::init_state::{self, InitState};

/// Bytes of COPY data sent to PostgreSQL at a time.
const COPY_BUFFER: usize = 256 * 1024;

/// Rows copied so far, shown as a bar on a terminal and as log lines otherwise.
pub struct Progress {
    pub rows: AtomicU64,
    estimate: u64,
    pub started: Instant,
    pub bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// Progress of a load of about `estimate` rows.
    pub fn new(estimate: u64) -> Self {
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
        Progress {
            rows: AtomicU64::new(0),
            estimate,
            started: Instant::now(),
            bar,
        }
    }

    fn add(&self, n: u64) {
        let total = self.rows.fetch_add(n, Relaxed) + n;
        if let Some(bar) = &self.bar {
            bar.set_position(total);
        }
    }
}

/// One reader: takes chunks off the queue and streams each into PostgreSQL with COPY.
pub async fn copy_worker(
    mut conn: mysql_async::Conn,
    pg: deadpool_postgres::Pool,
    queue: Arc<Mutex<VecDeque<Chunk>>>,
    progress: Arc<Progress>,
    state: Arc<Mutex<(InitState, HashMap<String, usize>)>>,
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
            init_state::save(&cfg, st)?;
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
    let (sql, params) = chunk.select();
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
pub async fn report(progress: Arc<Progress>, queue: Arc<Mutex<VecDeque<Chunk>>>) {
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
