//! The measuring side of `scripts/bench.sh`, which starts the private servers, builds, and
//! runs `mgs-bench run` with their connection settings (`scripts/test-env.sh env`) and the
//! MGS_BENCH_* knobs in the environment.
//!
//!   mgs-bench check   checks the knobs (exit 2 when one is wrong)
//!   mgs-bench run     runs the phases and prints the tables; exit 1 when a result is wrong
//!                     (tables differ, the sync died or stalled)
//!
//! Every sync run is timed from its start until the position in its status file (the one
//! `mysql-gp-sync status` prints, rewritten each second) reaches the end of the backlog, and
//! ends with a whole-table count + checksum comparison with MariaDB.

mod db;
mod init;
mod knobs;
mod load;
mod phases;
mod procstat;
mod report;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use db::{Db, DB};
use knobs::Knobs;
use procstat::Servers;
use report::{print_table, Results, COPY};

/// `[bench HH:MM:SS] message` on stderr (UTC).
pub fn log(msg: &str) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        % 86_400;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    eprintln!("[bench {h:02}:{m:02}:{s:02}] {msg}");
}

/// What every phase works with.
pub struct Bench {
    pub k: Knobs,
    pub db: Db,
    pub servers: Servers,
    pub results: Results,
    /// How long MariaDB took to write the backlogs, for the header.
    pub notes: Vec<String>,
}

