//! Waiting as a standby: the lease is held by another sync; the status says so.

use anyhow::Result;
use tokio::sync::watch;

use crate::config::Config;
use crate::ops::metrics::Metrics;
use crate::ops::status;
use crate::state::lease::{Acquired, Lease};

/// Holds the lease, showing `standby` in the status (file and HTTP) while another sync applies.
/// `None` when a stop was asked for meanwhile.
pub async fn hold_lease(
    lease: &mut Lease,
    metrics: &Metrics,
    shared: &status::Shared,
    cfg: &Config,
    shutdown: &watch::Receiver<bool>,
) -> Result<Option<Acquired>> {
    let status_path = cfg.status_path();
    let mut shutdown = shutdown.clone();
    lease
        .acquire(&mut shutdown, |holder| {
            let snap = metrics.standby_snapshot(holder, None);
            if let Err(e) = status::write(&status_path, &snap) {
                tracing::debug!("cannot write {}: {e:#}", status_path.display());
            }
            *shared.lock().unwrap() = Some(snap);
        })
        .await
}
