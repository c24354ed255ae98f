//! The operator scripts `scripts/start.sh`, `scripts/stop.sh` and `scripts/monitor_process.sh`,
//! end to end: every test copies them into a fresh deployment directory (scripts/, conf/ with a
//! generated config, var/ with master.info at the current binlog position) and runs them the
//! way an operator or cron does — from `/`, the monitor with cron's bare environment — against
//! the real MariaDB and PostgreSQL servers and the real binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;
use tokio::process::Command;

const SCRIPTS: [&str; 4] = ["lib.sh", "start.sh", "stop.sh", "monitor_process.sh"];
/// Upper bound for one script run; the tests stay under 30 s each.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(25);

/// What a script run did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    fn show(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout ---\n{}--- stderr ---\n{}---",
            self.code, self.took, self.stdout, self.stderr
        )
    }
}

/// A temporary deployment directory: scripts/, conf/, var/ (and bin/ when linked).
struct Deploy {
    dir: Option<tempfile::TempDir>,
    /// Canonical path (what the sync's /proc/PID/cwd points at).
    path: PathBuf,
}

impl Deploy {
    fn new() -> Deploy {
        let dir = tempfile::Builder::new()
            .prefix("mgs-ops-")
            .tempdir()
            .expect("tempdir");
        let path = fs::canonicalize(dir.path()).expect("canonicalize tempdir");
        for d in ["scripts", "conf", "var"] {
            fs::create_dir_all(path.join(d)).expect("create deploy subdir");
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
        for s in SCRIPTS {
            // fs::copy keeps the permission bits (the scripts are executable in git).
            fs::copy(src.join(s), path.join("scripts").join(s))
                .unwrap_or_else(|e| panic!("copy scripts/{s}: {e}"));
        }
        Deploy {
            dir: Some(dir),
            path,
        }
    }

    /// conf/mysql-gp-sync.toml for `cfg`, with the deployment's relative `data_dir = "var"`.
    fn write_config(&self, cfg: &SyncConfig) {
        self.write_config_text(&cfg.to_toml(Path::new("var")));
    }

    fn write_config_text(&self, text: &str) {
        fs::write(self.path.join("conf/mysql-gp-sync.toml"), text).expect("write config");
    }

    async fn write_master_info_now(&self, env: &Env) -> BinPos {
        let pos = master_pos(env).await;
        let text = format!("bin_name = {}\nbin_pos = {}\n", toml_str(&pos.0), pos.1);
        fs::write(self.var("master.info"), text).expect("write master.info");
        pos
    }

    /// bin/mysql-gp-sync -> the binary under test: the scripts' default when MGS_BIN is unset.
    fn link_bin(&self) {
        fs::create_dir_all(self.path.join("bin")).expect("create bin/");
        std::os::unix::fs::symlink(BIN, self.path.join("bin/mysql-gp-sync")).expect("symlink bin");
    }

    fn var(&self, name: &str) -> PathBuf {
        self.path.join("var").join(name)
    }

    /// A script run as an operator would: from `/`, MGS_BIN naming the binary under test.
    fn script(&self, name: &str) -> Command {
        let mut c = Command::new(self.path.join("scripts").join(name));
        c.current_dir("/")
            .env("MGS_BIN", BIN)
            .env("MGS_START_TIMEOUT", "15")
            .env_remove("MGS_CONFIG")
            .env_remove("MGS_STOP_TIMEOUT")
            .env_remove("MGS_LOCK_HELD");
        c
    }

    /// monitor_process.sh as cron runs it: `env -i PATH=/usr/bin:/bin`, cwd `/`.
    fn cron_monitor(&self) -> Command {
        let mut c = Command::new(self.path.join("scripts/monitor_process.sh"));
        c.env_clear().env("PATH", "/usr/bin:/bin").current_dir("/");
        c
    }

    async fn run(&self, mut cmd: Command) -> Run {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let t0 = Instant::now();
        // output() returns once stdout/stderr close: a sync that inherited them would hang here.
        let out = match tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output()).await {
            Ok(r) => r.expect("run script"),
            Err(_) => panic!(
                "{cmd:?} did not finish within {SCRIPT_TIMEOUT:?} (a background sync holding its stdout?)\n{}",
                self.diag()
            ),
        };
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: t0.elapsed(),
        }
    }

    async fn start(&self) -> Run {
        self.run(self.script("start.sh")).await
    }

    async fn stop(&self) -> Run {
        self.run(self.script("stop.sh")).await
    }

    fn pid_file(&self) -> Option<u32> {
        let text = fs::read_to_string(self.var("mysql-gp-sync.pid")).ok()?;
        Some(
            text.trim()
                .parse()
                .unwrap_or_else(|_| panic!("pid file holds {text:?}")),
        )
    }

    /// Live mysql-gp-sync processes (argv[0] named so) whose working directory is this
    /// deployment. Exited processes (zombies included) have no cmdline/cwd and do not count.
    fn sync_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let Ok(rd) = fs::read_dir("/proc") else {
            return pids;
        };
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(cmdline) = fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            let argv0 = String::from_utf8_lossy(argv0);
            let base = argv0.rsplit('/').next().unwrap_or_default();
            if !base.starts_with("mysql-gp-sync") {
                continue;
            }
            if fs::read_link(e.path().join("cwd")).ok().as_deref() == Some(self.path.as_path()) {
                pids.push(pid);
            }
        }
        pids.sort_unstable();
        pids
    }

    /// The single sync of this deployment, which the pid file must name.
    fn the_sync(&self, context: &str) -> u32 {
        let pids = self.sync_pids();
        assert_eq!(
            pids.len(),
            1,
            "{context}: expected exactly one mysql-gp-sync in {}, found {pids:?}\n{}",
            self.path.display(),
            self.diag()
        );
        assert_eq!(
            self.pid_file(),
            Some(pids[0]),
            "{context}: the pid file does not name the running sync\n{}",
            self.diag()
        );
        pids[0]
    }

    async fn wait_no_sync(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.sync_pids().is_empty() {
            if Instant::now() >= deadline {
                panic!(
                    "mysql-gp-sync still running after {timeout:?}: {:?}\n{}",
                    self.sync_pids(),
                    self.diag()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn read(&self, rel: &str) -> String {
        fs::read(self.path.join(rel))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    fn log(&self) -> String {
        self.read("sync.log")
    }

    fn master_info(&self) -> Option<BinPos> {
        let text = fs::read_to_string(self.var("master.info")).ok()?;
        let v: toml::Value = text.parse().expect("master.info is TOML");
        Some((
            v.get("bin_name")?.as_str()?.to_string(),
            v.get("bin_pos")?.as_integer()? as u64,
        ))
    }

    fn diag(&self) -> String {
        fn tail(s: &str, n: usize) -> String {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        format!(
            "--- deploy dir {} ---\n--- sync.log (tail) ---\n{}\n--- var/mysql-gp-sync.out (tail) ---\n{}\n---",
            self.path.display(),
            tail(&self.log(), 30),
            tail(&self.read("var/mysql-gp-sync.out"), 20),
        )
    }
}

impl Drop for Deploy {
    fn drop(&mut self) {
        // The scripts start the sync in its own session: nothing else would stop it.
        for pid in self.sync_pids() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        if std::thread::panicking() || std::env::var_os("MGS_KEEP_TMP").is_some() {
            if let Some(d) = self.dir.take() {
                eprintln!("(deploy dir kept: {})", d.keep().display());
            }
        }
    }
}

/// A deployment replicating `db`.t (id INT PRIMARY KEY, v VARCHAR(32)), master.info at "now".
async fn deploy_with_table(name: &str) -> (Deploy, TestDb) {
    let db = TestDb::create(name).await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(32))",
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(32))",
    )
    .await;
    let d = Deploy::new();
    d.write_config(&SyncConfig::new(&db.env, &db.name, &["t"]));
    d.write_master_info_now(&db.env).await;
    (d, db)
}

async fn insert(db: &TestDb, id: i32, v: &str) {
    db.my_exec_all(&[&format!("INSERT INTO t VALUES ({id}, {})", lit(v))])
        .await;
}

/// Poll PG until row `id` of t has `v`.
async fn wait_pg_row(d: &Deploy, db: &TestDb, id: i32, v: &str, timeout: Duration) {
    let pg = db.pg().await;
    let sql = format!("SELECT v FROM t WHERE id = {id}");
    let deadline = Instant::now() + timeout;
    loop {
        let got = pg_value(&pg, &sql).await;
        if got.as_deref() == Some(v) {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "row {id} did not arrive in PG within {timeout:?} (got {got:?})\n{}",
                d.diag()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_ok(r: &Run, what: &str, d: &Deploy) {
    assert_eq!(r.code, Some(0), "{what} failed: {}\n{}", r.show(), d.diag());
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn start_replicate_stop() {
    let _servers = Servers::shared();
    let (d, db) = deploy_with_table("ops_cycle").await;

    let r = d.start().await;
    assert_ok(&r, "start.sh", &d);
    assert!(
        r.stdout.contains("started (pid") && r.stdout.contains(" started: config "),
        "start.sh should say it started and echo the sync's started line: {}",
        r.show()
    );
    let pid = d.the_sync("after start.sh");

    let r = d.start().await;
    assert_ok(&r, "second start.sh", &d);
    assert!(
        r.stdout.contains("already running") && r.stdout.contains(&pid.to_string()),
        "a second start.sh should say the sync is already running (pid {pid}): {}",
        r.show()
    );
    assert_eq!(d.the_sync("after a second start.sh"), pid);

    insert(&db, 1, "one").await;
    let after_insert = master_pos(&db.env).await;
    wait_pg_row(&d, &db, 1, "one", secs(15)).await;

    let r = d.stop().await;
    assert_ok(&r, "stop.sh", &d);
    assert!(
        r.stdout.contains("stopped") && r.stdout.contains("stopped cleanly at"),
        "stop.sh should report a clean stop: {}",
        r.show()
    );
    assert!(d.sync_pids().is_empty(), "sync still running after stop.sh");
    assert!(
        !d.var("mysql-gp-sync.pid").exists(),
        "pid file left after stop.sh"
    );
    let mi = d.master_info().expect("master.info after stop.sh");
    assert!(
        pos_ge(&mi, &after_insert),
        "master.info {mi:?} is before the insert's end {after_insert:?}"
    );
    assert!(d.log().contains("stopped cleanly at"), "{}", d.diag());

    // Nothing to stop.
    let r = d.stop().await;
    assert_ok(&r, "stop.sh when stopped", &d);
    assert!(r.stdout.contains("not running"), "{}", r.show());

    // A stale pid file: that process is long gone.
    let mut gone = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let gone_pid = gone.id();
    gone.wait().expect("wait true");
    fs::write(d.var("mysql-gp-sync.pid"), format!("{gone_pid}\n")).unwrap();
    let r = d.stop().await;
    assert_ok(&r, "stop.sh with a stale pid file", &d);
    assert!(
        r.stdout.contains("stale pid file") && r.stdout.contains(&gone_pid.to_string()),
        "stop.sh should say the pid file was stale: {}",
        r.show()
    );
    assert!(!d.var("mysql-gp-sync.pid").exists(), "stale pid file kept");
    db.cleanup().await;
}

#[tokio::test]
async fn pid_file_naming_another_program() {
    let _servers = Servers::shared();
    let (d, db) = deploy_with_table("ops_reused").await;
    // The pid in the file now belongs to some other program: neither script may touch it.
    let mut other = tokio::process::Command::new("sleep")
        .arg("60")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sleep");
    let other_pid = other.id().unwrap();
    fs::write(d.var("mysql-gp-sync.pid"), format!("{other_pid}\n")).unwrap();

    let r = d.stop().await;
    assert_ok(&r, "stop.sh with a reused pid", &d);
    assert!(
        r.stdout.contains("stale pid file") && r.stdout.contains("another program"),
        "{}",
        r.show()
    );
    assert!(!d.var("mysql-gp-sync.pid").exists(), "stale pid file kept");
    assert!(
        other.try_wait().unwrap().is_none(),
        "stop.sh signalled a process that is not the sync"
    );

    fs::write(d.var("mysql-gp-sync.pid"), format!("{other_pid}\n")).unwrap();
    let r = d.start().await;
    assert_ok(&r, "start.sh with a reused pid", &d);
    assert!(
        r.stdout.contains("stale pid file") && r.stdout.contains("started (pid"),
        "start.sh should replace the stale pid file and start: {}",
        r.show()
    );
    let pid = d.the_sync("after start.sh");
    assert_ne!(pid, other_pid);
    assert!(other.try_wait().unwrap().is_none(), "start.sh killed sleep");

    let r = d.stop().await;
    assert_ok(&r, "stop.sh", &d);
    assert!(d.sync_pids().is_empty());
    assert!(
        other.try_wait().unwrap().is_none(),
        "stop.sh signalled the wrong process"
    );
    let _ = other.kill().await;
    db.cleanup().await;
}

#[tokio::test]
async fn monitor_restarts_a_killed_sync() {
    let _servers = Servers::shared();
    let (d, db) = deploy_with_table("ops_monitor").await;
    // cron passes no MGS_BIN: the scripts find DEPLOY_DIR/bin/mysql-gp-sync.
    d.link_bin();
    let r = d.start().await;
    assert_ok(&r, "start.sh", &d);
    let first = d.the_sync("after start.sh");

    // While it runs, the monitor does nothing and says nothing.
    let r = d.run(d.cron_monitor()).await;
    assert_ok(&r, "monitor_process.sh (running)", &d);
    assert_eq!(r.all(), "", "monitor printed something: {}", r.show());
    assert_eq!(d.the_sync("after a no-op monitor run"), first);

    let st = std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    d.wait_no_sync(secs(5)).await;
    // Written while the sync is down: must arrive after the restart.
    insert(&db, 7, "while down").await;

    let r = d.run(d.cron_monitor()).await;
    assert_ok(&r, "monitor_process.sh (sync killed)", &d);
    let second = d.the_sync("after the monitor restarted it");
    assert_ne!(second, first);
    let want =
        format!("WARN monitor_process.sh: mysql-gp-sync was not running; restarted (pid {second})");
    let line = d
        .log()
        .lines()
        .find(|l| l.contains(&want))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("sync.log has no line with {want:?}\n{}", d.diag()));
    // Same layout as the sync's own lines: an ISO time first.
    let ts = line.split(' ').next().unwrap();
    assert!(
        ts.len() >= 20
            && ts.as_bytes()[4] == b'-'
            && ts.as_bytes()[10] == b'T'
            && ts.ends_with('Z'),
        "restart line does not start with an ISO time: {line:?}"
    );
    wait_pg_row(&d, &db, 7, "while down", secs(15)).await;

    // Running again: nothing to do, nothing printed, still one process.
    let r = d.run(d.cron_monitor()).await;
    assert_ok(&r, "monitor_process.sh (restarted sync running)", &d);
    assert_eq!(r.all(), "", "monitor printed something: {}", r.show());
    assert_eq!(d.the_sync("after a second monitor run"), second);
    assert_eq!(d.log().matches("restarted (pid").count(), 1, "{}", d.diag());

    // A stop by hand is not a crash: the monitor leaves it stopped.
    let r = d.stop().await;
    assert_ok(&r, "stop.sh", &d);
    let r = d.run(d.cron_monitor()).await;
    assert_ok(&r, "monitor_process.sh (stopped by stop.sh)", &d);
    assert_eq!(r.all(), "", "monitor printed something: {}", r.show());
    assert!(
        d.sync_pids().is_empty(),
        "the monitor restarted a sync stopped with stop.sh"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn overlapping_starts_run_one_copy() {
    let _servers = Servers::shared();
    let (d, db) = deploy_with_table("ops_overlap").await;
    d.link_bin();
    // Two start.sh at once (flock): one starts, the other waits and finds it running.
    let (a, b) = tokio::join!(d.start(), d.start());
    assert_ok(&a, "start.sh (1 of 2)", &d);
    assert_ok(&b, "start.sh (2 of 2)", &d);
    let started = [&a, &b]
        .iter()
        .filter(|r| r.stdout.contains("started (pid"))
        .count();
    assert_eq!(started, 1, "{}\n{}", a.show(), b.show());
    let pid = d.the_sync("after two concurrent start.sh");

    // Two overlapping cron runs after a crash: one restart, one process.
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    d.wait_no_sync(secs(5)).await;
    let (a, b) = tokio::join!(d.run(d.cron_monitor()), d.run(d.cron_monitor()));
    assert_ok(&a, "monitor_process.sh (1 of 2)", &d);
    assert_ok(&b, "monitor_process.sh (2 of 2)", &d);
    d.the_sync("after two overlapping monitor runs");
    assert_eq!(
        d.log().matches("restarted (pid").count(),
        1,
        "{}\n{}\n{}",
        a.show(),
        b.show(),
        d.diag()
    );
    let r = d.stop().await;
    assert_ok(&r, "stop.sh", &d);
    db.cleanup().await;
}

#[tokio::test]
async fn start_reports_why_the_sync_died() {
    let _servers = Servers::shared();
    let env = Env::get();
    let d = Deploy::new();
    let good = SyncConfig::new(&env, "ops_no_such_db", &["t"]).to_toml(Path::new("var"));

    // A config error: the binary exits before logging anything; its Error: line is in .out.
    d.write_config_text(&format!("bogus_key = 1\n{good}"));
    let r = d.start().await;
    assert!(
        matches!(r.code, Some(c) if c != 0),
        "start.sh with a broken config should fail: {}",
        r.show()
    );
    let err = r
        .all()
        .lines()
        .find(|l| l.starts_with("Error:"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("start.sh did not print the Error: line: {}", r.show()));
    assert!(err.contains("bogus_key"), "{err}");
    assert!(
        // 2: a config mistake (no restart can fix it); other failures exit 1.
        r.stderr.contains("exited with status 2"),
        "start.sh should give the exit status: {}",
        r.show()
    );
    assert!(!d.var("mysql-gp-sync.pid").exists(), "pid file left");
    assert!(d.sync_pids().is_empty());

    // A failure after the log is set up (PostgreSQL unreachable). The sync waits
    // start_retry_secs for a server that may still be starting; start.sh waits 15 s for it.
    let bad_pg = format!("start_retry_secs = 4\n{good}")
        .replace(&format!("pg_port = {}\n", env.pg_port), "pg_port = 1\n");
    assert_ne!(bad_pg, good);
    d.write_config_text(&bad_pg);
    let r = d.start().await;
    assert_ne!(r.code, Some(0), "{}", r.show());
    assert!(
        r.all()
            .lines()
            .any(|l| l.starts_with("Error:") && l.contains("PostgreSQL")),
        "{}",
        r.show()
    );

    // MGS_CONFIG naming a missing file.
    let mut c = d.script("start.sh");
    c.env("MGS_CONFIG", d.path.join("conf/missing.toml"));
    let r = d.run(c).await;
    assert_ne!(r.code, Some(0), "{}", r.show());
    assert!(
        r.all()
            .lines()
            .any(|l| l.starts_with("Error:") && l.contains("missing.toml")),
        "{}",
        r.show()
    );
    assert!(d.sync_pids().is_empty());
    assert!(!d.var("mysql-gp-sync.pid").exists(), "pid file left");
}

/// A stand-in for the binary (a bash script run with the scripts' arguments, cwd DEPLOY_DIR)
/// that logs the "started:" line the scripts wait for, then runs `rest`.
fn stand_in(d: &Deploy, rest: &str) -> PathBuf {
    let fake = d.path.join("fake-mysql-gp-sync");
    let text = format!(
        "#!/bin/bash\n\
         echo \"$(date -u +%FT%T.%6NZ)  INFO mysql-gp-sync 0.0.0 started: config $2 (stand-in)\" >>sync.log\n\
         {rest}\n"
    );
    fs::write(&fake, text).unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    fake
}

#[tokio::test]
async fn stop_forces_a_sync_that_ignores_sigterm() {
    let _servers = Servers::shared();
    let d = Deploy::new();
    d.write_config_text("# not read by the stand-in\n");
    // Ignores SIGTERM, and is named mysql-gp-sync (argv[0]) like the real one.
    let fake = stand_in(&d, "trap '' TERM\nexec -a mysql-gp-sync sleep 60");

    let mut c = d.script("start.sh");
    c.env("MGS_BIN", &fake);
    let r = d.run(c).await;
    assert_ok(&r, "start.sh (stand-in)", &d);
    let pid = d.the_sync("stand-in started");

    let mut c = d.script("stop.sh");
    c.env("MGS_BIN", &fake).env("MGS_STOP_TIMEOUT", "2");
    let r = d.run(c).await;
    assert_ok(&r, "stop.sh (forced)", &d);
    assert!(
        r.stderr.contains("forcing a stop") && r.stderr.contains("SIGKILL"),
        "stop.sh should say it forces the stop: {}",
        r.show()
    );
    assert!(
        r.took < secs(10),
        "stop.sh took {:?} with MGS_STOP_TIMEOUT=2",
        r.took
    );
    assert!(
        d.sync_pids().is_empty(),
        "stand-in (pid {pid}) survived stop.sh"
    );
    assert!(!d.var("mysql-gp-sync.pid").exists(), "pid file left");
}

#[tokio::test]
async fn scripts_pass_shellcheck() {
    let _servers = Servers::shared();
    // Every script of the repository, not a list that new scripts can miss.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts: Vec<_> = std::fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    scripts.push(root.join(".ci/run"));
    assert!(scripts.len() >= 9, "{scripts:?}");
    let mut c = Command::new("shellcheck");
    c.args(&scripts);
    let out = match c.output().await {
        Ok(o) => o,
        // scripts/test-env.sh install provides it: a missing linter must not pass as clean.
        Err(e) => panic!("shellcheck not available ({e}); run scripts/test-env.sh install"),
    };
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn monitor_names_why_the_last_run_ended() {
    let _servers = Servers::shared();
    let d = Deploy::new();
    d.write_config_text("# not read by the stand-in\n");
    // First run: up for 3 s, then dies with an `Error:` line on stderr, as the binary does.
    // Later runs: stay up.
    let fake = stand_in(
        &d,
        "if [[ ! -e ran-once ]]; then\n  touch ran-once\n  \
         exec -a mysql-gp-sync bash -c 'sleep 3; echo \"Error: stand-in failure\" >&2; exit 1'\n\
         fi\nexec -a mysql-gp-sync sleep 60",
    );
    let mut c = d.script("start.sh");
    c.env("MGS_BIN", &fake);
    let r = d.run(c).await;
    assert_ok(&r, "start.sh (stand-in)", &d);
    d.the_sync("stand-in started");
    d.wait_no_sync(secs(10)).await;

    let mut c = d.cron_monitor();
    c.env("MGS_BIN", &fake);
    let r = d.run(c).await;
    assert_ok(&r, "monitor_process.sh", &d);
    let pid = d.the_sync("after the monitor restarted the stand-in");
    let want = format!(
        "WARN monitor_process.sh: mysql-gp-sync was not running; restarted (pid {pid}); \
         its last run ended with: Error: stand-in failure"
    );
    assert!(
        d.log().contains(&want),
        "sync.log should have {want:?}\n{}",
        d.diag()
    );
    assert!(r.stdout.contains(&want), "{}", r.show());

    let mut c = d.script("stop.sh");
    c.env("MGS_BIN", &fake);
    let r = d.run(c).await;
    assert_ok(&r, "stop.sh", &d);
    assert!(d.sync_pids().is_empty());
}
