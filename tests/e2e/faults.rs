//! Fault injection ("Never lose a row"): the real binary against real MariaDB and PostgreSQL
//! while things go wrong: `kill -9` of the sync, PostgreSQL and MariaDB restarted, the sync's
//! connections killed from the server side, binlog rotation inside a large transaction, a
//! 1 000 000-row transaction, a damaged or deleted master.info, a purged binlog.
//!
//! Every workload test runs a mixed workload (inserts, updates, deletes and primary-key changes
//! from 3 connections, transactions of 1–50 statements over several tables) throughout the fault
//! and ends with a whole-table comparison of every synced table.
//!
//! Tests that restart a server hold [`Servers::exclusive`]; every other test of the suite holds
//! [`Servers::shared`], so no test sees a server vanish under it. Restarts use the directories
//! of `scripts/test-env.sh` (MGS_TEST_DIR, default /tmp/mgs-test-env) and work as root (the
//! servers then run as `mysql` / `postgres`) and as a normal user.
//!
//! Run with `--nocapture` to see what each test did (kills, restarts, rows compared, timings).
//! MGS_FAULT_SEED=<n> repeats a run's random choices (the seed is printed).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tokio::task::JoinHandle;

fn seed(test: &str) -> u64 {
    let s = std::env::var("MGS_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("[{test}] seed {s} (MGS_FAULT_SEED={s} repeats the random choices)");
    s
}

// ---------------------------------------------------------------------------
// Server control (the layout of scripts/test-env.sh)
// ---------------------------------------------------------------------------

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn test_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("MGS_TEST_DIR")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/tmp/mgs-test-env".into()),
    )
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// `cmd args…`, as `user` when we are root and `user` is not empty (the servers refuse to run
/// as root; a normal user runs them as itself).
fn command_as(user: &str, cmd: &str, args: &[&str]) -> tokio::process::Command {
    let mut c = if is_root() && !user.is_empty() {
        let mut c = tokio::process::Command::new("runuser");
        c.args(["-u", user, "--", cmd]);
        c
    } else {
        tokio::process::Command::new(cmd)
    };
    c.args(args)
        .current_dir(test_dir())
        .env(
            "PATH",
            format!(
                "{}:/usr/local/sbin:/usr/sbin:/sbin",
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    c
}

async fn run_ok(mut c: tokio::process::Command, what: &str, log_file: &Path) {
    let out = tokio::time::timeout(secs(120), c.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: no result in 120 s"))
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !out.status.success() {
        let log = fs::read_to_string(log_file).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        panic!(
            "{what} failed ({}): {}\n--- {} (tail) ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            log_file.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

fn pg_ctl(args: &[&str]) -> tokio::process::Command {
    let data = test_dir().join("pg/data");
    let log = test_dir().join("pg/postgres.log");
    let mut all = vec![
        "-D".to_string(),
        data.to_string_lossy().into_owned(),
        "-l".into(),
        log.to_string_lossy().into_owned(),
        "-w".into(),
        "-t".into(),
        "60".into(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    command_as("postgres", &format!("{PG_BIN}/pg_ctl"), &refs)
}

/// Stops PostgreSQL (`-m fast`: sessions are terminated), keeps it down for `down`, starts it
/// again. `pg_ctl restart` takes the server's options from postmaster.opts, so it starts with
/// the port and settings scripts/test-env.sh gave it.
async fn restart_postgres(down: Duration) {
    let log = test_dir().join("pg/postgres.log");
    let t0 = Instant::now();
    if down.is_zero() {
        run_ok(pg_ctl(&["-m", "fast", "restart"]), "pg_ctl restart", &log).await;
    } else {
        run_ok(pg_ctl(&["-m", "fast", "stop"]), "pg_ctl stop", &log).await;
        tokio::time::sleep(down).await;
        run_ok(pg_ctl(&["-m", "fast", "restart"]), "pg_ctl restart", &log).await;
    }
    let env = Env::get();
    let c = env.pg().await;
    pg_q(&c, "SELECT 1").await;
    println!(
        "  PostgreSQL restarted (down {:?}, {:?} in all)",
        down,
        t0.elapsed()
    );
}

/// The source server's directory under the test dir: `mysql` (MariaDB 10.11), `mysql97`,
/// `mariadb118` (MGS_MYSQL_SERVER_DIR, set by scripts/test.sh for each pass).
fn server_dir() -> PathBuf {
    let name = std::env::var("MGS_MYSQL_SERVER_DIR")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "mysql".into());
    test_dir().join(name)
}

fn mysql_pid() -> Option<u32> {
    let pid: u32 = fs::read_to_string(server_dir().join("mysqld.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Shuts the source server down (SIGTERM: a clean shutdown for mariadbd and mysqld alike),
/// keeps it down for `down`, and starts it again with `scripts/test-env.sh up` (which starts
/// what is not running, as the right user, and waits until it answers).
async fn restart_mariadb(down: Duration) {
    let t0 = Instant::now();
    let dir = test_dir();
    let err_log = server_dir().join("mysqld.err");
    let pid = mysql_pid()
        .expect("the source server of scripts/test-env.sh is not running (no live pid file)");
    let c = command_as("", "kill", &["-TERM", &pid.to_string()]);
    run_ok(c, "kill -TERM of the source server", &err_log).await;
    let deadline = Instant::now() + secs(60);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "the source server (pid {pid}) still running 60 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stopped = t0.elapsed();
    tokio::time::sleep(down).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-env.sh");
    let mut up = tokio::process::Command::new("bash");
    up.arg(&script)
        .arg("up")
        .env("MGS_TEST_DIR", &dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    run_ok(up, "scripts/test-env.sh up", &err_log).await;
    let new_pid = mysql_pid();
    println!(
        "  MariaDB restarted: pid {pid} stopped in {stopped:?}, down {down:?}, new pid {new_pid:?}, {:?} in all",
        t0.elapsed()
    );
}

/// Local TCP ports of a process's sockets: the client side of its connections, which the
/// servers show (PROCESSLIST's HOST `127.0.0.1:port`, pg_stat_activity.client_port). Only
/// this sync's sessions get killed, whatever else is connected.
fn local_ports(pid: u32) -> HashSet<u16> {
    let mut inodes = HashSet::new();
    if let Ok(rd) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            if let Ok(l) = fs::read_link(e.path()) {
                let l = l.to_string_lossy();
                if let Some(i) = l.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    inodes.insert(i.to_string());
                }
            }
        }
    }
    let mut ports = HashSet::new();
    for f in ["tcp", "tcp6"] {
        let text = fs::read_to_string(format!("/proc/{pid}/net/{f}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && inodes.contains(cols[9]) {
                if let Some(p) = cols[1].rsplit(':').next() {
                    if let Ok(p) = u16::from_str_radix(p, 16) {
                        ports.insert(p);
                    }
                }
            }
        }
    }
    ports
}

/// `KILL` of the sync's Binlog Dump thread(s); returns the thread ids killed.
async fn kill_binlog_dump(env: &Env, sync_pid: u32) -> Vec<u64> {
    let ports = local_ports(sync_pid);
    let mut c = env.mysql().await;
    let rows: Vec<(u64, String)> = c
        .query(format!(
            "SELECT ID, HOST FROM {} \
             WHERE USER = {} AND COMMAND LIKE 'Binlog Dump%'",
            // MySQL's information_schema view converts every statement text to utf8mb3 (and
            // fails on the workload's emoji); performance_schema's is utf8mb4.
            if env.is_mysql() {
                "performance_schema.processlist"
            } else {
                "information_schema.PROCESSLIST"
            },
            lit(&env.repl_user)
        ))
        .await
        .expect("PROCESSLIST");
    let mut killed = Vec::new();
    for (id, host) in rows {
        let port: Option<u16> = host.rsplit(':').next().and_then(|p| p.parse().ok());
        if port.is_some_and(|p| ports.contains(&p)) {
            if let Err(e) = c.query_drop(format!("KILL {id}")).await {
                println!("  KILL {id}: {e}");
            }
            killed.push(id);
        }
    }
    let _ = c.disconnect().await;
    killed
}

/// `pg_terminate_backend` of every PostgreSQL session of the sync; returns their pids.
async fn terminate_pg_sessions(env: &Env, sync_pid: u32) -> Vec<i32> {
    let ports: Vec<i32> = local_ports(sync_pid).into_iter().map(i32::from).collect();
    let c = env.pg().await;
    let rows = c
        .query(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'mysql-gp-sync' AND client_port = ANY($1)",
            &[&ports],
        )
        .await
        .expect("pg_terminate_backend");
    rows.iter().map(|r| r.get::<_, i32>(0)).collect()
}

/// (VmHWM, VmRSS) of a process in MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("VmHWM:") / 1024, kb("VmRSS:") / 1024)
}

// ---------------------------------------------------------------------------
// master.info
// ---------------------------------------------------------------------------

fn master_info_path(sync: &SyncProc) -> PathBuf {
    sync.data_dir.join("master.info")
}

/// master.info parsed strictly: exactly the documented keys (the Go tool's two, and the GTID
/// line when the sync knows the state there).
fn parse_master_info(bytes: &[u8]) -> Result<BinPos, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let v: toml::Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
    let name = v
        .get("bin_name")
        .and_then(|x| x.as_str())
        .ok_or("no string bin_name")?;
    let pos = v
        .get("bin_pos")
        .and_then(|x| x.as_integer())
        .ok_or("no integer bin_pos")?;
    // The optional lines: the GTID state and the history's fingerprint, each a non-empty
    // string the sync itself can read back; nothing else.
    let optional = ["gtid", "bin_origin", "gtid_last"];
    let extra_ok = v.len() == 2 + optional.iter().filter(|k| v.contains_key(**k)).count()
        && optional
            .iter()
            .filter_map(|k| v.get(*k))
            .all(|x| x.as_str().is_some_and(|s| !s.is_empty()));
    let fp_ok = mysql_gp_sync::model::history::Fingerprint::from_texts(
        v.get("bin_origin").and_then(|x| x.as_str()),
        None,
        false,
    )
    .is_ok();
    if !extra_ok || !fp_ok || name.is_empty() || pos < 4 {
        return Err(format!("unexpected content: {text:?}"));
    }
    Ok((name.to_string(), pos as u64))
}

fn read_master_info(sync: &SyncProc) -> Result<BinPos, String> {
    let bytes = fs::read(master_info_path(sync)).map_err(|e| format!("cannot read: {e}"))?;
    parse_master_info(&bytes)
}

/// master.info names a binlog the server has, at an offset inside it.
async fn assert_real_binlog(env: &Env, mi: &BinPos) {
    let logs = binary_logs(env).await;
    match logs.iter().find(|(n, _)| *n == mi.0) {
        Some((_, size)) => assert!(
            mi.1 <= *size,
            "master.info {mi:?} is past the end of {} ({size} bytes)",
            mi.0
        ),
        None => panic!(
            "master.info names {:?}, not one of the server's binlogs {logs:?}",
            mi.0
        ),
    }
}

// ---------------------------------------------------------------------------
// The mixed workload
// ---------------------------------------------------------------------------

const FA_MY: &str = "CREATE TABLE fa (
    id BIGINT NOT NULL PRIMARY KEY,
    owner INT NOT NULL,
    v BIGINT NOT NULL,
    s VARCHAR(100) CHARACTER SET utf8mb4 NULL,
    d DECIMAL(20,6) NULL,
    t DATETIME(6) NULL
) ENGINE=InnoDB";
const FA_PG: &str = "CREATE TABLE fa (
    id bigint NOT NULL PRIMARY KEY,
    owner integer NOT NULL,
    v bigint NOT NULL,
    s varchar(100),
    d numeric(20,6),
    t timestamp(6)
)";
const FB_MY: &str = "CREATE TABLE fb (
    a BIGINT NOT NULL,
    b VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL,
    n BIGINT NULL,
    payload TEXT CHARACTER SET utf8mb4 NULL,
    PRIMARY KEY (a, b)
) ENGINE=InnoDB";
const FB_PG: &str = "CREATE TABLE fb (
    a bigint NOT NULL,
    b varchar(40) NOT NULL,
    n bigint,
    payload text,
    PRIMARY KEY (a, b)
)";
const FC_MY: &str = "CREATE TABLE fc (
    id INT NOT NULL PRIMARY KEY,
    n BIGINT NOT NULL,
    trail VARCHAR(200) NOT NULL
) ENGINE=InnoDB";
const FC_PG: &str = "CREATE TABLE fc (
    id integer NOT NULL PRIMARY KEY,
    n bigint NOT NULL,
    trail varchar(200) NOT NULL
)";
/// Rows every connection updates: their final values depend on the commit order.
const FC_ROWS: i64 = 4;

