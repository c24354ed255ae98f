//! Two syncs with one config (two data dirs, as on two hosts) against one target: exactly one
//! applies, the other waits as a standby and takes over when the active dies or loses its
//! PostgreSQL session (`state::lease`). A workload runs throughout; every test ends with the
//! table equal to MySQL's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

const T_MY: &str = "CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL, note VARCHAR(40))";
const T_PG: &str = "CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL, note VARCHAR(40))";

/// The role the sync's status file shows (`active` / `standby`), if it wrote one.
fn role(p: &SyncProc) -> Option<String> {
    let text = std::fs::read_to_string(p.data_dir.join("status.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(v.get("role")?.as_str()?.to_string())
}

async fn wait_role(p: &mut SyncProc, want: &str, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        p.assert_alive(&format!("waiting for role {want}"));
        if role(p).as_deref() == Some(want) {
            return t0.elapsed();
        }
        if t0.elapsed() > timeout {
            panic!(
                "role is {:?}, not {want}, after {timeout:?}\n{}",
                role(p),
                p.diag()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The same config as `cfg` in a second data dir, started without a master.info: a standby
/// on "another host" knows nothing but the config.
async fn start_second(env: &Env, cfg: &SyncConfig) -> SyncProc {
    let mut p = SyncProc::prepare(env);
    std::fs::write(&p.config_path, cfg.to_toml(&p.data_dir)).expect("write config");
    p.spawn();
    p
}

/// A table, and two syncs with one config: `a` active, `b` its standby.
async fn active_and_standby(name: &str) -> (Env, TestDb, SyncConfig, SyncProc, SyncProc) {
    let env = Env::get();
    let db = TestDb::create(name).await;
    db.create_table(T_MY, T_PG).await;
    let cfg = SyncConfig::new(&env, &db.name, &["t"]);
    let mut a = SyncProc::start(&env, &cfg).await;
    wait_role(&mut a, "active", secs(30)).await;
    let mut b = start_second(&env, &cfg).await;
    wait_role(&mut b, "standby", secs(30)).await;
    (env, db, cfg, a, b)
}

/// Small transactions (an insert and an update each) until `stop`; returns the count.
fn workload(env: &Env, db: &str, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let (env, db) = (env.clone(), db.to_string());
    tokio::spawn(async move {
        let mut c = env.mysql_db(Some(&db)).await;
        let n = AtomicU64::new(0);
        while !stop.load(Ordering::Relaxed) {
            let i = n.fetch_add(1, Ordering::Relaxed) + 1;
            my_q(&mut c, "BEGIN").await;
            my_q(&mut c, &format!("INSERT INTO t VALUES ({i}, {i}, 'new')")).await;
            my_q(
                &mut c,
                &format!(
                    "UPDATE t SET v = v + 1, note = 'moved' WHERE id = {}",
                    i / 2 + 1
                ),
            )
            .await;
            my_q(&mut c, "COMMIT").await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        n.load(Ordering::Relaxed)
    })
}

/// The lease row of this sync (named by its server_id): (epoch, holder).
async fn lease_row(env: &Env, cfg: &SyncConfig) -> (i64, String) {
    let pg = env.pg().await;
    let source = format!("server_id {}", cfg.server_id);
    let r = pg
        .query_one(
            "SELECT epoch, holder FROM mysql_gp_sync.lease WHERE source = $1",
            &[&source],
        )
        .await
        .expect("the lease row");
    (r.get(0), r.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_when_the_active_is_killed() {
    let _servers = Servers::shared();
    let (env, db, cfg, mut a, mut b) = active_and_standby("standby_kill").await;
    let (epoch_a, holder_a) = lease_row(&env, &cfg).await;
    assert!(
        holder_a.ends_with(&a.data_dir.display().to_string()),
        "{holder_a}"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let load = workload(&env, &db.name, stop.clone());
    wait_role(&mut b, "standby", secs(30)).await;
    // Some of the workload applied by the active before it dies.
    tokio::time::sleep(secs(1)).await;
    a.kill9();
    let took = wait_role(&mut b, "active", secs(30)).await;
    println!("the standby took over {took:?} after the active's kill -9");
    tokio::time::sleep(secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let n = load.await.unwrap();
    println!("{n} transactions written");
    b.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    let (epoch_b, holder_b) = lease_row(&env, &cfg).await;
    assert_eq!(epoch_b, epoch_a + 1, "one takeover raises the epoch once");
    assert!(
        holder_b.ends_with(&b.data_dir.display().to_string()),
        "{holder_b}"
    );
    assert!(b.log().contains("took over from"), "{}", b.diag());
    b.sigterm_and_wait().await;
    db.cleanup().await;
}

/// The active's lease session is cut by PostgreSQL while its process lives: it stops
/// applying (its commits are refused from then on), the standby takes over, and it becomes
/// the standby. A batch that proves the old epoch is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_whose_session_is_cut_stops_applying_and_becomes_the_standby() {
    let _servers = Servers::shared();
    let (env, db, cfg, mut a, mut b) = active_and_standby("standby_cut").await;
    let (epoch_a, _) = lease_row(&env, &cfg).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load = workload(&env, &db.name, stop.clone());
    tokio::time::sleep(secs(2)).await;
    // The session that holds this sync's lock, and only that one (other tests' syncs run).
    let pg = env.pg().await;
    let source = format!("server_id {}", cfg.server_id);
    let cut: i64 = pg
        .query_one(
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 5064531 AND l.objsubid = 2 \
               AND l.objid::bigint = (hashtext($1)::bigint & 4294967295)",
            &[&source],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(cut, 1, "exactly one session holds the lease");

    let took = wait_role(&mut b, "active", secs(30)).await;
    println!("the standby took over {took:?} after the active's session was cut");
    wait_role(&mut a, "standby", secs(30)).await;
    // The old epoch proves nothing any more: a batch of the old active would be refused.
    let refused = pg
        .execute("SELECT mysql_gp_sync.fence($1, $2)", &[&source, &epoch_a])
        .await
        .expect_err("the old epoch is fenced off");
    assert_eq!(
        refused.as_db_error().map(|e| e.code().code()),
        Some("MGSFN"),
        "{refused}"
    );
    tokio::time::sleep(secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    b.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
    assert!(a.log().contains("lost the lease"), "{}", a.diag());
    assert_eq!(role(&a).as_deref(), Some("standby"), "{}", a.diag());
    // The new standby takes over in turn when the active stops.
    b.sigterm_and_wait().await;
    wait_role(&mut a, "active", secs(30)).await;
    a.sigterm_and_wait().await;
    db.cleanup().await;
}
