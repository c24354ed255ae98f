//! Who applies. Several syncs may run with the same config on different hosts against one
//! target: exactly one of them (the active) applies; the others wait as standbys and take over
//! within seconds when it dies. The target decides, so no coordination service is needed.
//!
//! - The active holds a PostgreSQL advisory lock on a session of its own (the lease session).
//!   When its process dies, or its host or network goes, PostgreSQL ends that session (the
//!   session asks for TCP keepalives every few seconds, so a silent peer is noticed too) and
//!   the lock is free for a standby, which polls for it once a second.
//! - Fencing: whoever takes the lock raises the lease epoch in the lease table, and every
//!   checkpoint write (so every batch, TRUNCATE and noted position) proves the epoch inside its
//!   own transaction ([`Checkpoints::fence_with`]), holding the lease row FOR SHARE until it
//!   commits. A process that lost its session while it still runs can therefore commit nothing
//!   more: the raise waits for its in-flight commits, and its later ones are refused.
//! - A standby that takes over starts from the position PostgreSQL holds, never from its own
//!   (stale) master.info.
//!
//! The lease needs the checkpoint (`checkpoint_schema`): without it there is no lease and any
//! number of syncs would apply.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tokio::sync::watch;

use crate::config::Config;
use crate::error::Backoff;
use crate::error::FENCED;
use crate::sql::Quoted;
use crate::state::checkpoint::{Checkpoints, LEASE_LOCK_CLASS};

/// The lease's table and its fence function (run by [`crate::state::install`]). The fence is
/// what every checkpoint write calls inside its transaction: it refuses the commit when this
/// process no longer holds `epoch` (SQLSTATE [`FENCED`]). Greenplum locks whole tables for
/// `FOR SHARE`, so there the check is a plain read.
pub fn ddl(lease_table: &Quoted, fence_fn: &Quoted, greenplum: bool) -> String {
    let share = if greenplum { "" } else { " FOR SHARE" };
    format!(
        "CREATE TABLE IF NOT EXISTS {lease_table} (
             source text PRIMARY KEY,
             epoch bigint NOT NULL,
             holder text NOT NULL,
             since timestamptz NOT NULL DEFAULT now()
         );
         CREATE OR REPLACE FUNCTION {fence_fn}(p_source text, p_epoch bigint) RETURNS void
         LANGUAGE plpgsql AS $fence$
         DECLARE h text;
         BEGIN
             PERFORM 1 FROM {lease_table} WHERE source = p_source AND epoch = p_epoch{share};
             IF NOT FOUND THEN
                 SELECT holder INTO h FROM {lease_table} WHERE source = p_source;
                 RAISE EXCEPTION 'this sync no longer holds the lease of %: % holds it now',
                     p_source, coalesce(h, 'nobody') USING ERRCODE = '{FENCED}';
             END IF;
         END $fence$"
    )
}

/// How often a standby asks for the lock.
const POLL: Duration = Duration::from_secs(1);
/// How long a sync that lost the lease waits before asking again: a live standby (which asks
/// every [`POLL`]) takes over first, and the sync whose session was cut becomes the standby.
const YIELD: Duration = Duration::from_secs(3);

/// How this process came to hold the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Nobody else held it since this data dir did (a restart, or the first start).
    Resumed,
    /// Another sync (host, pid, data dir) held it last: start from PostgreSQL's position.
    TookOver { from: String },
}

