//! Where a run starts: the saved position, checked against what the server has and what
//! PostgreSQL holds, and the configured tables loaded on both sides.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;

use crate::catalog::SchemaLoader;
use crate::config::{Config, Flavor, NewHistory, ResumeBy};
use crate::error::retryable;
use crate::model::gtid::GtidState;
use crate::model::history::{another_history, Origin, Place, WAYS_FORWARD};
use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::position::{file_index, Position};
use crate::model::table::{Skip, TableMeta};
use crate::mysql::connect::{binary_logs, binlog_gtid_pos};
use crate::mysql::history::{file_origin, find_stamp, StampSearch};
use crate::state::checkpoint::Checkpoints;
use crate::state::master_info;

/// Before streaming again from `at` (the acknowledged place): asks PostgreSQL whether it
/// still holds what it confirmed. If it lost commits, rewinds to the saved place it still
/// holds (everything before it survived: a target that loses commits loses the newest, and
/// the checkpoint went with its data), with a WARN saying how far and why. Then notes the
/// place in PostgreSQL and in master.info, in that order. Returns where to stream from.
pub async fn settle(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    at: &Place,
    cfg: &Config,
) -> Result<Place> {
    let mut at = at.clone();
    let lost = async { cp.lost(&*pg.get().await?).await }.await;
    if let Some(loss) = lost.context("checking what PostgreSQL holds")? {
        let Some(saved) = loss.saved else {
            bail!(
                "PostgreSQL lost commits it had confirmed ({}) and holds no saved position of this sync: \
                 the sync cannot tell what to replay; re-load the tables with init",
                loss.what
            );
        };
        tracing::warn!(
            "PostgreSQL lost commits it had confirmed ({}): rewinding the binlog from {} to {}, the \
             position PostgreSQL still holds, and replaying (a crash with synchronous_commit = off, or a \
             failover to a standby that was behind)",
            loss.what,
            at.pos,
            saved.pos
        );
        at = saved;
        cp.forget_commits();
    }
    cp.record_position(pg, &at).await?;
    master_info::save(&cfg.master_info_path(), &at)
        .with_context(|| format!("saving position {}", at.pos))?;
    Ok(at)
}

/// At start: master.info is saved only after PostgreSQL noted the same position, so a
/// master.info ahead of PostgreSQL's note (same binlog sequence and history, a place the
/// server has) means PostgreSQL lost commits: start from its note instead. A master.info
/// behind it is an operator's rewind and is honoured (see `Checkpoints::load`). Two places of
/// different histories (their files' origins differ) do not compare: master.info's is taken,
/// and [`plan_resume`] judges it.
pub async fn resume_where_postgres_is(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    logs: &[(String, u64)],
    start: Place,
    cfg: &Config,
) -> Result<Place> {
    let saved = match cp.saved_place(pg).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(
                "cannot read the saved position in PostgreSQL ({e:#}); starting from {}",
                start.pos
            );
            return Ok(start);
        }
    };
    let Some(saved) = saved else { return Ok(start) };
    let (s, m) = (Mark::at(&saved.pos), Mark::at(&start.pos));
    if !s.same_sequence(&m) || s >= m {
        return Ok(start);
    }
    if let (Some(a), Some(b)) = (saved.fp.origin, start.fp.origin) {
        if s.file == m.file && a != b {
            return Ok(start);
        }
    }
    if !placed(logs, &saved.pos) {
        bail!(
            "PostgreSQL holds this sync's work only up to {}, but master.info says {}: the target lost \
             commits it had confirmed, and the server no longer has {} to replay from; re-load the tables with init",
            saved.pos,
            start.pos,
            saved.pos
        );
    }
    tracing::warn!(
        "master.info says {}, but PostgreSQL holds this sync's work only up to {}: the target lost \
         commits it had confirmed (synchronous_commit = off and a crash, or a failover); starting from {} \
         (if you moved master.info forward on purpose, delete this sync's rows from the checkpoint table first)",
        start.pos,
        saved.pos,
        saved.pos
    );
    master_info::save(&cfg.master_info_path(), &saved)?;
    Ok(saved)
}

