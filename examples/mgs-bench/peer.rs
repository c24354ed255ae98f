//! Phase `peer`: pg_chameleon (PyPI `pg_chameleon`, the best-known MySQL -> PostgreSQL
//! replicator) replaying the same backlog as the sync, through `scripts/peer-chameleon.sh`:
//! `install` (a venv in MGS_BENCH_PEER_DIR, once), `prepare` (its config, catalog and
//! `init_replica` of the one table into PostgreSQL schema `peer_chameleon`), then for every run:
//! the table reset to the backlog's start here, and `replay FROM END`, which resets chameleon's
//! catalog to FROM, runs `start_replica` and stops it once chameleon's own catalog says every row
//! change up to END is in the table (not merely read into its log tables).
//!
//! Figures, under the config label [`LABEL`]: rows/s = changes / (chameleon's start → that
//! point), peak RSS of its three processes (summed VmHWM), and CPU of chameleon / PostgreSQL /
//! MariaDB; the run ends with the same whole-table count + checksum as the sync's runs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};

use crate::phases::Backlog;
use crate::procstat::{Cpu, Meter};
use crate::{log, Bench};

/// The row label of the peer's figures.
pub const LABEL: &str = "pg_chameleon 2.0.21";
/// chameleon's copy of the benchmark's table, in the schema of its own it maps `mgsbench` to.
pub const PEER_TABLE: &str = "peer_chameleon.sbtest1";

/// The script, from the repository root `scripts/bench.sh` runs in.
fn script() -> PathBuf {
    std::env::var_os("MGS_BENCH_PEER_SCRIPT")
        .map_or_else(|| PathBuf::from("scripts/peer-chameleon.sh"), PathBuf::from)
}

