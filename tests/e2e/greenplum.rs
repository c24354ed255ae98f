//! Greenplum mode (`pg_target = "greenplum"`: a batch deletes its keys, then inserts the final
//! rows, in one transaction; no ON CONFLICT) must be correct on PostgreSQL too: inserts,
//! updates, deletes, key changes and re-inserts of one key in a transaction, into a target
//! table without any unique index (as a Greenplum table distributed by the key may be).

use std::path::Path;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greenplum_mode_converges_without_on_conflict() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("gpmode").await;
    db.create_table(
        "CREATE TABLE g (id INT PRIMARY KEY, v VARCHAR(20), n DECIMAL(12,2)) ENGINE=InnoDB",
        // No primary key, no unique index: ON CONFLICT could not even be written here.
        "CREATE TABLE g (id integer NOT NULL, v varchar(20), n numeric(12,2))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["g"]).concurrent(4);
    let toml = format!(
        "pg_target = \"greenplum\"\n{}",
        cfg.to_toml(Path::new("{DATA_DIR}"))
    );
    let mut sync = SyncProc::start_raw(&env, &toml, Some(master_pos(&env).await)).await;
    let mut my = db.my().await;
    for i in 0..30 {
        let values: Vec<String> = (0..50)
            .map(|j| format!("({}, 'v{j}', {j}.25)", i * 50 + j))
            .collect();
        my_q(
            &mut my,
            &format!("INSERT INTO g VALUES {}", values.join(",")),
        )
        .await;
        my_q(
            &mut my,
            &format!("UPDATE g SET n = n + 1 WHERE id % 7 = {}", i % 7),
        )
        .await;
        my_q(
            &mut my,
            &format!(
                "DELETE FROM g WHERE id % 11 = {} AND id < {}",
                i % 11,
                i * 50
            ),
        )
        .await;
    }
    my_q(&mut my, "BEGIN").await;
    my_q(&mut my, "UPDATE g SET id = 100000 WHERE id = 1").await;
    my_q(&mut my, "UPDATE g SET id = 1 WHERE id = 2").await;
    my_q(&mut my, "UPDATE g SET id = 2 WHERE id = 100000").await;
    my_q(&mut my, "DELETE FROM g WHERE id = 3").await;
    my_q(&mut my, "INSERT INTO g VALUES (3, 'again', 3.00)").await;
    my_q(&mut my, "COMMIT").await;
    sync.wait_tables_equal(&db.t("g"), &db.t("g"), &["id"], secs(60))
        .await;
    // Equal as sets is not enough without a unique index: no key may be there twice.
    let pg = db.pg().await;
    let dups = pg_value(&pg, "SELECT count(*) - count(DISTINCT id) FROM g").await;
    assert_eq!(dups.as_deref(), Some("0"), "duplicate keys in the target");
    assert!(sync.log().contains("Greenplum mode"), "{}", sync.diag());
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}
