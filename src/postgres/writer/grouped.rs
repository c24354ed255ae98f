//! The applier of `consistency = "transaction"`: whole source transactions, in source order,
//! several grouped into one PostgreSQL transaction (as GoldenGate's `GROUPTRANSOPS` does), so
//! a reader of PostgreSQL only ever sees the source's state after some source transaction.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use futures_util::FutureExt;

use super::{collapse, db_message, encode, record_applied, txn_counts, Worker};
use crate::error::{is_fenced, pg_retries, Transient};
use crate::model::change::TxnId;
use crate::model::mark::Mark;
use crate::state::checkpoint::Row;

/// How long the applier waits for more of an open transaction before it looks again whether
/// the transaction's commit was read (a seal wakes it sooner).
const WAIT: Duration = Duration::from_millis(50);

impl Worker {
    /// Contract: a PostgreSQL transaction commits only at the end of a source transaction
    /// (its commit event was read and every change of it written), together with the
    /// checkpoint at its last change. A transaction larger than a batch is written in batches
    /// inside one PostgreSQL transaction, so memory stays bounded; its changes are
    /// acknowledged early except the last one written, so the window has room for it but the
    /// saved position cannot pass it before the commit. Any failure ends the run uncommitted
    /// and the pipeline replays from the acknowledged position.
    pub(super) async fn run_grouped(mut self) -> Result<()> {
        let mut batch = Vec::with_capacity(self.batch_size);
        loop {
            // What arrived after the last cut is already here: it starts this transaction.
            if batch.is_empty() && self.rx.recv_many(&mut batch, self.batch_size).await == 0 {
                return Ok(());
            }
            if !self.skip_applied(&mut batch)? {
                continue;
            }
            let mut client = match self.pool.get().await {
                Ok(c) => c,
                Err(e) => {
                    return Err(Transient(format!(
                        "worker {}: PostgreSQL unavailable ({e})",
                        self.id
                    ))
                    .into())
                }
            };
            self.check_not_lost(&client).await?;
            let started = Instant::now();
            let tx = client.transaction().await.map_err(|e| self.failed(e))?;
            // Taken into this PostgreSQL transaction and not acknowledged yet.
            let mut pending: Vec<(TxnId, usize)> = Vec::new();
            let mut taken = 0usize;
            let mut last_mark: Option<Mark> = None;
            // Taken, not written yet: written when a batch's worth is there, or at the commit,
            // so a group of small transactions costs one statement per table, not one per read.
            let mut unwritten: Vec<crate::model::change::Change> = Vec::new();
            loop {
                // Enough for one PostgreSQL transaction: end it at the next transaction
                // boundary (a change of the next transaction means the one before it was
                // sealed: the reader seals at the commit event, before it reads on).
                let cut = cut_at(&batch, pending.last().map(|p| p.0), taken, self.batch_size);
                let carry = cut.map(|i| batch.split_off(i));
                if !batch.is_empty() {
                    taken += batch.len();
                    last_mark = batch.last().map(|c| c.mark());
                    for (t, n) in txn_counts(&batch) {
                        match pending.last_mut() {
                            Some((p, m)) if *p == t => *m += n,
                            _ => pending.push((t, n)),
                        }
                    }
                    unwritten.append(&mut batch);
                    if unwritten.len() >= self.batch_size {
                        self.write_part(&tx, &mut unwritten, started).await?;
                    }
                }
                if let Some(rest) = carry {
                    batch = rest;
                    break;
                }
                let open = pending.last().map(|p| p.0).expect("something was taken");
                // Sealed first, then the queue: everything of a sealed transaction was sent
                // before its seal, so an empty queue after it means nothing of it is left.
                let sealed = self.window.is_sealed(open);
                if let Some(n) = self
                    .rx
                    .recv_many(&mut batch, self.batch_size)
                    .now_or_never()
                {
                    if n == 0 {
                        return Ok(()); // the run ends: nothing of this is committed
                    }
                    continue;
                }
                if sealed {
                    break;
                }
                // A transaction still being read: room in the window for more of it, but
                // not for the saved position to pass it.
                if let Some((t, n)) = pending.last_mut() {
                    if *n > 1 {
                        self.window.ack(&[(*t, *n - 1)]);
                        *n = 1;
                    }
                }
                // More of it, or its commit event (a seal sends nothing down the queue).
                tokio::select! {
                    n = self.rx.recv_many(&mut batch, self.batch_size) => {
                        if n == 0 {
                            return Ok(()); // the run ends: nothing of this is committed
                        }
                    }
                    _ = self.window.next_seal() => {}
                    _ = tokio::time::sleep(WAIT) => {}
                }
            }
            self.write_part(&tx, &mut unwritten, started).await?;
            let mark = last_mark.expect("something was taken");
            if let Some(cp) = &self.checkpoints {
                cp.record(
                    &tx,
                    Row::Worker(self.id),
                    &mark,
                    self.window.origin_of(&mark.file),
                )
                .await
                .map_err(|e| self.failed(e))?;
            }
            tx.commit().await.map_err(|e| self.failed(e))?;
            if let Some(c) = &self.committed {
                c.lock().unwrap()[self.id] = Some(mark);
            }
            self.window.ack(&pending);
        }
    }

