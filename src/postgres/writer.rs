//! Apply workers: each owns a bounded queue of changes (all changes of one key land on one
//! worker, in order) and writes what it has to PostgreSQL, one transaction per batch.
//!
//! A batch is collapsed to the last change per target row before it is written: the end state of
//! a row after a sequence of full-image upserts and deletes is the last one, and `ON CONFLICT`
//! may not see one key twice in a statement. Then one `DELETE … USING unnest` and one
//! `INSERT … SELECT unnest … ON CONFLICT DO UPDATE` per table: a round trip per table, not per row.
//!
//! Rows new to the table (every change to their key in the batch was a source INSERT, the first
//! one included, so the key did not exist before) go by `COPY` instead: no conflict check and
//! no casts through arrays, PostgreSQL's fastest way in. A key that exists after all (a replay)
//! makes the COPY fail; the batch is then written again the ordinary way, and COPY rests for a
//! while, so a replay costs one failed attempt, not one per batch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use mysql_async::Value;
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use crate::error::{is_fenced, pg_retries, Backoff, Transient};
use crate::model::change::TxnId;
use crate::model::change::{Change, Op, RowKind};
use crate::model::history::Origin;
use crate::model::mark::Mark;
use crate::model::table::TableMeta;
use crate::ops::metrics::Metrics;
use crate::state::checkpoint::Checkpoints;
use crate::state::window::AckWindow;

mod grouped;

type Text = Option<String>;

/// What every worker of a pipeline shares.
#[derive(Clone)]
pub struct WorkerContext {
    pub pool: deadpool_postgres::Pool,
    pub window: Arc<AckWindow>,
    pub batch_size: usize,
    pub metrics: Metrics,
    pub checkpoints: Option<Arc<Checkpoints>>,
    /// Where workers record their last committed batch for the loss check.
    pub committed: Option<crate::state::checkpoint::Committed>,
    /// `consistency = "transaction"`: whole source transactions (see `grouped`).
    pub grouped: bool,
}

/// One apply worker: the changes of the keys routed to it, applied in arrival order.
///
/// Contract: changes of one key always come to the same worker (`Change::worker`) and are
/// applied in the order the reader sent them; a batch is collapsed to the last change per
/// row and written in **one PostgreSQL transaction together with this worker's checkpoint**;
/// only after that commit are its changes acknowledged to the [`AckWindow`], so the saved
/// position never passes an uncommitted change. Changes at or before the worker's checkpoint
/// at start (`applied`) were committed by an earlier run and are skipped, but only within the
/// same binlog sequence. Connection trouble is retried (the batch is idempotent); a refused row
/// stops the sync naming it.
pub struct Worker {
    id: usize,
    rx: mpsc::Receiver<Change>,
    pool: deadpool_postgres::Pool,
    window: Arc<AckWindow>,
    batch_size: usize,
    metrics: Metrics,
    checkpoints: Option<Arc<Checkpoints>>,
    /// This worker's checkpoint at start: changes at or before it are already committed.
    applied: Option<Mark>,
    skipped: u64,
    /// Batches left to write without COPY after one failed.
    copy_rest: u32,
    committed: Option<crate::state::checkpoint::Committed>,
    grouped: bool,
}

/// How many batches go without COPY after a COPY failed (a replay, or a value refused).
const COPY_REST: u32 = 100;

/// One statement's worth of rows: the changes behind them, and their values as PostgreSQL
/// will read them ([`Group::encode`]).
struct Group<'a> {
    meta: &'a Arc<TableMeta>,
    op: Op,
    /// One change per target row (the last of the batch for it), in binlog order.
    changes: Vec<&'a Change>,
    /// Every row's key was first and last written by a source INSERT in this batch: the rows
    /// are new to the table, unless this is a replay.
    fresh: bool,
    /// Text arrays, one `text[]` parameter per column: every column of an upsert, the key
    /// columns of a delete, and only the key columns when the rows go by COPY (Greenplum mode
    /// deletes those keys first; empty otherwise).
    columns: Vec<Vec<Text>>,
    /// The rows as COPY text (tab-separated fields, one line per row) when they go by COPY.
    copy: Option<bytes::Bytes>,
}