/// The synced tables of the workload and their keys.
const TABLES: &[(&str, &[&str])] = &[("fa", &["id"]), ("fb", &["a", "b"]), ("fc", &["id"])];

const STRINGS: &[&str] = &[
    "hello",
    "数据同步",
    "emoji 😀🎉",
    "",
    "quote ' double \" backslash \\ end",
    "tab\tnew\nline",
    "ümlaut façade",
    "NULL",
    "   spaces   ",
];

async fn workload_db(name: &str) -> TestDb {
    let db = TestDb::create(name).await;
    db.create_table(FA_MY, FA_PG).await;
    db.create_table(FB_MY, FB_PG).await;
    db.create_table(FC_MY, FC_PG).await;
    let rows: Vec<String> = (0..FC_ROWS).map(|i| format!("({i}, 0, '')")).collect();
    db.my_exec_all(&[&format!("INSERT INTO fc VALUES {}", rows.join(","))])
        .await;
    db
}

fn workload_tables() -> Vec<&'static str> {
    TABLES.iter().map(|(t, _)| *t).collect()
}

/// Waits until every workload table (and `extra`) is equal in both databases; prints the rows.
async fn wait_all_equal(
    sync: &mut SyncProc,
    db: &TestDb,
    extra: &[(&str, &[&str])],
    timeout: Duration,
) {
    let t0 = Instant::now();
    let mut counts = Vec::new();
    for (t, keys) in TABLES.iter().chain(extra.iter()) {
        sync.wait_tables_equal(&db.t(t), &db.t(t), keys, timeout)
            .await;
        let n = tables_equal_now(&db.env, &db.t(t), &db.t(t), keys)
            .await
            .unwrap_or(0);
        counts.push(format!("{t}: {n} rows"));
    }
    println!(
        "  tables equal ({}), compared in {:?}",
        counts.join(", "),
        t0.elapsed()
    );
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct Stats {
    committed: AtomicU64,
    changes: AtomicU64,
    aborted: AtomicU64,
    reconnects: AtomicU64,
    errors: Mutex<Vec<String>>,
}

struct Workload {
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    handles: Vec<JoinHandle<()>>,
    started: Instant,
}

impl Workload {
    /// `conns` connections writing until [`Workload::finish`]; `pause_ms` between transactions.
    fn start(env: &Env, db: &TestDb, conns: u64, seed: u64, pause_ms: u64) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let handles = (0..conns)
            .map(|n| {
                // Unique per connection of the process: its keys never meet another's.
                let conn_no = NEXT_CONN.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(workload_conn(
                    env.clone(),
                    db.name.clone(),
                    conn_no,
                    seed.wrapping_add(n * 7919),
                    pause_ms,
                    stop.clone(),
                    stats.clone(),
                ))
            })
            .collect();
        Workload {
            stop,
            stats,
            handles,
            started: Instant::now(),
        }
    }

    fn committed(&self) -> u64 {
        self.stats.committed.load(Ordering::SeqCst)
    }

    fn summary(&self) -> String {
        let s = &self.stats;
        format!(
            "{} transactions committed ({} row changes), {} aborted, {} reconnects in {:?}",
            s.committed.load(Ordering::SeqCst),
            s.changes.load(Ordering::SeqCst),
            s.aborted.load(Ordering::SeqCst),
            s.reconnects.load(Ordering::SeqCst),
            self.started.elapsed()
        )
    }

    /// Waits until `n` more transactions have committed (bounded).
    async fn wait_more(&self, n: u64, timeout: Duration) {
        let target = self.committed() + n;
        let deadline = Instant::now() + timeout;
        while self.committed() < target {
            assert!(
                Instant::now() < deadline,
                "the workload did not commit {n} transactions in {timeout:?}: {}",
                self.summary()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the connections after their current transaction; prints and returns the summary.
    async fn finish(self) -> String {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles {
            tokio::time::timeout(secs(90), h)
                .await
                .expect("a workload connection did not stop within 90 s")
                .expect("workload task panicked");
        }
        let errors = self.stats.errors.lock().unwrap().clone();
        let s = format!(
            "{} transactions committed ({} row changes), {} aborted, {} reconnects in {:?}",
            self.stats.committed.load(Ordering::SeqCst),
            self.stats.changes.load(Ordering::SeqCst),
            self.stats.aborted.load(Ordering::SeqCst),
            self.stats.reconnects.load(Ordering::SeqCst),
            self.started.elapsed()
        );
        println!("  workload: {s}");
        if !errors.is_empty() {
            println!("  workload errors (first {}):", errors.len());
            for e in &errors {
                println!("    {e}");
            }
        }
        s
    }
}

async fn connect(env: &Env, db: &str) -> Result<Conn, String> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(env.mysql_host.clone())
        .tcp_port(env.mysql_port)
        .user(Some(env.admin_user.clone()))
        .pass(Some(env.admin_pass.clone()))
        .db_name(Some(db.to_string()))
        .prefer_socket(false);
    let mut c = tokio::time::timeout(secs(5), Conn::new(opts))
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| e.to_string())?;
    // READ COMMITTED: no gap locks, so connections touching disjoint keys never deadlock; the
    // shared fc rows still can, which is handled like any aborted transaction.
    c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .map_err(|e| e.to_string())?;
    Ok(c)
}

/// The statements of one connection's transactions. Ids are never reused (a fresh id comes from
/// a per-connection counter), so no statement can hit a duplicate key whatever the outcome of an
/// earlier transaction was; `live` lists keys believed present (stale entries only make a
/// statement match nothing).
struct Gen {
    conn_no: u64,
    base: i64,
    next: i64,
    fa: Vec<i64>,
    fb: Vec<i64>,
}

impl Gen {
    fn fresh(&mut self, n: i64) -> i64 {
        let id = self.base + self.next;
        self.next += n;
        id
    }

    fn take(r: &mut Rng, live: &mut Vec<i64>) -> Option<i64> {
        if live.is_empty() {
            return None;
        }
        let i = r.range(0, live.len() as u64) as usize;
        Some(live.swap_remove(i))
    }

    fn peek(r: &mut Rng, live: &[i64]) -> Option<i64> {
        (!live.is_empty()).then(|| *r.pick(live))
    }

    fn fa_row(&self, r: &mut Rng, id: i64) -> String {
        let s = if r.chance(10) {
            "NULL".to_string()
        } else {
            lit(r.pick_str(STRINGS))
        };
        let d = if r.chance(10) {
            "NULL".to_string()
        } else {
            format!(
                "{}{}.{:06}",
                if r.chance(30) { "-" } else { "" },
                r.range(0, 100_000_000),
                r.range(0, 1_000_000)
            )
        };
        let t = if r.chance(10) {
            "NULL".to_string()
        } else {
            format!(
                "'{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}'",
                r.range(1971, 2100),
                r.range(1, 13),
                r.range(1, 29),
                r.range(0, 24),
                r.range(0, 60),
                r.range(0, 60),
                r.range(0, 1_000_000)
            )
        };
        format!(
            "({id}, {}, {}, {s}, {d}, {t})",
            self.conn_no,
            r.next_u64() as i64 / 4
        )
    }

    fn statement(&mut self, r: &mut Rng, out: &mut Vec<String>) {
        let roll = r.range(0, 100);
        match roll {
            // insert 1–20 rows into fa
            0..=24 => {
                let n = r.range(1, 21) as i64;
                let first = self.fresh(n);
                let rows: Vec<String> = (first..first + n).map(|id| self.fa_row(r, id)).collect();
                self.fa.extend(first..first + n);
                out.push(format!("INSERT INTO fa VALUES {}", rows.join(",")));
            }
            // update a range of fa (ids are issued in runs, so ranges hit several rows)
            25..=36 => {
                if let Some(x) = Self::peek(r, &self.fa) {
                    out.push(format!(
                        "UPDATE fa SET v = v DIV 2 + {}, s = {} WHERE id BETWEEN {x} AND {}",
                        r.range(0, 1000),
                        lit(r.pick_str(STRINGS)),
                        x + r.range(0, 30) as i64
                    ));
                }
            }
            // single-row update, sometimes to NULLs
            37..=44 => {
                if let Some(x) = Self::peek(r, &self.fa) {
                    let set = if r.chance(30) {
                        "s = NULL, d = NULL, t = NULL".to_string()
                    } else {
                        format!("d = {}.5, t = NOW(6)", r.range(0, 1000))
                    };
                    out.push(format!("UPDATE fa SET {set} WHERE id = {x}"));
                }
            }
            // delete one row or a short range
            45..=51 => {
                if let Some(x) = Self::take(r, &mut self.fa) {
                    out.push(format!(
                        "DELETE FROM fa WHERE id BETWEEN {x} AND {}",
                        x + r.range(0, 4) as i64
                    ));
                }
            }
            // primary-key change to a fresh key
            52..=57 => {
                if let Some(x) = Self::take(r, &mut self.fa) {
                    let to = self.fresh(1);
                    self.fa.push(to);
                    out.push(format!("UPDATE fa SET id = {to}, v = v + 1 WHERE id = {x}"));
                }
            }
            // a key taken over in the same transaction: x moves away, y moves into x
            58..=61 => {
                if let (Some(x), Some(y)) =
                    (Self::take(r, &mut self.fa), Self::take(r, &mut self.fa))
                {
                    let to = self.fresh(1);
                    self.fa.extend([to, x]);
                    out.push(format!("UPDATE fa SET id = {to} WHERE id = {x}"));
                    out.push(format!(
                        "UPDATE fa SET id = {x}, s = 'took over' WHERE id = {y}"
                    ));
                }
            }
            // a run of keys shifted into fresh space in one statement (one rows event)
            62..=64 => {
                if let Some(x) = Self::peek(r, &self.fa) {
                    let to = self.fresh(8);
                    self.fa.extend(to..to + 8);
                    out.push(format!(
                        "UPDATE fa SET id = id - {x} + {to} WHERE id BETWEEN {x} AND {}",
                        x + 7
                    ));
                }
            }
            // delete and re-insert the same key; insert-or-update
            65..=68 => {
                if let Some(x) = Self::peek(r, &self.fa) {
                    if r.chance(50) {
                        out.push(format!("DELETE FROM fa WHERE id = {x}"));
                        out.push(format!("INSERT INTO fa VALUES {}", self.fa_row(r, x)));
                    } else {
                        out.push(format!(
                            "INSERT INTO fa VALUES {} ON DUPLICATE KEY UPDATE v = v + 7, s = 'upserted'",
                            self.fa_row(r, x)
                        ));
                    }
                }
            }
            // fb: rows under a fresh `a`
            69..=78 => {
                let a = self.fresh(1);
                let rows: Vec<String> = (0..r.range(1, 5))
                    .map(|k| {
                        let payload = if r.chance(20) {
                            "NULL".to_string()
                        } else {
                            lit(&r.pick_str(STRINGS).repeat(r.range(1, 20) as usize))
                        };
                        format!("({a}, 'k{k}', {}, {payload})", r.next_u64() as i64 / 8)
                    })
                    .collect();
                self.fb.push(a);
                out.push(format!("INSERT INTO fb VALUES {}", rows.join(",")));
            }
            79..=83 => {
                if let Some(a) = Self::peek(r, &self.fb) {
                    out.push(format!(
                        "UPDATE fb SET n = COALESCE(n, 0) + 1, payload = CONCAT(COALESCE(payload, ''), '+') WHERE a = {a}"
                    ));
                }
            }
            // fb key changes: all rows of an `a` move (several rows, one event), or one `b`
            84..=87 => {
                if r.chance(50) {
                    if let Some(a) = Self::take(r, &mut self.fb) {
                        let to = self.fresh(1);
                        self.fb.push(to);
                        out.push(format!("UPDATE fb SET a = {to} WHERE a = {a}"));
                    }
                } else if let Some(a) = Self::peek(r, &self.fb) {
                    let to = self.fresh(1);
                    out.push(format!(
                        "UPDATE fb SET b = 'm{to}' WHERE a = {a} AND b = 'k0'"
                    ));
                }
            }
            88..=90 => {
                if let Some(a) = Self::take(r, &mut self.fb) {
                    out.push(format!("DELETE FROM fb WHERE a = {a}"));
                }
            }
            // the shared rows
            _ => {
                out.push(format!(
                    "UPDATE fc SET n = n + 1, trail = RIGHT(CONCAT(trail, '{}'), 200) WHERE id = {}",
                    self.conn_no,
                    r.range(0, FC_ROWS as u64)
                ));
            }
        }
        // Keep the pools small: picks then land on recent, probably live keys.
        for live in [&mut self.fa, &mut self.fb] {
            if live.len() > 3000 {
                live.drain(..1000);
            }
        }
    }

    fn transaction(&mut self, r: &mut Rng) -> Vec<String> {
        // Mostly small transactions, some up to 50 statements.
        let n = if r.chance(70) {
            r.range(1, 8)
        } else {
            r.range(8, 51)
        };
        let mut out = Vec::new();
        while (out.len() as u64) < n {
            self.statement(r, &mut out);
        }
        out
    }
}

enum TxnError {
    /// The server refused (deadlock, lock wait): rolled back, the connection is fine.
    Refused(String),
    /// The connection is gone (server restarted or killed it): outcome unknown.
    Lost(String),
}

async fn run_txn(c: &mut Conn, stmts: &[String]) -> Result<u64, TxnError> {
    let classify = |e: mysql_async::Error, sql: &str| match e {
        mysql_async::Error::Server(s) if [1213, 1205].contains(&s.code) => {
            TxnError::Refused(format!("{} {}", s.code, s.message))
        }
        mysql_async::Error::Server(s)
            if ![
                1053, 1927, 2006, 2013, 1317, 1043, 1152, 1158, 1159, 1160, 1161,
            ]
            .contains(&s.code) =>
        {
            TxnError::Refused(format!(
                "UNEXPECTED {} {} in {}",
                s.code,
                s.message,
                sql.chars().take(200).collect::<String>()
            ))
        }
        other => TxnError::Lost(other.to_string()),
    };
    let mut changes = 0;
    c.query_drop("BEGIN")
        .await
        .map_err(|e| classify(e, "BEGIN"))?;
    for s in stmts {
        c.query_drop(s).await.map_err(|e| classify(e, s))?;
        changes += c.affected_rows();
    }
    c.query_drop("COMMIT")
        .await
        .map_err(|e| classify(e, "COMMIT"))?;
    Ok(changes)
}

async fn workload_conn(
    env: Env,
    db: String,
    conn_no: u64,
    seed: u64,
    pause_ms: u64,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) {
    let mut r = Rng::new(seed);
    let mut g = Gen {
        conn_no,
        base: (conn_no as i64 + 1) * 1_000_000_000,
        next: 0,
        fa: Vec::new(),
        fb: Vec::new(),
    };
    let mut conn: Option<Conn> = None;
    let note = |s: String| {
        let mut e = stats.errors.lock().unwrap();
        if e.len() < 10 {
            e.push(s);
        }
    };
    while !stop.load(Ordering::SeqCst) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match connect(&env, &db).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let stmts = g.transaction(&mut r);
        match run_txn(c, &stmts).await {
            Ok(n) => {
                stats.committed.fetch_add(1, Ordering::SeqCst);
                stats.changes.fetch_add(n, Ordering::SeqCst);
            }
            Err(TxnError::Refused(e)) => {
                stats.aborted.fetch_add(1, Ordering::SeqCst);
                if e.starts_with("UNEXPECTED") {
                    note(format!("conn {conn_no}: {e}"));
                }
                if c.query_drop("ROLLBACK").await.is_err() {
                    conn = None;
                }
            }
            Err(TxnError::Lost(e)) => {
                stats.aborted.fetch_add(1, Ordering::SeqCst);
                stats.reconnects.fetch_add(1, Ordering::SeqCst);
                note(format!("conn {conn_no}: connection lost: {e}"));
                conn = None;
            }
        }
        if pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(r.range(0, pause_ms * 2 + 1))).await;
        }
    }
    if let Some(c) = conn {
        let _ = c.disconnect().await;
    }
}

