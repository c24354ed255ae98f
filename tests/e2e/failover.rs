//! Following a failover: a MariaDB primary and its replica (GTIDs, `log_slave_updates`),
//! started for this test by `scripts/test-env.sh pair-up` (servers of their own: the primary
//! is killed). `mysql_addr` lists both; the primary is `kill -9`ed, the replica promoted,
//! writes go on there, and the sync moves to it by GTID: the table ends equal to the new
//! primary's, nothing lost or doubled. Then a restart with `mysql_addr` changed by hand to the
//! new primary alone resumes by GTID too.
//!
//! Runs in the MariaDB 10.11 pass (a pair of Debian's MariaDB) and in the MySQL 9.7 pass (a
//! pair of MySQL 9.7 in its chroot, `pair-up mysql97`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

fn pair_port() -> u16 {
    std::env::var("MGS_PAIR_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(13316)
}

fn test_dir() -> PathBuf {
    PathBuf::from(std::env::var("MGS_TEST_DIR").unwrap_or_else(|_| "/tmp/mgs-test-env".into()))
}

/// Small transactions on `env`'s server until `stop` or an error (the server died).
fn workload(env: &Env, db: &str, from: u64, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let (env, db) = (env.clone(), db.to_string());
    tokio::spawn(async move {
        let mut c = env.mysql_db(Some(&db)).await;
        let mut i = from;
        while !stop.load(Ordering::Relaxed) {
            let txn = format!(
                "BEGIN; INSERT INTO t VALUES ({i}, {i}); UPDATE t SET v = v + 1 WHERE id = {}; COMMIT",
                from + (i - from) / 2
            );
            if mysql_async::prelude::Queryable::query_drop(&mut c, txn)
                .await
                .is_err()
            {
                break;
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        i - from
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_follows_a_failover_to_the_promoted_replica() {
    let _servers = Servers::shared();
    let env = Env::get();
    let dir = std::env::var("MGS_MYSQL_SERVER_DIR").unwrap_or_else(|_| "mysql".into());
    // (pair, its first port, its directory)
    let (which, port, pair_dir) = match (env.is_mysql(), dir.as_str()) {
        (false, "mysql") => ("mariadb", pair_port(), "pair"),
        (true, "mysql97") => ("mysql97", pair_port() + 2, "pair97"),
        _ => {
            println!("skipped: there is no failover pair of this pass's server ({dir})");
            return;
        }
    };
    test_env(&["pair-up", which]);
    let mut a = env.clone();
    a.mysql_port = port;
    let mut b = env.clone();
    b.mysql_port = port + 1;
    let name = format!("failover_{}", std::process::id());
    let table = format!("{name}.t");
    let mut ca = a.mysql().await;
    my_q(&mut ca, &format!("DROP DATABASE IF EXISTS {name}")).await;
    my_q(&mut ca, &format!("CREATE DATABASE {name}")).await;
    let ddl = format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
    my_q(&mut ca, &ddl).await;
    let pg = env.pg().await;
    let schema = format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}; {ddl}");
    pg_q(&pg, &schema).await;
    let mut cfg = SyncConfig::new(&a, &name, &["t"]);
    cfg.mysql_addr = format!("127.0.0.1:{port},127.0.0.1:{}", port + 1);
    cfg.write_master_info = false;
    // The SyncProc compares with its env's server: the replica, the primary-to-be.
    let mut sync = SyncProc::prepare(&b);
    std::fs::write(&sync.config_path, cfg.to_toml(&sync.data_dir)).unwrap();
    sync.write_master_info(&master_pos(&a).await);
    sync.spawn();
    // A new file names every GTID before it: the sync knows its GTID state from there on.
    my_q(&mut ca, "FLUSH BINARY LOGS").await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = workload(&a, &name, 1, stop.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Asynchronous replication loses what the replica has not received when the primary dies
    // (the sync would then rightly refuse a replica behind it): quiet for the moment of the
    // kill, with the replica caught up.
    stop.store(true, Ordering::Relaxed);
    let written_a = load.await.unwrap();
    let (state_sql, wait_fn, promote) = if env.is_mysql() {
        (
            "SELECT @@GLOBAL.gtid_executed",
            "WAIT_FOR_EXECUTED_GTID_SET",
            "STOP REPLICA; RESET REPLICA ALL",
        )
    } else {
        (
            "SELECT @@GLOBAL.gtid_binlog_pos",
            "MASTER_GTID_WAIT",
            "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0",
        )
    };
    let gtid = my_value(&mut ca, state_sql).await.unwrap();
    let mut cb = b.mysql().await;
    let waited = my_value(&mut cb, &format!("SELECT {wait_fn}('{gtid}', 30)")).await;
    assert_eq!(waited.as_deref(), Some("0"), "the replica is behind {gtid}");
    let pid_file = test_dir().join(pair_dir).join("primary/mysqld.pid");
    let pid = std::fs::read_to_string(pid_file).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(killed.success());
    println!("primary killed after {written_a} transactions (GTID {gtid})");
    my_q(&mut cb, promote).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = workload(&b, &name, 1_000_000, stop.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let written_b = load.await.unwrap();
    println!("{written_b} transactions on the promoted replica");
    sync.wait_tables_equal(&table, &table, &["id"], secs(90))
        .await;
    let moved = format!("to 127.0.0.1:{}: resuming by GTID", port + 1);
    assert!(sync.log().contains(&moved), "{}", sync.diag());

    // A restart with mysql_addr changed by hand to the new primary alone: by GTID as well.
    sync.sigterm_and_wait().await;
    cfg.mysql_addr = format!("127.0.0.1:{}", port + 1);
    std::fs::write(&sync.config_path, cfg.to_toml(&sync.data_dir)).unwrap();
    let change = format!("UPDATE {table} SET v = v * 3 WHERE id % 7 = 0");
    my_q(&mut cb, &change).await;
    my_q(&mut cb, &format!("DELETE FROM {table} WHERE id % 11 = 0")).await;
    sync.restart();
    sync.wait_tables_equal(&table, &table, &["id"], secs(60))
        .await;
    assert!(sync.log().contains("resuming by GTID"), "{}", sync.diag());
    sync.sigterm_and_wait().await;
    test_env(&["pair-down", which]);
    pg_q(&pg, &format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
}
