//! Where a run starts: the saved position, checked against what the server has and what
//! PostgreSQL holds, and the configured tables loaded on both sides.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;

use crate::catalog::SchemaLoader;
use crate::config::{Config, Flavor, ResumeBy};
use crate::model::gtid::GtidState;
use crate::model::position::Position;
use crate::model::table::{Skip, TableMeta};
use crate::source::connect::binary_logs;
use crate::state::checkpoint::Checkpoints;
use crate::state::master_info;

/// Before streaming again from `pos` (the acknowledged position): asks PostgreSQL whether it
/// still holds what it confirmed. If it lost commits, rewinds to the saved position it still
/// holds (everything before it survived: a target that loses commits loses the newest, and
/// the checkpoint went with its data), with a WARN saying how far and why. Then notes the
/// position in PostgreSQL and in master.info, in that order. Returns where to stream from.
pub async fn settle(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    committed: &crate::state::checkpoint::Committed,
    recorded: &std::sync::Mutex<Option<Position>>,
    pos: &Position,
    gtids: Option<&GtidState>,
    cfg: &Config,
) -> Result<Position> {
    let mine = committed.lock().unwrap().clone();
    let last = recorded.lock().unwrap().clone();
    let asked = pos;
    let mut pos = pos.clone();
    if let Some(loss) = cp
        .lost(pg, &mine, last.as_ref())
        .await
        .context("checking what PostgreSQL holds")?
    {
        let Some(saved) = loss.saved else {
            bail!(
                "PostgreSQL lost commits it had confirmed ({}) and holds no saved position of this sync: \
                 the sync cannot tell what to replay; re-load the tables with init",
                loss.what
            );
        };
        tracing::warn!(
            "PostgreSQL lost commits it had confirmed ({}): rewinding the binlog from {pos} to {saved}, the \
             position PostgreSQL still holds, and replaying (a crash with synchronous_commit = off, or a \
             failover to a standby that was behind)",
            loss.what
        );
        pos = saved;
        committed.lock().unwrap().iter_mut().for_each(|m| *m = None);
    }
    // The GTID state belongs to the position it came with, not to a rewind.
    let gtids = gtids.filter(|_| pos == *asked);
    cp.record_position(pg, &pos, gtids).await?;
    *recorded.lock().unwrap() = Some(pos.clone());
    match gtids {
        Some(g) => master_info::save_with_gtids(&cfg.master_info_path(), &pos, Some(g)),
        None => master_info::save(&cfg.master_info_path(), &pos),
    }
    .with_context(|| format!("saving position {pos}"))?;
    Ok(pos)
}

/// At start: master.info is saved only after PostgreSQL noted the same position, so a
/// master.info ahead of PostgreSQL's note (same binlog sequence, a place the server has) means
/// PostgreSQL lost commits: start from its note instead. A master.info behind it is an
/// operator's rewind and is honoured (see `Checkpoints::load`).
pub async fn resume_where_postgres_is(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    mysql: &mysql_async::Pool,
    start: Position,
    cfg: &Config,
) -> Result<Position> {
    let saved = match cp.saved_position(pg).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                "cannot read the saved position in PostgreSQL ({e:#}); starting from {start}"
            );
            return Ok(start);
        }
    };
    let Some(saved) = saved else { return Ok(start) };
    let (s, m) = (
        crate::model::mark::Mark::at(&saved),
        crate::model::mark::Mark::at(&start),
    );
    if !s.same_sequence(&m) || s >= m {
        return Ok(start);
    }
    let mut conn = mysql.get_conn().await?;
    let logs = binary_logs(&mut conn).await?;
    if !logs
        .iter()
        .any(|(f, size)| **f == *saved.file && saved.pos <= *size)
    {
        bail!(
            "PostgreSQL holds this sync's work only up to {saved}, but master.info says {start}: the target lost \
             commits it had confirmed, and the server no longer has {saved} to replay from; re-load the tables with init"
        );
    }
    tracing::warn!(
        "master.info says {start}, but PostgreSQL holds this sync's work only up to {saved}: the target lost \
         commits it had confirmed (synchronous_commit = off and a crash, or a failover); starting from {saved} \
         (if you moved master.info forward on purpose, delete this sync's rows from the checkpoint table first)"
    );
    master_info::save(&cfg.master_info_path(), &saved)?;
    Ok(saved)
}

