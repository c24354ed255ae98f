//! What a running sync exposes about itself: a status file beside master.info (rewritten each
//! second, read by `mysql-gp-sync status`), and optionally (`stat_addr`) an HTTP endpoint with
//! `/metrics` in Prometheus' text format and `/health`, as go-mysql-elasticsearch users had.
//!
//! The HTTP side is a few lines over a TCP listener rather than a web framework: it serves two
//! fixed GET paths with no keep-alive, and pulling in hyper/axum for that would double the
//! build of a tool whose other dependencies are all about databases.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ops::metrics::{now_secs, Snapshot};
use crate::state::master_info;

/// The latest snapshot, shared between the saver (writer) and the HTTP endpoint (reader).
pub type Shared = Arc<Mutex<Option<Snapshot>>>;

pub fn write(path: &Path, snap: &Snapshot) -> Result<()> {
    let json = serde_json::to_vec_pretty(snap)?;
    master_info::atomic_write(path, &json)
}

/// `mysql-gp-sync status`: prints the running process' figures; an error when it is not running.
pub fn print(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "no status file {}: the sync has not run with this config's data_dir",
            path.display()
        )
    })?;
    let s: Snapshot = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a status file", path.display()))?;
    let alive = Path::new(&format!("/proc/{}", s.pid)).exists();
    let age = now_secs().saturating_sub(s.updated_at);
    if !alive || age > 10 {
        anyhow::bail!(
            "the sync is not running (pid {} {}, status last written {age} s ago); last position {}:{}",
            s.pid,
            if alive { "alive but not updating" } else { "gone" },
            s.bin_name,
            s.bin_pos
        );
    }
    println!("pid              {}", s.pid);
    match s.role.as_str() {
        "standby" => println!("role             standby: {} applies", s.active_holder),
        r => println!("role             {r}"),
    }
    if !s.bin_name.is_empty() {
        println!("position         {}:{}", s.bin_name, s.bin_pos);
    }
    if !s.gtid.is_empty() {
        println!("gtid             {}", s.gtid);
    }
    println!(
        "last event       {} ({} s ago)",
        s.last_event_time,
        now_secs().saturating_sub(s.last_event_time)
    );
    println!("lag              {} ms", s.lag_ms);
    println!("rows/s           {:.0}", s.rows_per_sec);
    println!("rows applied     {}", s.rows_total);
    println!("in flight        {}", s.in_flight);
    println!("reconnects       {}", s.reconnects);
    println!("errors           {}", s.errors);
    if s.schema_changes > 0 {
        println!(
            "schema changes   {} (last: {})",
            s.schema_changes, s.last_schema_change
        );
    }
    println!();
    println!(
        "{:<40} {:>12} {:>12} {:>12}",
        "table", "inserts", "updates", "deletes"
    );
    for (t, c) in &s.tables {
        println!(
            "{t:<40} {:>12} {:>12} {:>12}",
            c.inserts, c.updates, c.deletes
        );
    }
    Ok(())
}

/// Serves `/metrics` and `/health` on `addr` until the process ends.
pub async fn serve(addr: String, shared: Shared) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on stat_addr {addr}"))?;
    tracing::info!("metrics on http://{addr}/metrics, health on /health");
    loop {
        let (mut sock, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("stat_addr accept: {e}");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            // Read the request head (up to its blank line): only its first line matters.
            let mut buf = Vec::with_capacity(1024);
            let read_head = async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            if tokio::time::timeout(std::time::Duration::from_secs(5), read_head)
                .await
                .is_err()
            {
                return;
            }
            let request = String::from_utf8_lossy(&buf);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let snap = shared.lock().unwrap().clone();
            let (code, body) = match (path, snap) {
                ("/metrics", Some(s)) => ("200 OK", s.prometheus()),
                ("/health", Some(s)) if now_secs().saturating_sub(s.updated_at) <= 10 => {
                    // A standby is healthy too: it is ready to take over.
                    let body = if s.role == "standby" {
                        "standby\n"
                    } else {
                        "ok\n"
                    };
                    ("200 OK", body.to_string())
                }
                ("/health", _) | ("/metrics", None) => (
                    "503 Service Unavailable",
                    "starting or stalled\n".to_string(),
                ),
                _ => ("404 Not Found", "try /metrics or /health\n".to_string()),
            };
            let kind = match path {
                "/metrics" if code.starts_with("200") => {
                    "application/openmetrics-text; version=1.0.0; charset=utf-8"
                }
                _ => "text/plain; charset=utf-8",
            };
            let response = format!(
                "HTTP/1.0 {code}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(response.as_bytes()).await;
        });
    }
}
