//! Schema changes replicate: every statement kind with rows before and after it, with the
//! table maps carrying column names (`binlog_row_metadata = FULL`, the test servers' setting)
//! and without them (`MINIMAL`, MySQL's default), kill -9 and restarts inside a backlog of
//! ALTERs, and the `ddl` policies. Whole tables and their column sets are compared.

use crate::support::*;
use mysql_async::Conn;

/// The column names of a MySQL table and of its PostgreSQL target, each sorted.
async fn column_sets(db: &TestDb, my_table: &str, pg_table: &str) -> (Vec<String>, Vec<String>) {
    let mut my = db.my().await;
    let my_cols: Vec<String> = mysql_async::prelude::Queryable::exec(
        &mut my,
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY COLUMN_NAME",
        (db.name.clone(), my_table.to_string()),
    )
    .await
    .unwrap();
    let _ = my.disconnect().await;
    let pg = db.pg().await;
    let pg_cols: Vec<String> = pg
        .query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY column_name",
            &[&db.name, &pg_table],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    (my_cols, pg_cols)
}

/// Waits until the target has the table's columns, then its rows.
async fn assert_same(sync: &mut SyncProc, db: &TestDb, table: &str, keys: &[&str]) {
    let deadline = std::time::Instant::now() + secs(60);
    loop {
        let (my, pg) = column_sets(db, table, table).await;
        if my == pg {
            break;
        }
        sync.assert_alive(&format!("waiting for the columns of {table}"));
        assert!(
            std::time::Instant::now() < deadline,
            "columns of {table}: MySQL {my:?}, PostgreSQL {pg:?}\n{}",
            sync.diag()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    sync.wait_tables_equal(&db.t(table), &db.t(table), keys, secs(60))
        .await;
}

async fn pg_type(db: &TestDb, table: &str, column: &str) -> String {
    let pg = db.pg().await;
    pg_value(
        &pg,
        &format!(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = '{}.{}'::regclass AND attname = '{column}'",
            db.name, table
        ),
    )
    .await
    .unwrap_or_default()
}

async fn pg_exists(db: &TestDb, table: &str) -> bool {
    let pg = db.pg().await;
    pg_value(
        &pg,
        &format!(
            "SELECT to_regclass('\"{}\".\"{table}\"') IS NOT NULL",
            db.name
        ),
    )
    .await
    .as_deref()
        == Some("t")
}

/// Each statement kind of the issue, with DML before and after it. `greenplum`: in
/// Greenplum mode (its writes and its DDL subset; PostgreSQL stands in for the server).
async fn every_statement_kind(tag: &str, greenplum: bool) {
    let env = Env::get();
    let db = TestDb::create(&format!("ddl{tag}")).await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10), n INT, d DECIMAL(5,2)) ENGINE=InnoDB",
        "CREATE TABLE t (id integer PRIMARY KEY, v varchar(10), n integer, d numeric(5,2))",
    )
    .await;
    db.create_table(
        "CREATE TABLE k (a INT NOT NULL, b INT NOT NULL, v VARCHAR(10), PRIMARY KEY (a)) ENGINE=InnoDB",
        "CREATE TABLE k (a integer NOT NULL PRIMARY KEY, b integer NOT NULL, v varchar(10))",
    )
    .await;
    let mut cfg = SyncConfig::new(&env, &db.name, &["*"]);
    if greenplum {
        cfg = cfg.set("pg_target", "\"greenplum\"");
    }
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    my_q(
        &mut my,
        "INSERT INTO t VALUES (1, 'one', 1, 1.50), (2, 'two', 2, 2.25), (3, NULL, NULL, NULL)",
    )
    .await;
    my_q(&mut my, "INSERT INTO k VALUES (1, 1, 'a'), (2, 1, 'b')").await;
    // Running: the tables it loaded at its start are those of before the changes.
    assert_same(&mut sync, &db, "k", &["a"]).await;
    let q = |sql: &'static str| sql;
    for sql in [
        // Added at the end, AFTER a column, FIRST; a default existing rows get too.
        q("ALTER TABLE t ADD COLUMN a INT NOT NULL DEFAULT 7 AFTER id, ADD COLUMN b VARCHAR(20) DEFAULT 'x' FIRST, ADD c DATETIME(3) NULL"),
        q("INSERT INTO t (id, v, n, d, a, b, c) VALUES (4, 'four', 4, 4.00, 40, 'bee', '2024-02-29 12:34:56.789')"),
        q("UPDATE t SET a = 11 WHERE id = 1"),
        // Widening, then values only the new types hold.
        q("ALTER TABLE t MODIFY n BIGINT, MODIFY v VARCHAR(200), MODIFY d DECIMAL(12,4)"),
        q("INSERT INTO t (id, v, n, d) VALUES (5, REPEAT('w', 150), 1099511627776, 12345678.1234)"),
        q("UPDATE t SET d = -99999999.9999 WHERE id = 2"),
        // Renames: RENAME COLUMN, and CHANGE with a new type.
        q("ALTER TABLE t RENAME COLUMN b TO b2"),
        q("ALTER TABLE t CHANGE c c2 DATETIME(6)"),
        q("INSERT INTO t (id, b2, c2) VALUES (6, 'renamed', '2001-01-01 00:00:00.123456')"),
        q("ALTER TABLE t DROP COLUMN a"),
        // A key column modified without NOT NULL stays NOT NULL (as in MySQL).
        q("ALTER TABLE t MODIFY id BIGINT"),
        q("INSERT INTO t (id, v) VALUES (4294967296, 'big key')"),
        // Logged although the table exists: changes nothing.
        q("CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY)"),
        q("UPDATE t SET v = 'after drop' WHERE id = 4"),
        // Recognised, without effect.
        q("ALTER TABLE t ADD INDEX ix_n (n), COMMENT 'no effect'"),
        q("CREATE INDEX ix_v ON t (v)"),
        q("INSERT INTO t (id, v) VALUES (7, 'after index')"),
        // A new key: rows that the old key would merge stay apart.
        q("ALTER TABLE k DROP PRIMARY KEY, ADD PRIMARY KEY (a, b)"),
        q("INSERT INTO k VALUES (1, 2, 'c'), (2, 2, 'd')"),
        q("UPDATE k SET v = 'z' WHERE a = 1 AND b = 1"),
        q("DELETE FROM k WHERE a = 2 AND b = 1"),
        // Tables that start to match `*`.
        q("CREATE TABLE n1 (id INT PRIMARY KEY, s VARCHAR(5) CHARACTER SET latin1, e ENUM('x','y') NOT NULL)"),
        q("INSERT INTO n1 VALUES (1, 'ä', 'y'), (2, NULL, 'x')"),
        q("CREATE TABLE n2 LIKE n1"),
        q("INSERT INTO n2 VALUES (10, 'l', 'x')"),
        q("CREATE TABLE n3 (id INT NOT NULL PRIMARY KEY) SELECT id, s FROM n1"),
        q("INSERT INTO n3 VALUES (3, 'new')"),
        // Renames of tables: several pairs, and ALTER … RENAME.
        q("RENAME TABLE n1 TO n1r, n2 TO n2r"),
        q("INSERT INTO n1r VALUES (3, 'ö', 'x')"),
        q("ALTER TABLE n2r RENAME TO n2s"),
        q("UPDATE n2s SET s = 'm' WHERE id = 10"),
        q("DROP TABLE n3"),
        q("TRUNCATE TABLE k"),
        q("INSERT INTO k VALUES (9, 9, 'last')"),
    ] {
        my_q(&mut my, sql).await;
    }
    if !env.is_mysql() {
        // MariaDB's own forms.
        for sql in [
            "ALTER TABLE t ADD COLUMN IF NOT EXISTS m1 INT DEFAULT 5, ADD COLUMN IF NOT EXISTS v INT",
            "ALTER TABLE t DROP COLUMN IF EXISTS nope, DROP COLUMN IF EXISTS m1",
            "CREATE TABLE n4 (id INT PRIMARY KEY, s INT)",
            "INSERT INTO n4 VALUES (1, 1), (2, 2)",
            "CREATE OR REPLACE TABLE n4 (id INT PRIMARY KEY, z VARCHAR(3))",
            "INSERT INTO n4 VALUES (3, 'new')",
        ] {
            my_q(&mut my, sql).await;
        }
        assert_same(&mut sync, &db, "n4", &["id"]).await;
    }
    assert_same(&mut sync, &db, "t", &["id"]).await;
    assert_same(&mut sync, &db, "k", &["a", "b"]).await;
    assert_same(&mut sync, &db, "n1r", &["id"]).await;
    assert_same(&mut sync, &db, "n2s", &["id"]).await;
    assert_eq!(pg_type(&db, "t", "n").await, "bigint");
    assert_eq!(pg_type(&db, "t", "v").await, "character varying(200)");
    assert_eq!(pg_type(&db, "t", "d").await, "numeric(12,4)");
    assert_eq!(
        pg_type(&db, "t", "c2").await,
        "timestamp(6) without time zone"
    );
    for gone in ["n1", "n2", "n2r", "n3"] {
        assert!(
            !pg_exists(&db, gone).await,
            "{gone} should be gone from PostgreSQL"
        );
    }
    // The compatibility check agrees with what the changes left on both sides.
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&sync.config_path)
        .arg("check")
        .current_dir(&sync.dir_path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for table in ["t", "k", "n1r", "n2s"] {
        assert!(
            text.contains(&format!("[ OK ] {}.{table}", db.name)),
            "check on {table}:\n{text}"
        );
    }
    // The status names the schema changes applied.
    let log = sync.log();
    assert!(log.contains("schema change applied at"), "{}", sync.diag());
    let deadline = std::time::Instant::now() + secs(10);
    loop {
        let status = std::fs::read_to_string(sync.data_dir.join("status.json")).unwrap_or_default();
        if status.contains("\"last_schema_change\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "status.json names the last schema change: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // A restart goes on with the definitions it left with.
    sync.sigterm_and_wait().await;
    sync.restart();
    my_q(
        &mut my,
        "INSERT INTO t (id, v, n, d, b2, c2) VALUES (8, 'restart', 8, 8.8, 'b', NULL)",
    )
    .await;
    my_q(&mut my, "INSERT INTO n1r VALUES (4, 'x', 'y')").await;
    assert_same(&mut sync, &db, "t", &["id"]).await;
    assert_same(&mut sync, &db, "n1r", &["id"]).await;
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}

#[tokio::test]
async fn every_statement_kind_with_column_names_in_the_binlog() {
    let _servers = Servers::shared();
    every_statement_kind("f", false).await;
}

#[tokio::test]
async fn every_statement_kind_in_greenplum_mode() {
    let _servers = Servers::shared();
    every_statement_kind("g", true).await;
}

/// Sets `binlog_row_metadata` for the duration of a test (the servers are held exclusively);
/// FULL, the test servers' setting, comes back when it is dropped, also when the test fails.
struct RowMetadata {
    env: Env,
}

impl RowMetadata {
    async fn set(env: &Env, v: &str) -> RowMetadata {
        let mut my = env.mysql().await;
        my_q(&mut my, &format!("SET GLOBAL binlog_row_metadata = {v}")).await;
        let _ = my.disconnect().await;
        RowMetadata { env: env.clone() }
    }
}

impl Drop for RowMetadata {
    fn drop(&mut self) {
        let env = self.env.clone();
        // Its own runtime: the test's may be unwinding.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let mut my = env.mysql().await;
                    my_q(&mut my, "SET GLOBAL binlog_row_metadata = FULL").await;
                    let _ = my.disconnect().await;
                })
        })
        .join();
    }
}

