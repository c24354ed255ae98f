//! One error taxonomy and one retry policy.
//!
//! A failure is either **transient** (the statement or the connection was fine, the moment was
//! not: a dropped connection, a server restarting, a deadlock, a lost PostgreSQL commit that a
//! replay repairs) or **fatal** (something must change first: a refused value, a wrong
//! password, a purged position; the sync stops and says what to do). The kind is decided once,
//! where the error is understood ([`Transient`], [`retryable`], and [`is_transient`], which
//! also knows the drivers' connection errors and PostgreSQL's SQLSTATE classes), and is carried
//! on the error; nothing matches on message text. Every wait between attempts is a
//! [`Backoff`]: doubling, capped, with jitter so that many workers do not retry in step.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::Config;

/// A failure worth retrying from the last acknowledged position, described by a message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transient(pub String);

/// An error marked worth retrying, its chain kept (see [`retryable`]).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct Retryable(anyhow::Error);

/// Marks `e` as transient without flattening its chain.
pub fn retryable(e: anyhow::Error) -> anyhow::Error {
    Retryable(e).into()
}

/// The SQLSTATE of a batch refused because this process no longer holds the lease (another
/// sync took over): the run stops applying and waits for the lease again, as a standby.
pub const FENCED: &str = "MGSFN";

/// Whether PostgreSQL refused a commit because another sync holds the lease now.
pub fn is_fenced(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| db.code().code() == FENCED)
}

/// Whether anything in `e`'s chain is such a refusal.
pub fn is_fenced_chain(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<tokio_postgres::Error>()
            .is_some_and(is_fenced)
            || c.downcast_ref::<deadpool_postgres::PoolError>()
                .is_some_and(
                    |p| matches!(p, deadpool_postgres::PoolError::Backend(b) if is_fenced(b)),
                )
    })
}

/// PostgreSQL SQLSTATEs that say "try again": connection exception (08), transaction rollback
/// such as a deadlock or a serialization failure (40), insufficient resources (53), operator
/// intervention such as a shutdown (57), lock not available (55P03).
pub fn sqlstate_retries(code: &str) -> bool {
    ["08", "40", "53", "57"].iter().any(|p| code.starts_with(p))
        || code == "55P03"
        || code == FENCED
}

/// A PostgreSQL error is transient when it is not the server's answer (the connection
/// failed) or its SQLSTATE says so.
pub fn pg_retries(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        None => true,
        Some(db) => sqlstate_retries(db.code().code()),
    }
}

/// Whether anything in `e`'s chain makes it transient: a [`Transient`] or [`retryable`]
/// mark, a PostgreSQL error that [`pg_retries`], a pool that could not connect, a MySQL
/// connection that failed (I/O). Everything else is fatal.
pub fn is_transient(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if cause.is::<Transient>() || cause.is::<Retryable>() {
            return true;
        }
        if let Some(p) = cause.downcast_ref::<deadpool_postgres::PoolError>() {
            return match p {
                deadpool_postgres::PoolError::Backend(b) => pg_retries(b),
                _ => true,
            };
        }
        if let Some(pg) = cause.downcast_ref::<tokio_postgres::Error>() {
            return pg_retries(pg);
        }
        if let Some(my) = cause.downcast_ref::<mysql_async::Error>() {
            return matches!(my, mysql_async::Error::Io(_));
        }
        false
    })
}

/// Waits between attempts: from `first`, doubling up to `max`, each wait drawn uniformly from
/// its upper half (jitter), so that workers failing together do not retry together.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The next wait (and doubles the one after it).
    pub fn next_wait(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = d / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.next = self.first;
    }

    /// Says why, then sleeps [`Backoff::next_wait`] (the returned future).
    pub fn wait(&mut self, why: impl std::fmt::Display) -> tokio::time::Sleep {
        let d = self.next_wait();
        tracing::warn!("{why}; retrying in {d:.1?}");
        tokio::time::sleep(d)
    }
}

/// Runs `attempt` until it succeeds, fails for good (not [`is_transient`]), or
/// `start_retry_secs` have passed: a server that is down (or restarting) at start is waited
/// for, a wrong password is not.
pub async fn retry_at_start<T, F, Fut>(cfg: &Config, what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(cfg.start_retry_secs);
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) => {
                let wait = backoff.next_wait();
                if Instant::now() + wait >= deadline {
                    return Err(e);
                }
                tracing::warn!("{what} not reachable ({e:#}); retrying in {wait:.1?}");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The retry decision, in one list: what retries and what stops.
    #[test]
    fn which_errors_retry() {
        for code in [
            "08006", "08001", "40001", "40P01", "53300", "57P01", "57P03", "55P03", FENCED,
        ] {
            assert!(sqlstate_retries(code), "{code} should retry");
        }
        for code in [
            "23505", "23502", "22003", "42P01", "42703", "28P01", "55000", "XX000",
        ] {
            assert!(!sqlstate_retries(code), "{code} should stop");
        }
        assert!(is_transient(
            &Transient("binlog connection lost".into()).into()
        ));
        assert!(is_transient(&retryable(anyhow::anyhow!("server starting"))));
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::other("reset")));
        assert!(is_transient(
            &anyhow::Error::from(io).context("reading the binlog")
        ));
        let refused = mysql_async::Error::Server(mysql_async::ServerError {
            code: 1045,
            message: "Access denied".into(),
            state: "28000".into(),
        });
        assert!(!is_transient(&refused.into()));
        assert!(!is_transient(&anyhow::anyhow!(
            "column c: unexpected value"
        )));
        // A retryable mark keeps the chain for the message.
        let e = retryable(anyhow::anyhow!("root cause").context("connecting"));
        assert_eq!(format!("{e:#}"), "connecting: root cause");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        let waits: Vec<Duration> = (0..8).map(|_| b.next_wait()).collect();
        for (i, w) in waits.iter().enumerate() {
            let full =
                (Duration::from_millis(200) * 2u32.pow(i as u32)).min(Duration::from_secs(10));
            assert!(
                *w >= full / 2 && *w <= full,
                "wait {i}: {w:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        b.reset();
        assert!(b.next_wait() <= Duration::from_millis(200));
    }
}
