//! What operators see: metrics (statsd, Prometheus), the status file and endpoint, logging.

pub mod logging;
pub mod metrics;
pub mod status;
