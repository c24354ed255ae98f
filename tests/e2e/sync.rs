//! End-to-end sync tests: real MariaDB → real `mysql-gp-sync` binary → real PostgreSQL.
//! Run with `scripts/test.sh` (starts the servers, then `cargo test --release -- --test-threads=4`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

const T1_MY: &str = "CREATE TABLE t1 (
    id INT NOT NULL PRIMARY KEY,
    v_int INT NULL,
    v_big BIGINT NULL,
    v_dec DECIMAL(20,6) NULL,
    v_str VARCHAR(100) CHARACTER SET utf8mb4 NULL,
    v_text TEXT CHARACTER SET utf8mb4 NULL,
    v_dt DATETIME(6) NULL
) ENGINE=InnoDB";
const T1_PG: &str = "CREATE TABLE t1 (
    id integer NOT NULL PRIMARY KEY,
    v_int integer,
    v_big bigint,
    v_dec numeric(20,6),
    v_str varchar(100),
    v_text text,
    v_dt timestamp(6)
)";
const T2_MY: &str = "CREATE TABLE t2 (
    id BIGINT NOT NULL PRIMARY KEY,
    name VARCHAR(100) CHARACTER SET utf8mb4 NOT NULL,
    amount DECIMAL(20,6) NOT NULL,
    created DATETIME(6) NOT NULL,
    memo TEXT NULL
) ENGINE=InnoDB";
const T2_PG: &str = "CREATE TABLE t2 (
    id bigint NOT NULL PRIMARY KEY,
    name varchar(100) NOT NULL,
    amount numeric(20,6) NOT NULL,
    created timestamp(6),
    memo text
)";
const T3_MY: &str = "CREATE TABLE t3 (
    a INT NOT NULL,
    b VARCHAR(50) CHARACTER SET utf8mb4 NOT NULL,
    payload TEXT NULL,
    n BIGINT NULL,
    PRIMARY KEY (a, b)
) ENGINE=InnoDB";
const T3_PG: &str = "CREATE TABLE t3 (
    a integer NOT NULL,
    b varchar(50) NOT NULL,
    payload text,
    n bigint,
    PRIMARY KEY (a, b)
)";

const STRINGS: &[&str] = &[
    "hello",
    "数据同步测试",
    "emoji 😀🎉🚀",
    "",
    "quote ' double \" backslash \\ end",
    "tab\there\nnewline",
    "ümlaut façade",
    "日本語のテキスト",
    "한국어 텍스트",
    "   leading and trailing spaces   ",
    "NULL",
    "🀄️𝄞 supplementary plane",
];

fn gen_dec(r: &mut Rng) -> String {
    let sign = if r.chance(30) { "-" } else { "" };
    let int_digits = r.range(0, 15) as u32; // up to 14 integer digits for DECIMAL(20,6)
    let int_part = if int_digits == 0 {
        0
    } else {
        r.range(0, 10u64.pow(int_digits))
    };
    let frac = match r.range(0, 4) {
        0 => 0,
        1 => r.range(0, 10) * 100_000, // trailing zeros
        2 => 1,
        _ => r.range(0, 1_000_000),
    };
    format!("{sign}{int_part}.{frac:06}")
}

fn gen_dt(r: &mut Rng) -> String {
    let frac = match r.range(0, 4) {
        0 => 0,
        1 => r.range(1, 10) * 100_000,
        2 => 1,
        _ => r.range(0, 1_000_000),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        r.range(1970, 2100),
        r.range(1, 13),
        r.range(1, 29),
        r.range(0, 24),
        r.range(0, 60),
        r.range(0, 60),
        frac
    )
}

fn opt<T>(r: &mut Rng, null_pct: u64, v: T) -> Option<T> {
    if r.chance(null_pct) {
        None
    } else {
        Some(v)
    }
}

fn t1_row(r: &mut Rng, id: i64) -> String {
    let v_int = {
        let v = r.range(0, 4_000_000_000) as i64 - 2_000_000_000;
        opt(r, 15, v)
    };
    let v_big = {
        let v = r.next_u64() as i64;
        opt(r, 15, v)
    };
    let v_dec = {
        let d = gen_dec(r);
        opt(r, 15, d)
    };
    let v_str = {
        let s = r.pick(STRINGS).to_string();
        opt(r, 15, s)
    };
    let v_text = {
        let s = format!("{} / {}", r.pick(STRINGS), r.pick(STRINGS)).repeat(r.range(1, 4) as usize);
        opt(r, 15, s)
    };
    let v_dt = {
        let d = gen_dt(r);
        opt(r, 15, d)
    };
    format!(
        "({id}, {}, {}, {}, {}, {}, {})",
        v_int.map(|v| v.to_string()).unwrap_or("NULL".into()),
        v_big.map(|v| v.to_string()).unwrap_or("NULL".into()),
        v_dec.map(|v| lit(&v)).unwrap_or("NULL".into()),
        lit_opt(v_str.as_deref()),
        lit_opt(v_text.as_deref()),
        v_dt.map(|v| lit(&v)).unwrap_or("NULL".into()),
    )
}

fn t2_row(r: &mut Rng, id: i64) -> String {
    let name = format!("{} #{id}", r.pick(STRINGS));
    let amount = gen_dec(r);
    let created = gen_dt(r);
    let memo = if r.chance(30) {
        None
    } else {
        Some(r.pick(STRINGS).repeat(r.range(1, 50) as usize))
    };
    format!(
        "({id}, {}, {}, {}, {})",
        lit(&name),
        lit(&amount),
        lit(&created),
        lit_opt(memo.as_deref())
    )
}

fn t3_row(r: &mut Rng, a: i64, b: &str) -> String {
    let payload = if r.chance(20) {
        None
    } else {
        Some(r.pick(STRINGS).to_string())
    };
    let n = if r.chance(20) {
        "NULL".to_string()
    } else {
        (r.next_u64() as i64).to_string()
    };
    format!("({a}, {}, {}, {n})", lit(b), lit_opt(payload.as_deref()))
}

// ---------------------------------------------------------------------------
// 1. inserts / updates / deletes on several tables, concurrent_size 1 and 8
// ---------------------------------------------------------------------------

