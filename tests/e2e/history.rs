//! Never resume inside another history (`model::history`): a saved position carries its
//! binlog file's origin and the stamp of the last transaction applied, and a start that finds
//! another history there stops with what happened, or replays the server's binlog when the
//! operator chose `new_history = "replay"`. Also: routing versions in the checkpoint table,
//! and checkpoints that survive an edited `mysql_addr`.
//!
//! The reset tests hold the servers exclusively: they reset the server's binlog.

use std::time::Duration;

use crate::support::*;

const T: &str = "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)";

/// `RESET MASTER` as each server spells it: a new binlog history, numbered from 000001.
async fn reset_binlog(env: &Env) {
    let mut c = env.mysql().await;
    let sql = if env.is_mysql() {
        "RESET BINARY LOGS AND GTIDS"
    } else {
        "RESET MASTER"
    };
    my_q(&mut c, sql).await;
}

/// `n` single-row transactions with keys from `from`.
async fn write(env: &Env, db: &str, from: u32, n: u32) {
    let mut c = env.mysql_db(Some(db)).await;
    for i in from..from + n {
        my_q(&mut c, &format!("INSERT INTO t VALUES ({i}, {i})")).await;
    }
}

/// A database with table `t`, a sync started on it (master.info at the server's position),
/// and `n` rows written and applied; the sync still runs.
async fn synced(env: &Env, name: &str, n: u32) -> (TestDb, SyncConfig, SyncProc) {
    let db = TestDb::create(name).await;
    db.create_table(T, T).await;
    let cfg = SyncConfig::new(env, &db.name, &["t"]);
    let mut sync = SyncProc::start(env, &cfg).await;
    write(env, &db.name, 1, n).await;
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    (db, cfg, sync)
}

/// [`synced`] (master.info written as the Go tool writes it), then the position saved and the
/// sync stopped.
async fn synced_and_stopped(env: &Env, name: &str, n: u32) -> (TestDb, SyncConfig, SyncProc) {
    let (db, cfg, mut sync) = synced(env, name, n).await;
    let end = master_pos(env).await;
    sync.wait_master_info_at_least(&end, secs(30)).await;
    sync.sigterm_and_wait().await;
    (db, cfg, sync)
}

