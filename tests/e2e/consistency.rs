//! `consistency = "transaction"`: a reader of PostgreSQL never sees part of a source
//! transaction. Transfers between accounts keep the sum constant in MySQL; a reader sums the
//! balances on PostgreSQL in a tight loop during the whole run, through a kill -9, and checks
//! that no order is visible without all its lines (one of them a 30 000-line transaction, larger
//! than the acknowledgement window). In the default mode the same reader sees broken sums,
//! which proves it can tell.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::support::*;
use mysql_async::Conn;

const ACCOUNTS: i64 = 40;
const START_BALANCE: i64 = 1000;

async fn setup(tag: &str) -> TestDb {
    let db = TestDb::create(tag).await;
    db.create_table(
        "CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)",
    )
    .await;
    db.create_table(
        "CREATE TABLE orders (id INT PRIMARY KEY, n_lines INT NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE orders (id integer PRIMARY KEY, n_lines integer NOT NULL)",
    )
    .await;
    db.create_table(
        "CREATE TABLE order_lines (order_id INT, line_no INT, amount INT, PRIMARY KEY (order_id, line_no)) ENGINE=InnoDB",
        "CREATE TABLE order_lines (order_id integer, line_no integer, amount integer, PRIMARY KEY (order_id, line_no))",
    )
    .await;
    db
}

/// What the reader saw: reads, sums that were not the constant, orders without all lines.
#[derive(Default)]
struct Seen {
    reads: AtomicU64,
    broken_sums: AtomicU64,
    partial_orders: AtomicU64,
}

/// Reads PostgreSQL in a tight loop until `stop`.
fn spawn_reader(
    db: &TestDb,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> tokio::task::JoinHandle<()> {
    let schema = db.name.clone();
    let env = Env::get();
    tokio::spawn(async move {
        let pg = env.pg().await;
        let sum_sql = format!(
            "SELECT count(*), coalesce(sum(balance), 0)::bigint FROM \"{schema}\".accounts"
        );
        let orders_sql = format!(
            "SELECT count(*) FROM \"{schema}\".orders o WHERE o.n_lines <> \
             (SELECT count(*) FROM \"{schema}\".order_lines l WHERE l.order_id = o.id)"
        );
        while !stop.load(Ordering::Relaxed) {
            // One snapshot for both questions.
            let tx_rows = pg
                .simple_query(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ; {sum_sql}; {orders_sql}; COMMIT"
                ))
                .await;
            let Ok(msgs) = tx_rows else { continue };
            let rows: Vec<&tokio_postgres::SimpleQueryRow> = msgs
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                })
                .collect();
            if rows.len() != 2 {
                continue;
            }
            seen.reads.fetch_add(1, Ordering::Relaxed);
            let count: i64 = rows[0].get(0).unwrap().parse().unwrap();
            let sum: i64 = rows[0].get(1).unwrap().parse().unwrap();
            if count == ACCOUNTS && sum != ACCOUNTS * START_BALANCE {
                seen.broken_sums.fetch_add(1, Ordering::Relaxed);
            }
            let partial: i64 = rows[1].get(0).unwrap().parse().unwrap();
            if partial > 0 {
                seen.partial_orders.fetch_add(1, Ordering::Relaxed);
            }
        }
    })
}

/// `n` transfers, each its own transaction; every tenth also an order with its lines.
/// Waits until all three tables hold in PostgreSQL what they hold in MySQL.
async fn wait_all_equal(sync: &mut SyncProc, db: &TestDb, timeout: std::time::Duration) {
    for t in ["accounts", "orders"] {
        sync.wait_tables_equal(&db.t(t), &db.t(t), &["id"], timeout)
            .await;
    }
    sync.wait_tables_equal(
        &db.t("order_lines"),
        &db.t("order_lines"),
        &["order_id", "line_no"],
        timeout,
    )
    .await;
}

async fn transfers(my: &mut Conn, from: u64, n: u64) {
    let mut r = from.wrapping_mul(2654435761) | 1;
    for k in from..from + n {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        let a = (r % ACCOUNTS as u64) as i64 + 1;
        let b = ((r >> 20) % ACCOUNTS as u64) as i64 + 1;
        let x = (r >> 40) % 50 + 1;
        my_q(my, "START TRANSACTION").await;
        my_q(
            my,
            &format!("UPDATE accounts SET balance = balance - {x} WHERE id = {a}"),
        )
        .await;
        my_q(
            my,
            &format!("UPDATE accounts SET balance = balance + {x} WHERE id = {b}"),
        )
        .await;
        if k % 10 == 0 {
            let lines = k % 7 + 2;
            my_q(
                my,
                &format!("INSERT INTO orders (id, n_lines) VALUES ({k}, {lines})"),
            )
            .await;
            let values: Vec<String> = (1..=lines).map(|l| format!("({k}, {l}, {x})")).collect();
            my_q(
                my,
                &format!("INSERT INTO order_lines VALUES {}", values.join(", ")),
            )
            .await;
        }
        my_q(my, "COMMIT").await;
    }
}

