//! What a running sync exposes about itself: a status file beside master.info (rewritten each
//! second, read by `mysql-gp-sync status`), and optionally (`stat_addr`) an HTTP endpoint with
//! `/metrics` in Prometheus' text format and `/health`, as go-mysql-elasticsearch users had.
//!
//! The HTTP side is hyper's HTTP/1 server (no web framework: two fixed paths): a client gets
//! 5 s to send its request head and 10 s for the whole exchange, and a connection serves one
//! request.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{header, Response, StatusCode};

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
        let (sock, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("stat_addr accept: {e}");
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let response = respond(req.uri().path(), &shared);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(sock), service);
            // A client that reads slowly does not hold a task for long either.
            if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(10), conn).await {
                tracing::debug!("stat_addr: {e}");
            }
        });
    }
}

/// The answer to a request for `path`, from the latest snapshot.
fn respond(path: &str, shared: &Shared) -> Response<Full<Bytes>> {
    let snap = shared.lock().unwrap().clone();
    let (code, body) = match (path, snap) {
        ("/metrics", Some(s)) => (StatusCode::OK, s.prometheus()),
        ("/health", Some(s)) if now_secs().saturating_sub(s.updated_at) <= 10 => {
            // A standby is healthy too: it is ready to take over.
            let body = if s.role == "standby" {
                "standby\n"
            } else {
                "ok\n"
            };
            (StatusCode::OK, body.to_string())
        }
        ("/health", _) | ("/metrics", None) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting or stalled\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "try /metrics or /health\n".to_string(),
        ),
    };
    let kind = match path {
        "/metrics" if code == StatusCode::OK => {
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
        _ => "text/plain; charset=utf-8",
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_states_get_their_answers() {
        let shared: Shared = Default::default();
        assert_eq!(
            respond("/health", &shared).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(respond("/nope", &shared).status(), StatusCode::NOT_FOUND);
        let metrics = crate::ops::metrics::Metrics::silent();
        let pos = crate::model::position::Position::new("b.000001", 4);
        *shared.lock().unwrap() = Some(metrics.snapshot(&pos, 0, 0.0));
        let r = respond("/health", &shared);
        assert_eq!(r.status(), StatusCode::OK);
        let r = respond("/metrics", &shared);
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"));
    }
}