impl Group<'_> {
    /// Converts the rows for the statements that write them: COPY text when `copy` allows it
    /// for this group (see [`uses_copy`]), else column arrays. A value that cannot be
    /// converted stops the sync, naming the table, the key and the binlog position.
    fn encode(&mut self, copy: bool) -> Result<()> {
        let mut text = String::new();
        self.copy = None;
        let cols: Vec<usize> = if uses_copy(self, copy) {
            let mut out = Vec::with_capacity(self.changes.len() * self.meta.columns.len() * 16);
            for ch in &self.changes {
                for c in 0..ch.row.len() {
                    if c > 0 {
                        out.push(b'\t');
                    }
                    let some = field_text(ch, c, &mut text)?;
                    crate::sql::copy_field(&mut out, some.then_some(text.as_str()));
                }
                out.push(b'\n');
            }
            self.copy = Some(out.into());
            if self.meta.greenplum {
                self.meta.key.clone()
            } else {
                Vec::new()
            }
        } else if self.op == Op::Upsert {
            (0..self.meta.columns.len()).collect()
        } else {
            self.meta.key.clone()
        };
        self.columns = vec![Vec::with_capacity(self.changes.len()); cols.len()];
        for ch in &self.changes {
            for (out, &c) in self.columns.iter_mut().zip(&cols) {
                out.push(field_text(ch, c, &mut text)?.then(|| text.clone()));
            }
        }
        Ok(())
    }

    /// The key arrays (after [`Group::encode`]).
    fn keys(&self) -> Vec<&(dyn ToSql + Sync)> {
        let all = self.columns.iter().map(|c| c as &(dyn ToSql + Sync));
        if self.copy.is_some() || self.op == Op::Delete {
            all.collect()
        } else {
            let all: Vec<_> = all.collect();
            self.meta.key.iter().map(|&k| all[k]).collect()
        }
    }
}

/// Column `c` of `ch` as PostgreSQL text, into `out`; `false` for NULL.
fn field_text(ch: &Change, c: usize, out: &mut String) -> Result<bool> {
    let col = &ch.table.columns[c];
    let in_key = ch.table.key.contains(&c);
    crate::convert::write_pg_text_replacing(
        col,
        &ch.row[c],
        in_key,
        |e, n| {
            tracing::warn!(
                "MySQL table {} (key {}, binlog position {}): {e}{}",
                ch.table.source_name(),
                ch.describe_key(),
                ch.pos,
                if n == 10 {
                    "; further ones in this column are not logged"
                } else {
                    ""
                }
            )
        },
        out,
    )
    .map_err(|e| {
        anyhow!(
            "cannot convert a row of MySQL table {} (key {}, binlog position {}): {e}",
            ch.table.source_name(),
            ch.describe_key(),
            ch.pos
        )
    })
}

impl Worker {
    /// Worker `id`, reading `rx`, whose checkpoint at start is `applied`.
    pub fn new(
        id: usize,
        rx: mpsc::Receiver<Change>,
        cx: WorkerContext,
        applied: Option<Mark>,
    ) -> Worker {
        Worker {
            id,
            rx,
            pool: cx.pool,
            window: cx.window,
            batch_size: cx.batch_size,
            metrics: cx.metrics,
            checkpoints: cx.checkpoints,
            applied,
            skipped: 0,
            copy_rest: 0,
            committed: cx.committed,
            grouped: cx.grouped,
        }
    }

    pub async fn run(mut self) -> Result<()> {
        if self.grouped {
            return self.run_grouped().await;
        }
        let mut batch: Vec<Change> = Vec::with_capacity(self.batch_size);
        let mut client: Option<deadpool_postgres::Object> = None;
        loop {
            if self.rx.recv_many(&mut batch, self.batch_size).await == 0 {
                return Ok(());
            }
            if !self.skip_applied(&mut batch)? {
                continue;
            }
            let mut groups = collapse(&batch)?;
            let started = Instant::now();
            let last_mark = batch.last().expect("a batch is never empty").mark();
            self.write_with_retry(&mut client, &mut groups, &last_mark)
                .await?;
            if let Some(c) = &self.committed {
                c.lock().unwrap()[self.id] = Some(last_mark);
            }
            self.copy_rest = self.copy_rest.saturating_sub(1);
            drop(groups);
            self.window.ack(&txn_counts(&batch));
            record_applied(&self.metrics, &batch, started);
            batch.clear();
        }
    }