/// This sync's claim to apply (see the module doc).
///
/// Contract: [`Lease::acquire`] returns only once this process holds the lock and has raised
/// the epoch; from then on every checkpoint write proves that epoch, so a batch commits only
/// while the lease is held. [`Lease::held`] turns false as soon as the lease session ends.
pub struct Lease {
    cp: Arc<Checkpoints>,
    pool: deadpool_postgres::Pool,
    /// `host pid data_dir`, as the lease table and the standbys show it.
    holder: String,
    /// `host data_dir`: the same sync across restarts.
    me: String,
    /// `true` while the lease session lives.
    alive: watch::Receiver<bool>,
    /// Whether this process held the lease before (and lost it).
    held_before: bool,
    /// Ends the task that keeps the lease session (see [`Lease::give_up`]).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Lease {
    pub fn new(cp: Arc<Checkpoints>, pool: deadpool_postgres::Pool, cfg: &Config) -> Lease {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "unknown-host".into());
        let dir = cfg.data_dir.display().to_string();
        Lease {
            cp,
            pool,
            holder: format!("{host} {} {dir}", std::process::id()),
            me: format!("{host} {dir}"),
            alive: watch::channel(false).1,
            held_before: false,
            stop: None,
        }
    }

    /// `true` while the lease session lives (for a run to stop when it ends).
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.alive.clone()
    }

    /// Lets the lease go (its commits are refused: another sync took over while this one did
    /// not notice its session had ended): the session is closed and `held` turns false.
    pub fn give_up(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.alive = watch::channel(false).1;
    }

    /// Whether the lease session still lives.
    pub fn held(&self) -> bool {
        *self.alive.borrow()
    }

    /// Resolves once the lease session has ended (at once when it is not held).
    pub async fn lost(&self) {
        let mut alive = self.alive.clone();
        let _ = alive.wait_for(|a| !a).await;
    }

    /// Takes the lease, waiting as a standby while another sync holds it. `waiting` is called
    /// about once a second meanwhile with the holder's description (for the status). `None`
    /// when `shutdown` came first.
    pub async fn acquire(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        mut waiting: impl FnMut(&str),
    ) -> Result<Option<Acquired>> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let mut said = None::<String>;
        if self.held_before {
            tokio::select! {
                _ = tokio::time::sleep(YIELD) => {}
                _ = shutdown.changed() => return Ok(None),
            }
        }
        loop {
            if *shutdown.borrow() {
                return Ok(None);
            }
            // Out of the pool for good: a session that may hold the lock must never serve a
            // batch, and dropping it closes it (which frees the lock).
            let session = match self.pool.get().await {
                Ok(s) => deadpool_postgres::Object::take(s),
                Err(e) => {
                    tokio::select! {
                        _ = backoff.wait(format!("lease: PostgreSQL unavailable ({e})")) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            // Keepalives, so that PostgreSQL ends this session (and frees the lock) within
            // seconds when this host or its network goes, not after the system's two hours.
            let setup = "SET application_name = 'mysql-gp-sync lease'; \
                         SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
                         SET tcp_keepalives_count = 3; SET lock_timeout = '30s'";
            let result = async {
                session.batch_execute(setup).await?;
                loop {
                    let got: bool = session
                        .query_one(
                            "SELECT pg_try_advisory_lock($1, hashtext($2))",
                            &[&LEASE_LOCK_CLASS, &self.cp.lease_id()],
                        )
                        .await?
                        .get(0);
                    if got {
                        return anyhow::Ok(true);
                    }
                    let holder = session
                        .query_opt(
                            &format!(
                                "SELECT holder || ' (since ' || since::text || ')' FROM {} WHERE source = $1",
                                self.cp.lease_table()
                            ),
                            &[&self.cp.lease_id()],
                        )
                        .await?
                        .map(|r| r.get::<_, String>(0))
                        .unwrap_or_else(|| "another sync".into());
                    if said.as_deref() != Some(holder.as_str()) {
                        tracing::info!(
                            "standby: {holder} applies the changes of {}; waiting to take over",
                            self.cp.lease_id()
                        );
                        said = Some(holder.clone());
                    }
                    waiting(&holder);
                    tokio::select! {
                        _ = tokio::time::sleep(POLL) => {}
                        _ = shutdown.changed() => return Ok(false),
                    }
                }
            }
            .await;
            match result {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    tokio::select! {
                        _ = backoff.wait(format!("lease: {e:#}")) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
            // It waits for a previous holder's commits in flight; a failure (that wait timing
            // out, a lost connection) drops the session, so the lock, and the sync tries again.
            let (epoch, previous) = match self.raise_epoch(&session).await {
                Ok(r) => r,
                Err(e) => {
                    drop(session);
                    tokio::select! {
                        _ = backoff.wait(format!("lease: raising the epoch: {e:#}")) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            };
            self.cp.fence_with(epoch);
            let how = match previous {
                Some(p)
                    if !p.starts_with(&format!("{} ", host_of(&self.me)))
                        || !p.ends_with(&format!(" {}", dir_of(&self.me))) =>
                {
                    Acquired::TookOver { from: p }
                }
                _ => Acquired::Resumed,
            };
            match &how {
                Acquired::TookOver { from } => tracing::info!(
                    "active: took over from {from} (lease epoch {epoch}); starting from the position PostgreSQL holds"
                ),
                Acquired::Resumed => tracing::info!(
                    "active: this sync holds the lease of {} (epoch {epoch})",
                    self.cp.lease_id()
                ),
            }
            let (stop, stopped) = tokio::sync::oneshot::channel();
            self.stop = Some(stop);
            self.alive = watch_session(session, stopped);
            self.held_before = true;
            return Ok(Some(how));
        }
    }

    /// Raises the epoch (waiting for the commits in flight of a previous holder, which hold
    /// the row FOR SHARE) and records this process as the holder. Returns the new epoch and
    /// the previous holder.
    async fn raise_epoch(
        &self,
        session: &deadpool_postgres::ClientWrapper,
    ) -> Result<(i64, Option<String>)> {
        let t = self.cp.lease_table();
        let source = self.cp.lease_id();
        session.batch_execute("BEGIN").await?;
        let done = async {
            let previous: Option<String> = session
                .query_opt(
                    &format!("SELECT holder FROM {t} WHERE source = $1 FOR UPDATE"),
                    &[&source],
                )
                .await?
                .map(|r| r.get(0));
            let epoch: i64 = match previous {
                Some(_) => session
                    .query_one(
                        &format!(
                            "UPDATE {t} SET epoch = epoch + 1, holder = $2, since = now() WHERE source = $1 RETURNING epoch"
                        ),
                        &[&source, &self.holder],
                    )
                    .await?
                    .get(0),
                None => {
                    session
                        .execute(
                            &format!("INSERT INTO {t} (source, epoch, holder) VALUES ($1, 1, $2)"),
                            &[&source, &self.holder],
                        )
                        .await?;
                    1
                }
            };
            session.batch_execute("COMMIT").await?;
            anyhow::Ok((epoch, previous))
        }
        .await;
        if done.is_err() {
            let _ = session.batch_execute("ROLLBACK").await;
        }
        done
    }
}

fn host_of(me: &str) -> &str {
    me.split(' ').next().unwrap_or("")
}

fn dir_of(me: &str) -> &str {
    me.split_once(' ').map_or("", |(_, d)| d)
}

/// Keeps the lease session open and reports when it ends.
fn watch_session(
    session: deadpool_postgres::ClientWrapper,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(true);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stopped => return, // given up: dropping the session frees the lock
            }
            if session.is_closed() {
                tracing::warn!(
                    "lost the lease: the lease session with PostgreSQL ended; no batch commits from now on, \
                     and this sync waits to hold the lease again"
                );
                let _ = tx.send(false);
                return;
            }
            if tx.is_closed() {
                return; // nobody watches: the run is over
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_sync_is_its_host_and_data_dir() {
        assert_eq!(host_of("db1 /srv/sync/var"), "db1");
        assert_eq!(dir_of("db1 /srv/sync/var"), "/srv/sync/var");
        assert_eq!(dir_of("db1 /srv/my sync/var"), "/srv/my sync/var");
    }
}
