//! Apply workers: each owns a bounded queue of changes (all changes of one key land on one
//! worker, in order) and writes what it has to PostgreSQL, one transaction per batch.
//!
//! - `collapse`: a batch collapsed to the last change per target row, grouped by statement
//!   (pure);
//! - `encode`: those rows as COPY text or `text[]` arrays (pure);
//! - `destination`: where they are written ([`Destination`]: the contract and the test seam;
//!   [`PgDestination`]: PostgreSQL);
//! - `apply`: the one rule for a failed write, and the search for the row PostgreSQL refuses;
//! - `keyed` and `grouped`: the two appliers, [`Batches`] for `consistency = "key"` and
//!   [`Transactions`] for `consistency = "transaction"`.
//!
//! Per table, one `DELETE … USING unnest` and one `INSERT … SELECT unnest … ON CONFLICT DO
//! UPDATE`: a round trip per table, not per row. Rows new to the table (every change to their
//! key in the batch was a source INSERT, the first one included, so the key did not exist
//! before) go by `COPY` instead: no conflict check and no casts through arrays, PostgreSQL's
//! fastest way in. A key that exists after all (a replay) makes the COPY fail; the batch is
//! then written again the ordinary way, and COPY rests for a while, so a replay costs one
//! failed attempt, not one per batch.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tokio::sync::mpsc;

use crate::config::Consistency;
use crate::model::change::{Change, RowKind, TxnId};
use crate::model::mark::Mark;
use crate::ops::metrics::Metrics;
use crate::state::checkpoint::Checkpoints;
use crate::window::AckWindow;

mod apply;
mod collapse;
mod destination;
mod encode;
mod grouped;
mod keyed;
#[cfg(test)]
mod memory;

pub use destination::{Destination, Failure, PgDestination};
pub use encode::Group;
pub use grouped::Transactions;
pub use keyed::Batches;

/// What every worker of a pipeline shares.
#[derive(Clone)]
pub struct WorkerContext {
    pub pool: deadpool_postgres::Pool,
    pub window: Arc<AckWindow>,
    pub batch_size: usize,
    pub metrics: Metrics,
    pub checkpoints: Option<Arc<Checkpoints>>,
    pub consistency: Consistency,
}

/// One apply worker: the changes of the keys routed to it, applied in arrival order, by the
/// applier its `consistency` names.
///
/// Contract: changes of one key always come to the same worker (`model::change::route`) and
/// are applied in the order the reader sent them; a batch is collapsed to the last change
/// per row and written in **one transaction of the [`Destination`] together with this
/// worker's checkpoint**; only after that commit are its changes acknowledged to the
/// [`AckWindow`], so the saved position never passes an uncommitted change. Changes at or
/// before the worker's checkpoint at start (`applied`) were committed by an earlier run and
/// are acknowledged without being written, but only within the same binlog sequence. A failed
/// write follows the one rule of `apply`.
pub struct Worker<D = PgDestination> {
    id: usize,
    rx: mpsc::Receiver<Change>,
    dest: D,
    window: Arc<AckWindow>,
    batch_size: usize,
    metrics: Metrics,
    consistency: Consistency,
    /// This worker's checkpoint at start: changes at or before it are already committed.
    applied: Option<Mark>,
    skipped: u64,
    /// Batches left to write without COPY after one failed.
    copy_rest: u32,
}

impl Worker<PgDestination> {
    /// Worker `id` writing to PostgreSQL, reading `rx`, whose checkpoint at start is `applied`.
    pub fn new(
        id: usize,
        rx: mpsc::Receiver<Change>,
        cx: WorkerContext,
        applied: Option<Mark>,
    ) -> Worker {
        let dest = PgDestination::new(id, cx.pool, cx.checkpoints);
        Worker::with_destination(
            id,
            rx,
            dest,
            &cx.window,
            cx.batch_size,
            cx.metrics,
            cx.consistency,
            applied,
        )
    }
}

impl<D: Destination> Worker<D> {
    #[allow(clippy::too_many_arguments)]
    pub fn with_destination(
        id: usize,
        rx: mpsc::Receiver<Change>,
        dest: D,
        window: &Arc<AckWindow>,
        batch_size: usize,
        metrics: Metrics,
        consistency: Consistency,
        applied: Option<Mark>,
    ) -> Worker<D> {
        Worker {
            id,
            rx,
            dest,
            window: window.clone(),
            batch_size,
            metrics,
            consistency,
            applied,
            skipped: 0,
            copy_rest: 0,
        }
    }

    /// Applies until the queue closes (`Ok`) or a failure the rule does not retry in place.
    pub async fn run(self) -> Result<()> {
        match self.consistency {
            Consistency::Key => Batches(self).run().await,
            Consistency::Transaction => Transactions(self).run().await,
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

/// Tables and changes for the writer's unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Arc;

    use mysql_common::Value;

    use crate::model::change::{Change, Op, RowKind};
    use crate::model::kind::Kind;
    use crate::model::name::TableName;
    use crate::model::position::Position;
    use crate::model::table::{Column, TableMeta};

    /// Table `s.<name>` (id int key, v int), mapped to `s.<name>`.
    pub fn table(name: &str) -> Arc<TableMeta> {
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
            name: format!("s.{name}"),
            source: TableName::new("s", name),
            target: TableName {
                schema: "s".into(),
                table: name.into(),
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

    /// A change of row (id, v) in transaction 1 at `b.000001:4`.
    pub fn change(t: &Arc<TableMeta>, kind: RowKind, id: i64, v: i64) -> Change {
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
}
