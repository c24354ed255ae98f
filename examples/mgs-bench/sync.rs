//! One run of the sync: its config, a start position, the process, and the end of the run
//! read from the status file the sync rewrites ten times a second (what `mysql-gp-sync status`
//! prints), never from its log.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_gp_sync::config::Config;
use mysql_gp_sync::model::position::{file_index, Position};
use mysql_gp_sync::ops::metrics::Snapshot;
use mysql_gp_sync::state::master_info;

use crate::db::{env, DB};
use crate::knobs::Knobs;
use crate::procstat::{self, Cpu, Meter, Servers};

/// Who the sync (or `init`) connects to MariaDB as, and what it is told beyond the defaults.
pub struct ConfigSpec<'a> {
    pub mysql_user: String,
    pub mysql_pass: String,
    pub pg_target: &'a str,
    pub concurrent: u32,
    pub tables: &'a [&'a str],
    /// Extra top-level lines (before MGS_BENCH_SYNC_EXTRA's).
    pub extra: String,
}

impl ConfigSpec<'_> {
    /// The sync's TOML config for a run in `dir`.
    fn toml(&self, k: &Knobs, dir: &Path) -> Result<String> {
        let s = |v: &str| toml::Value::String(v.to_string());
        let i = |v: u64| toml::Value::Integer(v as i64);
        let dir_str = dir.to_string_lossy();
        let mut top = toml::Table::new();
        for (key, value) in [
            (
                "mysql_addr",
                s(&format!(
                    "{}:{}",
                    env("MGS_MYSQL_HOST")?,
                    env("MGS_MYSQL_PORT")?
                )),
            ),
            ("mysql_user", s(&self.mysql_user)),
            ("mysql_pass", s(&self.mysql_pass)),
            ("mysql_charset", s("utf8mb4")),
            ("server_id", i(4242)),
            ("flavor", s("mariadb")),
            ("pg_host", s(&env("MGS_PG_HOST")?)),
            ("pg_port", i(env("MGS_PG_PORT")?.parse()?)),
            ("pg_user", s(&env("MGS_PG_USER")?)),
            ("pg_pass", s(&env("MGS_PG_PASS")?)),
            ("pg_dbname", s(&env("MGS_PG_DB")?)),
            ("pg_target", s(self.pg_target)),
            ("pg_sslmode", s(&k.pg_sslmode)),
            ("data_dir", s(&dir_str)),
            ("concurrent_size", i(self.concurrent.into())),
            ("concurrent_ack_win", i(k.ack_win)),
            ("batch_size", i(k.batch_size)),
            ("skip_no_pk_table", toml::Value::Boolean(false)),
            ("log_level", s("info")),
            ("log_file", s(&format!("{dir_str}/sync.log"))),
            ("statsd_host", s("")),
            ("statsd_port", i(8125)),
            ("statsd_prefix", s("mysql_gp_sync")),
        ] {
            top.insert(key.to_string(), value);
        }
        let mut source = toml::Table::new();
        source.insert("schema".into(), s(DB));
        source.insert(
            "tables".into(),
            toml::Value::Array(self.tables.iter().map(|t| s(t)).collect()),
        );
        let mut sources = toml::Table::new();
        sources.insert(
            "source".into(),
            toml::Value::Array(vec![toml::Value::Table(source)]),
        );
        Ok(format!(
            "{}{}\n{}\n{}",
            toml::to_string(&top)?,
            self.extra,
            k.sync_extra,
            toml::to_string(&sources)?
        ))
    }

    /// Writes `dir/sync.toml` and returns the config as the sync reads it.
    pub fn write(&self, k: &Knobs, dir: &Path) -> Result<(PathBuf, Config)> {
        let path = dir.join("sync.toml");
        std::fs::write(&path, self.toml(k, dir)?)?;
        let cfg = Config::load(&path)?;
        Ok((path, cfg))
    }
}

/// Is `a` at or after `b` in the binlog?
pub fn reached(a: &Position, b: &Position) -> bool {
    (file_index(&a.file), a.pos) >= (file_index(&b.file), b.pos)
}

