//! Phases `copy`, `insert`, `mixed` and `steady`: the COPY ceiling, the two binlog backlogs
//! replayed by the sync, and the sync under a steady sysbench load.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_gp_sync::model::position::Position;
use regex::Regex;

use crate::db::{env, Sum, DB, TABLE};
use crate::knobs::SyncCfg;
use crate::load::{self, Lags};
use crate::procstat::Cpu;
use crate::report::{B_CEILING, COPY};
use crate::sync::{ConfigSpec, Sync, Usage};
use crate::{log, Bench};

/// The COPY ceiling, RUNS times, each after a CHECKPOINT (as the replay and init runs are):
/// no WAL and dirty buffers of the previous run left to flush.
pub async fn copy(b: &mut Bench) -> Result<()> {
    let table = format!("{DB}.copy_ceiling");
    for r in 1..=b.k.runs {
        b.db.pg.batch_execute("CHECKPOINT").await?;
        let rps = load::copy_ceiling(b.k.rows, &table).await?;
        log(&format!(
            "COPY ceiling run {r}: {} rows = {rps:.0} rows/s",
            b.k.rows
        ));
        b.results.add(COPY, "-", rps);
    }
    b.db.pg
        .batch_execute(&format!("DROP TABLE {table}"))
        .await?;
    Ok(())
}

/// A stretch of binlog written once while no sync runs, replayed by every config.
pub struct Backlog {
    /// `A` (inserts) or `B` (single-row transactions).
    pub name: &'static str,
    pub start: Position,
    pub end: Position,
    /// MariaDB's count + checksum at the end.
    pub want: Sum,
    /// Row changes in it.
    pub changes: u64,
    /// PostgreSQL's table at the start: empty (None) or this dump.
    pub reset_from: Option<PathBuf>,
    /// B's operations as written, for its ceiling (`load::gen_mixed`); empty for A and T.
    pub ops: Vec<(u8, u64)>,
}

/// The sync's config for a replay or steady run.
fn spec(cfg: &SyncCfg) -> Result<ConfigSpec<'_>> {
    Ok(ConfigSpec {
        mysql_user: env("MGS_MYSQL_REPL_USER")?,
        mysql_pass: env("MGS_MYSQL_REPL_PASS")?,
        pg_target: cfg.pg_target(),
        concurrent: cfg.concurrent,
        tables: &["sbtest1", "probe"],
        extra: if cfg.transactions {
            "consistency = \"transaction\"\n".into()
        } else {
            String::new()
        },
    })
}

/// Backlog A (`one_txn` false): ROWS inserts in `INSERT ... SELECT` statements of CHUNK rows,
/// each its own transaction. Backlog T (`one_txn`): the same between one BEGIN and COMMIT, on
/// an emptied table: the memory a transaction larger than the window takes. Either leaves
/// ROWS rows (ids 1..ROWS), which B and the steady load work on.
pub async fn write_inserts(b: &mut Bench, one_txn: bool) -> Result<Backlog> {
    let name = if one_txn { "T" } else { "A" };
    if one_txn {
        b.db.my_exec(&format!("TRUNCATE TABLE {TABLE}")).await?;
    }
    let start = b.db.master_pos().await?;
    let (rows, chunk) = (b.k.rows, b.k.chunk);
    let how = if one_txn {
        "in ONE transaction"
    } else {
        "each its own transaction"
    };
    log(&format!(
        "backlog {name}: {rows} rows in INSERT ... SELECT statements of {chunk} rows, {how}, from {start}"
    ));
    let t0 = Instant::now();
    if one_txn {
        b.db.my_exec("BEGIN").await?;
    }
    b.db.insert_rows(TABLE, rows, chunk, true).await?;
    if one_txn {
        b.db.my_exec("COMMIT").await?;
    }
    let end = b.db.master_pos().await?;
    let end = b.db.settled_end(&end).await?;
    let want = b.db.my_sum(TABLE).await?;
    let secs = t0.elapsed().as_secs_f64();
    log(&format!(
        "backlog {name} written in {:.0} ms, up to {end}; MariaDB count+checksum {want}",
        secs * 1000.0
    ));
    b.notes.push(format!(
        "MariaDB wrote {name} ({start}-{end}) in {secs:.1} s"
    ));
    Ok(Backlog {
        name,
        start,
        end,
        want,
        changes: rows,
        reset_from: None,
        ops: Vec::new(),
    })
}

