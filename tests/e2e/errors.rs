//! Failure modes of the real binary: bad config, unreachable server, binlog not ROW,
//! tables without a key. The one that changes a GLOBAL server variable runs alone
//! ([`Servers::exclusive`]).

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::support::*;

/// A valid config for `db` with `tables`; the data dir is filled in by `start_raw`.
fn valid_toml(env: &Env, db: &str, tables: &[&str]) -> String {
    let cfg = SyncConfig::new(env, db, tables);
    cfg.to_toml(std::path::Path::new("{DATA_DIR}"))
}

/// Wait for the process to exit (≤ `timeout`); assert a non-zero exit code and an
/// `Error:` line on stderr that contains every string in `must_mention`.
async fn expect_fatal(
    sync: &mut SyncProc,
    timeout: Duration,
    must_mention: &[&str],
) -> (ExitStatus, String) {
    let t0 = Instant::now();
    let st = sync.wait_exit(timeout).await;
    let stderr = sync.stderr();
    assert!(
        matches!(st.code(), Some(c) if c != 0),
        "expected a non-zero exit code, got {st} after {:?}\n{}",
        t0.elapsed(),
        sync.diag()
    );
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("Error:")).collect();
    assert!(
        !error_lines.is_empty(),
        "expected a line starting with `Error:` on stderr\n{}",
        sync.diag()
    );
    for m in must_mention {
        assert!(
            error_lines.iter().any(|l| l.contains(m)),
            "the `Error:` line on stderr should mention {m:?}; stderr was:\n{stderr}\n{}",
            sync.diag()
        );
    }
    (st, stderr)
}

// ---------------------------------------------------------------------------
// 13. bad config
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_config_unknown_key() {
    // No server: the config is refused before anything connects.
    let env = Env::get();
    let text = valid_toml(&env, "nonexistent_db_for_config_test", &["t"]);
    assert!(text.contains("\nmysql_addr = ") || text.starts_with("mysql_addr = "));
    let bad = text.replacen("mysql_addr = ", "mysql_adr = ", 1);
    let mut sync = SyncProc::start_raw(&env, &bad, None).await;
    let path = sync.config_path.to_string_lossy().into_owned();
    expect_fatal(&mut sync, secs(30), &["mysql_adr", &path]).await;
}

#[tokio::test]
async fn bad_config_wrong_type() {
    // No server: the config is refused before anything connects.
    let env = Env::get();
    let text = valid_toml(&env, "nonexistent_db_for_config_test", &["t"]);
    assert!(text.contains("concurrent_size = 4\n"));
    let bad = text.replacen("concurrent_size = 4\n", "concurrent_size = \"x\"\n", 1);
    let mut sync = SyncProc::start_raw(&env, &bad, None).await;
    let path = sync.config_path.to_string_lossy().into_owned();
    expect_fatal(&mut sync, secs(30), &["concurrent_size", &path]).await;
}

#[tokio::test]
async fn bad_config_missing_required_key() {
    // No server: the config is refused before anything connects.
    let env = Env::get();
    let text = valid_toml(&env, "nonexistent_db_for_config_test", &["t"]);
    let bad: String = text
        .lines()
        .filter(|l| !l.starts_with("mysql_addr ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(!bad.contains("mysql_addr"));
    let mut sync = SyncProc::start_raw(&env, &bad, None).await;
    let path = sync.config_path.to_string_lossy().into_owned();
    expect_fatal(&mut sync, secs(30), &["mysql_addr", &path]).await;
}

#[tokio::test]
async fn bad_config_file_missing() {
    // No server: the config is refused before anything connects.
    let env = Env::get();
    let mut sync = SyncProc::prepare(&env);
    // config_path was never written
    sync.spawn();
    let path = sync.config_path.to_string_lossy().into_owned();
    expect_fatal(&mut sync, secs(30), &[&path]).await;
}

// ---------------------------------------------------------------------------
// 14. unreachable MySQL
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unreachable_mysql() {
    let _servers = Servers::shared();
    let env = Env::get();
    let mut cfg = SyncConfig::new(&env, "nonexistent_db_for_unreachable_test", &["t"]);
    cfg.mysql_addr = "127.0.0.1:1".to_string();
    cfg.write_master_info = false;
    let mut sync = SyncProc::start(&env, &cfg).await;
    let t0 = Instant::now();
    expect_fatal(&mut sync, secs(30), &["127.0.0.1:1"]).await;
    eprintln!("unreachable: exited after {:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------
// 15. binlog_format not ROW
// ---------------------------------------------------------------------------

/// Restores `binlog_format = ROW` when dropped, even on panic.
struct BinlogFormatGuard {
    env: Env,
}

impl Drop for BinlogFormatGuard {
    fn drop(&mut self) {
        let env = self.env.clone();
        // Drop can't await: restore from a fresh thread with its own runtime.
        let r = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut c = env.mysql().await;
                my_q(&mut c, "SET GLOBAL binlog_format = 'ROW'").await;
                let v = my_value(&mut c, "SELECT @@GLOBAL.binlog_format").await;
                let _ = c.disconnect().await;
                v
            })
        })
        .join();
        match r {
            Ok(Some(v)) if v == "ROW" => {}
            other => eprintln!("WARNING: could not restore GLOBAL binlog_format=ROW: {other:?}"),
        }
    }
}

