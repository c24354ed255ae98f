//! The one rule both appliers follow when a write fails, and the search for the row
//! PostgreSQL refuses.
//!
//! | failure | the transaction is in hand (its changes are still in memory) | it is not (written out in parts) |
//! |---|---|---|
//! | `Unavailable` | wait (backoff with jitter), reconnect, write it again | restart the pipeline: it replays from the acknowledged position |
//! | `Refused` | after a COPY: again without COPY; else again, up to [`REFUSED_ATTEMPTS`], then find the row and stop | find the row in the part in hand and stop |
//! | `Lost` | restart the pipeline: it rewinds to what PostgreSQL holds | the same |
//! | `Fenced` | stop applying: another sync holds the lease | the same |

use std::time::Duration;

use anyhow::{anyhow, Result};

use super::destination::{Destination, Failure};
use super::encode::{encode, Group};
use super::Worker;
use crate::error::{Backoff, Transient};
use crate::model::mark::Mark;

/// How often a batch PostgreSQL refuses is tried before the sync stops on it.
pub const REFUSED_ATTEMPTS: u32 = 3;

/// How many batches go without COPY after a COPY failed (a replay, or a value refused).
pub const COPY_REST: u32 = 100;

/// The wait between attempts at a write in hand.
fn backoff() -> Backoff {
    Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
}