/// What a sync run used, read just before SIGTERM.
pub struct Usage {
    /// Peak resident memory of the sync (VmHWM), MiB.
    pub rss_mib: f64,
    pub cpu: Cpu,
}

/// A running sync.
pub struct Sync {
    child: tokio::process::Child,
    pid: u32,
    cfg: Config,
    dir: PathBuf,
    meter: Meter,
}

impl Sync {
    /// Writes the config and `master.info` at `from`, forgets the checkpoints of earlier runs,
    /// and starts the sync (the clock and the CPU counters start here).
    pub async fn start(
        k: &Knobs,
        pg: &tokio_postgres::Client,
        servers: &Servers,
        spec: &ConfigSpec<'_>,
        dir: &Path,
        from: &Position,
    ) -> Result<Sync> {
        fresh_dir(dir)?;
        let (path, cfg) = spec.write(k, dir)?;
        master_info::save(
            &cfg.master_info_path(),
            &mysql_gp_sync::model::history::Place::bare(from.clone()),
        )?;
        // The sync's own per-worker positions in PostgreSQL belong to the state being reset:
        // left from the previous run with the same server_id and concurrent_size, they would
        // make this one skip the whole backlog.
        if !cfg.checkpoint_schema.is_empty() {
            pg.batch_execute(&format!(
                "SET client_min_messages = warning; DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                cfg.checkpoint_schema
            ))
            .await?;
        }
        pg.batch_execute("CHECKPOINT").await?;
        let meter = Meter::start(servers);
        let out = std::fs::File::create(dir.join("sync.out"))?;
        let child = tokio::process::Command::new(k.sync_bin())
            .arg("--config")
            .arg(&path)
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the sync")?;
        let pid = child.id().context("the sync has no pid")?;
        Ok(Sync {
            child,
            pid,
            cfg,
            dir: dir.to_path_buf(),
            meter,
        })
    }

    /// The position in the sync's status file (rewritten ten times a second):
    /// what it has applied and acknowledged. None before the first write.
    fn position(&self) -> Option<Position> {
        let text = std::fs::read_to_string(self.cfg.status_path()).ok()?;
        let snap: Snapshot = serde_json::from_str(&text).ok()?;
        (snap.pid == self.pid).then(|| Position::new(snap.bin_name, snap.bin_pos))
    }

    /// Waits until the sync has applied everything up to `end`; returns the time since the
    /// start. Fails when the sync exits, or its position does not move for `stall`.
    pub async fn wait_for(&mut self, end: &Position, stall: Duration) -> Result<Duration> {
        let (mut last, mut since) = (None, Instant::now());
        loop {
            let at = self.position();
            if at.as_ref().is_some_and(|p| reached(p, end)) {
                return Ok(self.meter.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                self.show_tail();
                bail!(
                    "the sync exited ({status}) before reaching {end} (at {})",
                    shown(&at)
                );
            }
            if at != last {
                (last, since) = (at, Instant::now());
            } else if since.elapsed() > stall {
                self.show_tail();
                bail!(
                    "stalled: position stuck at {} for {} s (target {end})",
                    shown(&last),
                    stall.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads the peak memory and the CPU used, then stops the sync with SIGTERM; fails when it
    /// does not exit cleanly.
    pub async fn stop(mut self, servers: &Servers) -> Result<Usage> {
        let rss_mib = procstat::peak_rss_mib(self.pid);
        let cpu = self
            .meter
            .cores(servers, procstat::ticks(self.pid) as f64 / servers.hz);
        let killed = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if !killed.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let status = self.child.wait().await?;
        if !status.success() {
            bail!(
                "the sync exited with {status} on SIGTERM; see {}/sync.out",
                self.dir.display()
            );
        }
        Ok(Usage { rss_mib, cpu })
    }

    fn show_tail(&self) {
        show_tail(&self.dir.join("sync.out"));
    }
}

fn shown(p: &Option<Position>) -> String {
    p.as_ref()
        .map_or("its start".to_string(), Position::to_string)
}

pub fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// The last lines of a process' output, on stderr, after a failure.
pub fn show_tail(file: &Path) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    eprintln!("last lines of {}:", file.display());
    for l in &lines[lines.len().saturating_sub(15)..] {
        eprintln!("  {l}");
    }
}
