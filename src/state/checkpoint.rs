//! The transactional checkpoint: each worker records, in a small PostgreSQL table and in the
//! same transaction as the batch it commits, the binlog position of the last change it applied.
//!
//! `master.info` can only name transaction boundaries whose every change is committed, so after
//! a crash the changes after it are replayed. Replay is safe (full-row upserts, deletes by key)
//! but would briefly move rows back to older values. With the checkpoint, each worker skips the
//! changes it had already committed: replay resumes exactly where each worker stopped, and the
//! PostgreSQL side can always say how far it is. The reader still starts at `master.info`
//! (a transaction boundary is the only place a binlog stream can start), and `master.info`
//! stays the operator-facing, Go-compatible position.
//!
//! Skipping is only sound when changes are routed to the same workers as before, so the
//! checkpoints of a run with another `concurrent_size` are discarded (plain replay).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Mutex;

use anyhow::{Context, Result};
use tokio_postgres::types::ToSql;

use crate::config::Config;
use crate::model::change::ROUTING_VERSION;
use crate::model::history::{Fingerprint, Origin, Place};
use crate::model::mark::{binlog_base, Mark};
use crate::model::position::Position;
use crate::sql::Quoted;

/// The first key of the advisory locks this project takes (`MGS` in ASCII); the second says
/// which (0: creating the tables; a source's hash: its lease).
pub const LEASE_LOCK_CLASS: i32 = 0x4d4753;

/// What [`Checkpoints::lost`] found: how far PostgreSQL went back, and the saved position it
/// still holds (everything before it survived: a target that loses commits loses the newest).
#[derive(Debug)]
pub struct Loss {
    pub what: String,
    pub saved: Option<Place>,
}

impl Loss {
    /// The error that restarts the pipeline, which then rewinds to what PostgreSQL holds.
    pub fn into_error(self) -> anyhow::Error {
        crate::error::Transient(format!(
            "PostgreSQL lost commits it had confirmed ({})",
            self.what
        ))
        .into()
    }
}

/// What this process knows PostgreSQL confirmed: the last batch each worker committed, and
/// the last position noted as saved. [`Checkpoints::lost`] compares PostgreSQL's rows with it.
#[derive(Debug, Default)]
struct Confirmed {
    workers: Vec<Option<Mark>>,
    noted: Option<Position>,
}

