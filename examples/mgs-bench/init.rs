//! Phase `init`: `mysql-gp-sync init --no-follow --truncate` of a ROWS-row table into a
//! dropped PostgreSQL table that init creates, once per init config and run.

use std::path::Path;
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mysql_gp_sync::config::Config;
use mysql_gp_sync::state::master_info;
use regex::Regex;

use crate::db::{env, Sum, INIT_TABLE};
use crate::knobs::InitCfg;
use crate::procstat::{Cpu, Meter};
use crate::sync::{fresh_dir, show_tail, ConfigSpec};
use crate::{log, Bench};

/// Builds MariaDB's `sbinit` (not binlogged), runs every init config RUNS times, drops it.
pub async fn phase(b: &mut Bench) -> Result<()> {
    let (rows, chunk) = (b.k.rows, b.k.chunk);
    log(&format!(
        "init: MariaDB table {INIT_TABLE} with {rows} rows (INSERT ... SELECT of {chunk} rows, not binlogged)"
    ));
    let started = Instant::now();
    b.db.my_exec(&format!("SET SESSION sql_log_bin = 0; DROP TABLE IF EXISTS {INIT_TABLE}; CREATE TABLE {INIT_TABLE} LIKE {}; SET SESSION sql_log_bin = 1", crate::db::TABLE)).await?;
    b.db.insert_rows(INIT_TABLE, rows, chunk, false).await?;
    // TABLE_ROWS, which init's planner splits by, from fresh statistics.
    b.db.my_exec(&format!("ANALYZE TABLE {INIT_TABLE}")).await?;
    let want = b.db.my_sum(INIT_TABLE).await?;
    log(&format!(
        "init: sbinit written in {} ms; MariaDB count+checksum {want}",
        started.elapsed().as_millis()
    ));
    for r in 1..=b.k.runs {
        for cfg in b.k.init_configs.clone() {
            let what = format!("{}, run {r}", cfg.label());
            if let Err(e) = run(b, &cfg, r, want).await {
                b.results.fail(format!("{what}: {e:#}"));
            }
        }
    }
    b.db.pg
        .batch_execute(&format!("DROP TABLE IF EXISTS {INIT_TABLE}"))
        .await?;
    b.db.my_exec(&format!(
        "SET SESSION sql_log_bin = 0; DROP TABLE {INIT_TABLE}; SET SESSION sql_log_bin = 1"
    ))
    .await
}

/// What `init` says of itself at the end; only its log has these figures.
struct Summary {
    /// Rows it copied.
    rows: u64,
    /// Its own rows/s: the copy, without the process start.
    rows_per_sec: f64,
    /// How long commits were blocked while the snapshots opened (the RELOAD path only).
    lock_ms: Option<f64>,
    /// Whether it took the lock-free path (no RELOAD).
    lock_free: bool,
}

static DONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"initial load done: \d+ table\(s\), (\d+) rows in [\d.]+ s \((\d+) rows/s\)")
        .unwrap()
});
static BLOCKED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"commits were blocked for (\d+) ms while").unwrap());

impl Summary {
    fn parse(out: &str) -> Option<Summary> {
        let done = DONE.captures(out)?;
        Some(Summary {
            rows: done[1].parse().ok()?,
            rows_per_sec: done[2].parse().ok()?,
            lock_ms: BLOCKED.captures(out).and_then(|c| c[1].parse().ok()),
            lock_free: out.contains("lock-free snapshot"),
        })
    }
}

/// GNU time's `%M %U %S` of the init process: peak RSS (KiB), user and system CPU seconds.
/// `init` exits before /proc could be read, so it runs under /usr/bin/time.
fn time_figures(file: &Path) -> Result<(f64, f64)> {
    let text = std::fs::read_to_string(file)?;
    let f: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    match f[..] {
        [kib, user, sys] => Ok((kib / 1024.0, user + sys)),
        _ => bail!("unexpected /usr/bin/time output in {}", file.display()),
    }
}

/// The sync's config for an init run: init_parallel N as the user the label names, into a
/// table that init creates.
fn spec(cfg: &InitCfg) -> Result<ConfigSpec<'static>> {
    let who = if cfg.admin { "ADMIN" } else { "REPL" };
    Ok(ConfigSpec {
        mysql_user: env(&format!("MGS_MYSQL_{who}_USER"))?,
        mysql_pass: env(&format!("MGS_MYSQL_{who}_PASS"))?,
        pg_target: "postgres",
        concurrent: 1,
        tables: &["sbinit"],
        extra: format!(
            "init_parallel = {}\ncreate_missing_tables = true",
            cfg.parallel
        ),
    })
}

/// One init run: measured, checked, recorded.
async fn run(b: &mut Bench, cfg: &InitCfg, r: u32, want: Sum) -> Result<()> {
    let dir = b.k.work.join(format!("init-{}-{r}", cfg.short()));
    fresh_dir(&dir)?;
    let (path, sync_cfg) = spec(cfg)?.write(&b.k, &dir)?;
    b.db.pg
        .batch_execute(&format!(
            "SET client_min_messages = warning; DROP TABLE IF EXISTS {INIT_TABLE}; CHECKPOINT"
        ))
        .await?;
    let m = execute(b, &path, &dir).await?;
    let Some(s) = Summary::parse(&m.output) else {
        bail!("no 'initial load done' line in {}/init.out", dir.display());
    };
    let what = format!("{}, run {r}", cfg.label());
    check(b, cfg, &what, &s, want, &sync_cfg).await?;
    record(b, cfg, &what, &m, &s);
    Ok(())
}