/// master.info's position, checked against the server's binlogs; or the first binlog it has.
pub async fn start_position(cfg: &Config, pool: &mysql_async::Pool) -> Result<Position> {
    let path = cfg.master_info_path();
    let mut conn = pool.get_conn().await?;
    let logs = binary_logs(&mut conn).await?;
    match master_info::load(&path)? {
        Some(p) => {
            let has_gtid = cfg.resume_by != ResumeBy::File
                && master_info::load_gtids(&path, cfg.flavor == Flavor::Mariadb)
                    .ok()
                    .flatten()
                    .is_some();
            match logs.iter().find(|(name, _)| **name == *p.file) {
                // Another server's position (a failover): its GTID state says where to go on.
                None | Some(_) if has_gtid && !placed(&logs, &p) => {
                    tracing::info!(
                        "{} says {p}, which this server does not have: resuming by its GTID state",
                        path.display()
                    );
                    return Ok(p);
                }
                None => bail!(
                    "{} says {p}, but the server no longer has {} (its binlogs: {}): it was purged; \
                     re-load the tables and write a position the server still has into {}",
                    path.display(),
                    p.file,
                    logs.first().map(|l| format!("{} … {}", l.0, logs.last().unwrap().0)).unwrap_or_default(),
                    path.display()
                ),
                Some((_, size)) if p.pos > *size => bail!(
                    "{} says {p}, but {} is only {size} bytes long; fix the position in {}",
                    path.display(),
                    p.file,
                    path.display()
                ),
                _ => {}
            }
            tracing::info!("resuming from {p} (read from {})", path.display());
            Ok(p)
        }
        None => {
            let first = logs.first().ok_or_else(|| {
                anyhow!("the server lists no binary logs (SHOW BINARY LOGS is empty)")
            })?;
            let p = Position::new(first.0.clone(), 4);
            tracing::warn!(
                "no position in {}: starting from the first binlog the server still has, {p}",
                path.display()
            );
            Ok(p)
        }
    }
}

/// The GTID state at `pos`, from what names that same position: master.info's `gtid` line,
/// the note in PostgreSQL, or (MariaDB) the server's `BINLOG_GTID_POS()`. `None` when none of
/// them knows it (a MySQL position written without one): the reader learns it at the next
/// binlog file, whose first event lists every GTID before it.
pub async fn gtids_at(
    cfg: &Config,
    mysql: &mysql_async::Pool,
    cp: Option<&Checkpoints>,
    pg: &deadpool_postgres::Pool,
    pos: &Position,
) -> Option<GtidState> {
    let mariadb = cfg.flavor == Flavor::Mariadb;
    let path = cfg.master_info_path();
    if master_info::load(&path).ok().flatten().as_ref() == Some(pos) {
        match master_info::load_gtids(&path, mariadb) {
            Ok(Some(g)) => return Some(g),
            Ok(None) => {}
            Err(e) => tracing::warn!("{e:#}; looking for the GTID state elsewhere"),
        }
    }
    if let Some(cp) = cp {
        if let Ok(Some((saved, Some(text)))) = cp.saved_position_with_gtid(pg).await {
            if saved == *pos {
                if let Ok(g) = GtidState::parse(&text, mariadb) {
                    return Some(g);
                }
            }
        }
    }
    if mariadb {
        let asked = async {
            let mut c = mysql.get_conn().await?;
            let text: Option<Option<String>> = c
                .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&*pos.file, pos.pos))
                .await?;
            anyhow::Ok(text.flatten())
        }
        .await;
        match asked {
            Ok(Some(text)) => return GtidState::parse(&text, true).ok(),
            Ok(None) => {}
            Err(e) => tracing::debug!("BINLOG_GTID_POS({pos}): {e:#}"),
        }
    }
    None
}