/// master.info's place, checked against the server's binlogs (`logs`: SHOW BINARY LOGS); or
/// the first binlog it has.
pub fn start_position(cfg: &Config, logs: &[(String, u64)]) -> Result<Place> {
    let path = cfg.master_info_path();
    match master_info::load_place(&path, cfg.flavor == Flavor::Mariadb)? {
        Some(at) => {
            let p = &at.pos;
            let has_gtid = cfg.resume_by != ResumeBy::File && at.gtids.is_some();
            match logs.iter().find(|(name, _)| **name == *p.file) {
                // Which history it is in is for `plan_resume` to say, with the fingerprint.
                None | Some(_) if at.fp.origin.is_some() && !placed(logs, p) => return Ok(at),
                // Another server's position (a failover): its GTID state says where to go on.
                None | Some(_) if has_gtid && !placed(logs, p) => {
                    tracing::info!(
                        "{} says {p}, which this server does not have: resuming by its GTID state",
                        path.display()
                    );
                    return Ok(at);
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
            Ok(at)
        }
        None => first_binlog(logs, &path),
    }
}

/// The start of the first binlog the server has.
fn first_position(logs: &[(String, u64)]) -> Result<Position> {
    let first = logs
        .first()
        .ok_or_else(|| anyhow!("the server lists no binary logs (SHOW BINARY LOGS is empty)"))?;
    Ok(Position::new(first.0.clone(), 4))
}

/// No saved position: the start of the first binlog the server has.
fn first_binlog(logs: &[(String, u64)], path: &std::path::Path) -> Result<Place> {
    let p = first_position(logs)?;
    tracing::warn!(
        "no position in {}: starting from the first binlog the server still has, {p}",
        path.display()
    );
    Ok(Place::bare(p))
}

fn placed(logs: &[(String, u64)], p: &Position) -> bool {
    logs.iter()
        .any(|(f, size)| **f == *p.file && p.pos <= *size)
}

/// How a round reads the binlog (see [`plan_resume`]).
#[derive(Debug)]
pub struct Resume {
    /// Where to start, with what is known there.
    pub at: Place,
    /// By the GTID state (`at.gtids`) rather than by file and offset.
    pub by_gtid: bool,
    /// `at`'s file and offset are this server's own, in the same history.
    pub here: bool,
    /// The saved place belonged to another history and `new_history = "replay"`: `at` is the
    /// start of the server's first binlog, and what was saved for the old history (worker
    /// marks, reloads, the schema history) no longer applies.
    pub replay: bool,
    /// The server's binlogs as the plan saw them (SHOW BINARY LOGS: name, size): the round
    /// checks what else it must against the same list.
    pub logs: Vec<(String, u64)>,
}

/// What the server's file at a saved position is, against the origin saved with it.
#[derive(Debug, Clone, PartialEq)]
enum FileVerdict {
    /// The same file: the saved origin is the server's.
    Same,
    /// A file of that name with another origin (what the server has, for the error), or
    /// none where the server's numbering has not come to it: another history.
    Other { saved: Origin, server: String },
    /// The server does not have the file (or the offset).
    NotHere,
    /// Nothing was saved to compare with (the Go tool's master.info, an earlier version).
    Unknown,
}

/// How the reader asks for the binlog from `at` (see [`ResumeBy`]): by file and offset when
/// this server has them in the same history (the file's origin is the one saved, and the GTID
/// state there agrees), otherwise by GTID when the state is known and the server can serve it:
/// it has every transaction of it (not another replication group's, not a replica that is
/// behind), has not purged any it has not (MySQL), and holds the last transaction applied with
/// the same stamp (see [`crate::model::history`]). A place of another history stops the start,
/// or, with `new_history = "replay"`, gives the start of the server's first binlog.
pub async fn plan_resume(
    cfg: &Config,
    mysql: &mysql_async::Pool,
    opts: &mysql_async::Opts,
    at: &Place,
    moved: bool,
) -> Result<Resume> {
    let mut conn = mysql.get_conn().await?;
    let logs = binary_logs(&mut conn).await?;
    let pos = &at.pos;
    let newest = logs.last().map(|(f, _)| f.as_str()).unwrap_or("");
    let file = if logs.iter().any(|(f, _)| **f == *pos.file) {
        let server = file_origin(opts, cfg.flavor, &logs, &pos.file).await?;
        match (at.fp.origin, server) {
            (_, None) => FileVerdict::NotHere,
            (Some(saved), Some(server)) if saved != server => FileVerdict::Other {
                saved,
                server: format!("this server's {} was {}", pos.file, server.describe()),
            },
            _ if !placed(&logs, pos) => FileVerdict::NotHere,
            (None, Some(_)) => FileVerdict::Unknown,
            (Some(_), Some(_)) => FileVerdict::Same,
        }
    } else {
        match at.fp.origin {
            // Purging removes the oldest files: a server whose newest file comes before the
            // saved one has started its numbering again (or is another server).
            Some(saved)
                if Mark::at(&Position::new(newest, 4)).same_sequence(&Mark::at(pos))
                    && file_index(newest) < file_index(&pos.file) =>
            {
                FileVerdict::Other {
                    saved,
                    server: format!("this server's binlogs end at {newest}, before it"),
                }
            }
            _ => FileVerdict::NotHere,
        }
    };
    if file == FileVerdict::Unknown && !moved {
        tracing::warn!(
            "the position {pos} was saved without its history's fingerprint (a master.info of the Go tool or \
             of an earlier version): whether this server's {} is the file it was saved in is not checked, until \
             the sync saves a position of its own",
            pos.file
        );
    }
    // Another history, with what is known of it: stop, or replay the server's binlog.
    let applied = format!(
        "The last change applied is at {pos}{}",
        at.fp
            .last
            .as_ref()
            .map(|s| format!(", transaction {}", s.describe()))
            .unwrap_or_default()
    );
    let another = |why: String| -> Result<Resume> {
        if cfg.new_history == NewHistory::Replay {
            let start = first_position(&logs)?;
            tracing::warn!(
                "{why}. new_history = \"replay\": replaying this server's binlog from its first file, {start}, \
                 into the existing tables (the checkpoints, reloads and schema history of the old history are \
                 dropped)"
            );
            return Ok(Resume {
                at: Place::bare(start),
                by_gtid: false,
                here: true,
                replay: true,
                logs: logs.clone(),
            });
        }
        bail!("{why}. Nothing was read from this server. {applied}. {WAYS_FORWARD}")
    };
    let here = matches!(file, FileVerdict::Same | FileVerdict::Unknown)
        && !moved
        && match &at.gtids {
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
    let other_file = match &file {
        FileVerdict::Other { saved, server } => Some(another_history(&pos.file, saved, server)),
        _ => None,
    };
    let usable = at.gtids.as_ref().filter(|_| server_gtids);
    let g = match (cfg.resume_by, usable) {
        (ResumeBy::File, _) | (ResumeBy::Auto, _) if here => {
            return Ok(Resume {
                at: with_gtids_here(cfg, &mut conn, at).await,
                by_gtid: false,
                here,
                replay: false,
                logs,
            })
        }
        (ResumeBy::File, _) => match other_file {
            Some(why) => return another(why),
            None => {
                return Ok(Resume {
                    at: at.clone(),
                    by_gtid: false,
                    here,
                    replay: false,
                    logs,
                })
            }
        },
        (_, Some(g)) => g,
        (_, None) => {
            if let Some(why) = other_file {
                return another(why);
            }
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
        }
    };
    // By GTID: the server must serve the state, and hold the last transaction applied.
    let unserved = match cfg.flavor {
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
                Some(format!(
                    "the saved GTID state ({text}) holds transactions this server has not executed: it belongs to \
                     another replication group, or this server is a replica that is behind"
                ))
            } else if !purged_ok {
                bail!(
                    "this server purged transactions after the saved GTID state ({text}) that the sync has not read; \
                     re-load the tables with init (nothing was skipped)"
                );
            } else {
                None
            }
        }
        Flavor::Mariadb => {
            let text: Option<String> = conn.query_first("SELECT @@GLOBAL.gtid_binlog_pos").await?;
            let server = GtidState::parse(&text.unwrap_or_default(), true)?;
            g.mariadb_ahead_of(&server).map(|domain| {
                format!(
                    "the saved GTID position ({g}) is ahead of this server's ({server}) in domain {domain}: it belongs \
                     to another replication group, or this server is a replica that is behind"
                )
            })
        }
    };
    if let Some(why) = unserved {
        return match other_file {
            Some(file) => another(format!("{file}; {why}")),
            None => bail!(
                "{why}; point mysql_addr at a server that has it, or re-load the tables with init"
            ),
        };
    }
    if let (Some(file), None) = (&other_file, &at.fp.last) {
        // The file says another history, and no stamp can say otherwise.
        return another(format!(
            "{file}; no transaction applied since the position was saved carries a stamp that could prove the GTID \
             state {g} is this server's"
        ));
    }
    match &at.fp.last {
        // The saved file itself is this server's: the history is proven already.
        _ if file == FileVerdict::Same => {}
        Some(stamp) => match find_stamp(&mut conn, opts, cfg.flavor, &logs, &stamp.gtid).await? {
            StampSearch::Found(s) if s == *stamp => {
                tracing::info!(
                    "this server holds the last transaction applied, {}: the same history",
                    stamp.describe()
                )
            }
            StampSearch::Found(s) => {
                return another(format!(
                    "the last transaction applied was {}, but this server's {} is another transaction ({}): its \
                     binlog history restarted (RESET MASTER / RESET BINARY LOGS AND GTIDS), or mysql_addr points at \
                     another server that reuses the GTIDs",
                    stamp.describe(),
                    s.gtid,
                    s.describe()
                ))
            }
            StampSearch::Absent => {
                return another(format!(
                    "the last transaction applied was {}, and this server's GTID state has passed it, but its binlog \
                     does not hold it: another history that reuses the GTIDs",
                    stamp.describe()
                ))
            }
            StampSearch::Purged => {
                // This server's own file, purged since: the same server (its id) and a file
                // its numbering has passed. Anything else cannot be told from another history.
                let server_id: Option<u32> = conn.query_first("SELECT @@GLOBAL.server_id").await?;
                let oldest = logs.first().map(|(f, _)| f.as_str()).unwrap_or("");
                let purged_here = at.fp.origin.is_some_and(|o| Some(o.server_id) == server_id)
                    && Mark::at(&Position::new(oldest, 4)).same_sequence(&Mark::at(pos))
                    && file_index(&pos.file) < file_index(oldest);
                if !purged_here {
                    bail!(
                        "cannot tell whether this server's history is the one the sync applied: the binlog that held \
                         the last transaction applied ({}) is purged here; re-load the tables with init (nothing was \
                         skipped)",
                        stamp.describe()
                    );
                }
                tracing::warn!(
                    "the binlog holding the last transaction applied ({}) is purged on this server, which wrote {}: \
                     resuming by the GTID state",
                    stamp.describe(),
                    pos.file
                );
            }
        },
        None => tracing::warn!(
            "resuming by the GTID state {g} without the stamp of the last transaction applied (saved by an earlier \
             version): whether this server's history is the one the sync applied is not checked this time"
        ),
    }
    tracing::info!("resuming by GTID: {g}");
    Ok(Resume {
        at: at.clone(),
        by_gtid: true,
        here,
        replay: false,
        logs,
    })
}

/// `at` with its GTID state filled in when it has none (MariaDB: the server's
/// `BINLOG_GTID_POS()`, asked only of a position in this server's own history). Without it,
/// the reader learns the state at the next binlog file, whose first event lists every GTID
/// before it.
async fn with_gtids_here(cfg: &Config, conn: &mut mysql_async::Conn, at: &Place) -> Place {
    let mut at = at.clone();
    if at.gtids.is_none() && cfg.flavor == Flavor::Mariadb {
        match binlog_gtid_pos(conn, &at.pos).await {
            Ok(g) => at.gtids = g,
            Err(e) => tracing::debug!("{e:#}"),
        }
    }
    at
}

/// Checks saved places other than the start against this server (a worker's mark, a reloaded
/// table's copy position): each names a file with the origin it was saved with; a file the
/// server has with another origin belongs to another history. `what` names each for the
/// error. The start itself is judged by [`plan_resume`].
pub async fn check_origins(
    cfg: &Config,
    opts: &mysql_async::Opts,
    logs: &[(String, u64)],
    saved: &[(String, String, Origin)],
) -> Result<()> {
    let mut seen: Vec<(&str, Option<Origin>)> = Vec::new();
    for (what, file, origin) in saved {
        let server = match seen.iter().find(|(f, _)| *f == file) {
            Some((_, o)) => *o,
            None => {
                let o = file_origin(opts, cfg.flavor, logs, file).await?;
                seen.push((file, o));
                o
            }
        };
        if let Some(server) = server {
            if server != *origin {
                bail!(
                    "{what} is in {file} {}, but this server's {file} was {}: it belongs to another binlog history. {WAYS_FORWARD}",
                    origin.describe(),
                    server.describe()
                );
            }
        }
    }
    Ok(())
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
        Flavor::Mariadb => Ok(binlog_gtid_pos(conn, pos)
            .await
            .is_ok_and(|here| here.as_ref() == Some(g))),
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
) -> Result<HashMap<TableName, Option<Arc<TableMeta>>>> {
    let mut metas = HashMap::new();
    let mut no_key = Vec::new();
    for TableName { schema, table } in loader.configured_tables().await? {
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
                metas.insert(TableName::new(schema, table), Some(m));
            }
            Err(Skip::NoKey) => {
                no_key.push(format!("{schema}.{table}"));
                metas.insert(TableName::new(schema, table), None);
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

/// Each worker's mark for a round starting at `at` (see [`Checkpoints::load`]), checked: a
/// mark skips changes, so each must be a place in this server's binlogs (`logs`) and in a file
/// of the origin it was recorded in. A failed read is transient; a mark the server cannot
/// place stops the start.
pub async fn worker_marks(
    cfg: &Config,
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    opts: &mysql_async::Opts,
    at: &Place,
    logs: &[(String, u64)],
) -> Result<Vec<Option<Mark>>> {
    let marks = cp
        .load(pg, at)
        .await
        .map_err(|e| retryable(e.context("reading the checkpoints")))?;
    if marks.iter().any(Option::is_some) {
        crate::state::checkpoint::check_placed(&marks, &at.pos, logs, cp.table())?;
        // The start's origin is checked by the reader, the marks' files here.
        let saved: Vec<(String, String, Origin)> = cp
            .mark_origins(pg)
            .await
            .map_err(|e| retryable(e.context("reading the checkpoints")))?
            .into_iter()
            .map(|(file, o)| (format!("a worker's checkpoint in {}", cp.table()), file, o))
            .collect();
        check_origins(cfg, opts, logs, &saved).await?;
    }
    Ok(marks)
}

/// Drops what this sync saved for a binlog history it no longer reads (`new_history =
/// "replay"`): the workers' marks, the schema history (rebuilt from the server's definitions
/// at the new start) and the reloaded tables' positions.
pub async fn forget_history(
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
pub async fn save_postgres_position(
    cp: &Checkpoints,
    pg: &deadpool_postgres::Pool,
    cfg: &crate::config::Config,
) -> Result<()> {
    if let Some(saved) = cp.saved_place(pg).await? {
        master_info::save(&cfg.master_info_path(), &saved)?;
    }
    Ok(())
}