    /// A replay after a crash: what this worker already committed is acknowledged without
    /// being written again, so no row moves back to an older value. `false` when nothing of
    /// the batch is left to write.
    fn skip_applied(&mut self, batch: &mut Vec<Change>) -> Result<bool> {
        let Some(applied) = &self.applied else {
            return Ok(true);
        };
        // Their order means nothing: skipping by it could drop changes never applied.
        if let Some(c) = batch.iter().find(|c| !c.mark().same_sequence(applied)) {
            anyhow::bail!(
                "worker {}: a change of {} at {} is in another binlog sequence than this worker's \
                 checkpoint {applied}; the sync cannot tell whether it was applied, so it stops \
                 (nothing was skipped); delete this sync's checkpoint rows to replay without them",
                self.id,
                c.table.source_name(),
                c.pos
            );
        }
        let skip = batch.partition_point(|c| c.mark() <= *applied);
        if skip > 0 {
            self.window.ack(&txn_counts(&batch[..skip]));
            self.skipped += skip as u64;
            batch.drain(..skip);
        }
        if !batch.is_empty() {
            if self.skipped > 0 {
                tracing::info!(
                    worker = self.id,
                    "skipped {} change(s) already committed before the restart (checkpoint {applied})",
                    self.skipped
                );
            }
            self.applied = None;
        }
        Ok(!batch.is_empty())
    }

    /// Connection trouble is retried with backoff (the batch is idempotent); a value or
    /// statement PostgreSQL refuses is found row by row and reported.
    /// Fails (a [`Transient`] error: the pipeline restarts, and the restart rewinds to what
    /// PostgreSQL holds) when this worker's checkpoint in PostgreSQL is older than the last
    /// batch it committed. A failed read is left to the write that follows.
    async fn check_not_lost(&self, c: &deadpool_postgres::Object) -> Result<()> {
        let (Some(cp), Some(committed)) = (&self.checkpoints, &self.committed) else {
            return Ok(());
        };
        let Some(mine) = committed.lock().unwrap()[self.id].clone() else {
            return Ok(());
        };
        let Ok(theirs) = cp.worker_mark(c, self.id).await else {
            return Ok(());
        };
        if theirs
            .as_ref()
            .is_none_or(|t| t.same_sequence(&mine) && *t < mine)
        {
            return Err(Transient(format!(
                "PostgreSQL lost commits it had confirmed: worker {} had committed up to {mine}, PostgreSQL holds {}",
                self.id,
                theirs.map_or("nothing".into(), |t| t.to_string())
            ))
            .into());
        }
        Ok(())
    }

    async fn write_with_retry(
        &mut self,
        client: &mut Option<deadpool_postgres::Object>,
        groups: &mut [Group<'_>],
        last_mark: &Mark,
    ) -> Result<()> {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let mut refused = 0;
        // How the groups are encoded now: with COPY or without (None: not yet).
        let mut encoded: Option<bool> = None;
        loop {
            let c = match client {
                Some(c) if !c.is_closed() => c,
                _ => match self.pool.get().await {
                    Ok(c) => {
                        // A new connection: PostgreSQL may have restarted and lost what it
                        // confirmed. Check before writing over the evidence.
                        self.check_not_lost(&c).await?;
                        client.insert(c)
                    }
                    Err(e) => {
                        backoff
                            .wait(format!("worker {}: PostgreSQL unavailable ({e})", self.id))
                            .await;
                        continue;
                    }
                },
            };
            let mark = self.checkpoints.as_ref().map(|cp| {
                let origin = self.window.origin_of(&last_mark.file);
                (cp.as_ref(), self.id, last_mark, origin)
            });
            let copy = self.copy_rest == 0 && groups.iter().any(|g| uses_copy(g, true));
            if encoded != Some(copy) {
                encode(groups, copy)?;
                encoded = Some(copy);
            }
            match write_batch(c, groups, mark.as_ref()).await {
                Ok(()) => return Ok(()),
                // Another sync holds the lease now: this one must not commit anything more.
                Err(e) if is_fenced(&e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("worker {}: batch not committed", self.id)))
                }
                // The COPY met a key that exists (a replay) or a value it refuses: write the
                // batch the ordinary way, which decides what is wrong, if anything.
                Err(e) if copy && e.as_db_error().is_some() => {
                    tracing::info!(
                        worker = self.id,
                        "COPY met rows that exist (a replay) or a value it refuses ({}): writing the batch, \
                         and the next {COPY_REST}, with upserts",
                        db_message(&e)
                    );
                    self.copy_rest = COPY_REST;
                }
                // Deadlocks, serialization failures, a server shutting down or out of
                // connections: the batch is fine, the moment was not.
                Err(e) if e.as_db_error().is_some() && pg_retries(&e) => {
                    self.metrics.error();
                    *client = None;
                    backoff
                        .wait(format!(
                            "worker {}: PostgreSQL: {}",
                            self.id,
                            db_message(&e)
                        ))
                        .await;
                }
                // Refused (a constraint, a type): try a few times, then name the row and stop.
                Err(e) if e.as_db_error().is_some() => {
                    self.metrics.error();
                    refused += 1;
                    if refused >= REFUSED_ATTEMPTS {
                        return Err(pinpoint(c, groups, e).await);
                    }
                    backoff
                        .wait(format!(
                            "worker {}: PostgreSQL refused a batch ({}); attempt {refused} of {REFUSED_ATTEMPTS}",
                            self.id,
                            db_message(&e)
                        ))
                        .await;
                }
                Err(e) => {
                    self.metrics.error();
                    *client = None;
                    backoff
                        .wait(format!(
                            "worker {}: PostgreSQL connection error ({e})",
                            self.id
                        ))
                        .await;
                }
            }
        }
    }
}

