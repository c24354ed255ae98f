//! Where a worker's batches go: the contract ([`Destination`]), what a failed write means
//! ([`Failure`]), and PostgreSQL's side of it ([`PgDestination`]). The appliers (`keyed`,
//! `grouped`) speak only to the trait, so unit tests give them a destination in memory.

use std::future::Future;
use std::sync::Arc;

use futures_util::SinkExt;
use tokio_postgres::types::ToSql;

use super::encode::Group;
use crate::error::{is_fenced, pg_retries};
use crate::model::change::Op;
use crate::model::history::Origin;
use crate::model::mark::Mark;
use crate::state::checkpoint::{Checkpoints, Row};

/// Why a write did not commit, decided once where the error is understood; what a worker
/// does about each is the one rule in `apply`.
#[derive(Debug)]
pub enum Failure {
    /// No connection, a connection that broke, or a moment PostgreSQL says to try again
    /// (a deadlock, a serialization failure, a server shutting down or out of connections):
    /// the write was fine, the moment was not.
    Unavailable(String),
    /// PostgreSQL refused a statement (a constraint, a type, a value): the same write fails
    /// again until something changes.
    Refused(String),
    /// Another sync holds the lease: nothing may commit from this process any more.
    Fenced(anyhow::Error),
    /// A new connection found that PostgreSQL lost commits it had confirmed.
    Lost(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unavailable(m) => write!(f, "PostgreSQL unavailable: {m}"),
            Failure::Refused(m) => write!(f, "PostgreSQL refused it: {m}"),
            Failure::Fenced(e) => write!(f, "{e:#}"),
            Failure::Lost(m) => write!(f, "PostgreSQL lost commits it had confirmed ({m})"),
        }
    }
}