fn placed(logs: &[(String, u64)], p: &Position) -> bool {
    logs.iter()
        .any(|(f, size)| **f == *p.file && p.pos <= *size)
}

/// How the reader asks for the binlog from `pos` (see [`ResumeBy`]): `Some(state)` to resume
/// by GTID, `None` by file and offset; and whether this server has `pos` at all. Checks that the server can serve the GTID state: it
/// has every transaction of it (not another replication group's, not a replica that is
/// behind), and (MySQL) has not purged any it has not.
pub async fn plan_resume(
    cfg: &Config,
    mysql: &mysql_async::Pool,
    pos: &Position,
    gtids: Option<&GtidState>,
    moved: bool,
) -> Result<(Option<GtidState>, bool)> {
    let mut conn = mysql.get_conn().await?;
    let logs = binary_logs(&mut conn).await?;
    // The file and offset are this server's own only if it has them, the sync did not just
    // move here from another server, and (when the GTID state is known) the server's history
    // there agrees with it: another server of the group may have a file of the same name.
    let here = placed(&logs, pos)
        && !moved
        && match gtids {
            Some(g) => same_history(cfg, &mut conn, pos, g).await?,
            None => true,
        };
    let server_gtids = match cfg.flavor {
        Flavor::Mariadb => true,
        Flavor::Mysql => {
            let mode: Option<String> = conn.query_first("SELECT @@GLOBAL.gtid_mode").await?;
            mode.is_some_and(|m| m.eq_ignore_ascii_case("ON"))
        }
    };
    let usable = gtids.filter(|_| server_gtids);
    let g = match (cfg.resume_by, usable) {
        (ResumeBy::File, _) => return Ok((None, here)),
        (ResumeBy::Auto, _) if here => return Ok((None, here)),
        (_, Some(g)) => Some(g),
        (_, None) => None,
    };
    let Some(g) = g else {
        bail!(
            "cannot resume from {pos}: {}, and {}; point mysql_addr at the server that wrote {} or re-load the tables \
             with init",
            if !server_gtids {
                "the server has GTIDs off (gtid_mode)"
            } else {
                "the GTID state there is not known (master.info has no gtid line)"
            },
            if here {
                "resume_by = \"gtid\" asks for GTIDs"
            } else {
                "this server does not have that file and offset"
            },
            pos.file
        );
    };
    match cfg.flavor {
        Flavor::Mysql => {
            let text = g.to_string();
            let (has_all, purged_ok): (bool, bool) = conn
                .exec_first(
                    "SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed), GTID_SUBSET(@@GLOBAL.gtid_purged, ?)",
                    (&text, &text),
                )
                .await?
                .unwrap_or((false, false));
            if !has_all {
                bail!(
                    "the saved GTID state ({text}) holds transactions this server has not executed: it belongs to \
                     another replication group, or this server is a replica that is behind; point mysql_addr at a \
                     server that has them, or re-load the tables with init"
                );
            }
            if !purged_ok {
                bail!(
                    "this server purged transactions after the saved GTID state ({text}) that the sync has not read; \
                     re-load the tables with init (nothing was skipped)"
                );
            }
        }
        Flavor::Mariadb => {
            let text: Option<String> = conn.query_first("SELECT @@GLOBAL.gtid_binlog_pos").await?;
            let server = GtidState::parse(&text.unwrap_or_default(), true)?;
            if let Some(domain) = g.mariadb_ahead_of(&server) {
                bail!(
                    "the saved GTID position ({g}) is ahead of this server's ({server}) in domain {domain}: it belongs \
                     to another replication group, or this server is a replica that is behind; point mysql_addr at a \
                     server that has it, or re-load the tables with init"
                );
            }
        }
    }
    tracing::info!("resuming by GTID: {g}");
    Ok((Some(g.clone()), here))
}

