//! The TRUNCATE barrier: a configured table's target is emptied once every change before the
//! TRUNCATE is committed, with every worker's checkpoint moved past it in the same transaction.
//! This is the one place the reader writes to PostgreSQL itself; it belongs on the writer
//! side (the schema-change work will make it a message), see docs/architecture.md.

use anyhow::{Context, Result};

use crate::error::Transient;
use crate::model::mark::Mark;
use crate::model::position::Position;
use crate::source::reader::Reader;

impl Reader {
    /// TRUNCATE empties the target once every earlier change is committed (a barrier).
    pub(super) async fn truncate(
        &mut self,
        schema: &str,
        table: &str,
        at: &Position,
    ) -> Result<()> {
        let Some(meta) = self.meta(schema, table).await? else {
            return Ok(());
        };
        if self.reloads.in_copy(meta.source_name(), at) {
            return Ok(()); // the table was reloaded after it
        }
        if self.target_sources.get(&meta.target).map_or(1, |s| s.len()) > 1 {
            tracing::warn!(
                "TRUNCATE of {schema}.{table} at {at} is not applied: its target {} also holds other source tables' rows; \
                 delete that table's rows from {} by hand if needed",
                meta.target,
                meta.target
            );
            return Ok(());
        }
        // Marked at the end of its event, before any change that follows it.
        let mark = Mark {
            file: at.file.clone(),
            pos: at.pos,
            seq: 0,
        };
        if self.truncate_floor.as_ref().is_some_and(|f| *f >= mark) {
            tracing::info!(
                "TRUNCATE {schema}.{table} at {at} was already applied (checkpoint): skipped"
            );
            return Ok(());
        }
        self.window.drain().await;
        let mut client = self
            .pg
            .get()
            .await
            .context("connecting to PostgreSQL for TRUNCATE")?;
        if let (Some(cp), Some(committed)) = (&self.checkpoints, &self.committed) {
            // Writing every worker's checkpoint would erase the evidence of a loss.
            let mine = committed.lock().unwrap().clone();
            if let Some(loss) = cp.lost(&self.pg, &mine, None).await? {
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
            tx.batch_execute(&meta.truncate_sql).await?;
            // Every worker is past this point now: a replay must not empty the table again.
            if let Some(cp) = &self.checkpoints {
                cp.record_all(&tx, &mark).await?;
            }
            tx.commit().await
        }
        .await;
        done.with_context(|| {
            format!(
                "TRUNCATE of {} (MySQL {schema}.{table} at {at})",
                meta.target
            )
        })?;
        if let Some(committed) = &self.committed {
            committed
                .lock()
                .unwrap()
                .iter_mut()
                .for_each(|m| *m = Some(mark.clone()));
        }
        tracing::info!("TRUNCATE {schema}.{table} at {at}: emptied {}", meta.target);
        Ok(())
    }
}
