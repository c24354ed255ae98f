//! The writer side of barriers ([`Barrier`]): changes to a whole target table that sit exactly
//! between the row changes around them. Today a TRUNCATE; schema changes will be others.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::error::Transient;
use crate::model::change::{Barrier, BarrierRequest};
use crate::model::mark::Mark;
use crate::model::position::Position;
use crate::model::table::TableMeta;
use crate::state::checkpoint::{Checkpoints, Committed};
use crate::state::window::AckWindow;

/// Applies the barriers the reader sends, one at a time, and answers each on its channel.
///
/// Contract: a barrier runs only once every change before it is committed (it waits for the
/// acknowledgement window to drain; the reader sends nothing after it meanwhile). It runs in
/// one PostgreSQL transaction together with every worker's checkpoint moved to its position,
/// so a crash leaves either both or neither, and a replay never applies it twice.
pub struct Barriers {
    pool: deadpool_postgres::Pool,
    window: Arc<AckWindow>,
    checkpoints: Option<(Arc<Checkpoints>, Committed)>,
    /// Everything at or before this mark was committed by every worker before this run began
    /// (the lowest checkpoint): a barrier there was applied already.
    floor: Option<Mark>,
}

impl Barriers {
    pub fn new(
        pool: deadpool_postgres::Pool,
        window: Arc<AckWindow>,
        checkpoints: Option<(Arc<Checkpoints>, Committed)>,
        floor: Option<Mark>,
    ) -> Self {
        Barriers {
            pool,
            window,
            checkpoints,
            floor,
        }
    }

    /// Serves requests until the reader drops its end.
    pub async fn run(self, mut requests: mpsc::Receiver<BarrierRequest>) {
        while let Some(req) = requests.recv().await {
            let outcome = match req.barrier {
                Barrier::Truncate { table, at } => self.truncate(&table, &at).await,
            };
            // The reader waits for the answer; if it is gone, so is the pipeline.
            let _ = req.applied.send(outcome);
        }
    }

    /// Empties `table`'s target once every change before `at` is committed.
    async fn truncate(&self, table: &TableMeta, at: &Position) -> Result<()> {
        let source = table.source_name();
        // Marked at the end of its event, before any change that follows it.
        let mark = Mark {
            file: at.file.clone(),
            pos: at.pos,
            seq: 0,
        };
        if self.floor.as_ref().is_some_and(|f| *f >= mark) {
            tracing::info!("TRUNCATE {source} at {at} was already applied (checkpoint): skipped");
            return Ok(());
        }
        self.window.drain().await;
        let mut client = self
            .pool
            .get()
            .await
            .context("connecting to PostgreSQL for TRUNCATE")?;
        if let Some((cp, committed)) = &self.checkpoints {
            // Writing every worker's checkpoint would erase the evidence of a loss.
            let mine = committed.lock().unwrap().clone();
            if let Some(loss) = cp.lost(&self.pool, &mine, None).await? {
                return Err(Transient(format!(
                    "PostgreSQL lost commits it had confirmed ({})",
                    loss.what
                ))
                .into());
            }
        }
        let done: Result<(), tokio_postgres::Error> = async {
            let tx = client.transaction().await?;
            // Durable: a target that loses commits must not lose this one unnoticed.
            tx.batch_execute("SET LOCAL synchronous_commit = on")
                .await?;
            tx.batch_execute(&table.truncate_sql).await?;
            // Every worker is past this point now: a replay must not empty the table again.
            if let Some((cp, _)) = &self.checkpoints {
                cp.record_all(&tx, &mark).await?;
            }
            tx.commit().await
        }
        .await;
        done.with_context(|| format!("TRUNCATE of {} (MySQL {source} at {at})", table.target))?;
        if let Some((_, committed)) = &self.checkpoints {
            // Counts as every worker's commit (see `Checkpoints::lost`).
            committed
                .lock()
                .unwrap()
                .iter_mut()
                .for_each(|m| *m = Some(mark.clone()));
        }
        tracing::info!("TRUNCATE {source} at {at}: emptied {}", table.target);
        Ok(())
    }
}