impl Bench {
    pub fn stall(&self) -> Duration {
        Duration::from_secs(self.k.stall_secs)
    }
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run(k: Knobs) -> Result<bool> {
    let load_start = loadavg();
    let servers = Servers::find(&PathBuf::from(db::env("MGS_TEST_DIR")?))?;
    let mut db = Db::connect().await?;
    db.create_tables().await?;
    let mut b = Bench {
        k,
        db,
        servers,
        results: Results::default(),
        notes: Vec::new(),
    };
    if b.k.has("copy") {
        phases::copy(&mut b).await?;
    }
    if b.k.has("init") {
        init::phase(&mut b).await?;
    }
    if b.k.replays() {
        let a = phases::write_inserts(&mut b).await?;
        if b.k.has("insert") {
            phases::replay(&mut b, &a).await?;
        }
    }
    if b.k.has("mixed") {
        let bl = phases::write_mixed(&mut b).await?;
        phases::replay(&mut b, &bl).await?;
    }
    if b.k.has("steady") {
        phases::steady(&mut b).await?;
    }
    header(&mut b, &load_start).await?;
    if b.k.replays() || !b.k.has("init") {
        sync_table(&b);
    }
    if b.k.has("init") {
        if b.k.replays() {
            println!();
        }
        init_table(&b);
    }
    failures(&b.results);
    Ok(b.results.failures.is_empty())
}

async fn header(b: &mut Bench, load_start: &str) -> Result<()> {
    let k = &b.k;
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()?;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let (my, pg) = b.db.versions().await?;
    println!();
    println!(
        "mysql-gp-sync benchmark, {}, commit {}, {cpus} CPUs, MariaDB {my}, {pg} PostgreSQL",
        String::from_utf8_lossy(&date.stdout).trim(),
        k.commit
    );
    if k.replays() {
        println!("A = {} inserts in INSERT ... SELECT of {} rows; B = {} single-row txns (25 % ins / 50 % upd / 25 % del) on {} rows;", k.rows, k.chunk, k.changes, k.rows);
        println!("steady = sysbench oltp_write_only, {} threads, {}s, lag probe every 50 ms. batch_size {}, concurrent_ack_win {}.", k.steady_threads, k.steady_secs, k.batch_size, k.ack_win);
    }
    println!("Each figure: median (min–max) of {} run(s). xCOPY = median rows/s / median COPY rows/s (COPY of {} generated rows", k.runs, k.rows);
    println!("of the same shape, one tokio-postgres connection). CPU = cores used by sync/PostgreSQL/MariaDB (medians).");
    if k.replays() {
        println!("Backlog times run from the sync's start until its status file (rewritten about once a second) names the end position.");
    }
    if k.has("init") {
        println!("init = `mysql-gp-sync init --no-follow --truncate` of {DB}.sbinit ({} rows) into a dropped PostgreSQL table that init", k.rows);
        println!("creates; wall = the command end to end, logged = the rows/s of its 'initial load done' line. p=N: init_parallel N as the");
        println!("admin user (RELOAD: commits blocked while N snapshots open, N readers on key ranges; init splits only tables of 500 000+");
        println!(
            "rows, into ~250 000-row ranges); lock-free: the repl user, no RELOAD, one reader."
        );
    }
    if !b.notes.is_empty() {
        println!("{}.", b.notes.join(", "));
    }
    println!("Load average (1/5/15 min) at start: {load_start}, at end: {} -- other work on the machine skews every figure.", loadavg());
    Ok(())
}

fn cells(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The COPY ceiling's row, padded with `rest`.
fn copy_row(r: &Results, rest: &[&str]) -> Vec<String> {
    let mut row = vec![
        "COPY ceiling (1 conn)".to_string(),
        r.cell(COPY, "-", 0),
        "1.00".to_string(),
    ];
    row.extend(cells(rest));
    row
}

/// The replays' and the steady load's table: one row per config.
fn sync_table(b: &Bench) {
    let r = &b.results;
    let mut rows = vec![cells(&[
        "config",
        "A rows/s",
        "xCOPY",
        "A peak RSS MiB",
        "A CPU s/pg/my",
        "B rows/s",
        "xCOPY",
        "B peak RSS MiB",
        "B CPU s/pg/my",
        "steady lag p50 ms",
        "steady lag p99 ms",
        "sysbench tps",
    ])];
    if r.has_copy() {
        rows.push(copy_row(r, &["-"; 9]));
    }
    for cfg in b.k.configs.iter().filter(|_| b.k.replays()) {
        let l = cfg.label();
        let (a, bb, s) = (r.mark("A", &l), r.mark("B", &l), r.mark("steady", &l));
        rows.push(vec![
            l.clone(),
            r.cell("A_rps", &l, 0) + a,
            r.ratio("A_rps", &l) + a,
            r.cell("A_rss", &l, 1),
            r.cpu_cell("A_cpu", &l),
            r.cell("B_rps", &l, 0) + bb,
            r.ratio("B_rps", &l) + bb,
            r.cell("B_rss", &l, 1),
            r.cpu_cell("B_cpu", &l),
            r.cell("lag50", &l, 1) + s,
            r.cell("lag99", &l, 1) + s,
            r.cell("tps", &l, 0),
        ]);
    }
    print_table(&rows);
}

/// The initial load's table: one row per init config.
fn init_table(b: &Bench) {
    let r = &b.results;
    let mut rows = vec![cells(&[
        "config",
        "init rows/s (wall)",
        "xCOPY",
        "rows/s (logged)",
        "xCOPY",
        "wall s",
        "peak RSS MiB",
        "CPU init/pg/my",
        "commits blocked ms",
    ])];
    if r.has_copy() {
        let copy = r.cell(COPY, "-", 0);
        rows.push(copy_row(r, &[&copy, "1.00", "-", "-", "-", "-"]));
    }
    for cfg in &b.k.init_configs {
        let l = cfg.label();
        let i = r.mark("init", &l);
        rows.push(vec![
            l.clone(),
            r.cell("init_rps", &l, 0) + i,
            r.ratio("init_rps", &l) + i,
            r.cell("init_lrps", &l, 0) + i,
            r.ratio("init_lrps", &l) + i,
            r.cell("init_secs", &l, 1),
            r.cell("init_rss", &l, 1),
            r.cpu_cell("init_cpu", &l),
            r.cell("init_lock", &l, 0),
        ]);
    }
    print_table(&rows);
}

fn failures(r: &Results) {
    if r.failures.is_empty() {
        return;
    }
    println!();
    println!("FAILURES (figures marked ! include runs that left PostgreSQL different from MariaDB; runs where");
    println!("the sync or init died or stalled are left out):");
    for f in &r.failures {
        println!("  - {f}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let k = match Knobs::from_env() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    match cmd.as_str() {
        "check" => ExitCode::SUCCESS,
        "run" => match run(k).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                log(&format!("ERROR: {e:#}"));
                ExitCode::from(1)
            }
        },
        _ => {
            eprintln!("usage: mgs-bench check | run  (through scripts/bench.sh)");
            ExitCode::from(2)
        }
    }
}
