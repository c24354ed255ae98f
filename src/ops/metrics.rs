//! What the sync has done, kept in process (for `status`, the progress line and the
//! Prometheus endpoint) and sent to statsd through cadence. Sending is non-blocking UDP: a
//! missing statsd daemon costs nothing and never slows the apply path.
//!
//! statsd names carry the table and operation in the name (`rows.shop_orders.insert`), not as
//! DogStatsD tags, because plain statsd daemons (what users of the Go tool run) reject tags.

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, NopMetricSink, QueuingMetricSink, StatsdClient};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::model::change::RowKind;
use crate::model::position::Position;

/// Rows applied to one table since start.
#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub inserts: u64,
    pub updates: u64,
    pub deletes: u64,
}

#[derive(Default)]
struct Shared {
    tables: Mutex<BTreeMap<String, Counts>>,
    rows: AtomicU64,
    last_event_time: AtomicU64,
    lag_ms: AtomicU64,
    reconnects: AtomicU64,
    errors: AtomicU64,
    batches: AtomicU64,
    schema_changes: AtomicU64,
    last_schema_change: Mutex<String>,
}

#[derive(Clone)]
pub struct Metrics {
    client: Arc<StatsdClient>,
    shared: Arc<Shared>,
}

/// A point-in-time view, as `status` prints it and the Prometheus endpoint serves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub pid: u32,
    /// `active` (this sync applies), or `standby` (another sync holds the lease; see
    /// `state::lease`). Files written before roles existed read as active.
    #[serde(default = "active")]
    pub role: String,
    /// The sync that holds the lease, as a standby sees it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub active_holder: String,
    pub updated_at: u64,
    pub bin_name: String,
    pub bin_pos: u64,
    /// The GTID state at that position, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gtid: String,
    pub last_event_time: u64,
    pub lag_ms: u64,
    pub rows_total: u64,
    pub rows_per_sec: f64,
    pub in_flight: u64,
    pub reconnects: u64,
    pub errors: u64,
    pub tables: BTreeMap<String, Counts>,
    /// Schema changes applied since start, and the last one (position and statement).
    #[serde(default)]
    pub schema_changes: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_schema_change: String,
}

fn active() -> String {
    "active".into()
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
            shared: Arc::default(),
        })
    }

    /// Metrics kept in this process only (no statsd): the writer's unit tests use them.
    pub fn silent() -> Self {
        Metrics {
            client: Arc::new(StatsdClient::from_sink("", NopMetricSink)),
            shared: Arc::default(),
        }
    }

    /// A batch committed: count its rows per table and operation, and the lag of its newest event.
    pub fn applied(&self, rows: &[(&str, RowKind)], newest_event: u64, latency: Duration) {
        let mut per: BTreeMap<&str, Counts> = BTreeMap::new();
        let mut n = 0;
        for (table, kind) in rows {
            let c = per.entry(table).or_default();
            match kind {
                RowKind::Insert => c.inserts += 1,
                RowKind::Update => c.updates += 1,
                RowKind::Delete => c.deletes += 1,
                RowKind::KeyMove => continue,
            }
            n += 1;
        }
        {
            let mut tables = self.shared.tables.lock().unwrap();
            for (table, c) in &per {
                let t = tables.entry(table.to_string()).or_default();
                t.inserts += c.inserts;
                t.updates += c.updates;
                t.deletes += c.deletes;
            }
        }
        self.shared.rows.fetch_add(n, Relaxed);
        self.shared.batches.fetch_add(1, Relaxed);
        for (table, c) in &per {
            let name = table.replace(['.', ' ', ':', '|', '@'], "_");
            for (op, v) in [
                ("insert", c.inserts),
                ("update", c.updates),
                ("delete", c.deletes),
            ] {
                if v > 0 {
                    let _ = self.client.count(&format!("rows.{name}.{op}"), v as i64);
                }
            }
        }
        let _ = self.client.count("rows_applied", n as i64);
        let _ = self.client.time("apply_batch_ms", latency);
        let _ = self.client.histogram("apply_batch_size", rows.len() as u64);
        if newest_event > 0 {
            let lag = now_ms().saturating_sub(newest_event * 1000);
            self.shared.lag_ms.store(lag, Relaxed);
            let _ = self.client.gauge("lag_ms", lag);
        }
    }

    /// The reader saw an event written at `ts` (seconds since the epoch).
    pub fn event_time(&self, ts: u64) {
        self.shared.last_event_time.store(ts, Relaxed);
    }

    /// Once a second: the saved position and the window, to statsd.
    pub fn position(&self, p: &Position, in_flight: usize) {
        let _ = self.client.gauge(
            "binlog_file_index",
            crate::model::position::file_index(&p.file),
        );
        let _ = self.client.gauge("binlog_pos", p.pos);
        let _ = self.client.gauge("in_flight", in_flight as u64);
        if in_flight == 0 {
            // Caught up: no event is waiting for PostgreSQL.
            self.shared.lag_ms.store(0, Relaxed);
            let _ = self.client.gauge("lag_ms", 0);
        }
    }

    /// A schema change was applied (or followed): `what` names its position and statement.
    pub fn schema_change(&self, what: String) {
        self.shared.schema_changes.fetch_add(1, Relaxed);
        *self.shared.last_schema_change.lock().unwrap() = what;
        let _ = self.client.count("schema_changes", 1);
    }

    pub fn reconnect(&self) {
        self.shared.reconnects.fetch_add(1, Relaxed);
        let _ = self.client.count("reconnects", 1);
    }

    pub fn error(&self) {
        self.shared.errors.fetch_add(1, Relaxed);
        let _ = self.client.count("errors", 1);
    }

    pub fn rows_total(&self) -> u64 {
        self.shared.rows.load(Relaxed)
    }

    pub fn lag_ms(&self) -> u64 {
        self.shared.lag_ms.load(Relaxed)
    }

    pub fn snapshot(&self, p: &Position, in_flight: usize, rows_per_sec: f64) -> Snapshot {
        Snapshot {
            pid: std::process::id(),
            role: active(),
            active_holder: String::new(),
            updated_at: now_secs(),
            bin_name: p.file.to_string(),
            bin_pos: p.pos,
            gtid: String::new(),
            last_event_time: self.shared.last_event_time.load(Relaxed),
            lag_ms: self.lag_ms(),
            rows_total: self.rows_total(),
            rows_per_sec,
            in_flight: in_flight as u64,
            reconnects: self.shared.reconnects.load(Relaxed),
            errors: self.shared.errors.load(Relaxed),
            tables: self.shared.tables.lock().unwrap().clone(),
            schema_changes: self.shared.schema_changes.load(Relaxed),
            last_schema_change: self.shared.last_schema_change.lock().unwrap().clone(),
        }
    }

    /// A standby's view: `holder` applies; `p` is the position PostgreSQL holds, if known.
    pub fn standby_snapshot(&self, holder: &str, p: Option<&Position>) -> Snapshot {
        let none = Position::new("", 0);
        let mut s = self.snapshot(p.unwrap_or(&none), 0, 0.0);
        s.role = "standby".into();
        s.active_holder = holder.to_string();
        s
    }
}

