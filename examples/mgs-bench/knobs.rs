//! The benchmark's knobs: the MGS_BENCH_* environment variables (documented in
//! `scripts/bench.sh`), read and checked once before anything runs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// The phases, in the order they run.
pub const PHASES: [&str; 7] = ["copy", "init", "insert", "txn", "mixed", "peer", "steady"];

/// Where the sync writes: PostgreSQL proper or Greenplum mode (`pg_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Postgres,
    Greenplum,
}

/// One sync configuration of the replays and the steady load (`pg:4`, `gp:4`, `pg:txn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCfg {
    pub target: Target,
    /// The sync's `concurrent_size`.
    pub concurrent: u32,
    /// `consistency = "transaction"` (`pg:txn`): whole source transactions, one applier.
    pub transactions: bool,
}

impl SyncCfg {
    fn parse(s: &str) -> Result<Self> {
        let parsed = match s.split_once(':') {
            Some(("pg", n)) => Some((Target::Postgres, n)),
            Some(("gp", n)) => Some((Target::Greenplum, n)),
            _ => None,
        };
        match parsed {
            Some((target, "txn")) => Ok(SyncCfg {
                target,
                concurrent: 1,
                transactions: true,
            }),
            Some((target, n)) => match n.parse() {
                Ok(concurrent) if concurrent > 0 => Ok(SyncCfg {
                    target,
                    concurrent,
                    transactions: false,
                }),
                _ => bail!("MGS_BENCH_CONFIGS: '{s}' is not pg:N, gp:N, pg:txn or gp:txn"),
            },
            None => bail!("MGS_BENCH_CONFIGS: '{s}' is not pg:N, gp:N, pg:txn or gp:txn"),
        }
    }

    pub fn pg_target(&self) -> &'static str {
        match self.target {
            Target::Postgres => "postgres",
            Target::Greenplum => "greenplum",
        }
    }

    /// The row label of the table: `postgres c=4`.
    pub fn label(&self) -> String {
        if self.transactions {
            return format!("{} transaction", self.pg_target());
        }
        format!("{} c={}", self.pg_target(), self.concurrent)
    }

    /// The run directory's stem: `pg4`.
    pub fn short(&self) -> String {
        let t = if self.target == Target::Greenplum {
            "gp"
        } else {
            "pg"
        };
        if self.transactions {
            return format!("{t}txn");
        }
        format!("{t}{}", self.concurrent)
    }
}

/// One configuration of the initial load (`repl:1`, `admin:4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitCfg {
    /// As the admin user (RELOAD: `BACKUP STAGE`, parallel readers); else as the repl user
    /// (no RELOAD: the lock-free snapshot, one reader).
    pub admin: bool,
    /// `init_parallel`.
    pub parallel: u32,
}

impl InitCfg {
    fn parse(s: &str) -> Result<Self> {
        let parsed = match s.split_once(':') {
            Some(("repl", n)) => n.parse().ok().map(|n| (false, n)),
            Some(("admin", n)) => n.parse().ok().map(|n| (true, n)),
            _ => None,
        };
        match parsed {
            Some((admin, parallel)) if parallel > 0 => Ok(InitCfg { admin, parallel }),
            _ => bail!("MGS_BENCH_INIT_CONFIGS: '{s}' is not repl:N or admin:N"),
        }
    }

    /// `init p=1 (lock-free)`, `init p=4`.
    pub fn label(&self) -> String {
        if self.admin {
            format!("init p={}", self.parallel)
        } else {
            format!("init p={} (lock-free)", self.parallel)
        }
    }

    pub fn short(&self) -> String {
        let who = if self.admin { "admin" } else { "repl" };
        format!("{who}{}", self.parallel)
    }
}

#[derive(Debug)]
pub struct Knobs {
    /// Rows of the COPY ceiling, of backlog A and of `init`'s table; the table size for B and
    /// the steady load.
    pub rows: u64,
    /// Single-row transactions of backlog B.
    pub changes: u64,
    /// Repetitions of every measurement.
    pub runs: u32,
    pub configs: Vec<SyncCfg>,
    pub init_configs: Vec<InitCfg>,
    phases: Vec<String>,
    pub steady_secs: u64,
    pub steady_threads: u64,
    /// Rows per `INSERT ... SELECT` statement of backlog A (and of `init`'s table).
    pub chunk: u64,
    /// Connections writing backlog B.
    pub gen_conns: u64,
    pub batch_size: u64,
    pub ack_win: u64,
    /// A sync whose position does not move for this long has stalled.
    pub stall_secs: u64,
    /// The sync's `pg_sslmode`: `disable` by default, as the ceilings' connections are.
    pub pg_sslmode: String,
    /// Extra lines for the sync's config.
    pub sync_extra: String,
    /// The private work directory `scripts/bench.sh` made; the sync binary is copied into it.
    pub work: PathBuf,
    /// The commit measured, as `scripts/bench.sh` describes it for the header.
    pub commit: String,
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// A positive integer knob.
fn count(name: &str, default: &str) -> Result<u64> {
    let v = var(name, default);
    match v.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{name} must be a positive integer, not '{v}'"),
    }
}

impl Knobs {
    pub fn from_env() -> Result<Knobs> {
        let rows = count("MGS_BENCH_ROWS", "1000000")?;
        let phases: Vec<String> = var("MGS_BENCH_PHASES", &PHASES.join(" "))
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if let Some(p) = phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
            bail!(
                "MGS_BENCH_PHASES: unknown phase '{p}' ({})",
                PHASES.join(" ")
            );
        }
        Ok(Knobs {
            rows,
            changes: count("MGS_BENCH_CHANGES", &rows.to_string())?,
            runs: count("MGS_BENCH_RUNS", "3")?
                .try_into()
                .context("MGS_BENCH_RUNS")?,
            configs: var("MGS_BENCH_CONFIGS", "pg:1 pg:4 pg:8 gp:4")
                .split_whitespace()
                .map(SyncCfg::parse)
                .collect::<Result<_>>()?,
            init_configs: var("MGS_BENCH_INIT_CONFIGS", "repl:1 admin:2 admin:4")
                .split_whitespace()
                .map(InitCfg::parse)
                .collect::<Result<_>>()?,
            phases,
            steady_secs: count("MGS_BENCH_STEADY_SECS", "60")?,
            steady_threads: count("MGS_BENCH_STEADY_THREADS", "16")?,
            chunk: count("MGS_BENCH_CHUNK", "10000")?,
            gen_conns: count("MGS_BENCH_GEN_CONNS", "8")?,
            batch_size: count("MGS_BENCH_BATCH_SIZE", "1000")?,
            ack_win: count("MGS_BENCH_ACK_WIN", "8192")?,
            stall_secs: count("MGS_BENCH_STALL_SECS", "180")?,
            pg_sslmode: var("MGS_BENCH_PG_SSLMODE", "disable"),
            sync_extra: var("MGS_BENCH_SYNC_EXTRA", ""),
            work: PathBuf::from(var("MGS_BENCH_WORK", "/tmp/mgs-bench-work")),
            commit: var("MGS_BENCH_COMMIT", "?"),
        })
    }

    pub fn has(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    /// Whether any phase replays a backlog (they all need backlog A's table).
    pub fn replays(&self) -> bool {
        ["insert", "txn", "mixed", "peer", "steady"]
            .iter()
            .any(|p| self.has(p))
    }

    /// The sync binary: the private copy in the work directory.
    pub fn sync_bin(&self) -> PathBuf {
        self.work.join("mysql-gp-sync")
    }
}
