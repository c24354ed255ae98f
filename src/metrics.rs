//! statsd metrics through cadence. Sending is non-blocking UDP: a missing statsd daemon costs
//! nothing and never slows the apply path.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, NopMetricSink, QueuingMetricSink, StatsdClient};

use crate::change::Op;
use crate::config::Config;

#[derive(Clone)]
pub struct Metrics {
    client: Arc<StatsdClient>,
}

impl Metrics {
    pub fn new(cfg: &Config) -> Result<Self> {
        let client = if cfg.statsd_host.is_empty() {
            StatsdClient::from_sink(&cfg.statsd_prefix, NopMetricSink)
        } else {
            let socket = UdpSocket::bind("0.0.0.0:0").context("binding a UDP socket for statsd")?;
            socket.set_nonblocking(true)?;
            let sink =
                BufferedUdpMetricSink::from((cfg.statsd_host.as_str(), cfg.statsd_port), socket)
                    .with_context(|| {
                        format!("statsd address {}:{}", cfg.statsd_host, cfg.statsd_port)
                    })?;
            StatsdClient::builder(&cfg.statsd_prefix, QueuingMetricSink::from(sink))
                .with_error_handler(|_| {})
                .build()
        };
        Ok(Metrics {
            client: Arc::new(client),
        })
    }

    pub fn rows(&self, table: &str, op: Op, n: usize) {
        let op = match op {
            Op::Upsert => "upsert",
            Op::Delete => "delete",
        };
        let _ = self
            .client
            .count_with_tags("rows_applied", n as i64)
            .with_tag("table", table)
            .with_tag("op", op)
            .try_send();
    }

    pub fn batch(&self, latency: Duration, size: usize) {
        let _ = self.client.time("apply_batch_ms", latency);
        let _ = self.client.histogram("apply_batch_size", size as u64);
    }

    pub fn position(&self, file_index: u64, pos: u64, in_flight: usize) {
        let _ = self.client.gauge("binlog_file_index", file_index);
        let _ = self.client.gauge("binlog_pos", pos);
        let _ = self.client.gauge("in_flight", in_flight as u64);
    }

    pub fn lag(&self, lag: Duration) {
        let _ = self.client.gauge("lag_ms", lag.as_millis() as u64);
    }

    pub fn error(&self, kind: &str) {
        let _ = self
            .client
            .count_with_tags("errors", 1)
            .with_tag("kind", kind)
            .try_send();
    }
}
