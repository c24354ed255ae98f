//! Start-up checks and the pipeline: reader → workers → window → master.info.
//!
//! A pipeline runs from the last saved position until shutdown or failure. A lost connection
//! ends it like a failure does, but the loop around it starts a new one from the acknowledged
//! position after a backoff: replaying is always safe (upserts and deletes of full images are
//! idempotent), skipping never is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::catalog::SchemaLoader;
use crate::config::Config;
use crate::error::{is_transient, retryable, Transient};
use crate::model::history::Place;
use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::position::Position;
use crate::model::table::TableMeta;
use crate::mysql::reader::{AlreadyApplied, Outputs, Reader, Stop};
use crate::ops::metrics::{Metrics, Snapshot};
use crate::ops::status;
use crate::pipeline::start::{load_tables, Load};
use crate::postgres::barrier::Barriers;
use crate::postgres::writer::{Worker, WorkerContext};
use crate::state::checkpoint::{self, Checkpoints};
use crate::state::master_info;
use crate::state::schema_history::SchemaHistory;
use crate::window::AckWindow;

/// One run of the sync, from a position until shutdown or failure: the reader, the workers and
/// the saver wired together (see [`Pipeline::run`]). A lost connection ends it like a failure;
/// the caller starts a new one from the acknowledged position.
pub struct Pipeline {
    pub cfg: Arc<Config>,
    pub opts: mysql_async::Opts,
    pub loader: Arc<SchemaLoader>,
    pub pg: deadpool_postgres::Pool,
    pub metrics: Metrics,
    pub snapshot: status::Shared,
    pub shutdown: watch::Receiver<bool>,
    pub checkpoints: Option<Arc<Checkpoints>>,
    /// Tables reloaded by `init --tables` (see [`crate::state::reload`]).
    pub reloads: crate::state::reload::Reloads,
    /// `true` while this sync holds the lease (see [`crate::state::lease`]): the run stops
    /// when it turns false. `None` without a lease.
    pub lease: Option<watch::Receiver<bool>>,
}

impl Pipeline {
    /// The configured tables as of where this run starts: each definition from the schema
    /// history as of the later of `start` and the workers' `floor` (rows before the floor are
    /// not decoded), a baseline recorded for tables the history lacks, then matched with
    /// their targets.
    async fn tables(
        &self,
        history: Option<&SchemaHistory>,
        start: &Position,
        floor: Option<&Mark>,
        by_gtid: bool,
    ) -> Result<HashMap<TableName, Option<Arc<TableMeta>>>> {
        let mut at = Mark::at(start);
        if let Some(f) = floor.filter(|f| **f > at) {
            at = f.clone();
        }
        // Read by GTID, with no worker marks (another server's files, or forgotten):
        // positions do not compare with the history's, and every event read is after the
        // last applied change. The latest definitions are the ones.
        let latest = by_gtid && floor.is_none();
        let known = match history {
            Some(h) => h
                .rewind(&self.pg, &self.loader, (!latest).then_some(&at))
                .await
                .map_err(|e| retryable(e.context("reading the schema history")))?,
            None => HashMap::new(),
        };
        // Tables the history knows as gone there are not loaded (a CREATE or RENAME ahead
        // brings them in); tables it does not know are tried, and left for later if their
        // target is not there yet.
        let metas = load_tables(&self.cfg, &self.loader, |s, t| {
            match known.get(&TableName::new(s, t)) {
                Some(exists) => Load::Must(*exists),
                None if known.is_empty() => Load::Must(true),
                None => Load::Try,
            }
        })
        .await?;
        if let Some(h) = history {
            h.baseline(&self.pg, &at, &self.loader.book())
                .await
                .map_err(|e| retryable(e.context("recording the schema history")))?;
        }
        Ok(metas)
    }

