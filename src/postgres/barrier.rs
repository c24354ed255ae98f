//! The writer side of barriers ([`Barrier`]): changes to a whole target table that sit exactly
//! between the row changes around them: a TRUNCATE, a schema change.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use crate::model::change::{Barrier, BarrierRequest, SchemaStep, TargetStep};
use crate::model::mark::Mark;
use crate::model::position::Position;
use crate::model::table::TableMeta;
use crate::state::checkpoint::Checkpoints;
use crate::state::schema_history::SchemaHistory;
use crate::window::AckWindow;

/// Applies the barriers the reader sends, one at a time, and answers each on its channel.
///
/// Contract: a barrier runs only once every change before it is committed (it waits for the
/// acknowledgement window to drain; the reader sends nothing after it meanwhile). It runs in
/// one PostgreSQL transaction together with every worker's checkpoint moved to its position,
/// so a crash leaves either both or neither, and a replay never applies it twice.
pub struct Barriers {
    pool: deadpool_postgres::Pool,
    window: Arc<AckWindow>,
    checkpoints: Option<Arc<Checkpoints>>,
    /// Everything at or before this mark was committed by every worker before this run began
    /// (the lowest checkpoint): a barrier there was applied already.
    floor: Option<Mark>,
    /// Where schema changes record the tables' new definitions (with the checkpoint).
    history: Option<SchemaHistory>,
}

impl Barriers {
    pub fn new(
        pool: deadpool_postgres::Pool,
        window: Arc<AckWindow>,
        checkpoints: Option<Arc<Checkpoints>>,
        floor: Option<Mark>,
        history: Option<SchemaHistory>,
    ) -> Self {
        Barriers {
            pool,
            window,
            checkpoints,
            floor,
            history,
        }
    }

    /// Serves requests until the reader drops its end.
    pub async fn run(self, mut requests: mpsc::Receiver<BarrierRequest>) {
        while let Some(req) = requests.recv().await {
            let outcome = match req.barrier {
                Barrier::Truncate { table, at } => self.truncate(&table, &at).await,
                Barrier::Schema(step) => self.schema(&step).await,
            };
            // The reader waits for the answer; if it is gone, so is the pipeline.
            let _ = req.applied.send(outcome);
        }
    }

    /// Waits until every change before the barrier at `mark` is committed and returns a
    /// connection to apply it on; `None` when it was applied before this run (the checkpoint).
    async fn ready(&self, mark: &Mark, what: &str) -> Result<Option<deadpool_postgres::Object>> {
        if self.floor.as_ref().is_some_and(|f| f >= mark) {
            return Ok(None);
        }
        self.window.drain().await;
        let client = self
            .pool
            .get()
            .await
            .with_context(|| format!("connecting to PostgreSQL for {what}"))?;
        if let Some(cp) = &self.checkpoints {
            // Writing every worker's checkpoint would erase the evidence of a loss.
            if let Some(loss) = cp.lost(&client).await? {
                return Err(loss.into_error());
            }
        }
        Ok(Some(client))
    }

    /// Empties `table`'s target once every change before `at` is committed.
    async fn truncate(&self, table: &TableMeta, at: &Position) -> Result<()> {
        let source = table.source_name();
        // The end of its event, before any change that follows it.
        let mark = Mark::at(at);
        let Some(mut client) = self.ready(&mark, "TRUNCATE").await? else {
            tracing::info!("TRUNCATE {source} at {at} was already applied (checkpoint): skipped");
            return Ok(());
        };
        let done: Result<(), tokio_postgres::Error> = async {
            let tx = client.transaction().await?;
            // Durable: a target that loses commits must not lose this one unnoticed.
            tx.batch_execute("SET LOCAL synchronous_commit = on")
                .await?;
            tx.batch_execute(&table.truncate_sql).await?;
            // Every worker is past this point now: a replay must not empty the table again.
            if let Some(cp) = &self.checkpoints {
                cp.record_all(&tx, &mark, self.window.origin_of(&mark.file))
                    .await?;
            }
            tx.commit().await
        }
        .await;
        done.with_context(|| format!("TRUNCATE of {} (MySQL {source} at {at})", table.target))?;
        self.committed_all(&mark);
        tracing::info!("TRUNCATE {source} at {at}: emptied {}", table.target);
        Ok(())
    }

