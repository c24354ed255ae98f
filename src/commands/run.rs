//! `mysql-gp-sync run`: the sync itself, from start-up checks to the restart loop around the
//! pipeline.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::watch;

use crate::catalog::{LoadOptions, SchemaLoader};
use crate::commands::Settings;
use crate::error::{is_fenced_chain, is_transient, Backoff};
use crate::model::position::Position;
use crate::mysql::connect::MysqlServer;
use crate::ops::metrics::Metrics;
use crate::ops::status;
use crate::pipeline::run::Pipeline;
use crate::pipeline::servers::{connect_first, pick_server};
use crate::pipeline::standby::hold_lease;
use crate::pipeline::start::{
    check_origins, plan_resume, resume_where_postgres_is, settle, start_position,
};
use crate::postgres::connect::connect_pg;
use crate::postgres::connect::is_greenplum;
use crate::state::checkpoint::Checkpoints;
use crate::state::lease::{Acquired, Lease};
use crate::state::master_info;

pub async fn run(s: Settings, config_path: &Path) -> Result<()> {
    let cfg = s.cfg.clone();
    // Listen for SIGTERM / SIGINT from the very start: a stop during start-up is a clean stop.
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested: finishing in-flight batches");
        let _ = shutdown_tx.send(true);
    });
    cfg.warn_if_exposed(config_path);
    let servers = cfg.mysql_addrs();
    let (mut at, first_server) = connect_first(&cfg, &servers, &s.mysql_tls).await?;
    let mut server_cfg = Arc::new(cfg.for_server(&servers[at]));
    let MysqlServer {
        pool: mut mysql,
        mut opts,
        info: server,
    } = first_server;
    let link = connect_pg(&cfg, &s.pg_tls, cfg.concurrent_size + 2).await?;
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
        match hold_lease(lease, &metrics, &snapshot, &cfg, &shutdown_rx).await? {
            None => {
                tracing::info!("stopped while standby");
                return Ok(());
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
                crate::commands::init::run(&s, false).await?;
            }
        }
    }
    let make_loader = |mysql: &mysql_async::Pool| {
        Arc::new(SchemaLoader::new(
            mysql.clone(),
            Some(pg.clone()),
            s.rules.clone(),
            LoadOptions {
                greenplum,
                zero_date: cfg.zero_date,
                create_tables: cfg.create_missing_tables,
            },
        ))
    };
    let mut loader = make_loader(&mysql);
    // After a move to another server: the workers' marks name places in the old one's files.
    // Set when the sync moved to another server, until its saved position is that server's.
    let mut moved_from: Option<Position> = None;
    let start = start_position(&cfg, &mysql).await?;
    tracing::info!(
        "mysql-gp-sync {} started: config {}, flavor {}, server {} at {}, {} workers, window {}, from {}",
        env!("CARGO_PKG_VERSION"),
        config_path.display(),
        cfg.flavor,
        server.version,
        servers[at],
        cfg.concurrent_size,
        cfg.concurrent_ack_win,
        start.pos
    );

    // Where the next round starts, with its GTID state and fingerprint.
    let mut place = start;
    let committed: crate::state::checkpoint::Committed =
        Arc::new(std::sync::Mutex::new(vec![None; cfg.concurrent_size]));
    let recorded: Arc<std::sync::Mutex<Option<Position>>> = Default::default();
    if let Some(cp) = &checkpoints {
        place = resume_where_postgres_is(cp, &pg, &mysql, place, &cfg).await?;
    }
    let reload_path = crate::state::reload::path(&cfg);
    let mut reloads = crate::state::reload::Reloads::load(&reload_path)?;
    if reloads.forget_before(&place.pos) {
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

    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    let mut first = true;
    loop {
        if *shutdown_rx.borrow() {
            if first {
                master_info::save(&cfg.master_info_path(), &place)?;
            }
            tracing::info!("stopped before reading, at {}", place.pos);
            return Ok(());
        }
        if let (Some(lease), Some(cp), false) = (&mut lease, &checkpoints, first) {
            if !lease.held() {
                match hold_lease(lease, &metrics, &snapshot, &cfg, &shutdown_rx).await? {
                    None => return Ok(()),
                    Some(Acquired::TookOver { .. }) => {
                        // Another sync applied meanwhile: what PostgreSQL holds is the truth,
                        // and what this process remembers of its own commits is stale.
                        if let Some(saved) = cp.saved_place(&pg).await? {
                            place = saved;
                        }
                        committed.lock().unwrap().iter_mut().for_each(|m| *m = None);
                        *recorded.lock().unwrap() = None;
                    }
                    Some(Acquired::Resumed) => {}
                }
            }
        }
        if !first && servers.len() > 1 {
            // The server may be gone (a failover): read from one that can go on.
            if let Some((i, m)) = pick_server(&cfg, &servers, at, &s.mysql_tls, &place).await {
                if i != at {
                    tracing::warn!(
                        "moving from MySQL at {} to {}: resuming by GTID {}",
                        servers[at],
                        servers[i],
                        place
                            .gtids
                            .as_ref()
                            .map(|g| g.to_string())
                            .unwrap_or_default()
                    );
                    at = i;
                    server_cfg = Arc::new(cfg.for_server(&servers[i]));
                    mysql = m.pool;
                    opts = m.opts;
                    loader = make_loader(&mysql);
                    moved_from = Some(place.pos.clone());
                }
            }
        }
        if let (Some(cp), false) = (&checkpoints, first) {
            // After a failure: PostgreSQL may have lost what it had confirmed (a crash with
            // synchronous_commit = off, a failover to an asynchronous standby).
            match settle(cp, &pg, &committed, &recorded, &place, &cfg).await {
                Ok(p) => place = p,
                // Only a connection that failed is worth another look.
                Err(e) if !is_transient(&e) => return Err(e),
                Err(e) => {
                    let mut sd = shutdown_rx.clone();
                    tokio::select! {
                        _ = backoff.wait(format!("{e:#}; checking again")) => {}
                        _ = sd.changed() => return Ok(()),
                    }
                    continue;
                }
            }
        }
        first = false;
        let started = Instant::now();
        let moved = moved_from.is_some();
        let mut resume = match plan_resume(&cfg, &mysql, &opts, &place, moved).await {
            Ok(r) => r,
            Err(e) if is_transient(&e) && !*shutdown_rx.borrow() => {
                let mut sd = shutdown_rx.clone();
                tokio::select! {
                    _ = backoff.wait(format!("{e:#}; trying again")) => {}
                    _ = sd.changed() => return Ok(()),
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        if resume.replay {
            // What was saved for the old history does not apply to this one; the new start is
            // saved at once, so that a crash before the first save does not decide again.
            forget_history(&checkpoints, &pg, &cfg, &reload_path).await?;
            reloads = Default::default();
            committed.lock().unwrap().iter_mut().for_each(|m| *m = None);
            *recorded.lock().unwrap() = None;
            let logs = {
                let mut conn = mysql.get_conn().await?;
                crate::mysql::connect::binary_logs(&mut conn).await?
            };
            resume.at.fp.origin =
                crate::mysql::history::file_origin(&opts, cfg.flavor, &logs, &resume.at.pos.file)
                    .await?;
            if let Some(cp) = &checkpoints {
                cp.record_position(&pg, &resume.at).await?;
                *recorded.lock().unwrap() = Some(resume.at.pos.clone());
            }
            master_info::save(&cfg.master_info_path(), &resume.at)?;
        } else if resume.by_gtid && !resume.here {
            // The workers' marks and the reload positions name places in another server's
            // files: replay from the GTID state instead of skipping by them.
            if let Some(cp) = &checkpoints {
                cp.forget_workers(&pg).await?;
            }
            if !reloads.is_empty() {
                tracing::warn!(
                    "resuming by GTID on another server: the reload positions of {} name places in the old \
                     server's files, so their changes are replayed too (nothing skipped)",
                    reloads.describe()
                );
                reloads = Default::default();
                let _ = std::fs::remove_file(&reload_path);
            }
        } else if resume.here {
            // A reloaded table's copy position is skipped up to: it must be this history's.
            let saved = reloads.origins();
            if !saved.is_empty() {
                let mut conn = mysql.get_conn().await?;
                let logs = crate::mysql::connect::binary_logs(&mut conn).await?;
                check_origins(&cfg, &opts, &logs, &saved).await?;
            }
        }
        match &resume.at.gtids {
            Some(g) => tracing::info!("GTID state at {}: {g}", resume.at.pos),
            None => tracing::info!(
                "GTID state at {} not known (no GTIDs, or a position written without one): \
                 learned at the next binlog file if the server has GTIDs",
                resume.at.pos
            ),
        }
        let pipeline = Pipeline {
            cfg: server_cfg.clone(),
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
            lease: lease.as_ref().map(Lease::watch),
        };
        let (acked, result) = pipeline.run(resume.at, resume.by_gtid).await;
        if moved_from.as_ref().is_some_and(|p| *p != acked.pos) {
            moved_from = None; // the saved position is the new server's now
        }
        match &checkpoints {
            // Noted after the check for lost commits (at the next round, or here at a stop):
            // noting first would overwrite the evidence.
            Some(cp) if result.is_ok() => {
                match settle(cp, &pg, &committed, &recorded, &acked, &cfg).await {
                    Ok(p) => tracing::info!("stopped cleanly at {}", p.pos),
                    Err(e) => tracing::warn!(
                        "stopped; {e:#}: master.info stays at the last position PostgreSQL confirmed"
                    ),
                }
                return Ok(());
            }
            Some(_) => {}
            None => master_info::save(&cfg.master_info_path(), &acked)
                .with_context(|| format!("saving position {}", acked.pos))?,
        }
        match result {
            Ok(()) => {
                tracing::info!("stopped cleanly at {}", acked.pos);
                return Ok(());
            }
            Err(e) if is_transient(&e) && !*shutdown_rx.borrow() => {
                if is_fenced_chain(&e) {
                    // Another sync took over while this one's session looked alive (the
                    // fenced batch came before the session watcher saw it end).
                    tracing::warn!(
                        "lost the lease: another sync holds it now (a batch was refused by the fence); \
                         no batch commits from now on, and this sync waits to hold the lease again"
                    );
                    if let Some(lease) = &mut lease {
                        lease.give_up();
                    }
                }
                metrics.reconnect();
                // A run that lasted a while was a success: the next failure starts over.
                if started.elapsed() > Duration::from_secs(60) {
                    backoff.reset();
                }
                let mut sd = shutdown_rx.clone();
                tokio::select! {
                    _ = backoff.wait(format!("{e:#}; restarting from {}", acked.pos)) => {}
                    _ = sd.changed() => return Ok(()),
                }
                place = acked;
            }
            Err(e) if is_transient(&e) => return Ok(()),
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

/// Drops what this sync saved for a binlog history it no longer reads (`new_history =
/// "replay"`): the workers' marks, the schema history (rebuilt from the server's definitions
/// at the new start) and the reloaded tables' positions.
async fn forget_history(
    checkpoints: &Option<Arc<Checkpoints>>,
    pg: &deadpool_postgres::Pool,
    cfg: &crate::config::Config,
    reload_path: &Path,
) -> Result<()> {
    if let Some(cp) = checkpoints {
        cp.forget_workers(pg).await?;
        crate::state::schema_history::SchemaHistory::new(cp, &cfg.checkpoint_schema)
            .clear(pg)
            .await?;
    }
    match std::fs::remove_file(reload_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", reload_path.display()))
        }
        _ => Ok(()),
    }
}

/// Writes PostgreSQL's note of the saved place (position, GTID state, fingerprint) into
/// master.info.
async fn save_postgres_position(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    cfg: &crate::config::Config,
) -> Result<()> {
    if let Some(saved) = cp.saved_place(pg).await? {
        master_info::save(&cfg.master_info_path(), &saved)?;
    }
    Ok(())
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