/// How often a batch PostgreSQL refuses is tried before the sync stops on it.
const REFUSED_ATTEMPTS: u32 = 3;

/// Keeps the last change per target row, grouped by statement (not yet encoded: see
/// [`Group::encode`]). Rows are told apart by their key as PostgreSQL text, so two source
/// values PostgreSQL holds as one key are one row here too.
fn collapse(batch: &[Change]) -> Result<Vec<Group<'_>>> {
    // Per target row: the kind of its first change in the batch, and the index of its last.
    let mut last: HashMap<(&crate::model::rules::TargetName, RowKey), (RowKind, usize), _> =
        HashMap::with_capacity_and_hasher(batch.len(), foldhash::fast::RandomState::default());
    let mut text = String::new();
    for (i, ch) in batch.iter().enumerate() {
        let key = match int_key(ch) {
            Some(n) => RowKey::Int(n),
            None => RowKey::Text(
                ch.table
                    .key
                    .iter()
                    .map(|&k| Ok(field_text(ch, k, &mut text)?.then(|| text.clone())))
                    .collect::<Result<Vec<Text>>>()?,
            ),
        };
        last.entry((&ch.table.target, key))
            .and_modify(|e| e.1 = i)
            .or_insert((ch.kind, i));
    }
    let mut keep: Vec<(usize, bool)> = last
        .into_values()
        .map(|(first, i)| {
            (
                i,
                first == RowKind::Insert && batch[i].kind == RowKind::Insert,
            )
        })
        .collect();
    keep.sort_unstable();

    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: HashMap<(*const TableMeta, Op), usize> = HashMap::new();
    for (i, fresh) in keep {
        let ch = &batch[i];
        let gi = *index
            .entry((Arc::as_ptr(&ch.table), ch.op))
            .or_insert_with(|| {
                groups.push(Group {
                    meta: &ch.table,
                    op: ch.op,
                    changes: Vec::new(),
                    fresh: true,
                    columns: Vec::new(),
                    copy: None,
                });
                groups.len() - 1
            });
        let g = &mut groups[gi];
        g.changes.push(ch);
        g.fresh &= fresh;
    }
    // Deletes first: within a batch each row appears once, so order only matters for
    // other unique constraints, where freeing a value before reusing it is the safe order.
    groups.sort_by_key(|g| g.op == Op::Upsert);
    Ok(groups)
}

/// A target row's key as PostgreSQL will compare it: its text, or for a key of one integer
/// column the number itself (the text of an integer is its decimal digits, so the two tell
/// rows apart alike, and the number needs no allocation).
#[derive(PartialEq, Eq, Hash)]
enum RowKey {
    Int(i128),
    Text(Vec<Text>),
}

/// The key of `ch` as a number, when it is one integer column.
fn int_key(ch: &Change) -> Option<i128> {
    let [k] = ch.table.key[..] else {
        return None;
    };
    let crate::model::kind::Kind::Int { bits, unsigned } = ch.table.columns[k].kind else {
        return None;
    };
    match ch.row[k] {
        Value::Int(i) if unsigned && i < 0 => Some(crate::convert::unsigned_of(i, bits) as i128),
        Value::Int(i) => Some(i as i128),
        Value::UInt(u) => Some(u as i128),
        _ => None,
    }
}