/// Whether this server's binlog at `pos` has the history `g` says: MariaDB's own GTID
/// position there is `g`; MySQL's file lists no earlier GTID outside `g`.
async fn same_history(
    cfg: &Config,
    conn: &mut mysql_async::Conn,
    pos: &Position,
    g: &GtidState,
) -> Result<bool> {
    match cfg.flavor {
        Flavor::Mariadb => {
            let text: Option<Option<String>> = conn
                .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&*pos.file, pos.pos))
                .await?;
            Ok(match text.flatten() {
                Some(t) => GtidState::parse(&t, true).is_ok_and(|here| here == *g),
                None => false,
            })
        }
        Flavor::Mysql => {
            let rows: Vec<mysql_async::Row> = conn
                .query(format!(
                    "SHOW BINLOG EVENTS IN '{}' LIMIT 4",
                    pos.file.replace('\'', "''")
                ))
                .await?;
            let previous = rows.iter().find_map(|r| {
                let kind: String = r.get_opt(2)?.ok()?;
                let info: String = r.get_opt(5)?.ok()?;
                (kind == "Previous_gtids").then_some(info)
            });
            // The file's earlier GTIDs are inside the state, and the state inside what this
            // server executed.
            let text = g.to_string();
            let inside: Option<bool> = conn
                .exec_first(
                    "SELECT GTID_SUBSET(?, ?) AND GTID_SUBSET(?, @@GLOBAL.gtid_executed)",
                    (previous.unwrap_or_default(), &text, &text),
                )
                .await?;
            Ok(inside.unwrap_or(false))
        }
    }
}

/// Whether [`load_tables`] loads a configured table now.
pub enum Load {
    /// `true`: load it, a failure stops the start; `false`: not now.
    Must(bool),
    /// Load it if its target is ready; otherwise when it first appears in the binlog.
    Try,
}

/// Loads the configured tables `which` selects; tables without a key stop the start unless
/// skipping is on.
pub async fn load_tables(
    cfg: &Config,
    loader: &SchemaLoader,
    which: impl Fn(&str, &str) -> Load,
) -> Result<HashMap<(String, String), Option<Arc<TableMeta>>>> {
    let mut metas = HashMap::new();
    let mut no_key = Vec::new();
    for (schema, table) in loader.configured_tables().await? {
        let loaded = match which(&schema, &table) {
            Load::Must(false) => continue,
            Load::Must(true) => loader.load(&schema, &table).await?,
            Load::Try => {
                match loader.load(&schema, &table).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::info!("table {schema}.{table} is loaded when it appears in the binlog ({e:#})");
                        loader.set_definition(&schema, &table, None);
                        continue;
                    }
                }
            }
        };
        match loaded {
            Ok(m) => {
                tracing::info!(
                    "table {schema}.{table} → {} (key {})",
                    m.target,
                    m.key_names().join(", ")
                );
                metas.insert((schema, table), Some(m));
            }
            Err(Skip::NoKey) => {
                no_key.push(format!("{schema}.{table}"));
                metas.insert((schema, table), None);
            }
        }
    }
    if !no_key.is_empty() {
        if !cfg.skip_no_pk_table {
            bail!(
                "table(s) {} have no primary key and no NOT NULL unique key, so their rows cannot be matched in \
                 PostgreSQL; add a primary key, or set skip_no_pk_table = true to skip such tables",
                no_key.join(", ")
            );
        }
        for t in &no_key {
            tracing::warn!("skipping table {t}: it has no primary key and no NOT NULL unique key");
        }
    }
    if metas.values().all(Option::is_none) {
        tracing::warn!("no configured table exists yet; tables that appear later are picked up when first written");
    }
    Ok(metas)
}