#[tokio::test]
async fn binlog_format_not_row() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let db = TestDb::create("err_fmt").await;
    db.create_table(
        "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NULL) ENGINE=InnoDB",
        "CREATE TABLE t (id integer NOT NULL PRIMARY KEY, v integer)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["t"]);
    {
        let mut admin = env.mysql().await;
        let before = my_value(&mut admin, "SELECT @@GLOBAL.binlog_format").await;
        assert_eq!(
            before.as_deref(),
            Some("ROW"),
            "the test server must run with binlog_format=ROW"
        );
        let _guard = BinlogFormatGuard { env: env.clone() };
        my_q(&mut admin, "SET GLOBAL binlog_format = 'STATEMENT'").await;
        let _ = admin.disconnect().await;
        let mut sync = SyncProc::start(&env, &cfg).await;
        expect_fatal(&mut sync, secs(30), &["binlog_format", "ROW"]).await;
        // _guard restores ROW here
    }
    let mut admin = env.mysql().await;
    assert_eq!(
        my_value(&mut admin, "SELECT @@GLOBAL.binlog_format")
            .await
            .as_deref(),
        Some("ROW")
    );
    let _ = admin.disconnect().await;
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 16. table without a key
// ---------------------------------------------------------------------------

async fn nopk_db(name: &str) -> TestDb {
    let db = TestDb::create(name).await;
    db.create_table(
        "CREATE TABLE nopk (a INT NULL, b VARCHAR(20) NULL, UNIQUE KEY uk_a (a)) ENGINE=InnoDB",
        "CREATE TABLE nopk (a integer UNIQUE, b varchar(20))",
    )
    .await;
    db.create_table(
        "CREATE TABLE keyed (id INT NOT NULL PRIMARY KEY, v VARCHAR(20) NULL) ENGINE=InnoDB",
        "CREATE TABLE keyed (id integer NOT NULL PRIMARY KEY, v varchar(20))",
    )
    .await;
    db
}

#[tokio::test]
async fn table_without_key_is_fatal_by_default() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = nopk_db("err_nopk").await;
    let cfg = SyncConfig::new(&env, &db.name, &["keyed", "nopk"]).skip_no_pk(false);
    let mut sync = SyncProc::start(&env, &cfg).await;
    // In case the check only happens when the table's first event is seen.
    db.my_exec_all(&[
        "INSERT INTO nopk VALUES (1, 'x')",
        "INSERT INTO keyed VALUES (1, 'x')",
    ])
    .await;
    let (_, stderr) = expect_fatal(&mut sync, secs(30), &["nopk"]).await;
    let re = regex::Regex::new(&format!(
        r#"[`"']?{}[`"']?\.[`"']?nopk\b"#,
        regex::escape(&db.name)
    ))
    .unwrap();
    assert!(
        stderr
            .lines()
            .filter(|l| l.starts_with("Error:"))
            .any(|l| re.is_match(l)),
        "the error should name the table as {}.nopk; stderr:\n{stderr}",
        db.name
    );
    drop(sync);
    db.cleanup().await;
}