async fn basic_dml(name: &str, concurrent: u32) {
    let env = Env::get();
    let db = TestDb::create(name).await;
    db.create_table(T1_MY, T1_PG).await;
    db.create_table(T2_MY, T2_PG).await;
    db.create_table(T3_MY, T3_PG).await;
    let cfg = SyncConfig::new(&env, &db.name, &["t1", "t2", "t3"]).concurrent(concurrent);
    let mut sync = SyncProc::start(&env, &cfg).await;

    let mut c = db.my().await;
    let mut r = Rng::new(0xB4_5E + concurrent as u64);

    // Edge values, each in its own autocommit statement.
    let edge_rows = [
        "(1000001, 2147483647, 9223372036854775807, '99999999999999.999999', 'max 😀', 'x', '9999-12-31 23:59:59.999999')",
        "(1000002, -2147483648, -9223372036854775808, '-99999999999999.999999', '最小', '', '1000-01-01 00:00:00.000000')",
        "(1000003, 0, 0, '0.000000', '', '', '2000-01-01 00:00:00.000000')",
        "(1000004, NULL, NULL, NULL, NULL, NULL, NULL)",
        "(1000005, 1, 1, '0.000001', 'NULL', 'NULL', '2024-02-29 12:34:56.100000')",
        "(1000006, -1, -1, '-0.000001', '😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀', '长文本', '2024-01-01 00:00:00.123450')",
    ];
    for row in edge_rows {
        my_q(&mut c, &format!("INSERT INTO t1 VALUES {row}")).await;
    }
    // Also through the binary protocol (prepared statement with params).
    my_exec(
        &mut c,
        "INSERT INTO t1 VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            1000007i64,
            42i64,
            4242i64,
            "12345.678900",
            "prepared ✓ 准备",
            "line1\nline2",
            "2023-06-15 08:09:10.000500",
        ),
    )
    .await;

    // Bulk inserts in transactions of 50, multi-row statements.
    for chunk in 0..6 {
        my_q(&mut c, "BEGIN").await;
        let rows: Vec<String> = (0..50)
            .map(|k| t1_row(&mut r, chunk * 50 + k + 1))
            .collect();
        my_q(&mut c, &format!("INSERT INTO t1 VALUES {}", rows.join(","))).await;
        let rows: Vec<String> = (0..40)
            .map(|k| t2_row(&mut r, chunk * 40 + k + 1))
            .collect();
        my_q(&mut c, &format!("INSERT INTO t2 VALUES {}", rows.join(","))).await;
        let rows: Vec<String> = (0..30)
            .map(|k| {
                let b = format!("{}-{}", r.pick(&["k", "键", "🔑", "key"]), k);
                t3_row(&mut r, chunk, &b)
            })
            .collect();
        my_q(&mut c, &format!("INSERT INTO t3 VALUES {}", rows.join(","))).await;
        my_q(&mut c, "COMMIT").await;
    }
    // Single-row autocommit inserts.
    for id in 301..=330 {
        let row = t1_row(&mut r, id);
        my_q(&mut c, &format!("INSERT INTO t1 VALUES {row}")).await;
    }

    // Updates: values, NULL ↔ value, multi-row, cross-table transactions.
    my_q(&mut c, "UPDATE t1 SET v_int = COALESCE(v_int, 0) + 1, v_str = CONCAT(COALESCE(v_str, ''), '✓') WHERE id % 3 = 0").await;
    my_q(
        &mut c,
        "UPDATE t1 SET v_dec = NULL, v_dt = NULL WHERE id % 7 = 0",
    )
    .await;
    my_q(&mut c, "UPDATE t1 SET v_dec = '1.5', v_dt = '2011-11-11 11:11:11.110000' WHERE v_dec IS NULL AND id % 2 = 1").await;
    my_q(&mut c, "UPDATE t1 SET v_text = '' WHERE id % 11 = 0").await;
    my_q(&mut c, "UPDATE t1 SET v_text = NULL WHERE id % 13 = 0").await;
    my_q(&mut c, "UPDATE t1 SET v_big = -v_big WHERE v_big IS NOT NULL AND v_big > -9223372036854775807 AND id < 100").await;
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "UPDATE t2 SET amount = amount / 3, memo = CONCAT('upd ', COALESCE(memo, 'null')) WHERE id % 4 = 0").await;
    my_q(
        &mut c,
        "UPDATE t3 SET payload = CONCAT(COALESCE(payload, ''), ' 更新'), n = NULL WHERE a = 2",
    )
    .await;
    my_q(
        &mut c,
        "UPDATE t1 SET v_str = '事务内更新' WHERE id BETWEEN 10 AND 20",
    )
    .await;
    my_q(&mut c, "COMMIT").await;
    my_exec(
        &mut c,
        "UPDATE t2 SET name = ?, created = ? WHERE id = ?",
        ("renamed 🚀", "1999-12-31 23:59:59.999999", 7i64),
    )
    .await;

    // Deletes.
    my_q(&mut c, "DELETE FROM t1 WHERE id % 5 = 0").await;
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "DELETE FROM t2 WHERE id % 6 = 0").await;
    my_q(&mut c, "DELETE FROM t3 WHERE a = 3 OR b LIKE 'k-1%'").await;
    my_q(&mut c, "INSERT INTO t2 VALUES (6, 'reinserted six', '6.600000', '2006-06-06 06:06:06.060606', NULL)").await;
    my_q(&mut c, "COMMIT").await;
    my_q(&mut c, "DELETE FROM t1 WHERE id = 1000004").await;
    // An update that changes no row value (not binlogged) and one matching nothing.
    my_q(&mut c, "UPDATE t1 SET v_int = v_int WHERE id = 1").await;
    my_q(&mut c, "UPDATE t1 SET v_int = 5 WHERE id = -12345").await;
    let _ = c.disconnect().await;

    let to = secs(90);
    sync.wait_tables_equal(&db.t("t1"), &db.t("t1"), &["id"], to)
        .await;
    sync.wait_tables_equal(&db.t("t2"), &db.t("t2"), &["id"], to)
        .await;
    sync.wait_tables_equal(&db.t("t3"), &db.t("t3"), &["a", "b"], to)
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

#[tokio::test]
async fn dml_several_tables_concurrent_1() {
    let _servers = Servers::shared();
    basic_dml("dml_c1", 1).await;
}

#[tokio::test]
async fn dml_several_tables_concurrent_8() {
    let _servers = Servers::shared();
    basic_dml("dml_c8", 8).await;
}

// ---------------------------------------------------------------------------
// 2. primary key changes, rotations, delete + re-insert in one transaction
// ---------------------------------------------------------------------------