    /// Applies a schema change once every change before it is committed: its target
    /// statements, the tables' new definitions and every worker's checkpoint in one
    /// transaction (PostgreSQL's DDL is transactional), so a crash leaves all or nothing.
    async fn schema(&self, step: &SchemaStep) -> Result<()> {
        let at = &step.at;
        let mark = Mark::at(at);
        let Some(mut client) = self.ready(&mark, "a schema change").await? else {
            tracing::info!("schema change at {at} was already applied (checkpoint): skipped");
            return Ok(());
        };
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .await?;
        for (i, t) in step.tables.iter().enumerate() {
            let name = t.source.to_string();
            // The statement's tables in order (a DROP then a CREATE of one name).
            let at_i = Mark {
                seq: i as u32,
                ..mark.clone()
            };
            for s in &t.target {
                match s {
                    TargetStep::Exec { sql, param } => {
                        let done = match param {
                            Some(p) => tx.execute(sql.as_str(), &[p]).await.map(|_| ()),
                            None => tx.batch_execute(sql).await,
                        };
                        done.with_context(|| {
                            format!(
                                "schema change of MySQL {name} at {at}: PostgreSQL refused `{sql}`; \
                                 change the target by hand and set ddl = \"ignore\" for the table, or run \
                                 `mysql-gp-sync init --tables {name}` with the sync stopped"
                            )
                        })?;
                    }
                    TargetStep::DropPrimaryKey { table } => {
                        let name: Option<String> = tx
                            .query_opt(
                                "SELECT conname::text FROM pg_constraint \
                                 WHERE conrelid = $1::text::regclass AND contype = 'p'",
                                &[table],
                            )
                            .await?
                            .map(|r| r.get(0));
                        if let Some(n) = name {
                            tx.batch_execute(&format!(
                                "ALTER TABLE {table} DROP CONSTRAINT {}",
                                crate::sql::quote_ident(&n)
                            ))
                            .await?;
                        }
                    }
                    TargetStep::RequireEmpty { sql, why } => {
                        let rows: bool = tx.query_one(sql.as_str(), &[]).await?.get(0);
                        if rows {
                            anyhow::bail!(
                                "schema change of MySQL {name} at {at}: {why}, and its target holds rows. \
                                 With the sync stopped, run `mysql-gp-sync init --tables {name}` (reloads \
                                 that table at a new position; the sync skips its changes before it, this \
                                 statement included), or set ddl = \"ignore\" for it and fill the column by hand"
                            );
                        }
                    }
                }
            }
            if let Some(h) = &self.history {
                h.record(
                    &tx,
                    &t.source,
                    &at_i,
                    t.after.as_ref().filter(|_| t.renamed_to.is_none()),
                    &step.statement,
                )
                .await?;
                if let Some(to) = &t.renamed_to {
                    h.record(&tx, to, &at_i, t.after.as_ref(), &step.statement)
                        .await?;
                }
            }
        }
        if let Some(cp) = &self.checkpoints {
            cp.record_all(&tx, &mark, self.window.origin_of(&mark.file))
                .await?;
        }
        tx.commit()
            .await
            .with_context(|| format!("committing the schema change at {at}"))?;
        self.committed_all(&mark);
        Ok(())
    }

    /// A barrier committed every worker's checkpoint at `mark`: it counts as every worker's
    /// commit (see `Checkpoints::lost`).
    fn committed_all(&self, mark: &Mark) {
        if let Some(cp) = &self.checkpoints {
            cp.note_commit_all(mark);
        }
    }
}