    /// Writes `part` (collapsed per row) inside `tx` and empties it.
    async fn write_part(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        part: &mut Vec<crate::model::change::Change>,
        started: Instant,
    ) -> Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        let mut groups = collapse(part)?;
        encode(&mut groups, false)?;
        super::write_groups(tx, &groups)
            .await
            .map_err(|e| self.failed(e))?;
        drop(groups);
        record_applied(&self.metrics, part, started);
        part.clear();
        Ok(())
    }

    /// A PostgreSQL error of the grouped applier: fenced and refused errors end the sync with
    /// their message; connection trouble and retryable states restart the run.
    fn failed(&self, e: tokio_postgres::Error) -> anyhow::Error {
        if is_fenced(&e) {
            return anyhow::Error::new(e).context(format!("worker {}: not committed", self.id));
        }
        match e.as_db_error() {
            Some(_) if !pg_retries(&e) => anyhow!(
                "worker {}: PostgreSQL refused a group of source transactions ({}); nothing of it was committed",
                self.id,
                db_message(&e)
            ),
            _ => Transient(format!("worker {}: PostgreSQL: {e}", self.id)).into(),
        }
    }
}

/// Where the received changes are cut so that the PostgreSQL transaction ends at a source
/// transaction's end once it holds `limit` changes: the first transaction boundary at or after
/// the limit (`last`: the transaction of the last change written). `None`: no cut in `batch`.
fn cut_at(
    batch: &[crate::model::change::Change],
    last: Option<TxnId>,
    written: usize,
    limit: usize,
) -> Option<usize> {
    cut_in(batch.iter().map(|c| c.txn), last, written, limit)
}

/// [`cut_at`] on the changes' transaction ids.
fn cut_in(
    txns: impl Iterator<Item = TxnId>,
    last: Option<TxnId>,
    written: usize,
    limit: usize,
) -> Option<usize> {
    let mut prev = last;
    for (i, t) in txns.enumerate() {
        if prev.is_some_and(|p| p != t) && written + i >= limit {
            return Some(i);
        }
        prev = Some(t);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_only_at_a_transaction_boundary_once_the_limit_is_reached() {
        let cut = |ids: &[TxnId], last: Option<TxnId>, written: usize, limit: usize| {
            cut_in(ids.iter().copied(), last, written, limit)
        };
        assert_eq!(cut(&[1, 1, 2, 2, 3], None, 0, 3), Some(4));
        assert_eq!(cut(&[1, 1, 2, 2, 3], None, 0, 10), None);
        // Already full: the next transaction starts the next PostgreSQL transaction.
        assert_eq!(cut(&[5, 5], Some(4), 10, 3), Some(0));
        // The open transaction goes on whatever the size.
        assert_eq!(cut(&[4, 4, 4], Some(4), 10, 3), None);
    }
}