async fn pg_count(env: &Env, table: &str) -> i64 {
    let pg = env.pg().await;
    pg.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Starts the sync again and expects it to stop by itself with the history error.
async fn expect_another_history(sync: &mut SyncProc, what: &str) {
    let logged_before = sync.log().len();
    sync.restart();
    let st = sync.wait_exit(secs(90)).await;
    let log = sync.log();
    let said = &log[logged_before.min(log.len())..];
    assert!(!st.success(), "{what}: the sync went on\n{}", sync.diag());
    assert!(
        said.contains("binlog history restarted") && said.contains("init --truncate"),
        "{what}: no history error\n{}",
        sync.diag()
    );
    let line = said.lines().rev().find(|l| l.contains("history restarted"));
    println!("{what}: {}", line.unwrap_or_default());
    assert!(
        said.contains("The last change applied is at"),
        "{what}\n{}",
        sync.diag()
    );
}

fn master_info_text(sync: &SyncProc) -> String {
    std::fs::read_to_string(sync.data_dir.join("master.info")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_binlog_history_stops_the_sync_and_replays_only_when_asked() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    // A fresh history, so that the sync's position is in mysql-bin.000001, the name the next
    // history starts with too. The second's pause: a file created in the same second by the
    // same server is the one case the fingerprint cannot tell (README).
    reset_binlog(&env).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (db, cfg, mut sync) = synced_and_stopped(&env, "history_reset", 300).await;
    // The Go tool's master.info the sync started from had no fingerprint: it said so.
    assert!(
        sync.log()
            .contains("saved without its history's fingerprint"),
        "{}",
        sync.diag()
    );
    let saved = master_info_text(&sync);
    assert!(
        saved.contains("bin_origin") && saved.contains("gtid_last"),
        "master.info carries the fingerprint:\n{saved}"
    );
    println!("saved: {saved}");

    // The history restarts; a shorter one first (the saved offset is past its file's end).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    reset_binlog(&env).await;
    write(&env, &db.name, 1001, 50).await;
    expect_another_history(&mut sync, "a shorter new history").await;
    assert_eq!(master_info_text(&sync), saved, "master.info did not move");
    // Longer than the old one: the saved offset lies inside the new file.
    write(&env, &db.name, 2001, 600).await;
    expect_another_history(&mut sync, "a longer new history").await;
    assert_eq!(master_info_text(&sync), saved, "master.info did not move");
    assert_eq!(
        pg_count(&env, &db.t("t")).await,
        300,
        "nothing of the new history applied"
    );

    // check says the same before a start.
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&sync.config_path)
        .arg("check")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "check passed:\n{text}");
    assert!(text.contains("binlog history restarted"), "{text}");

    // PostgreSQL's note alone (no master.info, init_on_start: the sync takes the note).
    std::fs::remove_file(sync.data_dir.join("master.info")).unwrap();
    let with_init = cfg.clone().set("init_on_start", "true");
    std::fs::write(&sync.config_path, with_init.to_toml(&sync.data_dir)).unwrap();
    expect_another_history(&mut sync, "PostgreSQL's note alone").await;

    // The operator's choice: replay the new history into the existing tables.
    let replay = cfg.clone().set("new_history", "\"replay\"");
    std::fs::write(&sync.config_path, replay.to_toml(&sync.data_dir)).unwrap();
    sync.restart();
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(90))
        .await;
    assert!(
        sync.log().contains("new_history = \"replay\""),
        "{}",
        sync.diag()
    );
    let end = master_pos(&env).await;
    sync.wait_master_info_at_least(&end, secs(30)).await;
    sync.sigterm_and_wait().await;
    // From now on the new history is the sync's own: a plain restart goes on.
    std::fs::write(&sync.config_path, cfg.to_toml(&sync.data_dir)).unwrap();
    write(&env, &db.name, 5001, 20).await;
    sync.restart();
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    assert_eq!(pg_count(&env, &db.t("t")).await, 970);
    db.cleanup().await;
}