impl<D: Destination> Worker<D> {
    /// Writes `groups` and this worker's checkpoint at `mark` in one transaction, retrying by
    /// the rule while they are in hand; COPY for the groups that may use it unless it rests.
    /// `patient = false` (the run is ending): PostgreSQL unavailable is not waited for, the
    /// round ends uncommitted and the next start replays.
    pub(super) async fn commit_in_hand(
        &mut self,
        groups: &mut [Group<'_>],
        mark: &Mark,
        patient: bool,
    ) -> Result<()> {
        let mut backoff = backoff();
        let mut refused = 0;
        // How the groups are encoded now: with COPY or without (None: not yet).
        let mut encoded: Option<bool> = None;
        loop {
            let copy = self.copy_rest == 0 && groups.iter().any(|g| g.uses_copy(true));
            if encoded != Some(copy) {
                encode(groups, copy)?;
                encoded = Some(copy);
            }
            let origin = self.window.origin_of(&mark.file);
            let tried = async {
                self.dest.begin().await?;
                self.dest.write(groups).await?;
                self.dest.commit(mark, origin).await
            }
            .await;
            let failure = match tried {
                Ok(()) => return Ok(()),
                Err(f) => f,
            };
            self.dest.rollback().await;
            match failure {
                Failure::Fenced(e) => {
                    return Err(e.context(format!("worker {}: batch not committed", self.id)))
                }
                Failure::Lost(what) => return Err(lost(self.id, &what)),
                // The COPY met a key that exists (a replay) or a value it refuses: write the
                // batch the ordinary way, which decides what is wrong, if anything.
                Failure::Refused(m) if copy => {
                    tracing::info!(
                        worker = self.id,
                        "COPY met rows that exist (a replay) or a value it refuses ({m}): writing the batch, \
                         and the next {COPY_REST}, with upserts",
                    );
                    self.copy_rest = COPY_REST;
                }
                Failure::Refused(m) => {
                    self.metrics.error();
                    refused += 1;
                    if refused >= REFUSED_ATTEMPTS {
                        return Err(self.pinpoint(groups, &m).await);
                    }
                    backoff
                        .wait(format!(
                            "worker {}: PostgreSQL refused a batch ({m}); attempt {refused} of {REFUSED_ATTEMPTS}",
                            self.id
                        ))
                        .await;
                }
                Failure::Unavailable(m) if !patient => {
                    return Err(Transient(format!(
                        "worker {}: PostgreSQL: {m}; the run ends with this batch uncommitted",
                        self.id
                    ))
                    .into())
                }
                Failure::Unavailable(m) => {
                    self.metrics.error();
                    backoff
                        .wait(format!("worker {}: PostgreSQL: {m}", self.id))
                        .await;
                }
            }
        }
    }

    /// Opens a transaction whose changes will not all stay in hand: waits while PostgreSQL is
    /// unavailable (nothing is written yet), else fails by the rule.
    pub(super) async fn begin_spilled(&mut self) -> Result<()> {
        let mut backoff = backoff();
        loop {
            match self.dest.begin().await {
                Ok(()) => return Ok(()),
                Err(Failure::Unavailable(m)) => {
                    self.metrics.error();
                    backoff
                        .wait(format!("worker {}: PostgreSQL: {m}", self.id))
                        .await;
                }
                Err(f) => return Err(self.not_in_hand(f, &mut []).await),
            }
        }
    }

    /// A failure of a transaction no longer in hand (`part`: what of it is, encoded): the
    /// pipeline restarts (and replays), or the sync stops naming the row refused.
    pub(super) async fn not_in_hand(
        &mut self,
        f: Failure,
        part: &mut [Group<'_>],
    ) -> anyhow::Error {
        self.dest.rollback().await;
        match f {
            Failure::Fenced(e) => e.context(format!("worker {}: not committed", self.id)),
            Failure::Lost(what) => lost(self.id, &what),
            Failure::Unavailable(m) => Transient(format!(
                "worker {}: PostgreSQL: {m}; nothing of the open transaction was committed",
                self.id
            ))
            .into(),
            Failure::Refused(m) if part.is_empty() => anyhow!(
                "worker {}: PostgreSQL refused to commit a group of source transactions ({m}); nothing of it \
                 was committed, and the saved position stays before it",
                self.id
            ),
            Failure::Refused(m) => self.pinpoint(part, &m).await,
        }
    }

    /// PostgreSQL refused a write: find the first change it refuses on its own and name it.
    /// Row by row in one transaction that is never committed (a savepoint per row): finding
    /// the row writes nothing, since this sync may no longer hold the lease (nothing proves it
    /// here) and the batch is replayed whole after the fix anyway.
    async fn pinpoint(&mut self, groups: &[Group<'_>], refused: &str) -> anyhow::Error {
        self.dest.rollback().await;
        if let Err(f) = self.dest.begin().await {
            return anyhow!("PostgreSQL refused a batch ({refused}); {f}");
        }
        let found = self.find_refused(groups).await;
        self.dest.rollback().await;
        found.unwrap_or_else(|| {
            anyhow!(
                "PostgreSQL refused a batch of worker {} ({refused}), but accepted each of its rows on its own; \
                 the saved position stays before it: restart to write it again",
                self.id
            )
        })
    }

    async fn find_refused(&mut self, groups: &[Group<'_>]) -> Option<anyhow::Error> {
        for g in groups {
            for ch in &g.changes {
                let mut one = Group::single(g.meta, g.op, ch);
                if let Err(e) = one.encode(false) {
                    return Some(e);
                }
                match self.dest.try_alone(&one).await {
                    Ok(()) => {}
                    Err(Failure::Refused(m)) => {
                        return Some(anyhow!(
                            "PostgreSQL refused a change to {} (from MySQL {}, key {}, binlog position {}): {m}; \
                             the saved position stays before this transaction: fix the target table or the row and restart",
                            g.meta.target,
                            g.meta.source_name(),
                            ch.describe_key(),
                            ch.pos,
                        ))
                    }
                    // The search is cut short: the rule decides as for any write.
                    Err(Failure::Fenced(e)) => return Some(e.context("while looking for the row PostgreSQL refused")),
                    Err(f) => {
                        return Some(
                            Transient(format!(
                                "worker {}: while looking for the row PostgreSQL refused: {f}",
                                self.id
                            ))
                            .into(),
                        )
                    }
                }
            }
        }
        None
    }
}

/// The pipeline restarts and rewinds to what PostgreSQL holds.
fn lost(worker: usize, what: &str) -> anyhow::Error {
    Transient(format!(
        "worker {worker}: PostgreSQL lost commits it had confirmed ({what})"
    ))
    .into()
}