/// Backlog B: CHANGES single-row transactions on the rows A left, over GEN_CONNS connections;
/// PostgreSQL's table at its start is a dump of MariaDB's.
pub async fn write_mixed(b: &mut Bench) -> Result<Backlog> {
    let start = b.db.master_pos().await?;
    let dump = b.k.work.join("b-start.tsv");
    b.db.dump_table(&dump).await?;
    let (changes, conns) = (b.k.changes, b.k.gen_conns);
    log(&format!("backlog B: {changes} single-row transactions (25 % insert, 50 % update, 25 % delete) over {conns} connections, from {start}"));
    let (secs, ops) = load::gen_mixed(TABLE, b.k.rows, changes, conns).await?;
    let end = b.db.master_pos().await?;
    let end = b.db.settled_end(&end).await?;
    let want = b.db.my_sum(TABLE).await?;
    let cps = changes as f64 / secs;
    log(&format!("backlog B written: {changes} changes in {secs:.1}s ({cps:.0}/s), up to {end}; MariaDB count+checksum {want}"));
    b.notes.push(format!(
        "B ({start}-{end}) in {secs:.0} s ({cps:.0} txn/s, {conns} connections)"
    ));
    Ok(Backlog {
        name: "B",
        start,
        end,
        want,
        changes,
        reset_from: Some(dump),
        ops,
    })
}

/// PostgreSQL's own ceiling for backlog B, RUNS times: its collapsed upserts and deletes sent
/// by one tight client (`load::mixed_ceiling`) into a copy of B's starting table.
pub async fn mixed_ceiling(b: &mut Bench, bl: &Backlog) -> Result<()> {
    let table = format!("{DB}.mixed_ceiling");
    let Some(dump) = &bl.reset_from else {
        return Ok(());
    };
    for r in 1..=b.k.runs {
        b.db.pg
            .batch_execute(&format!(
                "SET client_min_messages = warning; DROP TABLE IF EXISTS {table};
                 CREATE TABLE {table} (id int PRIMARY KEY, k int, c char(120), pad char(60))"
            ))
            .await?;
        load::copy_file(&b.db.pg, &table, dump).await?;
        b.db.pg
            .batch_execute(&format!("VACUUM ANALYZE {table}"))
            .await?;
        b.db.pg.batch_execute("CHECKPOINT").await?;
        let rps = load::mixed_ceiling(&table, &bl.ops, b.k.batch_size as usize).await?;
        log(&format!(
            "backlog B ceiling run {r}: {} changes by one client = {rps:.0} rows/s",
            bl.changes
        ));
        b.results.add(B_CEILING, "-", rps);
    }
    b.db.pg
        .batch_execute(&format!("DROP TABLE {table}"))
        .await?;
    Ok(())
}

impl Backlog {
    /// The names its figures are kept under: rows/s, peak RSS, CPU.
    fn figures(&self) -> (&'static str, &'static str, &'static str) {
        match self.name {
            "A" => ("A_rps", "A_rss", "A_cpu"),
            "T" => ("T_rps", "T_rss", "T_cpu"),
            _ => ("B_rps", "B_rss", "B_cpu"),
        }
    }
}

/// Every config, RUNS times: reset PostgreSQL's table, sync from the backlog's start to its
/// end, check the table.
pub async fn replay(b: &mut Bench, bl: &Backlog) -> Result<()> {
    for r in 1..=b.k.runs {
        for cfg in b.k.configs.clone() {
            let what = format!("backlog {}, {}, run {r}", bl.name, cfg.label());
            if let Err(e) = replay_run(b, bl, &cfg, r, &what).await {
                b.results.fail(format!("{what}: {e:#}"));
            }
        }
    }
    Ok(())
}

/// One replay. Figures: rows/s = changes / (sync start → its status file names the end),
/// the peak RSS, and the CPU of sync / PostgreSQL / MariaDB over that time.
async fn replay_run(b: &mut Bench, bl: &Backlog, cfg: &SyncCfg, r: u32, what: &str) -> Result<()> {
    match &bl.reset_from {
        None => b.db.pg.batch_execute(&format!("TRUNCATE {TABLE}")).await?,
        Some(dump) => b.db.load_table(dump).await?,
    }
    let dir = b.k.work.join(format!("{}-{}-{r}", bl.name, cfg.short()));
    let mut sync = Sync::start(&b.k, &b.db.pg, &b.servers, &spec(cfg)?, &dir, &bl.start).await?;
    let took = sync.wait_for(&bl.end, b.stall()).await?;
    let Usage { rss_mib, cpu } = sync.stop(&b.servers).await?;
    let label = cfg.label();
    let got = b.db.pg_sum(TABLE).await?;
    if got != bl.want {
        let msg = format!(
            "{what}: PostgreSQL has count+checksum {got}, MariaDB had {} (logs: {})",
            bl.want,
            dir.display()
        );
        b.results.fail_wrong(bl.name, &label, msg);
    }
    let per_sec = bl.changes as f64 / took.as_secs_f64();
    log(&format!(
        "{what}: {} changes in {} ms = {per_sec:.0} rows/s, peak RSS {rss_mib:.1} MiB, CPU sync {:.2} pg {:.2} mariadb {:.2}",
        bl.changes, took.as_millis(), cpu.sync, cpu.pg, cpu.my
    ));
    let (rps_key, rss_key, cpu_key) = bl.figures();
    b.results.add(rps_key, &label, per_sec);
    b.results.add(rss_key, &label, rss_mib);
    b.results
        .add_cpu(cpu_key, &label, cpu.seconds(took.as_secs_f64()));
    Ok(())
}