/// Encodes every group for a write with or without COPY.
fn encode(groups: &mut [Group<'_>], copy: bool) -> Result<()> {
    groups.iter_mut().try_for_each(|g| g.encode(copy))
}

/// Whether a group is written by COPY (when COPY is on): new rows, or any upsert in Greenplum
/// mode, where the batch's keys are deleted first.
fn uses_copy(g: &Group<'_>, copy: bool) -> bool {
    copy && g.op == Op::Upsert && (g.fresh || g.meta.greenplum)
}

/// One transaction: the batch's statements and, when there is one, this worker's checkpoint.
async fn write_batch(
    client: &mut deadpool_postgres::Object,
    groups: &[Group<'_>],
    checkpoint: Option<&(&Checkpoints, usize, &Mark, Option<Origin>)>,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    write_groups(&tx, groups).await?;
    if let Some((cp, worker, mark, origin)) = checkpoint {
        cp.record(
            &tx,
            crate::state::checkpoint::Row::Worker(*worker),
            mark,
            *origin,
        )
        .await?;
    }
    tx.commit().await
}

/// The statements of `groups` (encoded) inside `tx`.
async fn write_groups(
    tx: &deadpool_postgres::Transaction<'_>,
    groups: &[Group<'_>],
) -> Result<(), tokio_postgres::Error> {
    for g in groups {
        if g.op == Op::Upsert && g.meta.greenplum {
            // Same transaction, so readers never see the rows missing.
            execute(tx, &g.meta.delete_sql, &g.keys()).await?;
        }
        let all: Vec<&(dyn ToSql + Sync)> =
            g.columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
        match (g.op, &g.copy) {
            (Op::Delete, _) => execute(tx, &g.meta.delete_sql, &all).await?,
            (Op::Upsert, Some(data)) => copy_in(tx, &g.meta.copy_sql, data.clone()).await?,
            (Op::Upsert, None) if g.meta.greenplum => execute(tx, &g.meta.insert_sql, &all).await?,
            (Op::Upsert, None) => execute(tx, &g.meta.upsert_sql, &all).await?,
        }
    }
    Ok(())
}

async fn execute(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_cached(sql).await?;
    tx.execute(&stmt, params).await?;
    Ok(())
}

async fn copy_in(
    tx: &deadpool_postgres::Transaction<'_>,
    sql: &str,
    data: bytes::Bytes,
) -> Result<(), tokio_postgres::Error> {
    use futures_util::SinkExt;
    let sink = tx.copy_in(sql).await?;
    futures_util::pin_mut!(sink);
    sink.send(data).await?;
    sink.finish().await?;
    Ok(())
}

/// PostgreSQL refused the batch: find the first change it refuses on its own and name it.
async fn pinpoint(
    client: &mut deadpool_postgres::Object,
    groups: &[Group<'_>],
    batch_err: tokio_postgres::Error,
) -> anyhow::Error {
    // Row by row in one transaction that is never committed (a savepoint per row): finding
    // the row writes nothing, since this sync may no longer hold the lease (nothing proves it
    // here) and the batch is replayed whole after the fix anyway.
    let mut tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(e) => {
            return anyhow!(
                "PostgreSQL refused a batch ({}); {e}",
                db_message(&batch_err)
            )
        }
    };
    for g in groups {
        for ch in &g.changes {
            let mut one = Group {
                meta: g.meta,
                op: g.op,
                changes: vec![*ch],
                fresh: false,
                columns: Vec::new(),
                copy: None,
            };
            if let Err(e) = one.encode(false) {
                return e;
            }
            let tried = async {
                let sp = tx.savepoint("mgs_row").await?;
                write_groups(&sp, std::slice::from_ref(&one)).await?;
                sp.commit().await
            }
            .await;
            if let Err(e) = tried {
                return anyhow!(
                    "PostgreSQL refused a change to {} (from MySQL {}, key {}, binlog position {}): {}; \
                     the saved position stays before this transaction: fix the target table or the row and restart",
                    g.meta.target,
                    g.meta.source_name(),
                    ch.describe_key(),
                    ch.pos,
                    db_message(&e)
                );
            }
        }
    }
    anyhow!(
        "PostgreSQL refused a batch but accepted each of its rows on its own: {}",
        db_message(&batch_err)
    )
}

fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s.push_str(&format!("; {d}"));
            }
            s
        }
        None => e.to_string(),
    }
}

