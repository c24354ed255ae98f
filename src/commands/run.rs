//! `mysql-gp-sync run`: the sync itself. [`Supervisor`] owns its life in this process: the
//! start-up, then rounds of the pipeline, each prepared and finished. What each step decides
//! (where to start, whether a saved place is this history's, what PostgreSQL still holds) is
//! decided in `pipeline::start`; the supervisor calls it in order and keeps what it learns.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::catalog::{LoadOptions, SchemaLoader};
use crate::commands::Settings;
use crate::config::Config;
use crate::error::{is_fenced_chain, is_transient, Backoff};
use crate::model::history::Place;
use crate::model::position::Position;
use crate::mysql::connect::{binary_logs, MysqlServer};
use crate::ops::metrics::Metrics;
use crate::ops::status;
use crate::pipeline::run::Pipeline;
use crate::pipeline::servers::{connect_first, pick_server};
use crate::pipeline::standby::hold_lease;
use crate::pipeline::start::{
    check_origins, forget_history, plan_resume, resume_where_postgres_is, save_postgres_position,
    settle, start_position, worker_marks, Resume,
};
use crate::postgres::connect::{connect_pg, is_greenplum};
use crate::state::checkpoint::Checkpoints;
use crate::state::lease::{Acquired, Lease};
use crate::state::master_info;
use crate::state::reload::Reloads;

pub async fn run(s: Settings, config_path: &Path) -> Result<()> {
    // Listen for SIGTERM / SIGINT from the very start: a stop during start-up is a clean stop.
    let (shutdown_tx, shutdown) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested: finishing in-flight batches");
        let _ = shutdown_tx.send(true);
    });
    match Supervisor::start(&s, config_path, shutdown).await? {
        Some(supervisor) => supervisor.run().await,
        None => Ok(()),
    }
}

/// The server the sync reads from now, and what is built for it.
struct Source {
    /// Which of `mysql_addr`'s servers.
    at: usize,
    /// The config with `mysql_addr` narrowed to that server.
    cfg: Arc<Config>,
    pool: mysql_async::Pool,
    opts: mysql_async::Opts,
    loader: Arc<SchemaLoader>,
}

/// What a round starts with: how it reads the binlog and each worker's checkpoint.
struct Round {
    resume: Resume,
    marks: Vec<Option<crate::model::mark::Mark>>,
}

/// How a round ended.
enum Outcome {
    /// Start another round (after a backoff already waited).
    Again,
    /// The sync stops cleanly.
    Stopped,
}

/// One sync's life in this process: [`Supervisor::start`] (both servers, the lease, the
/// initial load, where to start), then rounds: [`Supervisor::prepare`] (the lease again,
/// which server, what PostgreSQL holds, how to resume), a [`Pipeline`] run, and
/// [`Supervisor::finish`] (save, restart after a backoff, or stop).
///
/// Contract: a round starts only from a place PostgreSQL holds (after the loss check) and
/// `pipeline::start::plan_resume` accepted; what a round acknowledged is the next round's
/// start; a fatal error stops the sync after saving what was applied.
pub struct Supervisor {
    s: Settings,
    servers: Vec<String>,
    source: Source,
    pg: deadpool_postgres::Pool,
    greenplum: bool,
    checkpoints: Option<Arc<Checkpoints>>,
    lease: Option<Lease>,
    metrics: Metrics,
    snapshot: status::Shared,
    shutdown: watch::Receiver<bool>,
    /// Where the next round starts, with its GTID state and fingerprint.
    place: Place,
    /// Set when the sync moved to another server, until its saved position is that server's:
    /// the workers' marks name places in the old one's files.
    moved_from: Option<Position>,
    reloads: Reloads,
    backoff: Backoff,
    rounds: u64,
}

