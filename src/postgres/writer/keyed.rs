//! The applier of `consistency = "key"` (the default): batches of whatever the queue holds,
//! each collapsed per row and committed with the worker's checkpoint, rows new to the table by
//! COPY.

use std::time::Instant;

use anyhow::Result;

use super::collapse::collapse;
use super::destination::Destination;
use super::{record_applied, txn_counts, Worker};

/// Contract: the changes of a batch are committed in one PostgreSQL transaction with the
/// worker's checkpoint at the batch's last change, and acknowledged only after that commit.
/// A batch is always in hand until it commits, so every failure but a refusal, a loss or
/// the fence is retried in place.
pub struct Batches<D>(pub Worker<D>);

impl<D: Destination> Batches<D> {
    pub async fn run(self) -> Result<()> {
        let mut w = self.0;
        let mut batch = Vec::with_capacity(w.batch_size);
        loop {
            if w.rx.recv_many(&mut batch, w.batch_size).await == 0 {
                return Ok(());
            }
            if !w.skip_applied(&mut batch)? {
                continue;
            }
            let started = Instant::now();
            let mark = batch.last().expect("a batch is never empty").mark();
            let mut groups = collapse(&batch)?;
            w.commit_in_hand(&mut groups, &mark, true).await?;
            w.copy_rest = w.copy_rest.saturating_sub(1);
            drop(groups);
            w.window.ack(&txn_counts(&batch));
            record_applied(&w.metrics, &batch, started);
            batch.clear();
        }
    }
}