#[tokio::test]
async fn table_without_key_skipped_when_configured() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = nopk_db("err_nopk_skip").await;
    let cfg = SyncConfig::new(&env, &db.name, &["*"]).skip_no_pk(true);
    let mut sync = SyncProc::start(&env, &cfg).await;
    db.my_exec_all(&[
        "INSERT INTO nopk VALUES (1, 'x'), (NULL, 'y')",
        "INSERT INTO keyed VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        "UPDATE keyed SET v = 'TWO' WHERE id = 2",
        "DELETE FROM keyed WHERE id = 3",
        "UPDATE nopk SET b = 'z'",
    ])
    .await;
    sync.wait_tables_equal(&db.t("keyed"), &db.t("keyed"), &["id"], secs(60))
        .await;
    sync.assert_alive("with skip_no_pk_table = true");
    // The skipped table stays untouched in PG.
    let pg = db.pg().await;
    assert_eq!(
        pg_value(&pg, "SELECT count(*) FROM nopk").await.as_deref(),
        Some("0")
    );
    // A warning naming the table.
    let deadline = Instant::now() + secs(10);
    loop {
        let log = sync.log();
        if log
            .lines()
            .any(|l| l.to_lowercase().contains("warn") && l.contains("nopk"))
        {
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "expected a warning line in sync.log naming the table nopk\n{}",
                sync.diag()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// A refused event, and the way past it for one table: `init --tables`
// ---------------------------------------------------------------------------

/// A statement-format UPDATE of a configured table (one session set binlog_format =
/// STATEMENT) stops the sync: it cannot know which rows changed. The error names
/// `init --tables <table>`; running it reloads that table at a new position while the other
/// table keeps its own, and the restarted sync goes past the refused event: both tables end
/// equal, including the changes made to both after the refused event.
#[tokio::test]
async fn refused_event_then_init_tables_reloads_one_table() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("err_reload").await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE t (id integer PRIMARY KEY, v integer NOT NULL)",
    )
    .await;
    db.create_table(
        "CREATE TABLE u (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE u (id integer PRIMARY KEY, v integer NOT NULL)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["t", "u"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    db.my_exec_all(&[
        "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)",
        "INSERT INTO u VALUES (1, 1), (2, 2)",
    ])
    .await;
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    sync.wait_tables_equal(&db.t("u"), &db.t("u"), &["id"], secs(60))
        .await;

    // One session writes t in statement format; the rest of the application goes on in ROW.
    let mut stmt = db.my().await;
    my_q(&mut stmt, "SET SESSION binlog_format = 'STATEMENT'").await;
    my_q(&mut stmt, "UPDATE t SET v = v * 10 WHERE id >= 2").await;
    let _ = stmt.disconnect().await;
    db.my_exec_all(&[
        "INSERT INTO t VALUES (4, 4)",
        "UPDATE u SET v = 20 WHERE id = 2",
        "INSERT INTO u VALUES (3, 3)",
    ])
    .await;
    let name = format!("{}.t", db.name);
    let (_, stderr) = expect_fatal(
        &mut sync,
        secs(30),
        &["statement, not rows", &format!("init --tables {name}")],
    )
    .await;
    let mi_before = sync.master_info().expect("master.info");

    // The restart meets the same event again: refused again, nothing skipped.
    sync.restart();
    expect_fatal(&mut sync, secs(30), &["statement, not rows"]).await;
    assert_eq!(sync.master_info(), Some(mi_before.clone()), "{stderr}");

    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&sync.config_path)
        .args(["init", "--no-follow", "--tables", &name])
        .current_dir(&sync.dir_path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "init --tables failed: {err}\n{}",
        sync.diag()
    );
    assert_eq!(
        sync.master_info(),
        Some(mi_before),
        "init --tables must leave master.info (the other tables' position) alone"
    );
    assert!(
        sync.log().contains("reloaded 1 table(s)"),
        "{}",
        sync.diag()
    );

    // Both tables go on from here; later changes to both arrive too.
    sync.restart();
    db.my_exec_all(&[
        "UPDATE t SET v = 5 WHERE id = 1",
        "DELETE FROM u WHERE id = 1",
    ])
    .await;
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    sync.wait_tables_equal(&db.t("u"), &db.t("u"), &["id"], secs(60))
        .await;
    assert!(
        sync.log().contains("tables reloaded by init --tables"),
        "{}",
        sync.diag()
    );
    sync.assert_alive("after the reload");
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}