#[tokio::test]
async fn primary_key_changes() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("pkchange").await;
    db.create_table(
        "CREATE TABLE k (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL, n INT NULL) ENGINE=InnoDB",
        "CREATE TABLE k (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL, n integer)",
    )
    .await;
    db.create_table(
        "CREATE TABLE kc (a INT NOT NULL, b INT NOT NULL, v VARCHAR(50) NULL, PRIMARY KEY (a, b)) ENGINE=InnoDB",
        "CREATE TABLE kc (a integer NOT NULL, b integer NOT NULL, v varchar(50), PRIMARY KEY (a, b))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["k", "kc"]).concurrent(8);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut c = db.my().await;
    let to = secs(60);

    let rows: Vec<String> = (1..=40).map(|i| format!("({i}, 'row{i}', {i})")).collect();
    my_q(&mut c, &format!("INSERT INTO k VALUES {}", rows.join(","))).await;
    let rows: Vec<String> = (1..=10)
        .flat_map(|a| (1..=3).map(move |b| format!("({a}, {b}, 'c{a}-{b}')")))
        .collect();
    my_q(&mut c, &format!("INSERT INTO kc VALUES {}", rows.join(","))).await;
    sync.wait_tables_equal(&db.t("k"), &db.t("k"), &["id"], to)
        .await;

    // Three keys rotated in one transaction: 1→100, 2→1, 3→2, 100→3.
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "UPDATE k SET id = 100 WHERE id = 1").await;
    my_q(&mut c, "UPDATE k SET id = 1 WHERE id = 2").await;
    my_q(&mut c, "UPDATE k SET id = 2 WHERE id = 3").await;
    my_q(&mut c, "UPDATE k SET id = 3 WHERE id = 100").await;
    my_q(&mut c, "COMMIT").await;
    sync.wait_tables_equal(&db.t("k"), &db.t("k"), &["id"], to)
        .await;

    // Single key change, autocommit, and a key change plus value change.
    my_q(&mut c, "UPDATE k SET id = 200 WHERE id = 4").await;
    my_q(
        &mut c,
        "UPDATE k SET id = 201, v = 'moved+changed', n = NULL WHERE id = 5",
    )
    .await;

    // Shift a range up by one in one statement (one rows event; each new key is the
    // previous row's old key), then back down.
    my_q(
        &mut c,
        "UPDATE k SET id = id + 1 WHERE id BETWEEN 10 AND 40 ORDER BY id DESC",
    )
    .await;
    sync.wait_tables_equal(&db.t("k"), &db.t("k"), &["id"], to)
        .await;
    my_q(
        &mut c,
        "UPDATE k SET id = id - 1 WHERE id BETWEEN 11 AND 41 ORDER BY id ASC",
    )
    .await;
    sync.wait_tables_equal(&db.t("k"), &db.t("k"), &["id"], to)
        .await;

    // DELETE then re-INSERT the same key in one transaction.
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "DELETE FROM k WHERE id = 6").await;
    my_q(&mut c, "INSERT INTO k VALUES (6, 'reborn', -6)").await;
    my_q(&mut c, "COMMIT").await;
    // Insert, delete, insert, then move the key, all in one transaction.
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "INSERT INTO k VALUES (50, 'x', 1)").await;
    my_q(&mut c, "DELETE FROM k WHERE id = 50").await;
    my_q(&mut c, "INSERT INTO k VALUES (50, 'y', 2)").await;
    my_q(&mut c, "UPDATE k SET id = 51 WHERE id = 50").await;
    my_q(&mut c, "COMMIT").await;
    // Delete a key and move another row onto it in one transaction.
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "DELETE FROM k WHERE id = 7").await;
    my_q(
        &mut c,
        "UPDATE k SET id = 7, v = 'took 8s place' WHERE id = 8",
    )
    .await;
    my_q(&mut c, "INSERT INTO k VALUES (8, 'new eight', 8)").await;
    my_q(&mut c, "COMMIT").await;
    // Swap two rows' keys through a temporary key.
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "UPDATE k SET id = -1 WHERE id = 35").await;
    my_q(&mut c, "UPDATE k SET id = 35 WHERE id = 36").await;
    my_q(&mut c, "UPDATE k SET id = 36 WHERE id = -1").await;
    my_q(&mut c, "COMMIT").await;
    // REPLACE INTO (delete + insert of an existing key on MySQL's side).
    my_q(&mut c, "REPLACE INTO k VALUES (9, 'replaced', 99)").await;
    // Composite key: change one part of the key, and rotate within a group.
    my_q(&mut c, "UPDATE kc SET b = b + 10 WHERE a = 1").await;
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "UPDATE kc SET a = 100 WHERE a = 2 AND b = 1").await;
    my_q(&mut c, "UPDATE kc SET a = 2 WHERE a = 3 AND b = 1").await;
    my_q(&mut c, "UPDATE kc SET a = 3 WHERE a = 100 AND b = 1").await;
    my_q(&mut c, "COMMIT").await;
    let _ = c.disconnect().await;

    sync.wait_tables_equal(&db.t("k"), &db.t("k"), &["id"], to)
        .await;
    sync.wait_tables_equal(&db.t("kc"), &db.t("kc"), &["a", "b"], to)
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 3. one transaction of 100 000 rows
// ---------------------------------------------------------------------------

#[tokio::test]
async fn big_transaction_100k_rows() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("big100k").await;
    db.create_table(
        "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, v VARCHAR(100) NOT NULL, d DECIMAL(20,6) NULL, n BIGINT NULL) ENGINE=InnoDB",
        "CREATE TABLE big (id integer NOT NULL PRIMARY KEY, v varchar(100) NOT NULL, d numeric(20,6), n bigint)",
    )
    .await;
    // Number source: MariaDB's Sequence engine if available, else a helper table.
    let mut c = db.my().await;
    let have_seq = c.query_drop("SELECT 1 FROM seq_1_to_1").await.is_ok();
    let source = if have_seq {
        "seq_1_to_100000".to_string()
    } else {
        my_q(
            &mut c,
            "CREATE TABLE nums (seq INT NOT NULL PRIMARY KEY) ENGINE=InnoDB",
        )
        .await;
        let rows: Vec<String> = (0..1000).map(|i| format!("({i})")).collect();
        my_q(
            &mut c,
            &format!("INSERT INTO nums VALUES {}", rows.join(",")),
        )
        .await;
        "(SELECT a.seq * 1000 + b.seq + 1 AS seq FROM nums a CROSS JOIN nums b WHERE a.seq < 100) AS s".to_string()
    };
    let cfg = SyncConfig::new(&env, &db.name, &["big"]);
    let mut sync = SyncProc::start(&env, &cfg).await;

    let n = my_affected(
        &mut c,
        &format!(
            "INSERT INTO big (id, v, d, n) SELECT seq, CONCAT('row-', seq, '-数据-😀'), seq / 7, IF(seq % 10 = 0, NULL, seq * 1000003) FROM {source}"
        ),
    )
    .await;
    assert_eq!(
        n, 100_000,
        "the INSERT ... SELECT (autocommit, one transaction) must insert 100000 rows"
    );
    sync.wait_tables_equal(&db.t("big"), &db.t("big"), &["id"], secs(180))
        .await;

    // And a big delete in one transaction.
    let n = my_affected(&mut c, "DELETE FROM big WHERE id % 2 = 0").await;
    assert_eq!(n, 50_000);
    let _ = c.disconnect().await;
    sync.wait_tables_equal(&db.t("big"), &db.t("big"), &["id"], secs(120))
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 4. interleaved transactions over many tables from several connections
// ---------------------------------------------------------------------------

const N_TABLES: usize = 10;
const N_CONNS: u64 = 4;