#[tokio::test]
async fn every_statement_kind_with_minimal_row_metadata() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let _m = RowMetadata::set(&env, "MINIMAL").await;
    every_statement_kind("m", false).await;
}

async fn applied_changes(env: &Env, server_id: u32) -> i64 {
    let pg = env.pg().await;
    pg_value(
        &pg,
        &format!(
            "SELECT count(*) FROM mysql_gp_sync.schema_history WHERE statement <> 'baseline' AND source = 'server_id {server_id}'"
        ),
    )
    .await
    .and_then(|v| v.parse().ok())
    .unwrap_or(0)
}

/// The sync is stopped while the source runs ALTERs with rows between them, so the server is
/// far ahead of the target; then it catches up through kill -9s and restarts, with table maps
/// that carry no column names (the schema history alone says what each row's columns are).
#[tokio::test]
async fn kill9_and_restarts_inside_a_backlog_of_alters() {
    let _servers = Servers::exclusive();
    let env = Env::get();
    let _m = RowMetadata::set(&env, "MINIMAL").await;
    let db = TestDb::create("ddlkill").await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
        "CREATE TABLE t (id integer PRIMARY KEY, v integer)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["t", "u", "u2"]).concurrent(3);
    let server_id = cfg.server_id;
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my: Conn = db.my().await;
    my_q(&mut my, "INSERT INTO t VALUES (1, 1), (2, 2)").await;
    assert_same(&mut sync, &db, "t", &["id"]).await;
    sync.sigterm_and_wait().await;

    // The backlog: 24 ALTERs (adds with defaults, widenings, renames, drops), rows between.
    let mut next_id = 3;
    for i in 0..24 {
        let g = i / 4;
        let alter = match i % 4 {
            0 => format!("ALTER TABLE t ADD COLUMN a{g} INT NOT NULL DEFAULT {g}"),
            1 => format!("ALTER TABLE t MODIFY a{g} BIGINT NOT NULL DEFAULT 0"),
            2 => format!("ALTER TABLE t RENAME COLUMN a{g} TO r{g}"),
            _ if g % 2 == 1 => format!("ALTER TABLE t DROP COLUMN r{}", g - 1),
            _ => format!("ALTER TABLE t ADD COLUMN s{g} VARCHAR(5) DEFAULT 'x'"),
        };
        my_q(&mut my, &alter).await;
        // A table created, then renamed, inside the backlog.
        if i == 9 {
            my_q(&mut my, "CREATE TABLE u (id INT PRIMARY KEY, w INT)").await;
        }
        if i == 15 {
            my_q(&mut my, "RENAME TABLE u TO u2").await;
        }
        if (9..15).contains(&i) {
            my_q(&mut my, &format!("INSERT INTO u VALUES ({i}, {i})")).await;
        }
        if i >= 15 {
            my_q(&mut my, &format!("INSERT INTO u2 VALUES ({i}, {i})")).await;
        }
        let rows: Vec<String> = (0..20)
            .map(|j| format!("({}, {})", next_id + j, i * 100 + j))
            .collect();
        my_q(
            &mut my,
            &format!("INSERT INTO t (id, v) VALUES {}", rows.join(", ")),
        )
        .await;
        next_id += 20;
        my_q(
            &mut my,
            &format!("UPDATE t SET v = v + 1 WHERE id % 7 = {}", i % 7),
        )
        .await;
        my_q(
            &mut my,
            &format!("DELETE FROM t WHERE id % 13 = {}", i % 13),
        )
        .await;
    }
    // Kill -9 twice while it works through the ALTERs, then let it finish.
    for at_least in [4, 12] {
        sync.restart();
        let deadline = std::time::Instant::now() + secs(60);
        while applied_changes(&env, server_id).await < at_least {
            sync.assert_alive("catching up through the ALTERs");
            assert!(
                std::time::Instant::now() < deadline,
                "no progress\n{}",
                sync.diag()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sync.kill9();
    }
    sync.restart();
    assert_same(&mut sync, &db, "t", &["id"]).await;
    assert_same(&mut sync, &db, "u2", &["id"]).await;
    assert!(!pg_exists(&db, "u").await);
    // Each change applied once, whatever the kills interrupted (24 ALTERs, a CREATE, a RENAME
    // recorded under both names).
    assert_eq!(applied_changes(&env, server_id).await, 24 + 1 + 2);
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}

/// `ddl = "stop"` stops before the change, naming it; `ddl = "ignore"` follows the source's
/// columns without touching PostgreSQL (the operator changed it by hand). A statement the
/// sync cannot follow stops it with the statement and what to do.
#[tokio::test]
async fn policies_and_statements_that_cannot_be_followed() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("ddlpol").await;
    db.create_table(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
        "CREATE TABLE t (id integer PRIMARY KEY, v integer, extra text)",
    )
    .await;
    let cfg = SyncConfig::new(&env, &db.name, &["t"]).set("ddl", "\"stop\"");
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    my_q(&mut my, "INSERT INTO t VALUES (1, 1)").await;
    assert_same_rows(&mut sync, &db).await;
    let before = sync.master_info().expect("master.info");
    my_q(&mut my, "ALTER TABLE t ADD COLUMN extra TEXT").await;
    my_q(&mut my, "INSERT INTO t VALUES (2, 2, 'two')").await;
    let status = sync.wait_exit(secs(30)).await;
    assert!(!status.success());
    let log = sync.log();
    assert!(
        log.contains("ddl = \"stop\"") && log.contains("ADD COLUMN extra TEXT"),
        "{}",
        sync.diag()
    );
    let after = sync.master_info().expect("master.info");
    assert!(pos_ge(&after, &before));
    // The operator added the column by hand (done above): ignore follows without DDL.
    let toml = std::fs::read_to_string(&sync.config_path)
        .unwrap()
        .replace("ddl = \"stop\"", "ddl = \"ignore\"");
    std::fs::write(&sync.config_path, toml).unwrap();
    sync.restart();
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;

    // A clause the sync cannot follow: it stops, naming the table, position and way forward.
    my_q(&mut my, "ALTER TABLE t CONVERT TO CHARACTER SET latin1").await;
    let status = sync.wait_exit(secs(30)).await;
    assert!(!status.success());
    let log = sync.log();
    assert!(
        log.contains("cannot follow the schema change") && log.contains("init --tables"),
        "{}",
        sync.diag()
    );
    let _ = my.disconnect().await;
    db.cleanup().await;
}

async fn assert_same_rows(sync: &mut SyncProc, db: &TestDb) {
    sync.wait_tables_equal(&db.t("t"), &db.t("t"), &["id"], secs(60))
        .await;
}