/// The labels of `mysql_gp_sync_rows_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RowLabels {
    table: String,
    op: &'static str,
}

impl Snapshot {
    /// The same figures in the OpenMetrics text format (prometheus-client does the names,
    /// types and label escaping), as served on `/metrics`.
    pub fn prometheus(&self) -> String {
        let mut registry = Registry::with_prefix("mysql_gp_sync");
        let mut gauge = |name: &str, help: &str, v: f64| {
            let g = Gauge::<f64, AtomicU64>::default();
            g.set(v);
            registry.register(name, help, g);
        };
        gauge(
            "binlog_file_index",
            "Index of the binlog file applied up to.",
            crate::model::position::file_index(&self.bin_name) as f64,
        );
        gauge(
            "binlog_pos",
            "Binlog position applied up to.",
            self.bin_pos as f64,
        );
        gauge(
            "lag_ms",
            "Event time to PostgreSQL commit, of the newest applied batch.",
            self.lag_ms as f64,
        );
        gauge(
            "in_flight",
            "Changes read but not yet committed.",
            self.in_flight as f64,
        );
        gauge(
            "rows_per_sec",
            "Rows applied per second, last interval.",
            self.rows_per_sec,
        );
        gauge(
            "last_event_time_seconds",
            "Timestamp of the last binlog event read.",
            self.last_event_time as f64,
        );
        gauge(
            "active",
            "1 while this sync applies, 0 while it waits as a standby.",
            if self.role == "standby" { 0.0 } else { 1.0 },
        );
        let mut counter = |name: &str, help: &str, v: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(v);
            registry.register(name, help, c);
        };
        counter(
            "reconnects",
            "Pipeline restarts after a lost connection.",
            self.reconnects,
        );
        counter("errors", "Errors met (retried or not).", self.errors);
        counter(
            "schema_changes",
            "Schema changes of configured tables applied since start.",
            self.schema_changes,
        );
        let rows = Family::<RowLabels, Counter>::default();
        for (table, c) in &self.tables {
            for (op, v) in [
                ("insert", c.inserts),
                ("update", c.updates),
                ("delete", c.deletes),
            ] {
                rows.get_or_create(&RowLabels {
                    table: table.clone(),
                    op,
                })
                .inc_by(v);
            }
        }
        registry.register(
            "rows",
            "Rows applied since start, per source table and operation.",
            rows,
        );
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_per_table_counters() {
        let mut tables = BTreeMap::new();
        tables.insert(
            "shop.orders".to_string(),
            Counts {
                inserts: 3,
                updates: 2,
                deletes: 1,
            },
        );
        let s = Snapshot {
            pid: 1,
            role: "active".into(),
            active_holder: String::new(),
            updated_at: 0,
            bin_name: "mysql-bin.000007".into(),
            bin_pos: 99,
            gtid: String::new(),
            last_event_time: 0,
            lag_ms: 12,
            rows_total: 6,
            rows_per_sec: 1.5,
            in_flight: 0,
            reconnects: 0,
            errors: 0,
            schema_changes: 0,
            last_schema_change: String::new(),
            tables,
        };
        let text = s.prometheus();
        assert!(
            text.contains("mysql_gp_sync_binlog_file_index 7.0\n"),
            "{text}"
        );
        assert!(
            text.contains("mysql_gp_sync_rows_total{table=\"shop.orders\",op=\"update\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("mysql_gp_sync_lag_ms 12.0\n"), "{text}");
        assert!(
            text.contains("# TYPE mysql_gp_sync_rows counter\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