/// What `replay` prints on stdout, one `key=value` a line.
fn parse(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Runs the script with `args` (its stderr into `err_log`, `extra` added to the environment,
/// which already holds the servers' settings); returns its stdout, or fails with its last
/// words.
async fn run_script(
    b: &Bench,
    args: &[&str],
    err_log: &Path,
    extra: &[(&str, String)],
) -> Result<String> {
    let err = std::fs::File::create(err_log)?;
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(script())
        .args(args)
        .env("MGS_PEER_WORK", work(b))
        .env("MGS_PEER_STALL_SECS", b.k.stall_secs.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .kill_on_drop(true);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd
        .spawn()
        .with_context(|| format!("starting {}", script().display()))?
        .wait_with_output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let status = parse(&stdout).remove("status").unwrap_or_default();
        crate::sync::show_tail(err_log);
        bail!(
            "peer-chameleon.sh {} failed ({}) {status} (see {})",
            args.join(" "),
            out.status,
            err_log.display()
        );
    }
    Ok(stdout)
}

/// The script's files (logs of chameleon's runs) inside the benchmark's work directory.
fn work(b: &Bench) -> PathBuf {
    b.k.work.join("peer")
}

/// pg_chameleon replaying backlog `bl`, RUNS times. A setup failure is a failure of the phase,
/// not of the benchmark: it is recorded and the other phases go on.
pub async fn chameleon(b: &mut Bench, bl: &Backlog) -> Result<()> {
    std::fs::create_dir_all(work(b))?;
    if let Err(e) = setup(b).await {
        b.results.fail(format!("peer pg_chameleon, setup: {e:#}"));
        return Ok(());
    }
    for r in 1..=b.k.runs {
        let what = format!("backlog {}, {LABEL}, run {r}", bl.name);
        // A fresh catalog for every run: one reset to the backlog's start once met a row of
        // the run before it in chameleon's log tables (a duplicate key in its replay).
        if r > 1 {
            let fresh = async {
                run_script(b, &["cleanup"], &work(b).join("cleanup.err"), &[]).await?;
                run_script(b, &["prepare"], &work(b).join("prepare.err"), &[]).await
            };
            if let Err(e) = fresh.await {
                b.results
                    .fail(format!("{what}: setting chameleon up again: {e:#}"));
                continue;
            }
        }
        if let Err(e) = run(b, bl, r, &what).await {
            // Whatever the failed run left running goes.
            let _ = run_script(b, &["stop"], &work(b).join("stop.err"), &[]).await;
            b.results.fail(format!("{what}: {e:#}"));
        }
    }
    // chameleon's schemas (its catalog, its copy of the table) go; its logs stay in the work dir.
    if let Err(e) = run_script(b, &["cleanup"], &work(b).join("cleanup.err"), &[]).await {
        log(&format!("peer pg_chameleon: cleanup failed: {e:#}"));
    }
    Ok(())
}

/// The venv (installed when missing) and chameleon's catalog with the table registered.
async fn setup(b: &Bench) -> Result<()> {
    let bin = run_script(b, &["install"], &work(b).join("install.err"), &[]).await?;
    log(&format!("peer: pg_chameleon is {}", bin.trim()));
    run_script(b, &["prepare"], &work(b).join("prepare.err"), &[]).await?;
    Ok(())
}

/// One replay: the table at the backlog's start, chameleon from its start to its end, the
/// check.
async fn run(b: &mut Bench, bl: &Backlog, r: u32, what: &str) -> Result<()> {
    match &bl.reset_from {
        None => {
            b.db.pg
                .batch_execute(&format!("TRUNCATE {PEER_TABLE}"))
                .await?
        }
        Some(dump) => crate::load::copy_file(&b.db.pg, PEER_TABLE, dump).await?,
    }
    b.db.pg
        .batch_execute(&format!("VACUUM (ANALYZE) {PEER_TABLE}"))
        .await?;
    let (start, end) = (&bl.start, &bl.end);
    let (from_pos, end_pos) = (start.pos.to_string(), end.pos.to_string());
    let log_file = work(b).join(format!("{}-run{r}.out", bl.name));
    let meter = Meter::start(&b.servers);
    let stdout = run_script(
        b,
        &["replay", &start.file, &from_pos, &end.file, &end_pos],
        &work(b).join(format!("{}-run{r}.err", bl.name)),
        &[("MGS_PEER_LOG", log_file.display().to_string())],
    )
    .await?;
    // The servers' CPU over the whole script (reset of chameleon's catalog, start, replay,
    // stop), charged to the replay's time: before the start and after the end they are idle.
    let wall = meter.elapsed().as_secs_f64();
    let servers = meter.cores(&b.servers, 0.0);
    let out = parse(&stdout);
    let num = |k: &str| -> Result<f64> {
        out.get(k)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {k}= in the output of peer-chameleon.sh replay"))
    };
    let (secs, cpu_secs, rss_mib) = (num("elapsed_secs")?, num("cpu_secs")?, num("rss_mib")?);
    // CPU seconds, as the sync's runs are reported.
    let cpu = Cpu {
        sync: cpu_secs,
        pg: servers.pg * wall,
        my: servers.my * wall,
    };
    let got = b.db.pg_sum(PEER_TABLE).await?;
    if got != bl.want {
        let msg = format!(
            "{what}: PostgreSQL's {PEER_TABLE} has count+checksum {got}, MariaDB had {} (chameleon's log: {})",
            bl.want,
            log_file.display()
        );
        b.results.fail_wrong("peer", LABEL, msg);
    }
    let per_sec = bl.changes as f64 / secs;
    log(&format!(
        "{what}: {} changes in {:.0} ms = {per_sec:.0} rows/s, peak RSS {rss_mib:.1} MiB, CPU s chameleon {:.1} pg {:.1} mariadb {:.1}",
        bl.changes,
        secs * 1000.0,
        cpu.sync,
        cpu.pg,
        cpu.my
    ));
    // The peer replays backlog B only (phase `peer`).
    b.results.add("peer_B_rps", LABEL, per_sec);
    b.results.add("peer_B_rss", LABEL, rss_mib);
    b.results.add_cpu("peer_B_cpu", LABEL, cpu);
    Ok(())
}
