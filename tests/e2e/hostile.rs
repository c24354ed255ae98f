//! Hostile and odd input, end to end: identifiers that need quoting, a 16 MB LONGBLOB, and a
//! row PostgreSQL refuses (a clear stop naming table, key and position; nothing skipped).

use std::path::Path;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_that_need_quoting() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("hostile_ids").await;
    let mut my = db.my().await;
    my_q(
        &mut my,
        "CREATE TABLE `Order Items` (`select` INT PRIMARY KEY, `user` VARCHAR(20), `Mixed Case` INT, \
         `we\"ird` TEXT, `名前` TEXT) ENGINE=InnoDB",
    )
    .await;
    // Into a PostgreSQL table named by a reserved word in mixed case, created by the sync.
    let cfg = SyncConfig::new(&env, &db.name, &["Order Items"]).rule(
        &db.name,
        "Order Items",
        &db.name,
        "Order",
    );
    let toml = format!(
        "create_missing_tables = true\n{}",
        cfg.to_toml(Path::new("{DATA_DIR}"))
    );
    let mut sync = SyncProc::start_raw(&env, &toml, Some(master_pos(&env).await)).await;
    // The sync creates "Order" at start.
    let exists = format!(
        "SELECT (to_regclass('\"{}\".\"Order\"') IS NOT NULL)::text",
        db.name
    );
    sync.wait_pg_value(&exists, Some("true"), secs(30)).await;
    my_q(
        &mut my,
        "INSERT INTO `Order Items` VALUES (1, 'root', 7, 'a\"b', 'ä名'), (2, 'x''; DROP TABLE t; --', -1, NULL, '')",
    )
    .await;
    my_q(
        &mut my,
        "UPDATE `Order Items` SET `Mixed Case` = 8 WHERE `select` = 1",
    )
    .await;
    my_q(
        &mut my,
        "INSERT INTO `Order Items` VALUES (3, 'gone', 0, '', '')",
    )
    .await;
    my_q(&mut my, "DELETE FROM `Order Items` WHERE `select` = 3").await;
    let q = format!(
        "SELECT string_agg(concat_ws('|', \"select\", \"user\", \"Mixed Case\", \"we\"\"ird\", \"名前\"), ';' ORDER BY \"select\") \
         FROM \"{}\".\"Order\"",
        db.name
    );
    sync.wait_pg_value(
        &q,
        Some("1|root|8|a\"b|ä名;2|x'; DROP TABLE t; --|-1|"),
        secs(30),
    )
    .await;
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16_mb_longblob() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("hostile_blob").await;
    db.create_table(
        "CREATE TABLE b (id INT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB",
        "CREATE TABLE b (id integer PRIMARY KEY, v bytea)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["b"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    my_q(
        &mut my,
        "INSERT INTO b VALUES (1, REPEAT(x'00ff7f80', 4194304))",
    )
    .await;
    let want = my_value(
        &mut my,
        "SELECT CONCAT(LENGTH(v), ':', SHA2(v, 256)) FROM b WHERE id = 1",
    )
    .await;
    assert!(
        want.as_deref().is_some_and(|w| w.starts_with("16777216:")),
        "{want:?}"
    );
    let q = format!(
        "SELECT length(v) || ':' || encode(sha256(v), 'hex') FROM \"{}\".b WHERE id = 1",
        db.name
    );
    sync.wait_pg_value(&q, want.as_deref(), secs(60)).await;
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_postgresql_refuses_stops_the_sync_and_nothing_is_skipped() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("hostile_refused").await;
    db.create_table(
        "CREATE TABLE r (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
        "CREATE TABLE r (id integer PRIMARY KEY, v integer CONSTRAINT v_small CHECK (v < 100))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["r"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    my_q(&mut my, "INSERT INTO r VALUES (1, 5)").await;
    let q = format!("SELECT count(*)::text FROM \"{}\".r", db.name);
    sync.wait_pg_value(&q, Some("1"), secs(30)).await;
    let before_bad = master_pos(&env).await;
    sync.wait_master_info_at_least(&before_bad, secs(30)).await;
    my_q(&mut my, "INSERT INTO r VALUES (2, 500)").await;

    let status = sync.wait_exit(secs(60)).await;
    assert!(
        !status.success(),
        "the sync must stop on a refused row\n{}",
        sync.diag()
    );
    let stderr = sync.stderr();
    let err = stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| panic!("no Error: line\n{}", sync.diag()));
    let table = format!("{}.r", db.name);
    for part in [table.as_str(), "id=2", "binlog position", "v_small"] {
        assert!(err.contains(part), "the error should name {part:?}: {err}");
    }
    assert!(
        sync.log().contains("ERROR"),
        "the error must reach sync.log too"
    );
    let saved = sync.master_info().expect("master.info");
    assert!(
        pos_cmp(&saved, &master_pos(&env).await).is_lt(),
        "master.info {saved:?} must stay before the refused transaction"
    );

    // Fixed in PostgreSQL, restarted: the refused row arrives, nothing was skipped.
    let pg = db.pg().await;
    pg_q(&pg, "ALTER TABLE r DROP CONSTRAINT v_small").await;
    sync.restart();
    sync.wait_tables_equal(&db.t("r"), &db.t("r"), &["id"], secs(30))
        .await;
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}