impl Supervisor {
    /// Connects to both sides, holds the lease, runs the initial load when `init_on_start`
    /// asks for it, and finds where to start. `None`: a stop came while standby.
    pub async fn start(
        s: &Settings,
        config_path: &Path,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Option<Supervisor>> {
        let cfg = s.cfg.clone();
        cfg.warn_if_exposed(config_path);
        let servers = cfg.mysql_addrs();
        let (at, first) = connect_first(&cfg, &servers, &s.mysql_tls).await?;
        let version = first.info.version.clone();
        let link = connect_pg(&cfg, &s.pg_tls, cfg.concurrent_size + 2).await?;
        tracing::info!(
            "PostgreSQL at {}:{}: {}",
            cfg.pg_host,
            cfg.pg_port,
            link.tls
        );
        let pg = link.pool;
        let greenplum = {
            let probe = pg.get().await.context("connecting to PostgreSQL")?;
            is_greenplum(&cfg, &probe).await?
        };
        if greenplum {
            tracing::info!("Greenplum mode: a batch deletes its keys, then inserts the final rows, in one transaction");
        }
        let checkpoints = crate::state::install::checkpoints(&cfg, &pg, greenplum).await;
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
        let mut lease = checkpoints
            .as_ref()
            .map(|cp| Lease::new(cp.clone(), pg.clone(), &cfg));
        if let (Some(lease), Some(cp)) = (&mut lease, &checkpoints) {
            match hold_lease(lease, &metrics, &snapshot, &cfg, &shutdown).await? {
                None => {
                    tracing::info!("stopped while standby");
                    return Ok(None);
                }
                // This host's master.info is stale: start where PostgreSQL is.
                Some(Acquired::TookOver { .. }) => save_postgres_position(cp, &pg, &cfg).await?,
                Some(Acquired::Resumed) => {}
            }
        }
        // After the lease: a standby host without master.info must not load the tables again
        // under the active's feet.
        if cfg.init_on_start && master_info::load(&cfg.master_info_path())?.is_none() {
            match &checkpoints {
                Some(cp) if cp.saved_position(&pg).await?.is_some() => {
                    tracing::info!(
                        "no master.info here, but PostgreSQL holds this sync's position: starting from it, no initial load"
                    );
                    save_postgres_position(cp, &pg, &cfg).await?;
                }
                _ => {
                    tracing::info!(
                        "no master.info and init_on_start = true: running the initial load first"
                    );
                    crate::commands::init::run(s, false).await?;
                }
            }
        }
        let logs = {
            let mut conn = first.pool.get_conn().await?;
            binary_logs(&mut conn).await?
        };
        let mut place = start_position(&cfg, &logs)?;
        tracing::info!(
            "mysql-gp-sync {} started: config {}, flavor {}, server {version} at {}, {} workers, window {}, from {}",
            env!("CARGO_PKG_VERSION"),
            config_path.display(),
            cfg.flavor,
            servers[at],
            cfg.concurrent_size,
            cfg.concurrent_ack_win,
            place.pos
        );
        if let Some(cp) = &checkpoints {
            place = resume_where_postgres_is(cp, &pg, &logs, place, &cfg).await?;
        }
        let reloads = current_reloads(&cfg, &place.pos)?;
        let source = Source::new(s, &servers, at, first, &pg, greenplum);
        Ok(Some(Supervisor {
            s: s.clone(),
            servers,
            source,
            pg,
            greenplum,
            checkpoints,
            lease,
            metrics,
            snapshot,
            shutdown,
            place,
            moved_from: None,
            reloads,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            rounds: 0,
        }))
    }

    /// Rounds until a stop or a fatal error.
    pub async fn run(mut self) -> Result<()> {
        loop {
            let Some(round) = self.prepare().await? else {
                return Ok(());
            };
            let started = Instant::now();
            self.rounds += 1;
            let (acked, result) = self
                .pipeline()
                .run(round.resume.at, round.resume.by_gtid, round.marks)
                .await;
            match self.finish(acked, result, started).await? {
                Outcome::Again => {}
                Outcome::Stopped => return Ok(()),
            }
        }
    }

    /// Waits a backoff unless a stop comes first: `false` when it did.
    async fn wait(&mut self, why: String) -> bool {
        let mut sd = self.shutdown.clone();
        tokio::select! {
            _ = self.backoff.wait(why) => true,
            _ = sd.changed() => false,
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Everything a round needs before it reads: the lease held, the server to read from,
    /// PostgreSQL settled, how to resume, the workers' marks. `None`: stop.
    async fn prepare(&mut self) -> Result<Option<Round>> {
        // The start-up's own checks stand for the first attempt; a retry redoes them all.
        let mut first = self.rounds == 0;
        loop {
            if self.stopping() {
                if first {
                    master_info::save(&self.s.cfg.master_info_path(), &self.place)?;
                }
                tracing::info!("stopped before reading, at {}", self.place.pos);
                return Ok(None);
            }
            if !first && !self.hold_lease_again().await? {
                return Ok(None);
            }
            if !first && self.servers.len() > 1 {
                self.pick_server().await;
            }
            if let (Some(cp), false) = (&self.checkpoints, first) {
                // After a failure: PostgreSQL may have lost what it had confirmed (a crash
                // with synchronous_commit = off, a failover to an asynchronous standby).
                match settle(cp, &self.pg, &self.place, &self.s.cfg).await {
                    Ok(p) => self.place = p,
                    // Only a connection that failed is worth another look.
                    Err(e) if !is_transient(&e) => return Err(e),
                    Err(e) => {
                        if !self.wait(format!("{e:#}; checking again")).await {
                            return Ok(None);
                        }
                        continue;
                    }
                }
            }
            first = false;
            let src = &self.source;
            let moved = self.moved_from.is_some();
            let planned = plan_resume(&self.s.cfg, &src.pool, &src.opts, &self.place, moved).await;
            let resume = match planned {
                Ok(r) => self.resume(r).await?,
                Err(e) if is_transient(&e) && !self.stopping() => {
                    if !self.wait(format!("{e:#}; trying again")).await {
                        return Ok(None);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let marks = match &self.checkpoints {
                Some(cp) => {
                    let src = &self.source;
                    match worker_marks(&src.cfg, cp, &self.pg, &src.opts, &resume.at, &resume.logs)
                        .await
                    {
                        Ok(m) => m,
                        Err(e) if is_transient(&e) => {
                            // As a round that failed: the next attempt starts from the plan's
                            // place (after a replay, the new start already saved).
                            self.place = resume.at;
                            self.metrics.reconnect();
                            if self.stopping() || !self.wait(format!("{e:#}; trying again")).await {
                                return Ok(None);
                            }
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                None => vec![None; self.s.cfg.concurrent_size],
            };
            match &resume.at.gtids {
                Some(g) => tracing::info!("GTID state at {}: {g}", resume.at.pos),
                None => tracing::info!(
                    "GTID state at {} not known (no GTIDs, or a position written without one): \
                     learned at the next binlog file if the server has GTIDs",
                    resume.at.pos
                ),
            }
            return Ok(Some(Round { resume, marks }));
        }
    }

    /// After a failure, with a lease: holds it again if it was lost (`false`: a stop came
    /// while standby). Another sync that applied meanwhile left PostgreSQL's note as the
    /// truth, and what this process remembers of its own commits stale.
    async fn hold_lease_again(&mut self) -> Result<bool> {
        let (Some(lease), Some(cp)) = (&mut self.lease, &self.checkpoints) else {
            return Ok(true);
        };
        if lease.held() {
            return Ok(true);
        }
        match hold_lease(
            lease,
            &self.metrics,
            &self.snapshot,
            &self.s.cfg,
            &self.shutdown,
        )
        .await?
        {
            None => Ok(false),
            Some(Acquired::TookOver { .. }) => {
                if let Some(saved) = cp.saved_place(&self.pg).await? {
                    self.place = saved;
                }
                cp.forget_commits();
                Ok(true)
            }
            Some(Acquired::Resumed) => Ok(true),
        }
    }

    /// After a failure, with several servers in `mysql_addr`: the server may be gone (a
    /// failover); read from one that can go on.
    async fn pick_server(&mut self) {
        let (cfg, servers, at) = (&self.s.cfg, &self.servers, self.source.at);
        let Some((i, m)) = pick_server(cfg, servers, at, &self.s.mysql_tls, &self.place).await
        else {
            return;
        };
        if i == at {
            return;
        }
        tracing::warn!(
            "moving from MySQL at {} to {}: resuming by GTID {}",
            servers[at],
            servers[i],
            self.place
                .gtids
                .as_ref()
                .map(|g| g.to_string())
                .unwrap_or_default()
        );
        self.source = Source::new(&self.s, servers, i, m, &self.pg, self.greenplum);
        self.moved_from = Some(self.place.pos.clone());
    }

    /// What a resume plan changes before the round: another history replayed drops the old
    /// one's state, a move by GTID drops the marks and reloads of the old server's files, a
    /// resume here checks the reloads' origins.
    async fn resume(&mut self, mut resume: Resume) -> Result<Resume> {
        let (cfg, src) = (&self.s.cfg, &self.source);
        let reload_path = crate::state::reload::path(cfg);
        if resume.replay {
            // What was saved for the old history does not apply to this one; the new start is
            // saved at once, so that a crash before the first save does not decide again.
            forget_history(&self.checkpoints, &self.pg, cfg, &reload_path).await?;
            self.reloads = Default::default();
            resume.at.fp.origin = crate::mysql::history::file_origin(
                &src.opts,
                cfg.flavor,
                &resume.logs,
                &resume.at.pos.file,
            )
            .await?;
            if let Some(cp) = &self.checkpoints {
                cp.forget_commits();
                cp.record_position(&self.pg, &resume.at).await?;
            }
            master_info::save(&cfg.master_info_path(), &resume.at)?;
        } else if resume.by_gtid && !resume.here {
            // The workers' marks and the reload positions name places in another server's
            // files: replay from the GTID state instead of skipping by them.
            if let Some(cp) = &self.checkpoints {
                cp.forget_workers(&self.pg).await?;
            }
            if !self.reloads.is_empty() {
                tracing::warn!(
                    "resuming by GTID on another server: the reload positions of {} name places in the old \
                     server's files, so their changes are replayed too (nothing skipped)",
                    self.reloads.describe()
                );
                self.reloads = Default::default();
                let _ = std::fs::remove_file(&reload_path);
            }
        } else if resume.here {
            // A reloaded table's copy position is skipped up to: it must be this history's.
            let saved = self.reloads.origins();
            if !saved.is_empty() {
                check_origins(cfg, &src.opts, &resume.logs, &saved).await?;
            }
        }
        Ok(resume)
    }

    fn pipeline(&self) -> Pipeline {
        Pipeline {
            cfg: self.source.cfg.clone(),
            opts: self.source.opts.clone(),
            loader: self.source.loader.clone(),
            pg: self.pg.clone(),
            metrics: self.metrics.clone(),
            snapshot: self.snapshot.clone(),
            checkpoints: self.checkpoints.clone(),
            shutdown: self.shutdown.clone(),
            reloads: self.reloads.clone(),
            lease: self.lease.as_ref().map(Lease::watch),
        }
    }

    /// A round ended at `acked` with `result`: saves, and says whether another round starts
    /// (after a backoff) or the sync stops; a fatal error is returned after saving what was
    /// applied.
    async fn finish(
        &mut self,
        acked: Place,
        result: Result<()>,
        started: Instant,
    ) -> Result<Outcome> {
        let cfg = self.s.cfg.clone();
        if self.moved_from.as_ref().is_some_and(|p| *p != acked.pos) {
            self.moved_from = None; // the saved position is the new server's now
        }
        match &self.checkpoints {
            // Noted after the check for lost commits (at the next round, or here at a stop):
            // noting first would overwrite the evidence.
            Some(cp) if result.is_ok() => {
                match settle(cp, &self.pg, &acked, &cfg).await {
                    Ok(p) => tracing::info!("stopped cleanly at {}", p.pos),
                    Err(e) => tracing::warn!(
                        "stopped; {e:#}: master.info stays at the last position PostgreSQL confirmed"
                    ),
                }
                return Ok(Outcome::Stopped);
            }
            Some(_) => {}
            None => master_info::save(&cfg.master_info_path(), &acked)
                .with_context(|| format!("saving position {}", acked.pos))?,
        }
        match result {
            Ok(()) => {
                tracing::info!("stopped cleanly at {}", acked.pos);
                Ok(Outcome::Stopped)
            }
            Err(e) if is_transient(&e) && !self.stopping() => {
                if is_fenced_chain(&e) {
                    // Another sync took over while this one's session looked alive (the
                    // fenced batch came before the session watcher saw it end).
                    tracing::warn!(
                        "lost the lease: another sync holds it now (a batch was refused by the fence); \
                         no batch commits from now on, and this sync waits to hold the lease again"
                    );
                    if let Some(lease) = &mut self.lease {
                        lease.give_up();
                    }
                }
                self.metrics.reconnect();
                // A round that lasted a while was a success: the next failure starts over.
                if started.elapsed() > Duration::from_secs(60) {
                    self.backoff.reset();
                }
                if !self
                    .wait(format!("{e:#}; restarting from {}", acked.pos))
                    .await
                {
                    return Ok(Outcome::Stopped);
                }
                self.place = acked;
                Ok(Outcome::Again)
            }
            Err(e) if is_transient(&e) => Ok(Outcome::Stopped),
            Err(e) => {
                // Keep what was applied before the failure (best effort: PostgreSQL may be
                // what failed).
                if let Some(cp) = &self.checkpoints {
                    let _ = settle(cp, &self.pg, &acked, &cfg).await;
                }
                Err(e)
            }
        }
    }
}

impl Source {
    fn new(
        s: &Settings,
        servers: &[String],
        at: usize,
        server: MysqlServer,
        pg: &deadpool_postgres::Pool,
        greenplum: bool,
    ) -> Source {
        let loader = Arc::new(SchemaLoader::new(
            server.pool.clone(),
            Some(pg.clone()),
            s.rules.clone(),
            LoadOptions {
                greenplum,
                zero_date: s.cfg.zero_date,
                create_tables: s.cfg.create_missing_tables,
            },
        ));
        Source {
            at,
            cfg: Arc::new(s.cfg.for_server(&servers[at])),
            pool: server.pool,
            opts: server.opts,
            loader,
        }
    }
}

/// The tables reloaded by `init --tables` whose copies are still ahead of `start` (the rest
/// are forgotten, and the file with them).
fn current_reloads(cfg: &Config, start: &Position) -> Result<Reloads> {
    let path = crate::state::reload::path(cfg);
    let mut reloads = Reloads::load(&path)?;
    if reloads.forget_before(start) {
        if reloads.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            reloads.save(&path)?;
        }
    }
    if !reloads.is_empty() {
        tracing::info!(
            "tables reloaded by init --tables: {}; their changes before that are in the copy and are skipped",
            reloads.describe()
        );
    }
    Ok(reloads)
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