/// Where one worker writes.
///
/// Contract: `begin` … `commit` is one transaction: the groups written in it and this
/// worker's checkpoint at the commit's mark are durable together or not at all; `rollback`,
/// a failure or dropping the destination leaves nothing of an uncommitted transaction.
/// `begin` on a new connection first checks that the target still holds every commit this
/// process was told of (see [`Checkpoints::lost`]): writing first would erase the evidence.
pub trait Destination: Send {
    /// Opens a transaction (connecting first when there is no live connection).
    fn begin(&mut self) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Writes encoded groups inside the open transaction.
    fn write(&mut self, groups: &[Group<'_>]) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Writes one group inside the open transaction and undoes it whatever happens (a
    /// savepoint): whether the destination refuses it on its own.
    fn try_alone(&mut self, group: &Group<'_>) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Commits the open transaction together with this worker's checkpoint at `mark` (in a
    /// binlog file of `origin`, when known).
    fn commit(
        &mut self,
        mark: &Mark,
        origin: Option<Origin>,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Ends the open transaction, if any, without committing anything of it.
    fn rollback(&mut self) -> impl Future<Output = ()> + Send;
}

/// A worker's PostgreSQL connection, taken from the pool and kept while it works.
///
/// Transactions are plain `BEGIN` / `COMMIT` on the kept connection (a borrowed
/// `tokio_postgres::Transaction` cannot live in the struct beside its connection); a
/// destination dropped inside a transaction (the pipeline aborting its workers) closes that
/// connection instead of returning it to the pool mid-transaction.
pub struct PgDestination {
    worker: usize,
    pool: deadpool_postgres::Pool,
    checkpoints: Option<Arc<Checkpoints>>,
    client: Option<deadpool_postgres::Object>,
    open: bool,
}

impl PgDestination {
    pub fn new(
        worker: usize,
        pool: deadpool_postgres::Pool,
        checkpoints: Option<Arc<Checkpoints>>,
    ) -> PgDestination {
        PgDestination {
            worker,
            pool,
            checkpoints,
            client: None,
            open: false,
        }
    }

    /// What a PostgreSQL error means for the write; a connection that may be broken is let go.
    fn failed(&mut self, e: tokio_postgres::Error) -> Failure {
        if is_fenced(&e) {
            return Failure::Fenced(anyhow::Error::new(e));
        }
        match e.as_db_error() {
            Some(_) if !pg_retries(&e) => Failure::Refused(db_message(&e)),
            Some(_) => {
                self.drop_client();
                Failure::Unavailable(db_message(&e))
            }
            None => {
                self.drop_client();
                Failure::Unavailable(e.to_string())
            }
        }
    }

    /// Lets the connection go; one inside a transaction is closed, not pooled.
    fn drop_client(&mut self) {
        if let Some(c) = self.client.take() {
            if self.open {
                drop(deadpool_postgres::Object::take(c));
            }
        }
        self.open = false;
    }

    fn client(&self) -> &deadpool_postgres::Object {
        self.client.as_ref().expect("begin gave a connection")
    }

    async fn write_groups(&self, groups: &[Group<'_>]) -> Result<(), tokio_postgres::Error> {
        let c = self.client();
        for g in groups {
            if g.op == Op::Upsert && g.meta.greenplum {
                // Same transaction, so readers never see the rows missing.
                execute(c, &g.meta.delete_sql, &g.keys()).await?;
            }
            match (g.op, &g.copy) {
                (Op::Delete, _) => execute(c, &g.meta.delete_sql, &g.all()).await?,
                (Op::Upsert, Some(data)) => copy_in(c, &g.meta.copy_sql, data.clone()).await?,
                (Op::Upsert, None) if g.meta.greenplum => {
                    execute(c, &g.meta.insert_sql, &g.all()).await?
                }
                (Op::Upsert, None) => execute(c, &g.meta.upsert_sql, &g.all()).await?,
            }
        }
        Ok(())
    }
}

impl Drop for PgDestination {
    fn drop(&mut self) {
        self.drop_client();
    }
}

impl Destination for PgDestination {
    async fn begin(&mut self) -> Result<(), Failure> {
        if self.open {
            self.rollback().await;
        }
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            let c = self
                .pool
                .get()
                .await
                .map_err(|e| Failure::Unavailable(e.to_string()))?;
            // PostgreSQL may have restarted and lost what it confirmed. A failed read is
            // left to the write that follows.
            if let Some(cp) = &self.checkpoints {
                if let Ok(Some(loss)) = cp.lost(&c).await {
                    return Err(Failure::Lost(loss.what));
                }
            }
            self.client = Some(c);
        }
        // Open before the BEGIN is sent: a worker aborted while it is in flight must not give
        // the connection back to the pool with a transaction about to start on it.
        self.open = true;
        match self.client().batch_execute("BEGIN").await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn write(&mut self, groups: &[Group<'_>]) -> Result<(), Failure> {
        match self.write_groups(groups).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn try_alone(&mut self, group: &Group<'_>) -> Result<(), Failure> {
        let c = self.client();
        let tried = async {
            c.batch_execute("SAVEPOINT mgs_row").await?;
            self.write_groups(std::slice::from_ref(group)).await
        }
        .await;
        let undone = c.batch_execute("ROLLBACK TO SAVEPOINT mgs_row").await;
        match (tried, undone) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(self.failed(e)),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    async fn commit(&mut self, mark: &Mark, origin: Option<Origin>) -> Result<(), Failure> {
        let done = async {
            let c = self.client();
            if let Some(cp) = &self.checkpoints {
                cp.record(c, Row::Worker(self.worker), mark, origin).await?;
            }
            c.batch_execute("COMMIT").await
        }
        .await;
        match done {
            Ok(()) => {
                self.open = false;
                if let Some(cp) = &self.checkpoints {
                    cp.note_commit(self.worker, mark);
                }
                Ok(())
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn rollback(&mut self) {
        if !self.open {
            return;
        }
        if let Some(c) = &self.client {
            if c.batch_execute("ROLLBACK").await.is_ok() {
                self.open = false;
                return;
            }
        }
        self.drop_client();
    }
}

async fn execute(
    c: &deadpool_postgres::Object,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), tokio_postgres::Error> {
    let stmt = c.prepare_cached(sql).await?;
    c.execute(&stmt, params).await?;
    Ok(())
}

async fn copy_in(
    c: &deadpool_postgres::Object,
    sql: &str,
    data: bytes::Bytes,
) -> Result<(), tokio_postgres::Error> {
    let sink = c.copy_in(sql).await?;
    futures_util::pin_mut!(sink);
    sink.send(data).await?;
    sink.finish().await?;
    Ok(())
}

/// PostgreSQL's message, SQLSTATE and detail.
pub fn db_message(e: &tokio_postgres::Error) -> String {
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