/// Counts a committed batch in the metrics (rows per table and kind, the newest source time
/// for the lag, how long the write took).
fn record_applied(metrics: &Metrics, batch: &[Change], started: Instant) {
    let rows: Vec<(&str, RowKind)> = batch
        .iter()
        .map(|c| (c.table.name.as_str(), c.kind))
        .collect();
    let newest = batch.iter().map(|c| c.ts).max().unwrap_or(0);
    metrics.applied(&rows, newest as u64, started.elapsed());
}

/// Run-length counts of the batch's transactions, for the acknowledgement window.
fn txn_counts(batch: &[Change]) -> Vec<(TxnId, usize)> {
    let mut out: Vec<(TxnId, usize)> = Vec::new();
    for c in batch {
        match out.last_mut() {
            Some((t, n)) if *t == c.txn => *n += 1,
            _ => out.push((c.txn, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kind::Kind;
    use crate::model::position::Position;
    use crate::model::rules::TargetName;
    use crate::model::table::Column;
    use mysql_common::Value;

    fn table() -> Arc<TableMeta> {
        let col = |name: &str| {
            Column::new(
                name.into(),
                "int".into(),
                "int".into(),
                Kind::parse("int", "int", None).unwrap(),
                "integer".into(),
                crate::config::ZeroDate::Null,
            )
        };
        Arc::new(TableMeta {
            name: "s.t".into(),
            schema: "s".into(),
            table: "t".into(),
            target: TargetName {
                schema: "s".into(),
                table: "t".into(),
            },
            columns: vec![col("id"), col("v")],
            key: vec![0],
            greenplum: false,
            upsert_sql: String::new(),
            insert_sql: String::new(),
            copy_sql: String::new(),
            delete_sql: String::new(),
            truncate_sql: String::new(),
        })
    }

    fn change(t: &Arc<TableMeta>, kind: RowKind, id: i64, v: i64) -> Change {
        let op = match kind {
            RowKind::Delete | RowKind::KeyMove => Op::Delete,
            _ => Op::Upsert,
        };
        Change {
            table: t.clone(),
            op,
            kind,
            row: vec![Value::Int(id), Value::Int(v)],
            txn: 1,
            pos: Position::new("b.000001", 4),
            ts: 0,
            seq: 0,
        }
    }

    /// (op, fresh, keys) of each group, deletes first.
    fn shape(batch: &[Change]) -> Vec<(Op, bool, Vec<Option<String>>)> {
        collapse(batch)
            .unwrap()
            .into_iter()
            .map(|mut g| {
                g.encode(false).unwrap();
                (g.op, g.fresh, g.columns[0].clone())
            })
            .collect()
    }

    fn keys(k: &[i64]) -> Vec<Option<String>> {
        k.iter().map(|k| Some(k.to_string())).collect()
    }

    #[test]
    fn only_keys_first_and_last_inserted_in_the_batch_are_fresh() {
        use RowKind::*;
        let t = table();
        // Inserted (even deleted and inserted again in between): new to the table.
        let b = [
            change(&t, Insert, 1, 1),
            change(&t, Insert, 2, 1),
            change(&t, Delete, 2, 1),
            change(&t, Insert, 2, 2),
        ];
        assert_eq!(shape(&b), vec![(Op::Upsert, true, keys(&[1, 2]))]);
        // Deleted first: the key existed before the batch, so no COPY for its group.
        let b = [
            change(&t, Delete, 3, 1),
            change(&t, Insert, 3, 2),
            change(&t, Insert, 4, 1),
        ];
        assert_eq!(shape(&b), vec![(Op::Upsert, false, keys(&[3, 4]))]);
        // Updated last, or an update's new key: existed, or may have.
        let b = [change(&t, Insert, 5, 1), change(&t, Update, 5, 2)];
        assert_eq!(shape(&b), vec![(Op::Upsert, false, keys(&[5]))]);
        let b = [change(&t, KeyMove, 6, 1), change(&t, Update, 7, 1)];
        assert_eq!(
            shape(&b),
            vec![
                (Op::Delete, false, keys(&[6])),
                (Op::Upsert, false, keys(&[7]))
            ]
        );
    }
}