/// What one init process took.
struct Measured {
    /// The command end to end, seconds.
    wall: f64,
    /// Peak RSS, MiB.
    rss: f64,
    cpu: Cpu,
    /// Its output (log lines).
    output: String,
}

/// Runs `init --no-follow --truncate` under /usr/bin/time and `timeout`; fails when it exits
/// badly or runs longer than STALL_SECS + 1 s per 1000 rows.
async fn execute(b: &Bench, config: &Path, dir: &Path) -> Result<Measured> {
    let limit = b.k.stall_secs + b.k.rows / 1000;
    let meter = Meter::start(&b.servers);
    let out = std::fs::File::create(dir.join("init.out"))?;
    let status = tokio::process::Command::new("/usr/bin/time")
        .args(["-f", "%M %U %S", "-o"])
        .arg(dir.join("time.out"))
        .args(["timeout", "-k", "30", &limit.to_string()])
        .arg(b.k.sync_bin())
        .arg("--config")
        .arg(config)
        .args(["init", "--no-follow", "--truncate"])
        .stdout(out.try_clone()?)
        .stderr(out)
        .stdin(Stdio::null())
        .status()
        .await
        .context("running /usr/bin/time ... init")?;
    let wall = meter.elapsed().as_secs_f64();
    let figures = time_figures(&dir.join("time.out"));
    let cpu = meter.cores(&b.servers, figures.as_ref().map_or(0.0, |f| f.1));
    let output = std::fs::read_to_string(dir.join("init.out"))?;
    if !status.success() {
        show_tail(&dir.join("init.out"));
        if status.code() == Some(124) {
            bail!(
                "init still running after {limit}s, killed (logs: {})",
                dir.display()
            );
        }
        let line = output.lines().find(|l| l.to_lowercase().contains("error"));
        bail!(
            "init exited with {status} (logs: {}): {}",
            dir.display(),
            line.unwrap_or("")
        );
    }
    let (rss, _) = figures?;
    Ok(Measured {
        wall,
        rss,
        cpu,
        output,
    })
}

/// The snapshot path is the one the label says, PostgreSQL's table equals MariaDB's (`want`)
/// and has the rows init reported, and master.info names the binlog's end.
async fn check(
    b: &mut Bench,
    cfg: &InitCfg,
    what: &str,
    s: &Summary,
    want: Sum,
    sync_cfg: &Config,
) -> Result<()> {
    let label = cfg.label();
    let log_dir = sync_cfg.data_dir.display();
    if !cfg.admin && !s.lock_free {
        b.results.fail(format!(
            "{what}: the repl user did not take the lock-free path (see {log_dir}/init.out)"
        ));
    } else if cfg.admin && s.lock_ms.is_none() {
        b.results.fail(format!(
            "{what}: the admin user did not take the BACKUP STAGE path (see {log_dir}/init.out)"
        ));
    }
    let got = b.db.pg_sum(INIT_TABLE).await?;
    if got != want {
        let msg = format!(
            "{what}: PostgreSQL has count+checksum {got}, MariaDB {want} (logs: {log_dir})"
        );
        b.results.fail_wrong("init", &label, msg);
    } else if s.rows != want.count as u64 {
        let msg = format!(
            "{what}: init reported {} rows, the table has {}",
            s.rows, want.count
        );
        b.results.fail_wrong("init", &label, msg);
    }
    // Nothing writes to MariaDB meanwhile: the snapshot position is the binlog's end.
    let end = b.db.master_pos().await?;
    let saved = master_info::load(&sync_cfg.master_info_path())?;
    if saved.as_ref() != Some(&end) {
        let saved = saved.map_or("nothing".to_string(), |p| p.to_string());
        let msg = format!("{what}: master.info says {saved}, the binlog ends at {end}");
        b.results.fail_wrong("init", &label, msg);
    }
    Ok(())
}

/// Figures: rows/s over the wall time and as init reports it, wall seconds, peak RSS, CPU of
/// init / PostgreSQL / MariaDB, and how long commits were blocked.
fn record(b: &mut Bench, cfg: &InitCfg, what: &str, m: &Measured, s: &Summary) {
    let label = cfg.label();
    let res = &mut b.results;
    res.add("init_rps", &label, b.k.rows as f64 / m.wall);
    res.add("init_secs", &label, m.wall);
    res.add("init_lrps", &label, s.rows_per_sec);
    res.add("init_rss", &label, m.rss);
    res.add_cpu("init_cpu", &label, m.cpu);
    if let Some(ms) = s.lock_ms {
        res.add("init_lock", &label, ms);
    }
    let blocked = s
        .lock_ms
        .map_or(String::new(), |ms| format!(", commits blocked {ms} ms"));
    log(&format!(
        "{what}: {} rows in {:.0} ms wall ({:.0} rows/s logged), peak RSS {:.1} MiB, CPU init {:.2} pg {:.2} mariadb {:.2}{blocked}",
        b.k.rows, m.wall * 1000.0, s.rows_per_sec, m.rss, m.cpu.sync, m.cpu.pg, m.cpu.my
    ));
}
