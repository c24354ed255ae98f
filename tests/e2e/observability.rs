//! What an operator sees of a running sync, checked end to end against the real servers:
//! statsd packets really arrive (a UDP listener here receives them), `status` reads the
//! running process, `stat_addr` serves Prometheus text and /health, and `check` reports
//! what blocks a start.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use mysql_async::prelude::Queryable;

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to stat_addr");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Sums statsd counters and keeps the last value of everything else, by metric name.
fn statsd_lines(
    sock: &UdpSocket,
    until: impl Fn(&HashMap<String, (f64, String)>) -> bool,
) -> HashMap<String, (f64, String)> {
    let mut seen: HashMap<String, (f64, String)> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline && !until(&seen) {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        for line in String::from_utf8_lossy(&buf[..n]).lines() {
            // name:value|type
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            let mut parts = rest.split('|');
            let value: f64 = parts.next().unwrap_or("").parse().unwrap_or(f64::NAN);
            let kind = parts.next().unwrap_or("").to_string();
            let e = seen.entry(name.to_string()).or_insert((0.0, kind.clone()));
            if kind == "c" {
                e.0 += value;
            } else {
                e.0 = value;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_and_http_report_what_was_applied() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("obs").await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
        "CREATE TABLE t (id integer PRIMARY KEY, v varchar(20))",
    )
    .await;
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let http_port = free_tcp_port();

    let cfg = SyncConfig::new(&env, &db.name, &["t"]);
    let toml = cfg
        .to_toml(std::path::Path::new("{DATA_DIR}"))
        .replace("statsd_host = \"\"", "statsd_host = \"127.0.0.1\"")
        .replace("statsd_port = 8125", &format!("statsd_port = {udp_port}"))
        .replace(
            "statsd_prefix = \"mysql_gp_sync\"",
            "statsd_prefix = \"mgs_test\"",
        );
    let toml = format!("stat_addr = \"127.0.0.1:{http_port}\"\n{toml}");
    let mut sync = SyncProc::start_raw(&env, &toml, Some(master_pos(&env).await)).await;

    db.my_exec_all(&[
        "INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')",
        "UPDATE t SET v = 'bb' WHERE id = 2",
        "DELETE FROM t WHERE id = 3",
    ])
    .await;
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(30))
        .await;

    // statsd: the per-table counters, the batch timer and the position gauges arrive.
    let table = format!("{}_t", db.name);
    let ins = format!("mgs_test.rows.{table}.insert");
    let upd = format!("mgs_test.rows.{table}.update");
    let del = format!("mgs_test.rows.{table}.delete");
    let seen = statsd_lines(&udp, |s| {
        s.get(&ins).is_some_and(|v| v.0 >= 3.0)
            && s.get(&upd).is_some_and(|v| v.0 >= 1.0)
            && s.get(&del).is_some_and(|v| v.0 >= 1.0)
            && s.contains_key("mgs_test.binlog_pos")
            && s.contains_key("mgs_test.apply_batch_ms")
    });
    assert_eq!(seen.get(&ins).map(|v| v.0), Some(3.0), "inserts: {seen:?}");
    assert_eq!(seen.get(&upd).map(|v| v.0), Some(1.0), "updates: {seen:?}");
    assert_eq!(seen.get(&del).map(|v| v.0), Some(1.0), "deletes: {seen:?}");
    assert_eq!(seen["mgs_test.apply_batch_ms"].1, "ms", "{seen:?}");
    assert_eq!(seen["mgs_test.binlog_pos"].1, "g", "{seen:?}");
    assert!(seen["mgs_test.binlog_pos"].0 > 4.0, "{seen:?}");

    // status: read from the running process (its status file, rewritten each second).
    let name = format!("{}.t", db.name);
    let deadline = Instant::now() + secs(10);
    let status = loop {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&sync.config_path)
            .arg("status")
            .current_dir(&sync.dir_path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let counts_line = text
            .lines()
            .find(|l| l.starts_with(&name))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "));
        if out.status.success() && counts_line.as_deref() == Some("3 1 1") {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "status never showed 3 1 1 for {name}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(status.contains("position"), "{status}");

    // stat_addr: Prometheus text and /health.
    let metrics = http_get(http_port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.0 200"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "mysql_gp_sync_rows_total{{table=\"{name}\",op=\"insert\"}} 3"
        )),
        "{metrics}"
    );
    let health = http_get(http_port, "/health");
    assert!(
        health.starts_with("HTTP/1.0 200") && health.ends_with("ok\n"),
        "{health}"
    );

    sync.sigterm_and_wait().await;
    // Once stopped, status says so and fails.
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&sync.config_path)
        .arg("status")
        .current_dir(&sync.dir_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not running"),
        "{out:?}"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_item_and_fails_on_a_mismatched_table() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("check").await;
    db.create_table(
        "CREATE TABLE good (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
        "CREATE TABLE good (id integer PRIMARY KEY, v varchar(20))",
    )
    .await;
    let sync = SyncProc::prepare(&env);
    let cfg = SyncConfig::new(&env, &db.name, &["good", "bad"]);
    std::fs::write(&sync.config_path, cfg.to_toml(&sync.data_dir)).unwrap();
    sync.write_master_info(&master_pos(&env).await);
    let run = || {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&sync.config_path)
            .arg("check")
            .current_dir(&sync.dir_path)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, text) = run();
    assert_eq!(code, Some(0), "{text}");
    for item in [
        "binlog_format = ROW",
        "binlog_row_image = FULL",
        "REPLICATION SLAVE",
        "position",
        "PostgreSQL reachable",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("[ OK ]") && l.contains(item)),
            "no OK line for {item}:\n{text}"
        );
    }
    assert!(text.contains(&format!("[ OK ] {}.good", db.name)), "{text}");
    // Replicas are listed with each flavor's statement (SHOW SLAVE HOSTS is gone from MySQL
    // 8.4; REPLICATION SLAVE lets MySQL's repl see them, MariaDB wants REPLICATION MASTER ADMIN).
    let listed = text
        .lines()
        .any(|l| l.starts_with("[ OK ]") && l.contains("no other replica uses server_id"));
    if env.is_mysql() {
        assert!(listed, "SHOW REPLICAS should work for repl:\n{text}");
    } else {
        assert!(
            listed || text.contains("SHOW REPLICA HOSTS needs REPLICATION MASTER ADMIN"),
            "{text}"
        );
    }
    // What init would do with this user.
    assert!(
        text.lines().any(|l| l.starts_with("[ OK ]")
            && (l.contains("init blocks commits") || l.contains("init takes the lock-free way"))),
        "check should say how init would load with this user:\n{text}"
    );
    // MariaDB 11.4+ writes row events without end positions unless binlog_legacy_event_pos.
    let mut my = env.mysql().await;
    let legacy: Option<String> = my
        .query_first("SELECT @@global.binlog_legacy_event_pos")
        .await
        .unwrap_or(None);
    if let Some(v) = legacy {
        assert!(
            text.lines()
                .any(|l| l.starts_with("[ OK ]") && l.contains("binlog_legacy_event_pos")),
            "binlog_legacy_event_pos is {v} on this server; check should report it:\n{text}"
        );
    }
    let _ = my.disconnect().await;
    // Both connections say what TLS they negotiated (the test servers offer it).
    for server in ["MySQL reachable", "PostgreSQL reachable"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("[ OK ]") && l.contains(server) && l.contains(": TLSv1.")),
            "{server} should name its TLS version:\n{text}"
        );
    }

    // A MySQL table whose PostgreSQL twin lacks a column blocks the start: named in a FAIL line.
    db.create_table(
        "CREATE TABLE bad (id INT PRIMARY KEY, extra_col INT) ENGINE=InnoDB",
        "CREATE TABLE bad (id integer PRIMARY KEY)",
    )
    .await;
    let (code, text) = run();
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("[FAIL]") && l.contains("extra_col") && l.contains("bad")),
        "{text}"
    );
    db.cleanup().await;
}