async fn seed(db: &TestDb, my: &mut Conn) {
    let env = Env::get();
    my_q(
        my,
        &format!(
            "INSERT INTO accounts SELECT seq, {START_BALANCE} FROM {}",
            env.seq(ACCOUNTS as u64)
        ),
    )
    .await;
    let _ = db;
}

#[tokio::test]
async fn readers_never_see_half_a_transaction() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = setup("consist").await;
    let cfg = SyncConfig::new(&env, &db.name, &["accounts", "orders", "order_lines"])
        .set("consistency", "\"transaction\"");
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    seed(&db, &mut my).await;
    sync.wait_tables_equal(&db.t("accounts"), &db.t("accounts"), &["id"], secs(60))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let reader = spawn_reader(&db, stop.clone(), seen.clone());

    transfers(&mut my, 1, 600).await;
    // One transaction larger than the acknowledgement window (8192 changes).
    my_q(&mut my, "START TRANSACTION").await;
    my_q(&mut my, "INSERT INTO orders VALUES (1000000, 30000)").await;
    my_q(
        &mut my,
        &format!(
            "INSERT INTO order_lines SELECT 1000000, seq, 1 FROM {}",
            env.seq(30000)
        ),
    )
    .await;
    my_q(&mut my, "COMMIT").await;
    transfers(&mut my, 601, 400).await;
    // A crash in the middle: the replay must not show half a transaction either.
    sync.kill9();
    transfers(&mut my, 1001, 400).await;
    sync.restart();
    transfers(&mut my, 1401, 400).await;

    wait_all_equal(&mut sync, &db, secs(120)).await;
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    let (reads, broken, partial) = (
        seen.reads.load(Ordering::Relaxed),
        seen.broken_sums.load(Ordering::Relaxed),
        seen.partial_orders.load(Ordering::Relaxed),
    );
    println!("transaction mode: {reads} reads, {broken} broken sums, {partial} partial orders");
    assert!(
        reads > 100,
        "the reader must have read during the run: {reads}"
    );
    assert_eq!((broken, partial), (0, 0), "{}", sync.diag());
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}

/// The default mode commits each worker's part on its own: the same reader sees it.
#[tokio::test]
async fn the_default_mode_shows_the_reader_broken_sums() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = setup("consistkey").await;
    let cfg = SyncConfig::new(&env, &db.name, &["accounts", "orders", "order_lines"]).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    seed(&db, &mut my).await;
    sync.wait_tables_equal(&db.t("accounts"), &db.t("accounts"), &["id"], secs(60))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let reader = spawn_reader(&db, stop.clone(), seen.clone());
    let mut done = 0;
    while done < 6000 && seen.broken_sums.load(Ordering::Relaxed) == 0 {
        transfers(&mut my, done + 1, 500).await;
        done += 500;
    }
    sync.wait_tables_equal(&db.t("accounts"), &db.t("accounts"), &["id"], secs(120))
        .await;
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    let broken = seen.broken_sums.load(Ordering::Relaxed);
    println!(
        "key mode: {} reads, {broken} broken sums after {done} transfers",
        seen.reads.load(Ordering::Relaxed)
    );
    assert!(
        broken > 0,
        "the default mode should let the reader see a transfer half applied"
    );
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}

/// The barriers keep working in transaction mode: an XA transaction, a TRUNCATE and a schema
/// change between whole transactions.
#[tokio::test]
async fn xa_truncate_and_schema_changes_in_transaction_mode() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = setup("consistbar").await;
    let cfg = SyncConfig::new(&env, &db.name, &["accounts", "orders", "order_lines"])
        .set("consistency", "\"transaction\"");
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    seed(&db, &mut my).await;
    // Running (it loaded the tables as they are before the ALTER below).
    sync.wait_tables_equal(&db.t("accounts"), &db.t("accounts"), &["id"], secs(60))
        .await;
    transfers(&mut my, 1, 50).await;
    for sql in [
        "XA START 'cx1'",
        "INSERT INTO orders (id, n_lines) VALUES (7000001, 1)",
        "INSERT INTO order_lines VALUES (7000001, 1, 5)",
        "XA END 'cx1'",
        "XA PREPARE 'cx1'",
    ] {
        my_q(&mut my, sql).await;
    }
    my_q(&mut my, "XA COMMIT 'cx1'").await;
    transfers(&mut my, 51, 50).await;
    my_q(&mut my, "TRUNCATE TABLE order_lines").await;
    my_q(
        &mut my,
        "ALTER TABLE orders ADD COLUMN note VARCHAR(10) DEFAULT 'n'",
    )
    .await;
    transfers(&mut my, 101, 50).await;
    wait_all_equal(&mut sync, &db, secs(60)).await;
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}
