//! The applier of `consistency = "transaction"`: whole source transactions, in source order,
//! several grouped into one PostgreSQL transaction (as GoldenGate's `GROUPTRANSOPS` does), so
//! a reader of PostgreSQL only ever sees the source's state after some source transaction.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::FutureExt;

use super::collapse::collapse;
use super::destination::Destination;
use super::encode::encode;
use super::{record_applied, txn_counts, Worker};
use crate::model::change::{Change, TxnId};
use crate::model::mark::Mark;

/// How long the applier waits for more of an open transaction before it looks again whether
/// the transaction's commit was read (a seal wakes it sooner).
const WAIT: Duration = Duration::from_millis(50);

/// Contract: a PostgreSQL transaction commits only at the end of a source transaction (its
/// commit event was read and every change of it written), together with the checkpoint at
/// its last change. Source transactions are taken until a batch's worth is there and then
/// committed in hand, by the same rule as [`super::keyed::Batches`]. A source transaction
/// larger than a batch is written in parts inside one PostgreSQL transaction, so memory stays
/// bounded; its changes are acknowledged early except the last one written, so the window has
/// room for it but the saved position cannot pass it before the commit. Such a transaction is
/// not in hand: a failure ends the run uncommitted and the pipeline replays from the
/// acknowledged position.
pub struct Transactions<D>(pub Worker<D>);

impl<D: Destination> Transactions<D> {
    pub async fn run(self) -> Result<()> {
        let mut w = self.0;
        let mut batch = Vec::with_capacity(w.batch_size);
        loop {
            // What arrived after the last cut is already here: it starts this transaction.
            if batch.is_empty() && w.rx.recv_many(&mut batch, w.batch_size).await == 0 {
                return Ok(());
            }
            if !w.skip_applied(&mut batch)? {
                continue;
            }
            let started = Instant::now();
            // Taken into this PostgreSQL transaction and not acknowledged yet.
            let mut pending: Vec<(TxnId, usize)> = Vec::new();
            let mut taken = 0usize;
            let mut last_mark: Option<Mark> = None;
            // Taken, not written yet: written at the commit, or in parts when one source
            // transaction outgrows a batch.
            let mut unwritten: Vec<Change> = Vec::new();
            // Part of this PostgreSQL transaction was written out: it is not in hand any more.
            let mut spilled = false;
            // The reader is gone: everything it sent is here.
            let mut closed = false;
            loop {
                // Enough for one PostgreSQL transaction: end it at the next transaction
                // boundary (a change of the next transaction means the one before it was
                // sealed: the reader seals at the commit event, before it reads on).
                let cut = cut_at(&batch, pending.last().map(|p| p.0), taken, w.batch_size);
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
                }
                if let Some(rest) = carry {
                    batch = rest;
                    break;
                }
                if unwritten.len() >= w.batch_size {
                    // One source transaction outgrows a batch: write it out in parts.
                    if !spilled {
                        w.begin_spilled().await?;
                        spilled = true;
                    }
                    w.write_part(&mut unwritten, started).await?;
                }
                let open = pending.last().map(|p| p.0).expect("something was taken");
                // Sealed first, then the queue: everything of a sealed transaction was sent
                // before its seal, so an empty queue after it means nothing of it is left.
                let sealed = w.window.is_sealed(open);
                if let Some(n) = w.rx.recv_many(&mut batch, w.batch_size).now_or_never() {
                    if n == 0 {
                        closed = true;
                        break;
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
                        w.window.ack(&[(*t, *n - 1)]);
                        *n = 1;
                    }
                }
                // More of it, or its commit event (a seal sends nothing down the queue).
                tokio::select! {
                    n = w.rx.recv_many(&mut batch, w.batch_size) => {
                        if n == 0 {
                            closed = true;
                            break;
                        }
                    }
                    _ = w.window.next_seal() => {}
                    _ = tokio::time::sleep(WAIT) => {}
                }
            }
            let open = pending.last().map(|p| p.0).expect("something was taken");
            if closed && !w.window.is_sealed(open) {
                // The run ends inside a source transaction: nothing of it is committed.
                w.dest.rollback().await;
                return Ok(());
            }
            let mark = last_mark.expect("something was taken");
            if spilled {
                w.write_part(&mut unwritten, started).await?;
                let origin = w.window.origin_of(&mark.file);
                if let Err(f) = w.dest.commit(&mark, origin).await {
                    return Err(w.not_in_hand(f, &mut []).await);
                }
            } else {
                let mut groups = collapse(&unwritten)?;
                w.commit_in_hand(&mut groups, &mark, !closed).await?;
                w.copy_rest = w.copy_rest.saturating_sub(1);
                drop(groups);
                record_applied(&w.metrics, &unwritten, started);
            }
            w.window.ack(&pending);
            if closed {
                return Ok(());
            }
        }
    }
}

impl<D: Destination> Worker<D> {
    /// Writes `part` (collapsed per row) inside the open transaction and empties it.
    async fn write_part(&mut self, part: &mut Vec<Change>, started: Instant) -> Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        let mut groups = collapse(part)?;
        encode(&mut groups, false)?;
        if let Err(f) = self.dest.write(&groups).await {
            return Err(self.not_in_hand(f, &mut groups).await);
        }
        drop(groups);
        record_applied(&self.metrics, part, started);
        part.clear();
        Ok(())
    }
}

/// Where the received changes are cut so that the PostgreSQL transaction ends at a source
/// transaction's end once it holds `limit` changes: the first transaction boundary at or after
/// the limit (`last`: the transaction of the last change written). `None`: no cut in `batch`.
fn cut_at(batch: &[Change], last: Option<TxnId>, written: usize, limit: usize) -> Option<usize> {
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