async fn interleaved_worker(db_name: String, env: Env, conn_no: u64, txns: u64) {
    let mut c: Conn = env.mysql_db(Some(&db_name)).await;
    // READ COMMITTED: no gap locks, so disjoint key sets never deadlock.
    my_q(
        &mut c,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    )
    .await;
    let mut r = Rng::new(1000 + conn_no);
    // live ids per table owned by this connection
    let mut live: Vec<Vec<i64>> = vec![Vec::new(); N_TABLES];
    let mut next_id: i64 = 1;
    for t in 0..txns {
        my_q(&mut c, "BEGIN").await;
        let n_tables = r.range(1, 5) as usize;
        for _ in 0..n_tables {
            let ti = r.range(0, N_TABLES as u64) as usize;
            // inserts
            let n_ins = r.range(1, 8);
            let mut rows = Vec::new();
            for _ in 0..n_ins {
                let id = next_id * N_CONNS as i64 + conn_no as i64;
                next_id += 1;
                live[ti].push(id);
                rows.push(format!(
                    "({id}, {conn_no}, {}, {})",
                    r.next_u64() as i64,
                    lit(r.pick_str(STRINGS))
                ));
            }
            my_q(
                &mut c,
                &format!("INSERT INTO m{ti} VALUES {}", rows.join(",")),
            )
            .await;
            // updates
            for _ in 0..r.range(0, 4) {
                if live[ti].is_empty() {
                    break;
                }
                let id = *r.pick(&live[ti]);
                my_q(
                    &mut c,
                    &format!(
                        "UPDATE m{ti} SET v = v DIV 2 + {t}, s = {} WHERE id = {id}",
                        lit(r.pick_str(STRINGS))
                    ),
                )
                .await;
            }
            // deletes
            if r.chance(50) && !live[ti].is_empty() {
                let idx = r.range(0, live[ti].len() as u64) as usize;
                let id = live[ti].swap_remove(idx);
                my_q(&mut c, &format!("DELETE FROM m{ti} WHERE id = {id}")).await;
            }
        }
        if r.chance(50) {
            // Same row from every connection: final value depends on commit order.
            my_q(&mut c, &format!("UPDATE ctr SET n = n + 1, trail = RIGHT(CONCAT(trail, '{conn_no}'), 200) WHERE id = 0")).await;
        }
        my_q(&mut c, "COMMIT").await;
        if r.chance(20) {
            tokio::task::yield_now().await;
        }
    }
    let _ = c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_transactions_many_tables() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("interleave").await;
    let mut tables = vec!["ctr".to_string()];
    for i in 0..N_TABLES {
        db.create_table(
            &format!("CREATE TABLE m{i} (id BIGINT NOT NULL PRIMARY KEY, owner INT NOT NULL, v BIGINT NULL, s VARCHAR(100) NULL) ENGINE=InnoDB"),
            &format!("CREATE TABLE m{i} (id bigint NOT NULL PRIMARY KEY, owner integer NOT NULL, v bigint, s varchar(100))"),
        )
        .await;
        tables.push(format!("m{i}"));
    }
    db.create_table(
        "CREATE TABLE ctr (id INT NOT NULL PRIMARY KEY, n BIGINT NOT NULL, trail VARCHAR(200) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE ctr (id integer NOT NULL PRIMARY KEY, n bigint NOT NULL, trail varchar(200) NOT NULL)",
    )
    .await;
    db.my_exec_all(&["INSERT INTO ctr VALUES (0, 0, '')"]).await;
    let table_refs: Vec<&str> = tables.iter().map(|s| s.as_str()).collect();
    let cfg = SyncConfig::new(&env, &db.name, &table_refs).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;

    let mut handles = Vec::new();
    for conn_no in 0..N_CONNS {
        handles.push(tokio::spawn(interleaved_worker(
            db.name.clone(),
            env.clone(),
            conn_no,
            120,
        )));
    }
    for h in handles {
        h.await.expect("workload task panicked");
    }
    let to = secs(90);
    sync.wait_tables_equal(&db.t("ctr"), &db.t("ctr"), &["id"], to)
        .await;
    for t in &tables {
        sync.wait_tables_equal(&db.t(t), &db.t(t), &["id"], to)
            .await;
    }
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 5. a rolled-back transaction never appears
// ---------------------------------------------------------------------------

#[tokio::test]
async fn rolled_back_transaction_never_appears() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("rollback").await;
    db.create_table(
        "CREATE TABLE r (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE r (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["r"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut c = db.my().await;
    let rows: Vec<String> = (1..=10)
        .map(|i| format!("({i}, 'committed {i}')"))
        .collect();
    my_q(&mut c, &format!("INSERT INTO r VALUES {}", rows.join(","))).await;

    my_q(&mut c, "BEGIN").await;
    let rows: Vec<String> = (100..200)
        .map(|i| format!("({i}, 'rolled back')"))
        .collect();
    my_q(&mut c, &format!("INSERT INTO r VALUES {}", rows.join(","))).await;
    my_q(&mut c, "UPDATE r SET v = 'rolled back' WHERE id <= 5").await;
    my_q(&mut c, "DELETE FROM r WHERE id = 6").await;
    my_q(&mut c, "ROLLBACK").await;

    // A marker committed after the rollback: once it has arrived, anything the
    // rolled-back transaction could have produced would have arrived too.
    my_q(&mut c, "INSERT INTO r VALUES (1000, 'after rollback')").await;
    let _ = c.disconnect().await;
    sync.wait_tables_equal(&db.t("r"), &db.t("r"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    // Check again after the stop (in-flight batches committed by now).
    let pg = db.pg().await;
    assert_eq!(
        pg_value(
            &pg,
            "SELECT count(*) FROM r WHERE id BETWEEN 100 AND 199 OR v = 'rolled back'"
        )
        .await
        .as_deref(),
        Some("0")
    );
    assert_eq!(
        pg_value(&pg, "SELECT count(*) FROM r").await.as_deref(),
        Some("11")
    );
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 6. restart resumes from master.info without replaying from the start
// ---------------------------------------------------------------------------

#[tokio::test]
async fn restart_resumes_from_master_info() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("resume").await;
    db.create_table(
        "CREATE TABLE p (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE p (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["p"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let start_pos = sync.master_info().expect("test wrote master.info");
    let mut c = db.my().await;
    let rows: Vec<String> = (1..=10).map(|i| format!("({i}, 'v{i}')")).collect();
    my_q(&mut c, &format!("INSERT INTO p VALUES {}", rows.join(","))).await;
    my_q(&mut c, "UPDATE p SET v = 'updated' WHERE id = 3").await;
    let after_changes = master_pos_on(&mut c).await;
    sync.wait_tables_equal(&db.t("p"), &db.t("p"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;

    // master.info exists, names a real binlog, and is past our changes.
    let mi = sync
        .master_info()
        .expect("master.info must exist after a clean shutdown");
    let logs = binary_logs(&env).await;
    let found = logs.iter().find(|(n, _)| *n == mi.0);
    assert!(
        found.is_some(),
        "master.info names {:?}, which is not among the server's binlogs {logs:?}",
        mi.0
    );
    assert!(
        mi.1 <= found.unwrap().1,
        "master.info position {} is past the end of {} (size {})",
        mi.1,
        mi.0,
        found.unwrap().1
    );
    assert!(
        pos_ge(&mi, &after_changes),
        "after a clean shutdown master.info {mi:?} should be at or past the synced changes {after_changes:?} (started at {start_pos:?})"
    );

    // Poison a row directly in PG.
    let pg = db.pg().await;
    pg_q(&pg, "UPDATE p SET v = 'POISON' WHERE id = 3").await;

    sync.restart();
    my_q(
        &mut c,
        "UPDATE p SET v = 'changed after restart' WHERE id = 7",
    )
    .await;
    let _ = c.disconnect().await;
    let sql7 = format!("SELECT v FROM \"{}\".p WHERE id = 7", db.name);
    sync.wait_pg_value(&sql7, Some("changed after restart"), secs(60))
        .await;
    // Stop cleanly so that anything read before the id=7 change is committed too,
    // then check the poisoned row: a replay from the start would have overwritten it.
    sync.sigterm_and_wait().await;
    assert_eq!(
        pg_value(&pg, "SELECT v FROM p WHERE id = 3").await.as_deref(),
        Some("POISON"),
        "the poisoned row was overwritten: the restart replayed the binlog from before master.info\n{}",
        sync.diag()
    );
    // Every other row is still equal to MySQL.
    let others = pg_value(
        &pg,
        "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM p WHERE id <> 3",
    )
    .await;
    let mut c = db.my().await;
    let my_others = my_value(
        &mut c,
        "SELECT GROUP_CONCAT(CONCAT(id, '=', v) ORDER BY id SEPARATOR ',') FROM p WHERE id <> 3",
    )
    .await;
    let _ = c.disconnect().await;
    assert_eq!(
        others, my_others,
        "rows other than the poisoned one must match MySQL"
    );
    let mi2 = sync.master_info().expect("master.info after second stop");
    assert!(
        pos_ge(&mi2, &mi),
        "master.info went backwards: {mi:?} → {mi2:?}"
    );
    drop(pg);
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 7. kill -9 during a 200 000-change workload, restart, equal
// ---------------------------------------------------------------------------

const KILL_CONNS: u64 = 3;
const KILL_TOTAL_CHANGES: u64 = 200_000;

async fn kill_worker(
    db_name: String,
    env: Env,
    conn_no: u64,
    counter: Arc<AtomicU64>,
    budget: u64,
) {
    let mut c: Conn = env.mysql_db(Some(&db_name)).await;
    my_q(
        &mut c,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    )
    .await;
    let mut r = Rng::new(7000 + conn_no);
    let base: i64 = conn_no as i64 * 100_000_000;
    let (mut lo, mut hi) = (base, base); // live ids: [lo, hi)
    let mut done = 0u64;
    let mut txn = 0u64;
    while done < budget {
        txn += 1;
        my_q(&mut c, "BEGIN").await;
        let mut changes = 0u64;
        // inserts: 50..400 rows in one or two statements
        let n_ins = r.range(50, 400) as i64;
        let rows: Vec<String> = (hi..hi + n_ins)
            .map(|id| {
                format!(
                    "({id}, {conn_no}, {}, {}, {})",
                    r.next_u64() as i64 / 3,
                    lit(r.pick_str(STRINGS)),
                    lit(&gen_dec(&mut r))
                )
            })
            .collect();
        hi += n_ins;
        changes += my_affected(&mut c, &format!("INSERT INTO w VALUES {}", rows.join(","))).await;
        // updates of a range of live rows
        let n_upd = r.range(20, 300) as i64;
        changes += my_affected(
            &mut c,
            &format!(
                "UPDATE w SET v = v + {txn}, s = {}, d = d / 2 WHERE id >= {lo} AND id < {}",
                lit(r.pick_str(STRINGS)),
                lo + n_upd
            ),
        )
        .await;
        // a few single-row updates near the end
        for _ in 0..r.range(0, 5) {
            let id = r.range(lo.max(hi - 100) as u64, hi as u64) as i64;
            changes += my_affected(
                &mut c,
                &format!("UPDATE w SET s = 'single {txn}' WHERE id = {id}"),
            )
            .await;
        }
        // deletes of the oldest rows
        let n_del = r.range(20, 250) as i64;
        let del_to = (lo + n_del).min(hi);
        changes += my_affected(
            &mut c,
            &format!("DELETE FROM w WHERE id >= {lo} AND id < {del_to}"),
        )
        .await;
        lo = del_to;
        my_q(&mut c, "COMMIT").await;
        done += changes;
        counter.fetch_add(changes, Ordering::SeqCst);
        // Pace the workload (~10 s in all) so that the kills land mid-stream.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = c.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_workload_then_restart() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("kill9").await;
    db.create_table(
        "CREATE TABLE w (id BIGINT NOT NULL PRIMARY KEY, owner INT NOT NULL, v BIGINT NOT NULL, s VARCHAR(100) NULL, d DECIMAL(20,6) NULL) ENGINE=InnoDB",
        "CREATE TABLE w (id bigint NOT NULL PRIMARY KEY, owner integer NOT NULL, v bigint NOT NULL, s varchar(100), d numeric(20,6))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["w"]).concurrent(4);
    let mut sync = SyncProc::start(&env, &cfg).await;

    let counter = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for conn_no in 0..KILL_CONNS {
        handles.push(tokio::spawn(kill_worker(
            db.name.clone(),
            env.clone(),
            conn_no,
            counter.clone(),
            KILL_TOTAL_CHANGES / KILL_CONNS,
        )));
    }
    let f2 = finished.clone();
    let all = tokio::spawn(async move {
        for h in handles {
            h.await.expect("workload task panicked");
        }
        f2.store(true, Ordering::SeqCst);
    });

    // kill -9 three times: when the workload has made ~25%, ~50%, ~75% of its changes
    // (or has finished: the sync is then still catching up on the stream) AND the
    // running sync has visibly applied something since it was (re)started, so every
    // kill lands while it is reading and applying.
    let pg = db.pg().await;
    let progress =
        "SELECT count(*) || ':' || coalesce(sum(v), 0) || ':' || coalesce(max(id), 0) FROM w";
    let started = Instant::now();
    let mut kills = 0;
    let mut kill_log = Vec::new();
    for pct in [25u64, 50, 75] {
        let threshold = KILL_TOTAL_CHANGES * pct / 100;
        let before = pg_value(&pg, progress).await;
        let mi_before = sync.master_info();
        loop {
            assert!(
                started.elapsed() < secs(240),
                "kill9 test stuck: {} changes made, PG progress {:?}\n{}",
                counter.load(Ordering::SeqCst),
                pg_value(&pg, progress).await,
                sync.diag()
            );
            sync.assert_alive("before kill -9");
            let workload_there =
                counter.load(Ordering::SeqCst) >= threshold || finished.load(Ordering::SeqCst);
            // Also wait for master.info to move, so the restart resumes mid-stream
            // rather than replaying from where this run started.
            if workload_there
                && pg_value(&pg, progress).await != before
                && sync.master_info() != mi_before
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sync.kill9();
        kills += 1;
        kill_log.push(format!(
            "kill at {} changes (workload finished: {}), PG {:?}, master.info {:?}",
            counter.load(Ordering::SeqCst),
            finished.load(Ordering::SeqCst),
            pg_value(&pg, progress).await,
            sync.master_info()
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        sync.restart();
    }
    all.await.expect("workload");
    let total = counter.load(Ordering::SeqCst);
    assert!(
        total >= KILL_TOTAL_CHANGES,
        "workload made only {total} changes"
    );
    eprintln!(
        "kill9 test: {total} changes, {kills} kills, {:?} elapsed\n  {}",
        started.elapsed(),
        kill_log.join("\n  ")
    );
    sync.wait_tables_equal(&db.t("w"), &db.t("w"), &["id"], secs(240))
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 7b. SIGTERM in the middle of a stream: exit 0, master.info written, restart, equal
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_workload_then_restart() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("sigterm").await;
    db.create_table(
        "CREATE TABLE w (id BIGINT NOT NULL PRIMARY KEY, owner INT NOT NULL, v BIGINT NOT NULL, s VARCHAR(100) NULL, d DECIMAL(20,6) NULL) ENGINE=InnoDB",
        "CREATE TABLE w (id bigint NOT NULL PRIMARY KEY, owner integer NOT NULL, v bigint NOT NULL, s varchar(100), d numeric(20,6))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["w"]).concurrent(8);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let start_mi = sync.master_info().unwrap();
    let total: u64 = 60_000;
    let counter = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for conn_no in 0..2 {
        handles.push(tokio::spawn(kill_worker(
            db.name.clone(),
            env.clone(),
            conn_no,
            counter.clone(),
            total / 2,
        )));
    }
    let pg = db.pg().await;
    let progress = "SELECT count(*) || ':' || coalesce(sum(v), 0) FROM w";
    let before = pg_value(&pg, progress).await;
    let started = Instant::now();
    while counter.load(Ordering::SeqCst) < total * 4 / 10 || pg_value(&pg, progress).await == before
    {
        assert!(
            started.elapsed() < secs(120),
            "workload/sync too slow\n{}",
            sync.diag()
        );
        sync.assert_alive("before SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sync.sigterm_and_wait().await;
    let mi = sync.master_info().expect("master.info after SIGTERM");
    assert!(
        pos_ge(&mi, &start_mi),
        "master.info went backwards: {start_mi:?} → {mi:?}"
    );
    let logs = binary_logs(&env).await;
    assert!(
        logs.iter().any(|(n, _)| *n == mi.0),
        "master.info names {:?}, not a binlog of the server {logs:?}",
        mi.0
    );
    eprintln!(
        "sigterm at {} changes, master.info {mi:?}",
        counter.load(Ordering::SeqCst)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    sync.restart();
    for h in handles {
        h.await.expect("workload task panicked");
    }
    sync.wait_tables_equal(&db.t("w"), &db.t("w"), &["id"], secs(120))
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 8. FLUSH BINARY LOGS mid-stream is followed
// ---------------------------------------------------------------------------

#[tokio::test]
async fn flush_binary_logs_is_followed() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("flush").await;
    db.create_table(
        "CREATE TABLE f (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE f (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["f"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let start_pos = sync.master_info().unwrap();
    let mut c = db.my().await;
    let mut admin = env.mysql().await;

    let rows: Vec<String> = (1..=50).map(|i| format!("({i}, 'before flush')")).collect();
    my_q(&mut c, &format!("INSERT INTO f VALUES {}", rows.join(","))).await;
    // Flush while the sync may still be reading the events above.
    my_q(&mut admin, "FLUSH BINARY LOGS").await;
    let after_flush = master_pos_on(&mut admin).await;
    assert!(
        binlog_seq_gt(&after_flush.0, &start_pos.0),
        "FLUSH BINARY LOGS did not rotate: {start_pos:?} → {after_flush:?}"
    );
    let rows: Vec<String> = (51..=100)
        .map(|i| format!("({i}, 'after flush')"))
        .collect();
    my_q(&mut c, &format!("INSERT INTO f VALUES {}", rows.join(","))).await;
    my_q(
        &mut c,
        "UPDATE f SET v = 'updated after flush' WHERE id <= 10",
    )
    .await;
    sync.wait_tables_equal(&db.t("f"), &db.t("f"), &["id"], secs(60))
        .await;

    // Two rotations in a row (an empty binlog file in between), then more changes.
    my_q(&mut admin, "FLUSH BINARY LOGS").await;
    my_q(&mut admin, "FLUSH BINARY LOGS").await;
    my_q(&mut c, "DELETE FROM f WHERE id > 90").await;
    my_q(&mut c, "INSERT INTO f VALUES (1000, 'after double flush')").await;
    let last = master_pos_on(&mut c).await;
    assert!(binlog_seq_gt(&last.0, &after_flush.0));
    sync.wait_tables_equal(&db.t("f"), &db.t("f"), &["id"], secs(60))
        .await;

    // master.info follows into the new file.
    let mi = sync.wait_master_info_at_least(&last, secs(30)).await;
    assert!(
        !binlog_seq_gt(&start_pos.0, &mi.0) && mi.0 != start_pos.0,
        "master.info should name a binlog newer than {} after the flushes, it names {mi:?}",
        start_pos.0
    );
    let _ = c.disconnect().await;
    let _ = admin.disconnect().await;
    sync.sigterm_and_wait().await;
    let mi = sync.master_info().unwrap();
    assert!(
        pos_ge(&mi, &last),
        "master.info {mi:?} after shutdown is before {last:?}"
    );
    drop(sync);
    db.cleanup().await;
}

fn binlog_seq_gt(a: &str, b: &str) -> bool {
    pos_cmp(&(a.to_string(), 0), &(b.to_string(), 0)) == std::cmp::Ordering::Greater
}

// ---------------------------------------------------------------------------
// 9. sharded tables mapped onto one PG table by a rule
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sharded_tables_rule_union() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("shard").await;
    let shard_ddl = |name: &str| {
        format!(
            "CREATE TABLE {name} (id BIGINT NOT NULL PRIMARY KEY, customer VARCHAR(100) NOT NULL, amount DECIMAL(20,6) NOT NULL, created DATETIME(6) NULL) ENGINE=InnoDB"
        )
    };
    // order_0001 and order_0002 match the whole-name regex; order_x and order_00001 do not.
    db.my_exec_all(&[
        &shard_ddl("order_0001"),
        &shard_ddl("order_0002"),
        &shard_ddl("order_x"),
        &shard_ddl("order_00001"),
    ])
    .await;
    db.pg_exec_all(&["CREATE TABLE orders (id bigint NOT NULL PRIMARY KEY, customer varchar(100) NOT NULL, amount numeric(20,6) NOT NULL, created timestamp(6))"]).await;
    let cfg = SyncConfig::new(&env, &db.name, &["order_[0-9]{4}"]).rule(
        &db.name,
        "order_[0-9]{4}",
        &db.name,
        "orders",
    );
    let mut sync = SyncProc::start(&env, &cfg).await;

    let mut c = db.my().await;
    let mut r = Rng::new(99);
    for (table, base) in [
        ("order_0001", 1_000_000i64),
        ("order_0002", 2_000_000),
        ("order_x", 9_000_000),
        ("order_00001", 9_100_000),
    ] {
        let rows: Vec<String> = (0..200)
            .map(|k| {
                format!(
                    "({}, {}, {}, {})",
                    base + k,
                    lit(&format!("{} {table}", r.pick(STRINGS))),
                    lit(&gen_dec(&mut r)),
                    lit(&gen_dt(&mut r))
                )
            })
            .collect();
        my_q(
            &mut c,
            &format!("INSERT INTO {table} VALUES {}", rows.join(",")),
        )
        .await;
    }
    my_q(&mut c, "BEGIN").await;
    my_q(
        &mut c,
        "UPDATE order_0001 SET amount = amount + 1 WHERE id % 3 = 0",
    )
    .await;
    my_q(
        &mut c,
        "UPDATE order_0002 SET customer = 'moved', created = NULL WHERE id % 4 = 0",
    )
    .await;
    my_q(&mut c, "DELETE FROM order_0002 WHERE id % 5 = 0").await;
    my_q(&mut c, "UPDATE order_x SET amount = 0").await;
    my_q(&mut c, "COMMIT").await;
    my_q(&mut c, "DELETE FROM order_0001 WHERE id % 7 = 0").await;
    let _ = c.disconnect().await;

    let union = format!(
        "SELECT * FROM `{0}`.`order_0001` UNION ALL SELECT * FROM `{0}`.`order_0002`",
        db.name
    );
    sync.wait_query_equal(&union, &db.t("orders"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 10. TRUNCATE empties the PG table; harmless DDL only warns
// ---------------------------------------------------------------------------

#[tokio::test]
async fn truncate_and_harmless_ddl() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("truncate").await;
    db.create_table(
        "CREATE TABLE trunc_me (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE trunc_me (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL)",
    )
    .await;
    db.create_table(
        "CREATE TABLE keep_me (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE keep_me (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["trunc_me", "keep_me"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut c = db.my().await;
    let rows: Vec<String> = (1..=50)
        .map(|i| format!("({i}, 'first life {i}')"))
        .collect();
    my_q(
        &mut c,
        &format!("INSERT INTO trunc_me VALUES {}", rows.join(",")),
    )
    .await;
    my_q(
        &mut c,
        &format!("INSERT INTO keep_me VALUES {}", rows.join(",")),
    )
    .await;
    sync.wait_tables_equal(&db.t("trunc_me"), &db.t("trunc_me"), &["id"], secs(60))
        .await;

    my_q(&mut c, "TRUNCATE TABLE trunc_me").await;
    sync.wait_tables_equal(&db.t("trunc_me"), &db.t("trunc_me"), &["id"], secs(60))
        .await;
    let rows: Vec<String> = (1..=20)
        .map(|i| format!("({i}, 'second life {i}')"))
        .collect();
    my_q(
        &mut c,
        &format!("INSERT INTO trunc_me VALUES {}", rows.join(",")),
    )
    .await;
    sync.wait_tables_equal(&db.t("trunc_me"), &db.t("trunc_me"), &["id"], secs(60))
        .await;

    // DDL that changes nothing replicated: named in the log, the sync goes on.
    my_q(&mut c, "ALTER TABLE trunc_me COMMENT = 'x'").await;
    my_q(&mut c, "CREATE INDEX idx_trunc_me_v ON trunc_me (v)").await;
    my_q(&mut c, "INSERT INTO trunc_me VALUES (21, 'after ddl')").await;
    my_q(
        &mut c,
        "UPDATE trunc_me SET v = 'updated after ddl' WHERE id = 1",
    )
    .await;
    my_q(
        &mut c,
        "UPDATE keep_me SET v = 'updated after ddl' WHERE id = 1",
    )
    .await;
    let _ = c.disconnect().await;
    sync.wait_tables_equal(&db.t("trunc_me"), &db.t("trunc_me"), &["id"], secs(60))
        .await;
    sync.wait_tables_equal(&db.t("keep_me"), &db.t("keep_me"), &["id"], secs(60))
        .await;
    sync.assert_alive("after DDL");

    // The log may be flushed asynchronously: poll it briefly.
    let deadline = Instant::now() + secs(10);
    loop {
        let log = sync.log();
        let warns: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("changes nothing replicated") && l.contains("trunc_me"))
            .collect();
        if warns.len() >= 2 {
            break;
        }
        if Instant::now() >= deadline {
            panic!(
                "expected a line in sync.log naming trunc_me for each of the two DDL statements (ALTER TABLE ... COMMENT, CREATE INDEX), found {}: {warns:#?}\n{}",
                warns.len(),
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
// 11. MyISAM (transactions end with a COMMIT query event, no XID)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn myisam_table_syncs() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("myisam").await;
    db.create_table(
        "CREATE TABLE mi (id INT NOT NULL PRIMARY KEY, v VARCHAR(100) NULL, d DATETIME(6) NULL, x DECIMAL(20,6) NULL) ENGINE=MyISAM",
        "CREATE TABLE mi (id integer NOT NULL PRIMARY KEY, v varchar(100), d timestamp(6), x numeric(20,6))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["mi"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut c = db.my().await;
    let mut r = Rng::new(11);
    for i in 1..=30 {
        my_q(
            &mut c,
            &format!(
                "INSERT INTO mi VALUES ({i}, {}, {}, {})",
                lit(r.pick_str(STRINGS)),
                lit(&gen_dt(&mut r)),
                lit(&gen_dec(&mut r))
            ),
        )
        .await;
    }
    let rows: Vec<String> = (31..=200)
        .map(|i| format!("({i}, 'bulk {i}', NULL, '{i}.5')"))
        .collect();
    my_q(&mut c, &format!("INSERT INTO mi VALUES {}", rows.join(","))).await;
    my_q(
        &mut c,
        "UPDATE mi SET v = CONCAT(v, ' ✓'), x = x / 2 WHERE id % 3 = 0",
    )
    .await;
    my_q(&mut c, "DELETE FROM mi WHERE id % 4 = 0").await;
    // BEGIN/COMMIT around non-transactional changes.
    my_q(&mut c, "BEGIN").await;
    my_q(
        &mut c,
        "UPDATE mi SET d = '2020-02-02 02:02:02.020200' WHERE id < 10",
    )
    .await;
    my_q(&mut c, "DELETE FROM mi WHERE id = 1").await;
    my_q(&mut c, "COMMIT").await;
    let last = master_pos_on(&mut c).await;
    let _ = c.disconnect().await;
    sync.wait_tables_equal(&db.t("mi"), &db.t("mi"), &["id"], secs(60))
        .await;
    // The position must advance past MyISAM transactions too.
    sync.wait_master_info_at_least(&last, secs(30)).await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// 12. NOT NULL UNIQUE key and no primary key
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unique_not_null_key_without_pk() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("uniqkey").await;
    db.create_table(
        "CREATE TABLE u (
            other INT NULL,
            code VARCHAR(20) CHARACTER SET utf8mb4 NOT NULL,
            v INT NULL,
            note VARCHAR(100) NULL,
            UNIQUE KEY uk_other (other),
            UNIQUE KEY uk_code (code)
        ) ENGINE=InnoDB",
        // Only the key the sync uses (code) is unique in PG: parallel per-key apply may
        // order changes of different keys differently, so a second unique constraint
        // on the target is outside the contract.
        "CREATE TABLE u (other integer, code varchar(20) NOT NULL UNIQUE, v integer, note varchar(100))",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["u"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut c = db.my().await;
    let rows: Vec<String> = (1..=60)
        .map(|i| {
            let other = if i % 3 == 0 {
                "NULL".to_string()
            } else {
                i.to_string()
            };
            format!(
                "({other}, 'code-{i}', {i}, {})",
                lit(STRINGS[i % STRINGS.len()])
            )
        })
        .collect();
    my_q(&mut c, &format!("INSERT INTO u VALUES {}", rows.join(","))).await;
    my_q(
        &mut c,
        "UPDATE u SET v = v * 10, note = NULL WHERE v % 2 = 0",
    )
    .await;
    my_q(&mut c, "UPDATE u SET other = NULL WHERE v = 5").await;
    // Key change and key rotation through the unique key.
    my_q(
        &mut c,
        "UPDATE u SET code = 'renamed-7' WHERE code = 'code-7'",
    )
    .await;
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "UPDATE u SET code = 'tmp' WHERE code = 'code-1'").await;
    my_q(&mut c, "UPDATE u SET code = 'code-1' WHERE code = 'code-2'").await;
    my_q(&mut c, "UPDATE u SET code = 'code-2' WHERE code = 'tmp'").await;
    my_q(&mut c, "COMMIT").await;
    my_q(&mut c, "DELETE FROM u WHERE v > 400").await;
    my_q(&mut c, "BEGIN").await;
    my_q(&mut c, "DELETE FROM u WHERE code = 'code-9'").await;
    my_q(
        &mut c,
        "INSERT INTO u VALUES (NULL, 'code-9', -9, '重新插入')",
    )
    .await;
    my_q(&mut c, "COMMIT").await;
    let _ = c.disconnect().await;
    sync.wait_tables_equal(&db.t("u"), &db.t("u"), &["code"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    drop(sync);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// Harness self-checks: the comparator is strict (no sync process involved)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn harness_comparator_is_strict() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("harness").await;
    db.create_table(
        "CREATE TABLE h (id INT NOT NULL PRIMARY KEY, s VARCHAR(20) NULL, d DATETIME(6) NULL, x DECIMAL(20,6) NULL, n BIGINT NULL) ENGINE=InnoDB",
        "CREATE TABLE h (id integer NOT NULL PRIMARY KEY, s varchar(20), d timestamp(6), x numeric(20,6), n bigint)",
    )
    .await;
    let rows = "(1, 'a', '2024-01-01 00:00:00.100000', '1.500000', 1), \
                (2, NULL, NULL, NULL, NULL), \
                (3, '', '2024-01-01 00:00:00.000000', '0.000000', 0), \
                (10, '😀数据', '1999-12-31 23:59:59.999999', '-99999999999999.999999', -9223372036854775808)";
    db.my_exec_all(&[&format!("INSERT INTO h VALUES {rows}")])
        .await;
    db.pg_exec_all(&[&format!("INSERT INTO h VALUES {rows}")])
        .await;
    let t = db.t("h");
    assert_eq!(tables_equal_now(&env, &t, &t, &["id"]).await, Ok(4));

    // Each of these PG changes must be reported as a difference, then is undone.
    let cases: &[(&str, &str, &str)] = &[
        ("UPDATE h SET s = '' WHERE id = 2", "UPDATE h SET s = NULL WHERE id = 2", "NULL vs empty string"),
        ("UPDATE h SET s = NULL WHERE id = 3", "UPDATE h SET s = '' WHERE id = 3", "empty string vs NULL"),
        ("UPDATE h SET s = 'a ' WHERE id = 1", "UPDATE h SET s = 'a' WHERE id = 1", "trailing space"),
        (
            "UPDATE h SET d = '2024-01-01 00:00:00.100001' WHERE id = 1",
            "UPDATE h SET d = '2024-01-01 00:00:00.1' WHERE id = 1",
            "one microsecond",
        ),
        ("UPDATE h SET x = 1.500001 WHERE id = 1", "UPDATE h SET x = 1.5 WHERE id = 1", "decimal digit"),
        ("UPDATE h SET n = 2 WHERE id = 1", "UPDATE h SET n = 1 WHERE id = 1", "bigint"),
        ("DELETE FROM h WHERE id = 10", "INSERT INTO h VALUES (10, '😀数据', '1999-12-31 23:59:59.999999', '-99999999999999.999999', -9223372036854775808)", "missing row"),
        ("INSERT INTO h VALUES (11, 'x', NULL, NULL, NULL)", "DELETE FROM h WHERE id = 11", "extra row"),
    ];
    for (change, undo, what) in cases {
        db.pg_exec_all(&[change]).await;
        let r = tables_equal_now(&env, &t, &t, &["id"]).await;
        assert!(
            r.is_err(),
            "comparator missed a difference ({what}): {change}"
        );
        db.pg_exec_all(&[undo]).await;
        assert_eq!(
            tables_equal_now(&env, &t, &t, &["id"]).await,
            Ok(4),
            "after undoing {what}"
        );
    }
    db.cleanup().await;
}

// ---------------------------------------------------------------------------
// XA transactions: applied at XA COMMIT, never after XA ROLLBACK
// ---------------------------------------------------------------------------

/// Both servers write an XA transaction's rows at XA PREPARE and its outcome later, from any
/// session, after other transactions. Prepared-then-rolled-back rows must never appear;
/// prepared-then-committed ones must, and a `kill -9` of the sync between PREPARE and COMMIT
/// must not lose them (the saved position may not pass a prepared transaction's start).
#[tokio::test]
async fn xa_transactions() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("xa").await;
    db.create_table(
        "CREATE TABLE x (id INT NOT NULL PRIMARY KEY, v VARCHAR(50) NOT NULL) ENGINE=InnoDB",
        "CREATE TABLE x (id integer NOT NULL PRIMARY KEY, v varchar(50) NOT NULL)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["x"]);
    let mut sync = SyncProc::start(&env, &cfg).await;
    db.my_exec_all(&["INSERT INTO x VALUES (1, 'plain'), (2, 'plain')"])
        .await;
    // Prepares `xid` on its own session with `stmts`, then disconnects (another session
    // decides the outcome, as a transaction manager does).
    let prepare = |xid: &'static str, stmts: Vec<String>| {
        let db_env = db.env.clone();
        let name = db.name.clone();
        async move {
            let mut c = db_env.mysql_db(Some(&name)).await;
            my_q(&mut c, &format!("XA START '{xid}'")).await;
            for s in &stmts {
                my_q(&mut c, s).await;
            }
            my_q(&mut c, &format!("XA END '{xid}'")).await;
            my_q(&mut c, &format!("XA PREPARE '{xid}'")).await;
            let _ = c.disconnect().await;
        }
    };
    // 1. Prepared, then rolled back after other commits.
    prepare(
        "rb1",
        vec![
            "INSERT INTO x VALUES (100, 'rolled back')".into(),
            "UPDATE x SET v = 'rolled back' WHERE id = 1".into(),
        ],
    )
    .await;
    db.my_exec_all(&["INSERT INTO x VALUES (3, 'between')"])
        .await;
    db.my_exec_all(&["XA ROLLBACK 'rb1'"]).await;
    // 2. Prepared, other commits in between, committed from another session.
    prepare(
        "c1",
        vec![
            "INSERT INTO x VALUES (200, 'xa committed')".into(),
            "UPDATE x SET v = 'xa updated' WHERE id = 2".into(),
        ],
    )
    .await;
    db.my_exec_all(&[
        "INSERT INTO x VALUES (4, 'between')",
        "UPDATE x SET v = 'between' WHERE id = 3",
    ])
    .await;
    db.my_exec_all(&["XA COMMIT 'c1'"]).await;
    // 3. One phase: an ordinary transaction.
    db.my_exec_all(&[
        "XA START 'one'",
        "INSERT INTO x VALUES (300, 'one phase')",
        "XA END 'one'",
        "XA COMMIT 'one' ONE PHASE",
    ])
    .await;
    sync.wait_tables_equal(&db.t("x"), &db.t("x"), &["id"], secs(60))
        .await;

    // 4. kill -9 between PREPARE and COMMIT, with later transactions applied meanwhile.
    prepare(
        "k1",
        vec!["INSERT INTO x VALUES (400, 'after the kill')".into()],
    )
    .await;
    // At or after k1's XA PREPARE (other tests write to the server too): master.info must stay
    // before it, at or before k1's start.
    let after_prepare = master_pos(&env).await;
    prepare(
        "k2",
        vec!["INSERT INTO x VALUES (401, 'rolled back after the kill')".into()],
    )
    .await;
    db.my_exec_all(&["INSERT INTO x VALUES (5, 'after prepare')"])
        .await;
    sync.wait_pg_value(
        &format!("SELECT v FROM \"{}\".x WHERE id = 5", db.name),
        Some("after prepare"),
        secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // master.info is saved once a second
    let mi = sync.master_info().expect("master.info");
    assert!(
        !pos_ge(&mi, &after_prepare),
        "master.info {mi:?} passed a prepared XA transaction (prepared before {after_prepare:?})"
    );
    sync.kill9();
    sync.restart();
    db.my_exec_all(&[
        "XA COMMIT 'k1'",
        "XA ROLLBACK 'k2'",
        "INSERT INTO x VALUES (6, 'marker')",
    ])
    .await;
    sync.wait_tables_equal(&db.t("x"), &db.t("x"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    let pg = db.pg().await;
    assert_eq!(
        pg_value(
            &pg,
            "SELECT count(*) FROM x WHERE v LIKE '%rolled back%' OR id IN (100, 401)"
        )
        .await
        .as_deref(),
        Some("0")
    );
    assert_eq!(
        pg_value(&pg, "SELECT v FROM x WHERE id = 400")
            .await
            .as_deref(),
        Some("after the kill")
    );
    drop(sync);
    db.cleanup().await;
}
