//! The reader's QUERY events (BEGIN, COMMIT, XA, TRUNCATE, DDL, statements) and the XA
//! transactions they open and close.

use anyhow::{bail, Result};

use crate::error::Transient;
use crate::model::change::{Barrier, BarrierRequest};
use crate::model::position::Position;
use crate::mysql::reader::stream::StreamState;
use crate::mysql::reader::Reader;
use crate::mysql::statement::{classify, Statement};

impl Reader {
    pub(super) async fn on_query(
        &mut self,
        st: &mut StreamState,
        schema: &str,
        query: &str,
        log_pos: u64,
    ) -> Result<()> {
        let at = Position::new(st.file.clone(), log_pos);
        let statement = classify(schema, query);
        let ends = matches!(
            statement,
            Statement::Commit | Statement::XaCommit(_) | Statement::XaRollback(_)
        );
        match statement {
            Statement::Begin => {
                st.in_begin = true;
                return Ok(());
            }
            Statement::XaStart => {
                self.xa_start(st);
                return Ok(());
            }
            // The transaction goes on to its XA PREPARE.
            Statement::XaEnd => return Ok(()),
            Statement::XaCommit(xid) => self.xa_outcome(st, &xid, true, log_pos).await?,
            Statement::XaRollback(xid) => self.xa_outcome(st, &xid, false, log_pos).await?,
            Statement::Commit => {}
            Statement::Truncate(t) if self.loader.rules().is_configured(&t.schema, &t.table) => {
                self.truncate(&t.schema, &t.table, &at).await?;
            }
            Statement::Ddl(t) => {
                self.on_ddl(st, schema, query, &at, (&t.schema, &t.table))
                    .await?;
                // MySQL logs CREATE TABLE … SELECT as `CREATE TABLE … START TRANSACTION`, its
                // rows and an XID, one transaction: its GTID counts at the XID.
                if query
                    .trim_end()
                    .to_ascii_uppercase()
                    .ends_with("START TRANSACTION")
                {
                    st.in_begin = true;
                }
            }
            Statement::Dml(t)
                if self.loader.rules().is_configured(&t.schema, &t.table)
                    && !self
                        .reloads
                        .in_copy(&format!("{}.{}", t.schema, t.table), &at) =>
            {
                bail!(
                    "the binlog at {at} holds a statement, not rows, for configured table {}.{} ({:?}): \
                     the sync needs binlog_format=ROW for every session; set it globally and make sure \
                     no client sets binlog_format=STATEMENT or MIXED. Then, with the sync stopped, run \
                     `mysql-gp-sync init --tables {}.{}`: it reloads that table at a new position and the \
                     sync skips its changes before it, this statement included; the other tables keep \
                     their position",
                    t.schema,
                    t.table,
                    query,
                    t.schema,
                    t.table
                )
            }
            _ => {}
        }
        if st.in_begin && !ends && !query.trim().eq_ignore_ascii_case("ROLLBACK") {
            self.resume_point(st, log_pos, None);
        } else {
            self.end_txn(st, log_pos);
        }
        Ok(())
    }

    /// A TRUNCATE of a configured table: a barrier for the writer side, unless the table was
    /// reloaded after it or its target also holds other source tables' rows.
    async fn truncate(&mut self, schema: &str, table: &str, at: &Position) -> Result<()> {
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
        let (applied, outcome) = tokio::sync::oneshot::channel();
        let barrier = Barrier::Truncate {
            table: meta,
            at: at.clone(),
        };
        let sent = self
            .out
            .barriers
            .send(BarrierRequest { barrier, applied })
            .await;
        match (sent, outcome.await) {
            (Ok(()), Ok(result)) => result,
            // The writer side is gone: the pipeline is stopping (its own error says why).
            _ => Err(Transient(format!(
                "the writer side stopped before the TRUNCATE at {at}"
            ))
            .into()),
        }
    }

    /// An XA transaction begins: its changes are held back until its outcome is read.
    pub(super) fn xa_start(&self, st: &mut StreamState) {
        st.xa = Some(Vec::new());
        if st.txn.is_none() {
            st.txn = Some(self.out.window.begin());
        }
    }

    /// The outcome of prepared XA transaction `xid`, read in the event ending at `log_pos`.
    /// Committed: its changes are applied now, marked at this event (so that they order after
    /// everything read before, as they are applied). Rolled back: dropped. Unknown: it was
    /// prepared before this run's start position, which the saved position passes only once
    /// the outcome was applied.
    async fn xa_outcome(
        &self,
        st: &mut StreamState,
        xid: &str,
        commit: bool,
        log_pos: u64,
    ) -> Result<()> {
        let Some(i) = st
            .prepared
            .iter()
            .position(|p| crate::mysql::statement::same_xid(&p.xid, xid))
        else {
            tracing::debug!(
                "XA {} {xid} at {}:{log_pos}: prepared before this run's start, already applied",
                if commit { "COMMIT" } else { "ROLLBACK" },
                st.file
            );
            return Ok(());
        };
        let p = st.prepared.remove(i);
        if commit {
            let mut changes = p.changes;
            for (n, c) in changes.iter_mut().enumerate() {
                c.pos = Position::new(st.file.clone(), log_pos);
                c.seq = n as u32 + 1;
            }
            self.dispatch(p.hold, changes).await?;
        } else if !p.changes.is_empty() {
            tracing::info!(
                "XA ROLLBACK {xid} at {}:{log_pos}: {} prepared change(s) dropped",
                st.file,
                p.changes.len()
            );
        }
        self.out.window.seal(p.hold, p.end, p.gtid);
        Ok(())
    }
}