/// Steady load: for every config and run, sysbench oltp_write_only (STEADY_THREADS threads,
/// STEADY_SECS s) with the sync running, and the lag probe beside it. Figures: lag p50 / p99
/// (probe row's arrival in PostgreSQL − its MariaDB timestamp) and sysbench's transactions/s.
pub async fn steady(b: &mut Bench) -> Result<()> {
    let (pg, my) = b.db.sums(TABLE).await?;
    if pg != my {
        resync(b).await?;
    }
    for r in 1..=b.k.runs {
        for cfg in b.k.configs.clone() {
            let what = format!("steady, {}, run {r}", cfg.label());
            if let Err(e) = steady_run(b, &cfg, r, &what).await {
                b.results.fail(format!("{what}: {e:#}"));
                // Whatever the sync left behind, the next run starts equal.
                resync(b).await?;
            }
        }
    }
    Ok(())
}

/// PostgreSQL's table loaded with MariaDB's.
async fn resync(b: &mut Bench) -> Result<()> {
    log("steady: loading PostgreSQL with MariaDB's current table");
    b.db.copy_table_over(&b.k.work.join("steady.tsv")).await
}

/// One steady run: the sync from the binlog's end, the load, the catch-up, the check.
async fn steady_run(b: &mut Bench, cfg: &SyncCfg, r: u32, what: &str) -> Result<()> {
    let dir = b.k.work.join(format!("steady-{}-{r}", cfg.short()));
    let from = b.db.master_pos().await?;
    let mut sync = Sync::start(&b.k, &b.db.pg, &b.servers, &spec(cfg)?, &dir, &from).await?;
    tokio::time::sleep(Duration::from_secs(1)).await; // connected and reading before the load
    let (lags, tps) = tokio::join!(
        load::probe(DB, b.k.steady_secs as f64, 50),
        sysbench(b, &dir)
    );
    let (lags, tps) = (lags.context("the probe failed")?, tps?);
    let end = b.db.master_pos().await?;
    let end = b.db.settled_end(&end).await?;
    sync.wait_for(&end, b.stall())
        .await
        .with_context(|| format!("did not catch up to {end}"))?;
    let usage = sync.stop(&b.servers).await?;
    let (got, want) = b.db.sums(TABLE).await?;
    if got != want {
        let msg = format!(
            "{what}: PostgreSQL has count+checksum {got}, MariaDB {want} (logs: {})",
            dir.display()
        );
        b.results.fail_wrong("steady", &cfg.label(), msg);
        resync(b).await?;
    }
    record_steady(b, cfg, what, &lags, tps, usage.cpu);
    Ok(())
}

/// Figures: lag p50 / p99 and sysbench's transactions/s, unless probe rows went missing.
fn record_steady(b: &mut Bench, cfg: &SyncCfg, what: &str, lags: &Lags, tps: f64, c: Cpu) {
    if lags.missing > 0 {
        let sent = lags.arrived as u64 + lags.missing;
        b.results.fail(format!(
            "{what}: {} of {sent} probe rows never arrived",
            lags.missing
        ));
        return;
    }
    log(&format!(
        "{what}: sysbench {tps:.0} tps, lag p50 {:.1} ms p99 {:.1} ms max {:.1} ms ({} probes), CPU sync {:.2} pg {:.2} mariadb {:.2}",
        lags.p50_ms, lags.p99_ms, lags.max_ms, lags.arrived, c.sync, c.pg, c.my
    ));
    let label = cfg.label();
    b.results.add("lag50", &label, lags.p50_ms);
    b.results.add("lag99", &label, lags.p99_ms);
    b.results.add("tps", &label, tps);
}

static TPS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"transactions:\s*\d+\s*\(([\d.]+) per sec\.\)").unwrap());

/// sysbench oltp_write_only on `sbtest1` for STEADY_SECS; returns its transactions/s.
async fn sysbench(b: &Bench, dir: &std::path::Path) -> Result<f64> {
    let k = &b.k;
    let out = tokio::process::Command::new("sysbench")
        .arg("oltp_write_only")
        .args([
            "--db-driver=mysql".to_string(),
            format!("--mysql-host={}", env("MGS_MYSQL_HOST")?),
            format!("--mysql-port={}", env("MGS_MYSQL_PORT")?),
            format!("--mysql-user={}", env("MGS_MYSQL_ADMIN_USER")?),
            format!("--mysql-password={}", env("MGS_MYSQL_ADMIN_PASS")?),
            format!("--mysql-db={DB}"),
            "--tables=1".to_string(),
            format!("--table-size={}", k.rows),
            format!("--threads={}", k.steady_threads),
            format!("--time={}", k.steady_secs),
            "--report-interval=0".to_string(),
            "run".to_string(),
        ])
        .output()
        .await
        .context("running sysbench")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    std::fs::write(dir.join("sysbench.out"), &text)?;
    if !out.status.success() {
        bail!("sysbench failed (see {}/sysbench.out)", dir.display());
    }
    TPS.captures(&text)
        .and_then(|c| c[1].parse().ok())
        .with_context(|| format!("no transactions/s in {}/sysbench.out", dir.display()))
}