    /// Runs until shutdown or failure; returns the acknowledged place (position, GTID state,
    /// fingerprint) either way. `at` is where to start, with what is known there; `by_gtid`
    /// asks the server for what follows its GTID state, otherwise the stream starts at its file
    /// and offset, and the file must have the origin saved with it (checked by the reader on
    /// the file's first event, before anything of it is read). `marks`: each worker's
    /// checkpoint, checked by `pipeline::start::worker_marks`.
    pub async fn run(
        self,
        at: Place,
        by_gtid: bool,
        marks: Vec<Option<Mark>>,
    ) -> (Place, Result<()>) {
        let resume = at.gtids.clone().filter(|_| by_gtid);
        let Place {
            pos: start,
            gtids,
            fp,
        } = at.clone();
        let cfg = &self.cfg;
        let floor = checkpoint::floor(&marks);
        let history = self
            .checkpoints
            .as_ref()
            .map(|cp| SchemaHistory::new(cp, &cfg.checkpoint_schema));
        let metas = match self
            .tables(history.as_ref(), &start, floor.as_ref(), by_gtid)
            .await
        {
            Ok(m) => m,
            Err(e) => return (at, Err(e)),
        };
        let window = Arc::new(
            AckWindow::new(cfg.concurrent_ack_win, start.clone(), gtids).resuming(&fp, !by_gtid),
        );
        let mut senders = Vec::with_capacity(cfg.concurrent_size);
        let mut workers = JoinSet::new();
        let cx = WorkerContext {
            pool: self.pg.clone(),
            window: window.clone(),
            batch_size: cfg.batch_size,
            metrics: self.metrics.clone(),
            checkpoints: self.checkpoints.clone(),
            consistency: cfg.consistency,
        };
        for (id, applied) in marks.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel(cfg.batch_size.max(64) * 2);
            senders.push(tx);
            workers.spawn(Worker::new(id, rx, cx.clone(), applied).run());
        }
        let saver = tokio::spawn(save_positions(
            cfg.clone(),
            window.clone(),
            self.metrics.clone(),
            self.snapshot.clone(),
            self.checkpoints.clone().map(|cp| (cp, self.pg.clone())),
        ));
        // One barrier at a time: the reader waits for each.
        let (barrier_tx, barrier_rx) = mpsc::channel(1);
        let barriers = Barriers::new(
            self.pg.clone(),
            window.clone(),
            self.checkpoints.clone(),
            floor.clone(),
            history,
        );
        let barriers = tokio::spawn(barriers.run(barrier_rx));
        let reader = Reader::new(
            cfg.clone(),
            self.opts.clone(),
            self.loader.clone(),
            metas,
            AlreadyApplied {
                reloads: self.reloads.clone(),
                floor,
            },
            self.metrics.clone(),
            Outputs {
                window: window.clone(),
                workers: senders,
                barriers: barrier_tx,
                shutdown: self.shutdown.clone(),
            },
        );
        let mut reader = tokio::spawn(reader.run(start, resume));

        let mut saver = saver;
        let mut lease = self.lease.clone();
        let lease_lost = async {
            match &mut lease {
                Some(alive) => {
                    let _ = alive.wait_for(|held| !held).await;
                }
                None => std::future::pending().await,
            }
        };
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
            // Another sync may take over now: stop at once (its commits would be refused
            // anyway, see `Checkpoints::fence_with`).
            () = lease_lost => {
                reader.abort();
                workers.abort_all();
                while workers.join_next().await.is_some() {}
                Err(Transient("lost the lease".into()).into())
            }
        };
        saver.abort();
        barriers.abort();
        (window.acked_place(), result)
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
            if result.as_ref().map_or_else(is_transient, |_| true) {
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
/// `mysql-gp-sync status` ten times a second (what is committed in PostgreSQL, so a caller
/// waiting for a position sees it within 100 ms, while `master.info` and PostgreSQL's note
/// of it are written once a second), and logs a progress line every ten seconds.
/// What the saver needs to note positions in PostgreSQL: the checkpoints and the pool.
type SaverCheckpoints = (Arc<Checkpoints>, deadpool_postgres::Pool);

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
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut n: u64 = 0;
    let (mut last_rows, mut last_at) = (metrics.rows_total(), Instant::now());
    let mut progress_rows = last_rows;
    let mut rate = 0.0;
    loop {
        tick.tick().await;
        n += 1;
        let place = window.acked_place();
        let acked = place.pos.clone();
        if acked != saved && n.is_multiple_of(10) {
            // PostgreSQL first, then the file: master.info is never ahead of what PostgreSQL
            // notes, so one ahead of it at start means PostgreSQL lost commits.
            let noted = match &checkpoints {
                Some((cp, pg)) => {
                    // Never note a position over a loss: that would erase its evidence.
                    let lost = match pg.get().await {
                        Ok(client) => cp.lost(&client).await,
                        Err(e) => Err(e.into()),
                    };
                    match lost {
                        Ok(Some(loss)) => return loss.into_error(),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::debug!("cannot read the checkpoints: {e:#}");
                            continue;
                        }
                    }
                    match cp.record_position(pg, &place).await {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::debug!("cannot note the position in PostgreSQL: {e:#}");
                            false
                        }
                    }
                }
                None => true,
            };
            if noted {
                match master_info::save(&path, &place) {
                    Ok(()) => saved = acked.clone(),
                    Err(e) => tracing::error!("cannot save position {acked}: {e:#}"),
                }
            }
        }
        let in_flight = window.in_flight();
        metrics.position(&acked, in_flight);
        let rows = metrics.rows_total();
        if n.is_multiple_of(10) {
            rate = (rows - last_rows) as f64 / last_at.elapsed().as_secs_f64().max(0.001);
            (last_rows, last_at) = (rows, Instant::now());
        }
        let mut snap = metrics.snapshot(&acked, in_flight, rate);
        snap.gtid = place.gtids.map(|g| g.to_string()).unwrap_or_default();
        if let Err(e) = status::write(&status_path, &snap) {
            tracing::debug!("cannot write {}: {e:#}", status_path.display());
        }
        *snapshot.lock().unwrap() = Some(snap);
        if n.is_multiple_of(100) {
            tracing::info!(
                "progress: applied up to {acked}, {:.0} rows/s over 10 s, {in_flight} changes in flight, lag {} ms",
                (rows - progress_rows) as f64 / 10.0,
                metrics.lag_ms()
            );
            progress_rows = rows;
        }
    }
}