/// Waits until PostgreSQL has some workload rows, so a fault lands while the sync is applying.
async fn wait_applying(sync: &mut SyncProc, db: &TestDb) {
    let sql = format!("SELECT count(*) > 0 FROM \"{}\".fa", db.name);
    sync.wait_pg_value(&sql, Some("t"), secs(60)).await;
}

/// Waits until master.info moves from its current value: the sync is reading and applying.
async fn wait_master_info_moves(sync: &mut SyncProc, timeout: Duration) -> BinPos {
    let from = sync.master_info();
    let deadline = Instant::now() + timeout;
    loop {
        sync.assert_alive("waiting for master.info to move");
        if let Some(now) = sync.master_info().filter(|p| Some(p) != from.as_ref()) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "master.info stayed at {from:?} for {timeout:?}\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Makes sure all of the workload's transactions are read and acknowledged before a stop:
/// waits until master.info reaches the server's position at the call, or until nothing but
/// events outside transactions (MariaDB's Binlog_checkpoint, Gtid_list, rotations) lies
/// between them: the sync resumes from transaction ends, and a trailing Binlog_checkpoint
/// event ends none.
async fn wait_caught_up(sync: &mut SyncProc, env: &Env) -> BinPos {
    let target = master_pos(env).await;
    let deadline = Instant::now() + secs(120);
    loop {
        sync.assert_alive("waiting for master.info to catch up");
        if let Some(mi) = sync.master_info() {
            if pos_ge(&mi, &target) || !transactions_between(env, &mi, &target).await {
                return mi;
            }
        }
        if Instant::now() >= deadline {
            panic!(
                "master.info did not catch up with {target:?} within 120 s; it is {:?}\n{}",
                sync.master_info(),
                sync.diag()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the binlog holds any event of a transaction between `from` and `to`.
async fn transactions_between(env: &Env, from: &BinPos, to: &BinPos) -> bool {
    const OUTSIDE: &[&str] = &[
        "Binlog_checkpoint",
        "Gtid_list",
        "Rotate",
        "Format_desc",
        "Stop",
        "Start_encryption",
        "Previous_gtids",
    ];
    let mut c = env.mysql().await;
    let mut found = false;
    for (file, _) in binary_logs(env).await {
        let f = (file.clone(), u64::MAX);
        if !pos_ge(&f, from) || pos_ge(&(file.clone(), 0), &(to.0.clone(), u64::MAX)) {
            continue;
        }
        let start = if file == from.0 { from.1 } else { 4 };
        let rows: Vec<(String, u64)> = c
            .query_map(
                format!("SHOW BINLOG EVENTS IN {} FROM {start}", lit(&file)),
                |row: mysql_async::Row| {
                    (
                        row.get::<String, _>("Event_type").unwrap_or_default(),
                        row.get::<u64, _>("End_log_pos").unwrap_or(0),
                    )
                },
            )
            .await
            .expect("SHOW BINLOG EVENTS");
        for (kind, end) in rows {
            if file == to.0 && end > to.1 {
                break;
            }
            if !OUTSIDE.contains(&kind.as_str()) {
                found = true;
            }
        }
        if found {
            break;
        }
    }
    let _ = c.disconnect().await;
    found
}

fn log_lines_with(sync: &SyncProc, needle: &str) -> Vec<String> {
    sync.log()
        .lines()
        .filter(|l| l.contains(needle))
        .map(|l| l.to_string())
        .collect()
}

fn print_log_lines(sync: &SyncProc, needles: &[&str], max: usize) {
    let log = sync.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .collect();
    println!("  sync.log: {} line(s) about {needles:?}", lines.len());
    for l in lines.iter().take(max) {
        println!("    {}", l.chars().take(300).collect::<String>());
    }
}

/// The sync must still be the first process started, alive, and stop cleanly with exit 0.
async fn assert_never_exited_then_stop(sync: &mut SyncProc, what: &str) {
    sync.assert_alive(what);
    assert_eq!(
        sync.starts,
        1,
        "{what}: the sync was started more than once\n{}",
        sync.diag()
    );
    sync.sigterm_and_wait().await;
}

// ---------------------------------------------------------------------------
// 1. kill -9 at random moments
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_at_random_moments() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let seed = seed("kill9_random");
    let mut r = Rng::new(seed);
    let env = Env::get();
    let db = workload_db("fault_kill9").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;

    let mut last_mi = sync.master_info().expect("master.info written by the test");
    let mut moved = 0;
    for i in 1..=12 {
        // master.info is saved about once a second, so kills 100–800 ms apart would all resume
        // from the same position: before every third kill, also wait for it to move, so that
        // restarts resume mid-stream from a position this run saved.
        if i % 3 == 0 {
            let deadline = Instant::now() + secs(30);
            while sync.master_info().as_ref() == Some(&last_mi) {
                sync.assert_alive(&format!(
                    "waiting for master.info to move before kill -9 #{i}"
                ));
                assert!(
                    Instant::now() < deadline,
                    "master.info did not move within 30 s of restart #{}\n{}",
                    i - 1,
                    sync.diag()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let delay = r.range(100, 801);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        sync.assert_alive(&format!("before kill -9 #{i}"));
        sync.kill9();
        // Written atomically: whenever the process dies, master.info is whole.
        let mi = read_master_info(&sync)
            .unwrap_or_else(|e| panic!("after kill -9 #{i} master.info is damaged: {e}"));
        assert!(
            pos_ge(&mi, &last_mi),
            "master.info went backwards across kill -9 #{i}: {last_mi:?} → {mi:?}"
        );
        if mi != last_mi {
            moved += 1;
        }
        println!(
            "  kill -9 #{i} after {delay} ms: master.info {}:{}, workload {} txns",
            mi.0,
            mi.1,
            work.committed()
        );
        last_mi = mi;
        sync.restart();
    }
    assert!(
        moved >= 4,
        "master.info moved across only {moved} of 12 kills: the kills did not land mid-stream"
    );
    // Keep writing a little after the last restart, then stop and compare.
    work.wait_more(20, secs(60)).await;
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    wait_caught_up(&mut sync, &env).await;
    sync.sigterm_and_wait().await;
    println!(
        "[kill9_random] 12 kills, master.info moved across {moved}, {} starts, done in {:?}",
        sync.starts,
        t0.elapsed()
    );
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 1b. Restarts (SIGTERM and kill -9) before and after binlog rotations
// ---------------------------------------------------------------------------

/// The positions the sync keeps must be the server's own, on every server: MySQL sends the
/// first ROTATE without a checksum (a name cut by 4 bytes once lost every change after a
/// restart), MariaDB 11.8 writes row events without end positions (marks at the stream's start
/// position once skipped every change after a rotation). Each round rotates the binlog and
/// stops the sync (SIGTERM or kill -9) on one side or the other of the rotation, sometimes
/// rotating again while it is down; the workload never stops. Every round checks that
/// master.info and each checkpoint name one of the server's binlogs, and the end that every
/// table is equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_across_rotations() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let seed = seed("restarts_rotations");
    let mut r = Rng::new(seed);
    let env = Env::get();
    let db = workload_db("fault_rotations").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(3);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;
    let mut admin = env.mysql().await;
    let pg = env.pg().await;
    for i in 1..=8 {
        wait_master_info_moves(&mut sync, secs(60)).await;
        let rotate_first = r.chance(50);
        if rotate_first {
            my_q(&mut admin, "FLUSH BINARY LOGS").await;
            work.wait_more(5, secs(60)).await;
        }
        let how = if i % 2 == 0 {
            sync.kill9();
            "kill -9"
        } else {
            sync.sigterm_and_wait().await;
            "SIGTERM"
        };
        let mi = read_master_info(&sync)
            .unwrap_or_else(|e| panic!("after {how} #{i} master.info is damaged: {e}"));
        assert_real_binlog(&env, &mi).await;
        if r.chance(50) {
            // Rotations while the sync is down: it must follow them from its saved position.
            my_q(&mut admin, "FLUSH BINARY LOGS").await;
            work.wait_more(3, secs(60)).await;
        }
        if !rotate_first {
            my_q(&mut admin, "FLUSH BINARY LOGS").await;
        }
        println!(
            "  #{i}: {how}, rotation {}, master.info {}:{}, workload {} txns",
            if rotate_first { "before" } else { "after" },
            mi.0,
            mi.1,
            work.committed()
        );
        sync.restart();
        // Every checkpoint the sync wrote is a place in the server's binlogs.
        let marks = pg
            .query(
                "SELECT bin_name, bin_pos::bigint FROM mysql_gp_sync.checkpoint WHERE source = $1",
                &[&format!("server_id {}", cfg.server_id)],
            )
            .await
            .expect("reading the checkpoint table");
        assert!(!marks.is_empty(), "no checkpoint rows after round {i}");
        for m in marks {
            let p: BinPos = (m.get::<_, String>(0), m.get::<_, i64>(1) as u64);
            assert_real_binlog(&env, &p).await;
        }
    }
    work.wait_more(20, secs(60)).await;
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    let mi = wait_caught_up(&mut sync, &env).await;
    assert_real_binlog(&env, &mi).await;
    sync.sigterm_and_wait().await;
    println!(
        "[restarts_rotations] 8 rounds on {} at {}, {} starts, done in {:?}",
        env.server_name(),
        env.mysql_addr(),
        sync.starts,
        t0.elapsed()
    );
    drop(pg);
    let _ = admin.disconnect().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 2. PostgreSQL restarted mid-stream
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_stream() {
    let _servers = Servers::exclusive();
    let t0 = Instant::now();
    let seed = seed("pg_restart");
    let env = Env::get();
    let db = workload_db("fault_pgrestart").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;

    work.wait_more(30, secs(60)).await;
    println!("  restart 1: pg_ctl restart -m fast");
    restart_postgres(Duration::ZERO).await;
    sync.assert_alive("after the first PostgreSQL restart");
    work.wait_more(30, secs(60)).await;
    println!("  restart 2: pg_ctl stop -m fast, 3 s down, start");
    restart_postgres(secs(3)).await;
    sync.assert_alive("after the second PostgreSQL restart");
    work.wait_more(30, secs(60)).await;
    work.finish().await;

    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    wait_caught_up(&mut sync, &env).await;
    print_log_lines(&sync, &["PostgreSQL", "restarting from"], 6);
    assert_never_exited_then_stop(&mut sync, "after PostgreSQL restarts").await;
    println!("[pg_restart] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 2b. PostgreSQL loses commits it had confirmed (synchronous_commit = off, crash)
// ---------------------------------------------------------------------------

/// Restores the database's synchronous_commit default when dropped, even on panic.
struct SyncCommitGuard(Env, Option<&'static str>);

impl SyncCommitGuard {
    async fn set(env: &Env, v: Option<&'static str>) -> SyncCommitGuard {
        let c = env.pg().await;
        let sql = match v {
            Some(v) => format!(
                "ALTER DATABASE {} SET synchronous_commit = {v}",
                quote_pg(&env.pg_db)
            ),
            None => format!(
                "ALTER DATABASE {} RESET synchronous_commit",
                quote_pg(&env.pg_db)
            ),
        };
        pg_q(&c, &sql).await;
        SyncCommitGuard(env.clone(), v)
    }
}

impl Drop for SyncCommitGuard {
    fn drop(&mut self) {
        if self.1.is_none() {
            return;
        }
        let env = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let c = env.pg().await;
                let _ = c
                    .batch_execute(&format!(
                        "ALTER DATABASE {} RESET synchronous_commit",
                        quote_pg(&env.pg_db)
                    ))
                    .await;
            });
        })
        .join();
    }
}

/// `pg_ctl restart -m immediate`: what a crash (or a failover to an asynchronous standby)
/// looks like to the sync. With synchronous_commit = off PostgreSQL loses the commits of the
/// last moments, which it had confirmed.
async fn crash_postgres() {
    let log = test_dir().join("pg/postgres.log");
    run_ok(
        pg_ctl(&["-m", "immediate", "restart"]),
        "pg_ctl restart -m immediate",
        &log,
    )
    .await;
    let c = Env::get().pg().await;
    pg_q(&c, "SELECT 1").await;
}

/// The target runs `synchronous_commit` = `mode` (the test servers' default is off). A
/// write-heavy workload streams while PostgreSQL crashes three times mid-stream and once while
/// the sync is stopped; every table must end equal: PostgreSQL's checkpoint is the judge of
/// what it still holds, and the sync replays what it lost.
async fn postgres_crashes(mode: &'static str) {
    let t0 = Instant::now();
    let seed = seed(&format!("pg_crash_{mode}"));
    let env = Env::get();
    let _sc = SyncCommitGuard::set(&env, if mode == "on" { Some("on") } else { None }).await;
    let db = workload_db(&format!("fault_pgcrash_{mode}")).await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    {
        let c = env.pg().await;
        let v = pg_value(&c, "SHOW synchronous_commit").await;
        assert_eq!(v.as_deref(), Some(mode), "the target's synchronous_commit");
    }
    let work = Workload::start(&env, &db, 3, seed, 0);
    wait_applying(&mut sync, &db).await;
    for i in 1..=3 {
        work.wait_more(40, secs(60)).await;
        crash_postgres().await;
        println!(
            "  crash {i}: pg_ctl restart -m immediate, workload {} txns",
            work.committed()
        );
        wait_master_info_moves(&mut sync, secs(60)).await;
    }
    // Once while the sync is stopped: its start must judge by what PostgreSQL holds.
    work.wait_more(40, secs(60)).await;
    sync.sigterm_and_wait().await;
    crash_postgres().await;
    println!(
        "  crash 4 while the sync was stopped, workload {} txns",
        work.committed()
    );
    sync.restart();
    work.wait_more(40, secs(60)).await;
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    wait_caught_up(&mut sync, &env).await;
    let rewinds = log_lines_with(&sync, "lost commits it had confirmed");
    println!(
        "[pg_crash_{mode}] {} rewind(s) for lost commits, done in {:?}",
        rewinds.len(),
        t0.elapsed()
    );
    for l in rewinds.iter().take(4) {
        println!("    {}", l.chars().take(300).collect::<String>());
    }
    sync.assert_alive("after the crashes");
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashes_with_synchronous_commit_off() {
    let _servers = Servers::exclusive();
    postgres_crashes("off").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crashes_with_synchronous_commit_on() {
    let _servers = Servers::exclusive();
    postgres_crashes("on").await;
}

// ---------------------------------------------------------------------------
// 3. MariaDB restarted mid-stream
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restart_mid_stream() {
    let _servers = Servers::exclusive();
    let t0 = Instant::now();
    let seed = seed("mariadb_restart");
    let env = Env::get();
    let db = workload_db("fault_myrestart").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;
    work.wait_more(30, secs(60)).await;

    let before = log_lines_with(&sync, "restarting from").len();
    println!("  MariaDB shutdown, 2 s down, start");
    restart_mariadb(secs(2)).await;
    sync.assert_alive("after the MariaDB restart");
    // The workload reconnects by itself and goes on.
    work.wait_more(30, secs(90)).await;
    work.finish().await;

    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    wait_caught_up(&mut sync, &env).await;
    let retries = log_lines_with(&sync, "restarting from");
    assert!(
        retries.len() > before,
        "the sync's log shows no reconnection (\"restarting from\") after the MariaDB restart\n{}",
        sync.diag()
    );
    print_log_lines(&sync, &["restarting from", "reading the binlog from"], 8);
    assert_never_exited_then_stop(&mut sync, "after the MariaDB restart").await;
    println!("[mariadb_restart] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 4. the sync's sessions killed from the server side
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_kills_of_the_syncs_sessions() {
    // Only this sync's sessions are killed (matched by client port), but a KILL is a fault for
    // every reader of the binlog: keep it apart from the other tests all the same.
    let _servers = Servers::exclusive();
    let t0 = Instant::now();
    let seed = seed("server_kills");
    let mut r = Rng::new(seed);
    let env = Env::get();
    let db = workload_db("fault_srvkill").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;
    let pid = sync.pid().unwrap();

    let (mut dumps, mut backends) = (0, 0);
    for round in 1..=3 {
        // PostgreSQL sessions terminated while the sync applies: after its last reconnect,
        // master.info moves again.
        wait_master_info_moves(&mut sync, secs(60)).await;
        for k in 1..=2 {
            let terminated = terminate_pg_sessions(&env, pid).await;
            backends += terminated.len();
            println!(
                "  round {round}.{k}: pg_terminate_backend of the sync's PostgreSQL sessions {terminated:?}"
            );
            tokio::time::sleep(Duration::from_millis(r.range(200, 800))).await;
        }
        // The dump thread exists only while the sync is connected.
        let deadline = Instant::now() + secs(60);
        let killed = loop {
            sync.assert_alive("waiting for the sync's Binlog Dump thread");
            let k = kill_binlog_dump(&env, pid).await;
            if !k.is_empty() {
                break k;
            }
            assert!(
                Instant::now() < deadline,
                "no Binlog Dump thread of the sync (pid {pid}) within 60 s\n{}",
                sync.diag()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        dumps += killed.len();
        println!("  round {round}: KILL of the sync's Binlog Dump thread {killed:?}");
        sync.assert_alive(&format!("after round {round} of server-side kills"));
    }
    work.wait_more(20, secs(90)).await;
    work.finish().await;
    assert!(
        backends > 0,
        "no PostgreSQL session of the sync was found to terminate"
    );

    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    wait_caught_up(&mut sync, &env).await;
    print_log_lines(&sync, &["restarting from", "PostgreSQL"], 8);
    assert_never_exited_then_stop(&mut sync, "after server-side kills").await;
    println!(
        "[server_kills] {dumps} Binlog Dump threads killed, {backends} PostgreSQL sessions terminated, done in {:?}",
        t0.elapsed()
    );
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 5. binlog rotation during a large transaction
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_binary_logs_during_large_transaction() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let seed = seed("rotate_big");
    let env = Env::get();
    let db = workload_db("fault_rotate").await;
    db.create_table(
        "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, v BIGINT NOT NULL, s VARCHAR(30) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE big (id integer NOT NULL PRIMARY KEY, v bigint NOT NULL, s varchar(30) NOT NULL)",
    )
    .await;
    let mut tables = workload_tables();
    tables.push("big");
    let cfg = SyncConfig::new(&env, &db.name, &tables).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let first_file = sync.master_info().unwrap().0;
    let work = Workload::start(&env, &db, 2, seed, 10);
    wait_applying(&mut sync, &db).await;

    // Flush the binary logs every 50 ms while a statement runs on another connection.
    async fn with_flushes(env: &Env, db: &TestDb, sqls: &[&str]) -> (u32, Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let (env2, stop2) = (env.clone(), stop.clone());
        let flusher = tokio::spawn(async move {
            let mut admin = env2.mysql().await;
            let mut n = 0u32;
            while !stop2.load(Ordering::SeqCst) {
                my_q(&mut admin, "FLUSH BINARY LOGS").await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = admin.disconnect().await;
            n
        });
        let t = Instant::now();
        let mut c = db.my().await;
        for s in sqls {
            my_q(&mut c, s).await;
        }
        let took = t.elapsed();
        // A few more rotations right after the commit.
        tokio::time::sleep(Duration::from_millis(150)).await;
        stop.store(true, Ordering::SeqCst);
        let _ = c.disconnect().await;
        (flusher.await.unwrap(), took)
    }

    let (n1, took1) = with_flushes(
        &env,
        &db,
        &[&format!(
            "INSERT INTO big SELECT seq, seq * 3, CONCAT('row ', seq) FROM {}",
            env.seq(200_000)
        )],
    )
    .await;
    println!(
        "  200 000-row INSERT … SELECT (autocommit) in {took1:?}, {n1} FLUSH BINARY LOGS meanwhile"
    );
    let (n2, took2) = with_flushes(
        &env,
        &db,
        &[
            "BEGIN",
            &format!(
                "INSERT INTO big SELECT seq, seq, 'second' FROM {}",
                env.seq_range(200_001, 300_000)
            ),
            "UPDATE big SET v = v + 1, s = 'updated' WHERE id % 3 = 0",
            "UPDATE big SET id = id + 1000000 WHERE id BETWEEN 1 AND 20000",
            "DELETE FROM big WHERE id % 7 = 0",
            "COMMIT",
        ],
    )
    .await;
    println!(
        "  100 000 inserts + updates + 20 000 key changes + deletes in one transaction in {took2:?}, {n2} FLUSH BINARY LOGS meanwhile"
    );
    work.wait_more(20, secs(60)).await;
    work.finish().await;

    wait_all_equal(&mut sync, &db, &[("big", &["id"])], secs(150)).await;
    let caught = wait_caught_up(&mut sync, &env).await;
    sync.sigterm_and_wait().await;
    let mi = sync.master_info().expect("master.info after SIGTERM");
    assert!(pos_ge(&mi, &caught));
    assert_real_binlog(&env, &mi).await;
    assert_ne!(
        mi.0, first_file,
        "master.info should have followed the rotations"
    );
    println!(
        "[rotate_big] binlog {first_file} → {}:{}, done in {:?}",
        mi.0,
        mi.1,
        t0.elapsed()
    );
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 6. a 1 000 000-row transaction, default window, bounded memory
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn million_row_transaction_bounded_memory() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let seed = seed("million");
    let env = Env::get();
    let db = workload_db("fault_million").await;
    db.create_table(
        "CREATE TABLE narrow (id INT NOT NULL PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE narrow (id integer NOT NULL PRIMARY KEY, v integer NOT NULL)",
    )
    .await;
    let mut tables = workload_tables();
    tables.push("narrow");
    // concurrent_ack_win left out of the config: its default applies.
    let toml: String = SyncConfig::new(&env, &db.name, &tables)
        .to_toml(Path::new("{DATA_DIR}"))
        .lines()
        .filter(|l| !l.starts_with("concurrent_ack_win"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut sync = SyncProc::start_raw(&env, &toml, Some(master_pos(&env).await)).await;
    let pid = sync.pid().unwrap();
    let work = Workload::start(&env, &db, 2, seed, 20);
    wait_applying(&mut sync, &db).await;

    let mut c = db.my().await;
    let t = Instant::now();
    my_q(
        &mut c,
        &format!(
            "INSERT INTO narrow SELECT seq, seq % 1000 FROM {}",
            env.seq(1_000_000)
        ),
    )
    .await;
    let committed = master_pos_on(&mut c).await;
    let _ = c.disconnect().await;
    println!(
        "  1 000 000-row INSERT … SELECT committed in {:?} (binlog now {}:{})",
        t.elapsed(),
        committed.0,
        committed.1
    );
    // Sample the sync's memory while it applies the transaction.
    let t = Instant::now();
    let mut peak_rss = 0;
    let deadline = Instant::now() + secs(240);
    loop {
        sync.assert_alive("applying the 1 000 000-row transaction");
        peak_rss = peak_rss.max(memory_mib(pid).1);
        if sync.master_info().is_some_and(|mi| pos_ge(&mi, &committed)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the 1 000 000-row transaction was not acknowledged within 240 s\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let applied_in = t.elapsed();
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[("narrow", &["id"])], secs(120)).await;
    let (hwm, rss) = memory_mib(pid);
    println!(
        "  sync (pid {pid}) applied and acknowledged it {applied_in:?} after the commit \
         ({:.0} rows/s); peak RSS (VmHWM) {hwm} MiB, RSS now {rss} MiB, highest sampled RSS {peak_rss} MiB",
        1_000_000.0 / applied_in.as_secs_f64()
    );
    assert!(hwm > 0, "cannot read VmHWM of pid {pid}");
    assert!(
        hwm < 512,
        "the sync's peak RSS is {hwm} MiB for a 1 000 000-row transaction with the default window (limit 512 MiB)"
    );
    sync.sigterm_and_wait().await;
    println!("[million] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 7a. master.info damaged or deleted while the sync runs
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_info_damaged_while_running_is_rewritten() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let seed = seed("mi_running");
    let env = Env::get();
    let db = workload_db("fault_mirun").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;
    let path = master_info_path(&sync);

    let damages: [(&str, Option<&[u8]>); 4] = [
        ("garbage bytes", Some(b"\x00\xff\xfe garbage = [[[\n")),
        ("deleted", None),
        ("a torn write", Some(b"bin_name = \"mysql-bin.0000")),
        (
            "bin_pos = \"x\"",
            Some(b"bin_name = \"mysql-bin.000001\"\nbin_pos = \"x\"\n"),
        ),
    ];
    for (what, bytes) in damages {
        let before = read_master_info(&sync).expect("master.info valid before damaging it");
        match bytes {
            Some(b) => fs::write(&path, b).unwrap(),
            None => fs::remove_file(&path).unwrap(),
        }
        let t = Instant::now();
        let restored = loop {
            sync.assert_alive(&format!("after master.info was {what}"));
            if let Ok(mi) = read_master_info(&sync) {
                break mi;
            }
            assert!(
                t.elapsed() < secs(20),
                "master.info ({what}) was not rewritten within 20 s: {:?}\n{}",
                fs::read(&path).map(|b| String::from_utf8_lossy(&b).into_owned()),
                sync.diag()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            pos_ge(&restored, &before),
            "master.info was rewritten behind its last value: {before:?} → {restored:?}"
        );
        println!(
            "  master.info {what}: rewritten whole after {:?} as {}:{}",
            t.elapsed(),
            restored.0,
            restored.1
        );
    }
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    let caught = wait_caught_up(&mut sync, &env).await;
    sync.sigterm_and_wait().await;
    let mi = read_master_info(&sync).expect("master.info after SIGTERM");
    assert!(pos_ge(&mi, &caught));
    assert_real_binlog(&env, &mi).await;
    assert!(
        !master_info_path(&sync)
            .with_file_name("master.info.tmp")
            .exists(),
        "a master.info.tmp was left behind"
    );
    println!("  after SIGTERM master.info is {}:{}", mi.0, mi.1);

    // And it is the position a restart resumes from.
    sync.restart();
    db.my_exec_all(&["INSERT INTO fa VALUES (1, 0, 1, 'after restart', NULL, NULL)"])
        .await;
    wait_all_equal(&mut sync, &db, &[], secs(60)).await;
    sync.sigterm_and_wait().await;
    println!("[mi_running] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 7b. a damaged master.info at start
// ---------------------------------------------------------------------------

/// Starts the sync with `bytes` as master.info; it must exit non-zero with an `Error:` line
/// naming master.info and every string of `mention`, without reading the binlog, and leave
/// master.info as it was.
async fn expect_refused_start(
    env: &Env,
    cfg: &SyncConfig,
    what: &str,
    bytes: &[u8],
    mention: &[&str],
) {
    let mut sync = SyncProc::prepare(env);
    fs::write(&sync.config_path, cfg.to_toml(&sync.data_dir)).unwrap();
    let path = master_info_path(&sync);
    fs::write(&path, bytes).unwrap();
    sync.spawn();
    let t = Instant::now();
    let st = sync.wait_exit(secs(30)).await;
    let stderr = sync.stderr();
    let error = stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| panic!("{what}: no `Error:` line on stderr\n{}", sync.diag()))
        .to_string();
    assert!(
        matches!(st.code(), Some(c) if c != 0),
        "{what}: expected a non-zero exit, got {st}\n{}",
        sync.diag()
    );
    for m in mention.iter().chain(&["master.info"]) {
        assert!(
            error.contains(m),
            "{what}: the error should mention {m:?}: {error}\n{}",
            sync.diag()
        );
    }
    assert_eq!(
        fs::read(&path).ok().as_deref(),
        Some(bytes),
        "{what}: master.info was changed"
    );
    assert!(
        !sync.log().contains("reading the binlog from"),
        "{what}: the sync started reading the binlog\n{}",
        sync.diag()
    );
    println!(
        "  {what}: exit {st} after {:?}, master.info untouched; {error}",
        t.elapsed()
    );
}

#[tokio::test]
async fn master_info_damaged_at_start_is_refused() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let env = Env::get();
    let db = workload_db("fault_mistart").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables());
    let (file, _) = master_pos(&env).await;
    let mut random = Rng::new(seed("mi_start"));
    let noise: Vec<u8> = (0..64).map(|_| random.next_u64() as u8).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "bin_pos = \"x\"",
            format!("bin_name = \"{file}\"\nbin_pos = \"x\"\n").into_bytes(),
        ),
        ("random bytes", noise),
        (
            "a torn write",
            format!("bin_name = \"{file}\"\nbin_p").into_bytes(),
        ),
        (
            "bin_pos missing",
            format!("bin_name = \"{file}\"\n").into_bytes(),
        ),
        (
            "a negative bin_pos",
            format!("bin_name = \"{file}\"\nbin_pos = -4\n").into_bytes(),
        ),
    ];
    for (what, bytes) in &cases {
        expect_refused_start(&env, &cfg, what, bytes, &[]).await;
    }
    println!(
        "[mi_start] {} cases, done in {:?}",
        cases.len(),
        t0.elapsed()
    );
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 8. the saved position was purged on the server
// ---------------------------------------------------------------------------

#[tokio::test]
async fn purged_binlog_position_is_refused() {
    let _servers = Servers::shared();
    let t0 = Instant::now();
    let seed = seed("purged");
    let env = Env::get();
    let db = workload_db("fault_purged").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables());
    let logs = binary_logs(&env).await;
    let (first, _) = logs.first().cloned().expect("the server has binlogs");
    let (last, last_size) = logs.last().cloned().unwrap();
    // The binlog base name of the server, with an index before its oldest file.
    let base = first
        .rsplit_once('.')
        .map(|(b, _)| b)
        .unwrap_or("mysql-bin");
    let purged = format!("{base}.000000");
    assert!(!logs.iter().any(|(n, _)| *n == purged));
    let text = format!("bin_name = \"{purged}\"\nbin_pos = 4\n");
    expect_refused_start(
        &env,
        &cfg,
        &format!("{purged} (purged)"),
        text.as_bytes(),
        &["purged", &purged],
    )
    .await;
    // An offset past the end of a binlog the server has: past any file size (max_binlog_size
    // is at most 1 GiB), since other tests write to the server meanwhile (1 MB once was not).
    let text = format!(
        "bin_name = \"{last}\"\nbin_pos = {}\n",
        last_size + 4_000_000_000
    );
    expect_refused_start(
        &env,
        &cfg,
        "an offset past the end",
        text.as_bytes(),
        &[&last],
    )
    .await;

    // With a position the server has, the same config syncs the workload.
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;
    work.wait_more(30, secs(60)).await;
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[], secs(120)).await;
    sync.sigterm_and_wait().await;
    println!("[purged] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 9. PostgreSQL down while the binlog connection is lost
// ---------------------------------------------------------------------------

/// Kills the sync's Binlog Dump thread and waits until the sync reads the binlog again.
async fn kill_dump_and_wait_reconnect(sync: &mut SyncProc, env: &Env, timeout: Duration) {
    let pid = sync.pid().unwrap();
    let before = log_lines_with(sync, "reading the binlog from").len();
    let killed = kill_binlog_dump(env, pid).await;
    assert!(
        !killed.is_empty(),
        "no Binlog Dump thread of the sync found\n{}",
        sync.diag()
    );
    println!("  KILL of the sync's Binlog Dump thread {killed:?}");
    let deadline = Instant::now() + timeout;
    while log_lines_with(sync, "reading the binlog from").len() <= before {
        sync.assert_alive("waiting for the binlog reconnect");
        assert!(
            Instant::now() < deadline,
            "the sync did not reconnect to the binlog within {timeout:?}\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("  the sync reads the binlog again");
}

/// Writes arrive while PostgreSQL is down for about 4 s; the sync must be alive throughout.
async fn writes_while_postgres_down(
    sync: &mut SyncProc,
    env: &Env,
    db: &TestDb,
    seed: u64,
    what: &str,
) {
    let work = Workload::start(env, db, 3, seed, 5);
    work.wait_more(30, secs(60)).await;
    tokio::time::sleep(secs(3)).await;
    let alive_while_down = sync.try_exited().is_none();
    let log = test_dir().join("pg/postgres.log");
    run_ok(pg_ctl(&["-m", "fast", "restart"]), "pg_ctl restart", &log).await;
    println!("  PostgreSQL started again");
    sync.assert_alive(&format!(
        "{what} (alive until PostgreSQL came back: {alive_while_down})"
    ));
    work.wait_more(30, secs(60)).await;
    work.finish().await;
    wait_all_equal(sync, db, &[], secs(120)).await;
    wait_caught_up(sync, env).await;
}

/// The binlog connection drops (here: KILL of the dump thread; a network blip or a MariaDB
/// restart does the same) around the time PostgreSQL goes down, in a quiet moment; then writes
/// arrive while PostgreSQL is still down. The sync reloads table layouts after a reconnect,
/// which reads PostgreSQL: it must wait for PostgreSQL, not stop.
/// (a) PostgreSQL stops, then the binlog connection drops;
/// (b) the binlog connection drops and is re-established, then PostgreSQL stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_while_binlog_reconnects() {
    let _servers = Servers::exclusive();
    let t0 = Instant::now();
    let seed = seed("pg_down_reconnect");
    let env = Env::get();
    let db = workload_db("fault_pgdown").await;
    let cfg = SyncConfig::new(&env, &db.name, &workload_tables()).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    wait_applying(&mut sync, &db).await;
    work.wait_more(30, secs(60)).await;
    work.finish().await;
    // Quiet: everything applied, the workers idle.
    wait_caught_up(&mut sync, &env).await;
    let log = test_dir().join("pg/postgres.log");

    println!("  (a) PostgreSQL stops, then the binlog connection drops");
    run_ok(pg_ctl(&["-m", "fast", "stop"]), "pg_ctl stop", &log).await;
    println!("  PostgreSQL stopped");
    // The sync's lease session went with PostgreSQL, and with it the run (state::lease): its
    // binlog connection may be closed already; if not, it is killed now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = sync.pid().unwrap();
    let killed = kill_binlog_dump(&env, pid).await;
    println!("  KILL of the sync's Binlog Dump thread {killed:?} (none: the sync had closed it)");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    writes_while_postgres_down(
        &mut sync,
        &env,
        &db,
        seed ^ 0xa,
        "(a) PostgreSQL down, then the binlog connection lost",
    )
    .await;

    println!("  (b) the binlog connection drops and comes back, then PostgreSQL stops");
    kill_dump_and_wait_reconnect(&mut sync, &env, secs(60)).await;
    run_ok(pg_ctl(&["-m", "fast", "stop"]), "pg_ctl stop", &log).await;
    println!("  PostgreSQL stopped");
    writes_while_postgres_down(
        &mut sync,
        &env,
        &db,
        seed ^ 0xb,
        "(b) binlog reconnected, then PostgreSQL down when the first rows arrived",
    )
    .await;

    print_log_lines(&sync, &["restarting from", "PostgreSQL"], 8);
    assert_never_exited_then_stop(&mut sync, "after PostgreSQL was down around a reconnect").await;
    println!("[pg_down_reconnect] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 10. TRUNCATE arriving while PostgreSQL is down
// ---------------------------------------------------------------------------

/// A TRUNCATE of a synced table is applied by the reader (after a barrier), not by a worker:
/// arriving while PostgreSQL is down it must wait for PostgreSQL like a batch does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_while_postgres_is_down() {
    let _servers = Servers::exclusive();
    let t0 = Instant::now();
    let seed = seed("truncate_pg_down");
    let env = Env::get();
    let db = workload_db("fault_trunc").await;
    db.create_table(
        "CREATE TABLE tr (id INT NOT NULL PRIMARY KEY, v VARCHAR(20) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE tr (id integer NOT NULL PRIMARY KEY, v varchar(20) NOT NULL)",
    )
    .await;
    let mut tables = workload_tables();
    tables.push("tr");
    let cfg = SyncConfig::new(&env, &db.name, &tables).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let work = Workload::start(&env, &db, 3, seed, 5);
    db.my_exec_all(&[&format!(
        "INSERT INTO tr SELECT seq, 'before' FROM {}",
        db.env.seq(1000)
    )])
    .await;
    wait_applying(&mut sync, &db).await;
    work.wait_more(30, secs(60)).await;
    work.finish().await;
    // Quiet: nothing in flight, so the TRUNCATE's barrier passes at once.
    wait_caught_up(&mut sync, &env).await;

    let log = test_dir().join("pg/postgres.log");
    run_ok(pg_ctl(&["-m", "fast", "stop"]), "pg_ctl stop", &log).await;
    println!("  PostgreSQL stopped; TRUNCATE tr, then new rows and the workload, while it is down");
    db.my_exec_all(&[
        "TRUNCATE TABLE tr",
        &format!("INSERT INTO tr SELECT seq, 'after' FROM {}", db.env.seq(10)),
    ])
    .await;
    let work = Workload::start(&env, &db, 3, seed ^ 0x5555, 5);
    work.wait_more(30, secs(60)).await;
    tokio::time::sleep(secs(3)).await;
    let alive_while_down = sync.try_exited().is_none();
    run_ok(pg_ctl(&["-m", "fast", "restart"]), "pg_ctl restart", &log).await;
    println!("  PostgreSQL started again, down for about 4 s");
    sync.assert_alive(&format!(
        "TRUNCATE while PostgreSQL was down (alive while it was down: {alive_while_down})"
    ));
    work.wait_more(30, secs(60)).await;
    work.finish().await;
    wait_all_equal(&mut sync, &db, &[("tr", &["id"])], secs(120)).await;
    wait_caught_up(&mut sync, &env).await;
    print_log_lines(&sync, &["TRUNCATE", "restarting from"], 8);
    assert_never_exited_then_stop(&mut sync, "after a TRUNCATE while PostgreSQL was down").await;
    println!("[truncate_pg_down] done in {:?}", t0.elapsed());
    drop(sync);
    db.cleanup().await;
}