/// MariaDB servers share `server_id = 1` and GTID domain 0 unless someone changed them: a
/// sync pointed at such another server finds file names and GTIDs it knows, and must not
/// resume inside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_server_with_the_same_server_id_and_domain_is_refused() {
    let _servers = Servers::shared();
    let env = Env::get();
    let dir = std::env::var("MGS_MYSQL_SERVER_DIR").unwrap_or_else(|_| "mysql".into());
    if env.is_mysql() || dir != "mysql" {
        println!("skipped: the twin is a MariaDB 10.11 beside this pass's MariaDB 10.11");
        return;
    }
    test_env(&["twin-up"]);
    let twin_port: u16 = std::env::var("MGS_TWIN_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(13320);
    let mut twin = env.clone();
    twin.mysql_port = twin_port;
    let (db, cfg, mut sync) = synced_and_stopped(&env, "history_twin", 30).await;
    let saved = master_info_text(&sync);

    // The twin gets the same schema and more transactions than the sync's GTID state names.
    let gtid: String = {
        let mut c = env.mysql().await;
        my_value(&mut c, "SELECT @@GLOBAL.gtid_binlog_pos")
            .await
            .unwrap()
    };
    let seq: u64 = gtid
        .split(',')
        .find_map(|d| d.strip_prefix("0-1-"))
        .and_then(|s| s.parse().ok())
        .expect("domain 0, server 1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut c = twin.mysql().await;
    my_q(&mut c, &format!("CREATE DATABASE {}", db.name)).await;
    my_q(
        &mut c,
        &format!(
            "CREATE TABLE {}.t (id INT PRIMARY KEY, v INT NOT NULL)",
            db.name
        ),
    )
    .await;
    for i in 0..seq + 20 {
        my_q(
            &mut c,
            &format!("INSERT INTO {}.t VALUES ({}, 0)", db.name, 100_000 + i),
        )
        .await;
    }
    let mut moved = cfg.clone();
    moved.mysql_addr = format!("127.0.0.1:{twin_port}");
    std::fs::write(&sync.config_path, moved.to_toml(&sync.data_dir)).unwrap();
    sync.restart();
    let st = sync.wait_exit(secs(90)).await;
    assert!(
        !st.success(),
        "the sync went on on the twin\n{}",
        sync.diag()
    );
    let log = sync.log();
    assert!(
        log.contains("points at another server") && log.contains("init --truncate"),
        "{}",
        sync.diag()
    );
    assert_eq!(master_info_text(&sync), saved, "master.info did not move");
    assert_eq!(
        pg_count(&env, &db.t("t")).await,
        30,
        "nothing of the twin applied"
    );
    test_env(&["twin-down"]);
    db.cleanup().await;
}

/// Checkpoints written under another routing of keys to workers are not skipped by: the
/// start drops them and replays plainly, and the tables end equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_another_routing_version_are_dropped() {
    let _servers = Servers::shared();
    let env = Env::get();
    let (db, cfg, mut sync) = synced(&env, "history_routing", 40).await;
    sync.kill9();
    let pg = env.pg().await;
    let source = format!("server_id {}", cfg.server_id);
    let n = pg
        .execute(
            "UPDATE mysql_gp_sync.checkpoint SET routing = 0 WHERE source = $1 AND worker >= 0",
            &[&source],
        )
        .await
        .unwrap();
    assert!(n > 0, "the workers' checkpoints are named by server_id");
    write(&env, &db.name, 100, 10).await;
    sync.restart();
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    assert!(
        sync.log().contains("routing version 0"),
        "the marks were not dropped\n{}",
        sync.diag()
    );
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}

/// A sync is named by its server_id: a server added to `mysql_addr` keeps its checkpoints,
/// and the rows an earlier version named `mysql_addr#server_id` are carried over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_mysql_addr_keeps_the_checkpoints() {
    let _servers = Servers::shared();
    let env = Env::get();
    let (db, cfg, mut sync) = synced_and_stopped(&env, "history_addr", 40).await;
    let pg = env.pg().await;
    let source = format!("server_id {}", cfg.server_id);
    // As an earlier version named them.
    let old = format!("{}#{}", cfg.mysql_addr, cfg.server_id);
    for t in ["checkpoint", "schema_history"] {
        pg.execute(
            &format!("UPDATE mysql_gp_sync.{t} SET source = $1 WHERE source = $2"),
            &[&old, &source],
        )
        .await
        .unwrap();
    }
    let marks = |pg: tokio_postgres::Client, source: String| async move {
        let n: i64 = pg
            .query_one(
                "SELECT count(*) FROM mysql_gp_sync.checkpoint WHERE source = $1 AND worker >= 0",
                &[&source],
            )
            .await
            .unwrap()
            .get(0);
        n
    };
    assert_eq!(marks(env.pg().await, source.clone()).await, 0);
    // A second server in the list (none answers there: the first one is read).
    let mut edited = cfg.clone();
    edited.mysql_addr = format!("{},127.0.0.1:9", cfg.mysql_addr);
    std::fs::write(&sync.config_path, edited.to_toml(&sync.data_dir)).unwrap();
    sync.restart();
    let deadline = std::time::Instant::now() + secs(30);
    while !sync.log().contains("carried over") {
        assert!(std::time::Instant::now() < deadline, "{}", sync.diag());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Kept, not reset: nothing was written since, so they are the marks of the last run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        marks(env.pg().await, source.clone()).await > 0,
        "{}",
        sync.diag()
    );
    assert!(
        !sync.log().contains("the checkpoints are reset"),
        "{}",
        sync.diag()
    );
    write(&env, &db.name, 100, 10).await;
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}
