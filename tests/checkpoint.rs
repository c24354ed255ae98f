//! The transactional checkpoint: after a restart from an old master.info, every worker skips
//! the changes it had already committed, so rows never move back to older values; without the
//! checkpoint the same replay rewrites them (proving the test can tell the difference).

mod common;

use common::*;

/// Syncs 200 rows, stops, rewinds master.info to before them, poisons one row in PostgreSQL,
/// restarts and makes one more change. Returns whether the poisoned row survived the replay.
async fn replay_after_rewind(checkpoint_schema: &str) -> (bool, String) {
    let env = Env::get();
    let db = TestDb::create(&format!("cp{}", checkpoint_schema.len())).await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB",
        "CREATE TABLE t (id integer PRIMARY KEY, v varchar(20))",
    )
    .await;
    let before = master_pos(&env).await;
    let cfg = SyncConfig::new(&env, &db.name, &["t"]).concurrent(3);
    let toml = cfg.to_toml(std::path::Path::new("{DATA_DIR}"));
    let toml = format!(
        "checkpoint_schema = {}\n{toml}",
        toml_str(checkpoint_schema)
    );
    let mut sync = SyncProc::start_raw(&env, &toml, Some(before.clone())).await;
    let mut my = db.my().await;
    for i in 0..20 {
        let values: Vec<String> = (1..=10)
            .map(|j| format!("({}, 'v{}')", i * 10 + j, i))
            .collect();
        my_q(
            &mut my,
            &format!("INSERT INTO t VALUES {}", values.join(",")),
        )
        .await;
    }
    my_q(&mut my, "UPDATE t SET v = 'updated' WHERE id % 7 = 0").await;
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(30))
        .await;
    sync.sigterm_and_wait().await;

    // As if master.info had not been saved since before the workload (a crash right after
    // the commits): the restart replays all of it.
    sync.write_master_info(&before);
    let pg = db.pg().await;
    pg_q(&pg, "UPDATE t SET v = 'poison' WHERE id = 14").await;
    sync.restart();
    my_q(&mut my, "UPDATE t SET v = 'after' WHERE id = 200").await;
    let probe = format!("SELECT v FROM \"{}\".t WHERE id = 200", db.name);
    sync.wait_pg_value(&probe, Some("after"), secs(30)).await;
    let v = pg_value(&pg, "SELECT v FROM t WHERE id = 14").await;
    let log = sync.log();
    sync.sigterm_and_wait().await;
    db.cleanup().await;
    (v.as_deref() == Some("poison"), log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_skips_what_each_worker_already_committed() {
    let (kept, log) = replay_after_rewind("mgs_checkpoint_test").await;
    assert!(
        kept,
        "the replay rewrote a row the checkpoint says was committed:\n{log}"
    );
    assert!(log.contains("skipped"), "no skip reported:\n{log}");
    let env = Env::get();
    let pg = env.pg().await;
    let workers = pg_value(
        &pg,
        "SELECT count(*) FROM mgs_checkpoint_test.checkpoint WHERE workers = 3",
    )
    .await;
    assert!(
        workers.is_some_and(|n| n != "0"),
        "no checkpoint rows written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_checkpoint_the_replay_rewrites_rows() {
    let (kept, log) = replay_after_rewind("").await;
    assert!(
        !kept,
        "without a checkpoint the replay must rewrite the row:\n{log}"
    );
}
