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
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::catalog::{LoadOptions, SchemaLoader};
use crate::commands::Settings;
use crate::config::Flavor;
use crate::model::gtid::GtidState;
use crate::model::history::{Fingerprint, Origin, Place};
use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::position::Position;
use crate::model::source_table::SourceTable;
use crate::model::table::TableMeta;
use crate::mysql::connect::check_mysql;
use crate::mysql::history::file_origin;
use crate::mysql::snapshot::{open_snapshots, plan};
use crate::pipeline::copy::{copy_worker, report, Progress};
use crate::pipeline::start::{load_tables, Load};
use crate::postgres::connect::connect_pg;
use crate::postgres::connect::is_greenplum;
use crate::postgres::initial::prepare_targets;
use crate::state::init_state::{self, InitState};
use crate::state::master_info;
use crate::state::schema_history::SchemaHistory;

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
    let server = check_mysql(cfg, &s.mysql_tls).await?;
    let (mysql, opts) = (server.pool, server.opts);
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
    let mut metas: Vec<Arc<TableMeta>> = load_tables(cfg, &loader, |_, _| Load::Must(true))
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

    let mut state: InitState = match std::fs::read(init_state::path(cfg)) {
        _ if reload => InitState {
            reload: true,
            ..InitState::default()
        },
        Ok(b) => serde_json::from_slice(&b).with_context(|| {
            format!(
                "{} is damaged; delete it to start the load over",
                init_state::path(cfg).display()
            )
        })?,
        Err(_) => InitState::default(),
    };
    // A target is complete only when every source table mapped into it is: one that is not
    // gets emptied, so the copied shards feeding it must be copied again with the rest.
    let unfinished: HashSet<&TableName> = metas
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

    let (conns, snap_pos, snap_gtids) = open_snapshots(cfg, &mysql, parallel).await?;
    let logs = {
        let mut c = mysql.get_conn().await?;
        crate::mysql::connect::binary_logs(&mut c).await?
    };
    if state.bin_name.is_empty() {
        state.bin_name = snap_pos.file.to_string();
        state.bin_pos = snap_pos.pos;
        state.gtid = snap_gtids;
        state.bin_origin = file_origin(&opts, cfg.flavor, &logs, &snap_pos.file)
            .await?
            .map(|o| o.to_string());
    } else if let Some(saved) = state.bin_origin.as_deref().map(Origin::parse).transpose()? {
        // A resumed load replays from the first snapshot: it must still be this history.
        let server = file_origin(&opts, cfg.flavor, &logs, &state.bin_name).await?;
        if server != Some(saved) {
            bail!(
                "the interrupted load replays from {}:{}, in {} {}, but this server's binlog history is another \
                 one now ({}): delete {} and run init again with --truncate",
                state.bin_name,
                state.bin_pos,
                state.bin_name,
                saved.describe(),
                server.map_or("it has no such file".into(), |o| format!("its {} was {}", state.bin_name, o.describe())),
                init_state::path(cfg).display()
            );
        }
    }
    let replay_from = Position::new(state.bin_name.clone(), state.bin_pos);
    let replay_origin = state.bin_origin.as_deref().map(Origin::parse).transpose()?;
    for m in &todo {
        let t = m.target.to_string();
        if !state.started.contains(&t) {
            state.started.push(t);
        }
    }
    init_state::save(cfg, &state)?;
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
    let progress = Arc::new(Progress::new(estimate));
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

    // The copied tables' schema history starts again at the copy's position.
    let copied: HashMap<TableName, SourceTable> = loader
        .book()
        .into_iter()
        .filter(|(k, _)| todo.iter().any(|m| m.source == *k))
        .collect();
    let at = Mark::at(&replay_from);
    if let Some(kept) = kept_at {
        if let Some(cp) = crate::state::install::checkpoints(cfg, &pg, greenplum).await {
            cp.forget_workers(&pg).await?;
            SchemaHistory::new(&cp, &cfg.checkpoint_schema)
                .reset(&pg, &at, &copied)
                .await?;
        }
        let path = crate::state::reload::path(cfg);
        let mut reloads = crate::state::reload::Reloads::load(&path)?;
        for m in &todo {
            reloads.set(&m.name, replay_from.clone(), replay_origin);
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
    if let Some(cp) = crate::state::install::checkpoints(cfg, &pg, greenplum).await {
        cp.clear(&pg).await?;
        let history = SchemaHistory::new(&cp, &cfg.checkpoint_schema);
        history.clear(&pg).await?;
        history.baseline(&pg, &at, &copied).await?;
    }
    // The GTID state of the replay position: read with it (MySQL), or asked for (MariaDB).
    let snapshot_gtid = state.lock().unwrap().0.gtid.clone();
    let gtids = match &snapshot_gtid {
        Some(text) => Some(GtidState::parse(text, cfg.flavor == Flavor::Mariadb)?),
        // MySQL gives the state with the snapshot's position; MariaDB names it for the position.
        None if cfg.flavor == Flavor::Mariadb => {
            let mut c = mysql.get_conn().await?;
            crate::mysql::connect::binlog_gtid_pos(&mut c, &replay_from)
                .await
                .unwrap_or_else(|e| {
                    tracing::debug!("{e:#}");
                    None
                })
        }
        None => None,
    };
    if let Some(g) = &gtids {
        tracing::info!("GTID state at {replay_from}: {g}");
    }
    let place = Place {
        pos: replay_from.clone(),
        gtids,
        fp: Fingerprint {
            origin: replay_origin,
            last: None,
        },
    };
    master_info::save(&cfg.master_info_path(), &place)?;
    let _ = std::fs::remove_file(init_state::path(cfg));
    let rows = progress.rows.load(Relaxed);
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "initial load done: {} table(s), {rows} rows in {secs:.1} s ({:.0} rows/s); master.info = {replay_from}",
        todo.len(),
        rows as f64 / secs.max(0.001)
    );
    Ok(replay_from)
}