/// Checks that every worker's checkpoint is a place in this server's binlogs (`logs`: SHOW
/// BINARY LOGS, name and size) when the reader starts at `start`. A checkpoint is used to skip
/// changes as already committed, so one the server cannot place (another binlog sequence, a
/// file it never had, an offset past a file's end) would skip changes that were never applied:
/// refuse to start instead, saying how to replay without it.
pub fn check_placed(
    marks: &[Option<Mark>],
    start: &Position,
    logs: &[(String, u64)],
    table: &Quoted,
) -> Result<()> {
    let start_mark = Mark {
        file: start.file.clone(),
        pos: start.pos,
        seq: 0,
    };
    let what_to_do = format!(
        "nothing was skipped; to replay from master.info without the checkpoints, delete this sync's rows \
         from {table} (DELETE FROM {table} WHERE source = 'server_id <server_id>'), or re-load the tables with init"
    );
    for (worker, mark) in marks.iter().enumerate() {
        let Some(mark) = mark else { continue };
        if !mark.same_sequence(&start_mark) {
            anyhow::bail!(
                "the checkpoint of worker {worker} in {table} is {mark}, but master.info is {start}: another binlog \
                 sequence (written against another server?), so the sync cannot tell which changes it covers; {what_to_do}"
            );
        }
        let suffix = |f: &str| f.len() - binlog_base(f).len();
        // Shorter than the server's (a longer one is a numbering past .999999).
        if suffix(&mark.file) < suffix(&start.file) {
            // Such as `mysql-bin.00`, the name earlier versions cut from MySQL's first ROTATE.
            anyhow::bail!(
                "the checkpoint of worker {worker} in {table} is {mark}, not a binlog name this server writes \
                 (master.info: {start}); the sync cannot place it, so it stops instead of skipping changes by it; \
                 {what_to_do}"
            );
        }
        if *mark <= start_mark {
            continue; // nothing after the start is skipped by it
        }
        match logs.iter().find(|(name, _)| **name == *mark.file) {
            None => anyhow::bail!(
                "the checkpoint of worker {worker} in {table} is {mark}, a binlog file this server does not have \
                 (it has {}); the sync cannot place it, so it stops instead of skipping changes by it; {what_to_do}",
                logs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(", ")
            ),
            Some((_, size)) if mark.pos > *size => anyhow::bail!(
                "the checkpoint of worker {worker} in {table} is {mark}, past the end of {} ({size} bytes): it was \
                 written against another server or another history; {what_to_do}",
                mark.file
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Which row of the checkpoint table: a worker's, or the saved position (stored as worker -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Worker(usize),
    Saved,
}

/// The checkpoint table of one sync in PostgreSQL. A sync is named by its replica
/// `server_id` (`source` = `server_id 1001`, as its lease is), not by how `mysql_addr` spells
/// its servers: adding a server to the list or renaming a host keeps the checkpoints. Which
/// history a mark belongs to is in its row (`origin`, `gtid_last`: see
/// [`crate::model::history`]) and checked at start.
///
/// Contract: a worker's row is written **inside the transaction of the batch it commits**
/// ([`Checkpoints::record`]), so PostgreSQL holds a batch if and only if it holds its mark;
/// marks only move forward within a binlog sequence; a mark the server cannot place stops the
/// start ([`check_placed`]) rather than skip anything. The rows are discarded when
/// `concurrent_size` or the routing version changes (keys go to other workers: skipping by
/// them would be unsound).
pub struct Checkpoints {
    table: Quoted,
    /// Which sync this is (several may write into one database).
    source: String,
    workers: usize,
    upsert_sql: String,
    /// Greenplum: the row is deleted first (no ON CONFLICT there).
    delete_sql: Option<String>,
    /// The lease epoch this process holds (see [`crate::state::lease`]); 0 before it holds
    /// one. Every record proves it (`fence_sql`) inside the transaction it is written in.
    epoch: AtomicI64,
    fence_sql: String,
    /// The lease table, beside the checkpoint table.
    lease_table: Quoted,
    lease_id: String,
    /// The GTID texts are MariaDB's.
    mariadb: bool,
    /// What PostgreSQL confirmed to this process (see [`Checkpoints::lost`]).
    confirmed: Mutex<Confirmed>,
}

impl Checkpoints {
    /// The checkpoints of this sync in `table` (installed by [`crate::state::install`]);
    /// `lease_table` and `fence_fn` are the lease's (see [`crate::state::lease`]).
    pub(crate) fn new(
        cfg: &Config,
        table: Quoted,
        lease_table: Quoted,
        fence_fn: &Quoted,
        greenplum: bool,
    ) -> Checkpoints {
        let insert = format!(
            "INSERT INTO {table} AS c (source, worker, workers, bin_name, bin_pos, seq, gtid, origin, \
             gtid_last, routing, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())"
        );
        let (upsert_sql, delete_sql) = if greenplum {
            (
                insert,
                Some(format!(
                    "DELETE FROM {table} WHERE source = $1 AND worker = $2"
                )),
            )
        } else {
            (
                format!(
                    "{insert} ON CONFLICT (source, worker) DO UPDATE SET workers = EXCLUDED.workers, \
                     bin_name = EXCLUDED.bin_name, bin_pos = EXCLUDED.bin_pos, seq = EXCLUDED.seq, \
                     updated_at = EXCLUDED.updated_at, routing = EXCLUDED.routing, \
                     gtid = CASE WHEN c.bin_name = EXCLUDED.bin_name AND c.bin_pos = EXCLUDED.bin_pos \
                                 THEN COALESCE(EXCLUDED.gtid, c.gtid) ELSE EXCLUDED.gtid END, \
                     origin = CASE WHEN c.bin_name = EXCLUDED.bin_name AND c.bin_pos = EXCLUDED.bin_pos \
                                 THEN COALESCE(EXCLUDED.origin, c.origin) ELSE EXCLUDED.origin END, \
                     gtid_last = CASE WHEN c.bin_name = EXCLUDED.bin_name AND c.bin_pos = EXCLUDED.bin_pos \
                                 THEN COALESCE(EXCLUDED.gtid_last, c.gtid_last) ELSE EXCLUDED.gtid_last END"
                ),
                None,
            )
        };
        Checkpoints {
            source: source_name(cfg),
            workers: cfg.concurrent_size,
            table,
            upsert_sql,
            delete_sql,
            epoch: AtomicI64::new(0),
            fence_sql: format!("SELECT {fence_fn}($1, $2)"),
            lease_table,
            lease_id: format!("server_id {}", cfg.server_id),
            mariadb: cfg.flavor == crate::config::Flavor::Mariadb,
            confirmed: Mutex::new(Confirmed {
                workers: vec![None; cfg.concurrent_size],
                noted: None,
            }),
        }
    }

    /// Which sync this is: `server_id N`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the lease is named by: the replica `server_id` (two syncs with one id are one
    /// sync to the server too), not the address list, which hosts may spell differently.
    pub fn lease_id(&self) -> &str {
        &self.lease_id
    }

    /// The lease table's qualified name.
    pub fn lease_table(&self) -> &Quoted {
        &self.lease_table
    }

    /// From now on every record proves that this process holds lease `epoch`.
    pub fn fence_with(&self, epoch: i64) {
        self.epoch.store(epoch, Relaxed);
    }

    /// The checkpoint table's qualified name.
    pub fn table(&self) -> &Quoted {
        &self.table
    }

    /// Notes the position just saved to master.info (as worker -1), with its GTID state and
    /// fingerprint, so that a start can tell a crash replay (master.info is where this sync
    /// left it) from an operator's rewind, and which history the position is in.
    ///
    /// Committed with `synchronous_commit = on` whatever the target's default: the note is
    /// durable, and so (the WAL being flushed in order) is every batch committed before it.
    /// A target that loses commits can then lose only what came after the last note.
    /// What `at` does not know (its GTID state, a part of its fingerprint) is kept from an
    /// earlier note of the same position.
    pub async fn record_position(&self, pg: &deadpool_postgres::Pool, at: &Place) -> Result<()> {
        let mut client = pg.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .await?;
        self.record_row(&tx, Row::Saved, &Mark::at(&at.pos), Some(at))
            .await?;
        tx.commit().await?;
        self.confirmed.lock().unwrap().noted = Some(at.pos.clone());
        Ok(())
    }

    /// Worker `worker` committed its batch up to `mark` (with its checkpoint row).
    pub fn note_commit(&self, worker: usize, mark: &Mark) {
        if let Some(m) = self.confirmed.lock().unwrap().workers.get_mut(worker) {
            *m = Some(mark.clone());
        }
    }

    /// A barrier committed every worker's checkpoint at `mark`.
    pub fn note_commit_all(&self, mark: &Mark) {
        let mut c = self.confirmed.lock().unwrap();
        c.workers.iter_mut().for_each(|m| *m = Some(mark.clone()));
    }

    /// This process deleted the workers' rows itself: their commits no longer count (a loss
    /// check would otherwise find PostgreSQL "behind" them).
    fn forget_worker_commits(&self) {
        let mut c = self.confirmed.lock().unwrap();
        c.workers.iter_mut().for_each(|m| *m = None);
    }

    /// What PostgreSQL confirmed before no longer counts: it was rewound (a loss), another
    /// sync applied meanwhile, or another history starts.
    pub fn forget_commits(&self) {
        let mut c = self.confirmed.lock().unwrap();
        c.workers.iter_mut().for_each(|m| *m = None);
        c.noted = None;
    }

    /// The saved position, with the GTID state and fingerprint noted with it. A text that
    /// does not read (a hand edit) counts as unknown, with a warning.
    pub async fn saved_place(&self, pg: &deadpool_postgres::Pool) -> Result<Option<Place>> {
        let client = pg.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT bin_name, bin_pos, gtid, origin, gtid_last FROM {} WHERE source = $1 AND worker = -1",
                    self.table
                ),
                &[&self.source],
            )
            .await?;
        Ok(row.map(|r| self.place_in(&r, 0)))
    }

    /// The place in a row's `bin_name, bin_pos, gtid, origin, gtid_last`, from column `first`.
    fn place_in(&self, r: &tokio_postgres::Row, first: usize) -> Place {
        let pos = Position::new(r.get::<_, String>(first), r.get::<_, i64>(first + 1) as u64);
        let gtids = r
            .get::<_, Option<String>>(first + 2)
            .and_then(|t| crate::model::gtid::GtidState::parse(&t, self.mariadb).ok());
        let (origin, last): (Option<String>, Option<String>) = (r.get(first + 3), r.get(first + 4));
        let fp = Fingerprint::from_texts(origin.as_deref(), last.as_deref(), self.mariadb)
            .unwrap_or_else(|e| {
                tracing::warn!(
                    "{}: the saved position's fingerprint does not read ({e:#}); not checked",
                    self.table
                );
                Fingerprint::default()
            });
        Place { pos, gtids, fp }
    }

    /// The position this sync last noted as saved to master.info (worker -1), if any.
    pub async fn saved_position(&self, pg: &deadpool_postgres::Pool) -> Result<Option<Position>> {
        Ok(self.saved_place(pg).await?.map(|p| p.pos))
    }

    /// The origin each worker's mark was recorded with, by binlog file: a start checks them
    /// against the server's files (see `pipeline::start`).
    pub async fn mark_origins(
        &self,
        pg: &deadpool_postgres::Pool,
    ) -> Result<Vec<(String, Origin)>> {
        let client = pg.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT DISTINCT bin_name, origin FROM {} WHERE source = $1 AND worker >= 0 AND origin IS NOT NULL",
                    self.table
                ),
                &[&self.source],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.get(0), Origin::parse(r.get::<_, &str>(1)).ok()?)))
            .collect())
    }

    /// Whether PostgreSQL lost commits it had confirmed to this process: a worker's checkpoint
    /// there is older than the last batch it committed ([`Checkpoints::note_commit`]), or the
    /// saved position there is older than the last one this process noted
    /// ([`Checkpoints::record_position`]). The checkpoint is written in the same transaction as
    /// the data, so whatever the target forgot, it forgot the checkpoint with it: PostgreSQL's
    /// own rows are the judge. The one loss check: workers run it on every new connection, the
    /// saver before it notes a position, barriers before they write every checkpoint, and a
    /// start of a round before it streams.
    pub async fn lost(&self, client: &tokio_postgres::Client) -> Result<Option<Loss>> {
        let (committed, recorded) = {
            let c = self.confirmed.lock().unwrap();
            (c.workers.clone(), c.noted.clone())
        };
        let rows = client
            .query(
                &format!(
                    "SELECT worker, bin_name, bin_pos, seq, bin_name, bin_pos, gtid, origin, gtid_last \
                     FROM {} WHERE source = $1",
                    self.table
                ),
                &[&self.source],
            )
            .await
            .with_context(|| format!("reading {}", self.table))?;
        let mut held: Vec<Option<Mark>> = vec![None; self.workers];
        let mut saved: Option<Place> = None;
        for r in &rows {
            let worker: i32 = r.get(0);
            let mark = mark_in(r, 1);
            if worker < 0 {
                saved = Some(self.place_in(r, 4));
            } else if let Some(h) = held.get_mut(worker as usize) {
                *h = Some(mark);
            }
        }
        for (worker, mine) in committed.iter().enumerate() {
            let Some(mine) = mine else { continue };
            let theirs = held.get(worker).cloned().flatten();
            if theirs
                .as_ref()
                .is_none_or(|t| t.same_sequence(mine) && t < mine)
            {
                return Ok(Some(Loss {
                    what: format!(
                        "worker {worker} had committed up to {mine}, PostgreSQL holds {}",
                        theirs.map_or("nothing".into(), |t| t.to_string())
                    ),
                    saved,
                }));
            }
        }
        if let Some(r) = &recorded {
            let back = match &saved {
                None => true,
                Some(s) => {
                    let (s, r) = (Mark::at(&s.pos), Mark::at(r));
                    s.same_sequence(&r) && s < r
                }
            };
            if back {
                return Ok(Some(Loss {
                    what: format!(
                        "the saved position was {r}, PostgreSQL holds {}",
                        saved
                            .as_ref()
                            .map_or("nothing".into(), |s| s.pos.to_string())
                    ),
                    saved,
                }));
            }
        }
        Ok(None)
    }

    /// Each worker's mark, when starting from `at`. All `None` (a plain replay) when they were
    /// written with another `concurrent_size` or routing, or when master.info is not the
    /// position this sync last saved: someone rewound it to replay on purpose, and skipping
    /// would defeat that. PostgreSQL's note is then `at` (with its GTID state and fingerprint).
    pub async fn load(
        &self,
        pg: &deadpool_postgres::Pool,
        at: &Place,
    ) -> Result<Vec<Option<Mark>>> {
        let start = &at.pos;
        let saved = self.saved_position(pg).await?;
        let client = pg.get().await?;
        if saved.as_ref() != Some(start) {
            if let Some(saved) = saved {
                tracing::info!(
                    "master.info says {start} but this sync last saved {saved}: replaying from {start} \
                     without skipping (the checkpoints are reset)"
                );
            }
            client
                .execute(
                    &format!(
                        "DELETE FROM {} WHERE source = $1 AND worker >= 0",
                        self.table
                    ),
                    &[&self.source],
                )
                .await?;
            drop(client);
            self.forget_worker_commits();
            // From here on PostgreSQL's note is this start: what it holds after a crash is
            // judged against it.
            self.record_position(pg, at).await?;
            return Ok(vec![None; self.workers]);
        }
        let rows = client
            .query(
                &format!(
                    "SELECT worker, workers, bin_name, bin_pos, seq, routing FROM {} WHERE source = $1",
                    self.table
                ),
                &[&self.source],
            )
            .await
            .with_context(|| format!("reading {}", self.table))?;
        let mut marks = vec![None; self.workers];
        for r in &rows {
            let (worker, workers): (i32, i32) = (r.get(0), r.get(1));
            let routing: Option<i32> = r.get(5);
            let changed = if workers as usize != self.workers {
                Some(format!("by {workers} workers, now {}", self.workers))
            } else if worker >= 0 && routing != Some(ROUTING_VERSION) {
                Some(format!(
                    "with routing version {}, now {ROUTING_VERSION} (keys go to other workers)",
                    routing.map_or("0 (before versions)".into(), |v| v.to_string())
                ))
            } else {
                None
            };
            if let Some(changed) = changed {
                tracing::info!(
                    "checkpoints in {} were written {changed}: replaying from master.info without them",
                    self.table,
                );
                client
                    .execute(
                        &format!("DELETE FROM {} WHERE source = $1", self.table),
                        &[&self.source],
                    )
                    .await?;
                drop(client);
                self.forget_worker_commits();
                self.record_position(pg, at).await?;
                return Ok(vec![None; self.workers]);
            }
            if worker < 0 {
                continue;
            }
            if let Some(m) = marks.get_mut(worker as usize) {
                *m = Some(mark_in(r, 2));
            }
        }
        Ok(marks)
    }

    /// Forgets the workers' marks but keeps the saved position: after `init --tables` the
    /// restart replays without skipping, since skipped tables no longer number their rows
    /// as they did when the marks were written.
    pub async fn forget_workers(&self, pg: &deadpool_postgres::Pool) -> Result<()> {
        let client = pg.get().await?;
        client
            .execute(
                &format!(
                    "DELETE FROM {} WHERE source = $1 AND worker >= 0",
                    self.table
                ),
                &[&self.source],
            )
            .await?;
        self.forget_worker_commits();
        Ok(())
    }

    /// Forgets this sync's marks: after an initial load, the old ones describe tables since emptied.
    pub async fn clear(&self, pg: &deadpool_postgres::Pool) -> Result<()> {
        let client = pg.get().await?;
        client
            .execute(
                &format!("DELETE FROM {} WHERE source = $1", self.table),
                &[&self.source],
            )
            .await?;
        self.forget_commits();
        Ok(())
    }

    /// Records `mark` for `row` inside the caller's transaction; `origin` is the origin of
    /// the mark's binlog file, when the stream said it.
    pub async fn record(
        &self,
        tx: &impl deadpool_postgres::GenericClient,
        row: Row,
        mark: &Mark,
        origin: Option<Origin>,
    ) -> Result<(), tokio_postgres::Error> {
        let place = Place {
            pos: Position::new(mark.file.clone(), mark.pos),
            gtids: None,
            fp: Fingerprint { origin, last: None },
        };
        self.record_row(tx, row, mark, Some(&place)).await
    }

    async fn record_row(
        &self,
        tx: &impl deadpool_postgres::GenericClient,
        row: Row,
        mark: &Mark,
        place: Option<&Place>,
    ) -> Result<(), tokio_postgres::Error> {
        let gtid = place.and_then(|p| p.gtids.as_ref()).map(|g| g.to_string());
        let origin = place.and_then(|p| p.fp.origin_text());
        let last = place.and_then(|p| p.fp.last_text());
        let w = match row {
            Row::Worker(w) => w as i32,
            Row::Saved => -1,
        };
        let n = self.workers as i32;
        let epoch = self.epoch.load(Relaxed);
        if epoch > 0 {
            let stmt = tx.prepare_cached(&self.fence_sql).await?;
            tx.execute(&stmt, &[&self.lease_id, &epoch]).await?;
        }
        if let Some(delete) = &self.delete_sql {
            let stmt = tx.prepare_cached(delete).await?;
            tx.execute(&stmt, &[&self.source, &w]).await?;
        }
        let stmt = tx.prepare_cached(&self.upsert_sql).await?;
        let (file, pos, seq) = (mark.file.to_string(), mark.pos as i64, mark.seq as i32);
        let params: [&(dyn ToSql + Sync); 10] = [
            &self.source,
            &w,
            &n,
            &file,
            &pos,
            &seq,
            &gtid,
            &origin,
            &last,
            &ROUTING_VERSION,
        ];
        tx.execute(&stmt, &params).await?;
        Ok(())
    }

    /// Records `mark` for every worker (a TRUNCATE, done while nothing is in flight).
    pub async fn record_all(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        mark: &Mark,
        origin: Option<Origin>,
    ) -> Result<(), tokio_postgres::Error> {
        for w in 0..self.workers {
            self.record(tx, Row::Worker(w), mark, origin).await?;
        }
        Ok(())
    }
}

