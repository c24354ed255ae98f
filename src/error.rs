//! One error taxonomy and one retry policy.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::config::Config;

/// A failure worth retrying from the last acknowledged position (the connection dropped).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Transient(pub String);

/// Runs `attempt` until it succeeds, fails for good, or `start_retry_secs` have passed: a server
/// that is down (or restarting) at start is waited for with backoff, a wrong password is not.
pub async fn retry_at_start<T, F, Fut>(cfg: &Config, what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, (anyhow::Error, bool)>>,
{
    let deadline = Instant::now() + Duration::from_secs(cfg.start_retry_secs);
    let mut backoff = Duration::from_secs(1);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err((e, retryable)) if retryable && Instant::now() + backoff < deadline => {
                tracing::warn!("{what} not reachable ({e:#}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
}
