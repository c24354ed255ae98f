//! The measuring side of `scripts/bench.sh`, which starts the private servers, builds, and
//! runs `mgs-bench run` with their connection settings (`scripts/test-env.sh env`) and the
//! MGS_BENCH_* knobs in the environment.
//!
//!   mgs-bench check   checks the knobs (exit 2 when one is wrong)
//!   mgs-bench run     runs the phases and prints the tables; exit 1 when a result is wrong
//!                     (tables differ, the sync died or stalled)
//!
//! Every sync run is timed from its start until the position in its status file (the one
//! `mysql-gp-sync status` prints, rewritten ten times a second) reaches the end of the backlog, and
//! ends with a whole-table count + checksum comparison with MariaDB.

mod db;
mod init;
mod knobs;
mod load;
mod peer;
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
use report::{print_table, Results, B_CEILING, COPY};

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
        let a = phases::write_inserts(&mut b, false).await?;
        if b.k.has("insert") {
            phases::replay(&mut b, &a).await?;
        }
    }
    if b.k.has("txn") {
        let t = phases::write_inserts(&mut b, true).await?;
        phases::replay(&mut b, &t).await?;
    }
    if b.k.has("mixed") || b.k.has("peer") {
        let bl = phases::write_mixed(&mut b).await?;
        if b.k.has("mixed") {
            phases::mixed_ceiling(&mut b, &bl).await?;
            phases::replay(&mut b, &bl).await?;
        }
        if b.k.has("peer") {
            peer::chameleon(&mut b, &bl).await?;
        }
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
        println!("A = {} inserts in INSERT ... SELECT of {} rows, autocommit; T = the same in ONE transaction; B = {} single-row", k.rows, k.chunk, k.changes);
        println!("txns (25 % ins / 50 % upd / 25 % del) on {} rows; steady = sysbench oltp_write_only, {} threads, {}s, lag probe every 50 ms.", k.rows, k.steady_threads, k.steady_secs);
        println!("Sync: batch_size {}, concurrent_ack_win {}, pg_sslmode {} (the ceilings' connections are plain TCP too).", k.batch_size, k.ack_win, k.pg_sslmode);
    }
    println!("Each figure: median (min–max) of {} run(s). Ceilings, same table shape and rows, one tokio-postgres connection:", k.runs);
    println!(
        "  COPY = one COPY of {} generated rows into an empty table (for A and T);",
        k.rows
    );
    println!("  B client = B's operations collapsed per batch_size to the last per row, one transaction per batch of one");
    println!("  DELETE = ANY and one INSERT ... SELECT unnest ... ON CONFLICT DO UPDATE (the sync's statements), values generated first.");
    println!("x ceiling = median rows/s / the ceiling's median. CPU s = CPU seconds of sync (or peer) / PostgreSQL / MariaDB (medians).");
    if k.replays() {
        println!("Backlog times run from the sync's start until its status file (rewritten ten times a second) names the end");
        println!("position; every run then compares the whole table (count + checksum) with MariaDB's (! = different).");
    }
    if k.has("peer") {
        println!("Peer: {} replaying B (scripts/peer-chameleon.sh), timed from its start until its own catalog", peer::LABEL);
        println!("(t_replica_batch) says every change up to B's end is replayed into its table; CPU/RSS: its 3 processes.");
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

/// The replays', ceilings', peer's and steady load's table: one row per backlog and config.
fn sync_table(b: &Bench) {
    let r = &b.results;
    let mut rows = vec![cells(&[
        "backlog",
        "config",
        "rows/s",
        "x ceiling",
        "peak RSS MiB",
        "CPU s sync/pg/my",
        "note",
    ])];
    let configs: Vec<String> = b.k.configs.iter().map(|c| c.label()).collect();
    // Greenplum mode beside PostgreSQL mode with the same workers.
    let gp_note = |fig: &'static str, l: &str| -> String {
        match l.strip_prefix("greenplum") {
            Some(rest) if configs.iter().any(|c| *c == format!("postgres{rest}")) => format!(
                "x postgres{rest}: {}",
                r.ratio_to(fig, l, fig, &format!("postgres{rest}"))
            ),
            _ => String::new(),
        }
    };
    let backlogs: [(
        &str,
        &str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ); 3] = [
        ("insert", "A inserts", "A_rps", "A_rss", "A_cpu", COPY),
        ("txn", "T 1 txn", "T_rps", "T_rss", "T_cpu", COPY),
        (
            "mixed",
            "B 1-row txns",
            "B_rps",
            "B_rss",
            "B_cpu",
            B_CEILING,
        ),
    ];
    for (phase, name, rps, rss, cpu, ceiling) in backlogs {
        if !b.k.has(phase) {
            continue;
        }
        if r.median(ceiling, "-").is_some() {
            let what = if ceiling == COPY {
                "COPY ceiling"
            } else {
                "B client ceiling"
            };
            rows.push(cells(&[
                name,
                what,
                &r.cell(ceiling, "-", 0),
                "1.00",
                "-",
                "-",
                "",
            ]));
        }
        let bl = &name[..1];
        for l in &configs {
            let m = r.mark(bl, l);
            rows.push(vec![
                name.to_string(),
                l.clone(),
                r.cell(rps, l, 0) + m,
                r.ratio_to(rps, l, ceiling, "-") + m,
                r.cell(rss, l, 1),
                r.cpu_cell(cpu, l),
                gp_note(rps, l),
            ]);
        }
    }
    if b.k.has("peer") {
        let (l, m) = (peer::LABEL, r.mark("peer", peer::LABEL));
        let vs = configs
            .iter()
            .find(|c| *c == "postgres c=4")
            .or(configs.first())
            .map(|c| format!("x {c}: {}", r.ratio_to("peer_B_rps", l, "B_rps", c)))
            .unwrap_or_default();
        rows.push(vec![
            "B 1-row txns".to_string(),
            format!("{l} (peer)"),
            r.cell("peer_B_rps", l, 0) + m,
            r.ratio_to("peer_B_rps", l, B_CEILING, "-") + m,
            r.cell("peer_B_rss", l, 1),
            r.cpu_cell("peer_B_cpu", l),
            vs,
        ]);
    }
    if b.k.has("steady") {
        for l in &configs {
            let s = r.mark("steady", l);
            rows.push(vec![
                "steady".to_string(),
                l.clone(),
                "-".to_string(),
                "-".to_string(),
                "-".to_string(),
                "-".to_string(),
                format!(
                    "lag p50 {} ms, p99 {} ms{s}; sysbench {} tps",
                    r.cell("lag50", l, 1),
                    r.cell("lag99", l, 1),
                    r.cell("tps", l, 0)
                ),
            ]);
        }
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