/// What a sync is named by in the tables of the PostgreSQL side: its replica `server_id`.
pub fn source_name(cfg: &Config) -> String {
    format!("server_id {}", cfg.server_id)
}

/// The mark held in a checkpoint row's `bin_name, bin_pos, seq` columns, from column `first`.
fn mark_in(r: &tokio_postgres::Row, first: usize) -> Mark {
    Mark {
        file: r.get::<_, String>(first).into(),
        pos: r.get::<_, i64>(first + 1) as u64,
        seq: r.get::<_, i32>(first + 2) as u32,
    }
}

/// The lowest mark of all workers: everything at or before it is committed everywhere.
/// `None` when a worker has none, or when the marks are not of one binlog sequence (no mark
/// is lowest then, and nothing may be skipped by one).
pub fn floor(marks: &[Option<Mark>]) -> Option<Mark> {
    let mut all = marks.iter();
    let mut low = all.next()?.clone()?;
    for m in all {
        let m = m.as_ref()?;
        if m.partial_cmp(&low)? == std::cmp::Ordering::Less {
            low = m.clone();
        }
    }
    Some(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sql::qualified;

    fn m(file: &str, pos: u64, seq: u32) -> Mark {
        Mark::new(file, pos, seq)
    }

    #[test]
    fn the_floor_is_the_lowest_mark_of_one_sequence() {
        let a = m("b.000002", 4, 1);
        let b = m("b.000001", 900, 3);
        assert_eq!(floor(&[Some(a.clone()), Some(b.clone())]), Some(b.clone()));
        assert_eq!(floor(&[Some(a.clone()), None]), None);
        assert_eq!(floor(&[Some(a), Some(m("c.000001", 4, 1))]), None);
    }

    #[test]
    fn a_checkpoint_the_server_cannot_place_is_refused() {
        let logs = vec![
            ("b.000001".to_string(), 1000),
            ("b.000002".to_string(), 500),
        ];
        let start = Position::new("b.000001", 100);
        let cp = qualified("s", "cp");
        let ok = [
            Some(m("b.000002", 400, 3)),
            Some(m("b.000001", 50, 1)),
            None,
        ];
        check_placed(&ok, &start, &logs, &cp).unwrap();
        // The name the old reader cut short: not a file of this server.
        let e = check_placed(&[Some(m("b.00", 400, 1))], &start, &logs, &cp).unwrap_err();
        assert!(format!("{e}").contains("not a binlog name"), "{e}");
        let e = check_placed(&[Some(m("b.000003", 4, 1))], &start, &logs, &cp).unwrap_err();
        assert!(format!("{e}").contains("does not have"), "{e}");
        let e = check_placed(&[Some(m("b.000002", 501, 1))], &start, &logs, &cp).unwrap_err();
        assert!(format!("{e}").contains("past the end"), "{e}");
        let e = check_placed(&[Some(m("other.000002", 1, 1))], &start, &logs, &cp).unwrap_err();
        assert!(format!("{e}").contains("another binlog sequence"), "{e}");
        assert!(format!("{e}").contains("nothing was skipped"), "{e}");
    }

    #[test]
    fn floor_needs_every_worker() {
        assert_eq!(floor(&[Some(m("b.1", 5, 1)), None]), None);
        assert_eq!(
            floor(&[Some(m("b.1", 9, 1)), Some(m("b.1", 5, 2))]),
            Some(m("b.1", 5, 2))
        );
    }
}
