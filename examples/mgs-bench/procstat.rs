//! CPU and memory figures of the sync and the servers, from /proc.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The servers' main processes, from their pid files in the private test-env directory.
pub struct Servers {
    pub postmaster: u32,
    pub mysqld: u32,
    /// Clock ticks per second of the /proc CPU fields (`getconf CLK_TCK`).
    pub hz: f64,
}

fn pid_file(path: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading pid file {}", path.display()))?;
    text.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("no pid in {}", path.display()))
}

impl Servers {
    pub fn find(env_dir: &Path) -> Result<Servers> {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()?;
        let hz = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("getconf CLK_TCK")?;
        Ok(Servers {
            postmaster: pid_file(&env_dir.join("pg/data/postmaster.pid"))?,
            mysqld: pid_file(&env_dir.join("mysql/mysqld.pid"))?,
            hz,
        })
    }

    /// Every CPU tick PostgreSQL has used so far: its live children, and the postmaster with
    /// the children it has reaped (the backends of a client that has gone). Read again while
    /// the children change underneath (one reaped in between would count twice or not at all).
    fn pg_ticks(&self) -> u64 {
        for _ in 0..100 {
            let kids = children(self.postmaster);
            let live: u64 = kids.iter().map(|&p| stat(p).map_or(0, |s| s.ticks)).sum();
            let master = stat(self.postmaster).map_or(0, |s| s.ticks + s.reaped_ticks);
            if children(self.postmaster) == kids {
                return live + master;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        0
    }
}

/// The fields of /proc/PID/stat the benchmark reads.
struct Stat {
    ppid: u32,
    /// utime + stime: CPU used by the process itself.
    ticks: u64,
    /// cutime + cstime: CPU used by its children that it has waited for.
    reaped_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses (which may hold spaces): field 3 onwards.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // f[0] is field 4 (ppid); utime, stime, cutime, cstime are fields 14-17.
    Some(Stat {
        ppid: u32::try_from(f[0]).ok()?,
        ticks: f[10] + f[11],
        reaped_ticks: f[12] + f[13],
    })
}

/// CPU ticks a process has used so far (0 when it is gone).
pub fn ticks(pid: u32) -> u64 {
    stat(pid).map_or(0, |s| s.ticks)
}

fn children(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut kids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&p| stat(p).is_some_and(|s| s.ppid == parent))
        .collect();
    kids.sort_unstable();
    kids
}

/// Peak resident memory of a live process (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// CPU used over a run, in cores (CPU seconds / wall seconds): the sync (or `init`),
/// PostgreSQL (all its processes) and MariaDB.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    pub sync: f64,
    pub pg: f64,
    pub my: f64,
}

impl Cpu {
    /// Cores over `wall` seconds as CPU seconds.
    pub fn seconds(self, wall: f64) -> Cpu {
        Cpu {
            sync: self.sync * wall,
            pg: self.pg * wall,
            my: self.my * wall,
        }
    }
}

/// The servers' CPU counters at a run's start, and the start time.
pub struct Meter {
    started: Instant,
    pg0: u64,
    my0: u64,
}

impl Meter {
    pub fn start(s: &Servers) -> Meter {
        Meter {
            pg0: s.pg_ticks(),
            my0: ticks(s.mysqld),
            started: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The cores used since the start, given the CPU seconds of the sync's process.
    pub fn cores(&self, s: &Servers, sync_cpu_secs: f64) -> Cpu {
        let wall = self.started.elapsed().as_secs_f64();
        let pg = s.pg_ticks().saturating_sub(self.pg0) as f64 / s.hz;
        let my = ticks(s.mysqld).saturating_sub(self.my0) as f64 / s.hz;
        Cpu {
            sync: sync_cpu_secs / wall,
            pg: pg / wall,
            my: my / wall,
        }
    }
}
