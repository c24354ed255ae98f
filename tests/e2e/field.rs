//! Schemas from the field (issue 26): tables written the way applications and other projects'
//! test suites write them, created in the binlog the sync replays from a position (the Go
//! tool's way: no `init`), each followed to an equal table in PostgreSQL.

use crate::support::*;

/// Statements of each flavor's own spellings: generated columns (`PERSISTENT` is MariaDB's
/// `STORED`), invisible columns, executable comments, table options the parser does not know,
/// and a table whose only key is a NOT NULL UNIQUE key, dropped and created again as test
/// scripts do.
///
/// MariaDB 11.8 leaves a `PERSISTENT` column out of its row images (4 of 5 columns arrive,
/// binlog_row_image = FULL): the sync stops on such rows rather than guess, and following them
/// is the part of issue 26 still open. There the column is a plain one.
fn statements(mysql: bool, generated_logged: bool) -> Vec<&'static str> {
    let mut s = vec![
        "DROP TABLE IF EXISTS u",
        "CREATE TABLE u (email VARCHAR(100) NOT NULL, name TEXT, UNIQUE KEY (email))",
        "INSERT INTO u VALUES ('a@x', 'A'), ('b@x', 'B'), ('c@x', NULL)",
        "UPDATE u SET name = 'BB' WHERE email = 'b@x'",
        "DELETE FROM u WHERE email = 'c@x'",
    ];
    if mysql {
        s.extend([
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, \
             total DECIMAL(14,2) GENERATED ALWAYS AS (price * qty) STORED, note VARCHAR(20) INVISIBLE) \
             /*!80016 ENGINE=InnoDB */",
        ]);
    } else if generated_logged {
        s.extend([
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, \
             total DECIMAL(14,2) AS (price * qty) PERSISTENT, note VARCHAR(20) INVISIBLE) \
             /*M!100301 PAGE_CHECKSUM=1 */",
        ]);
    } else {
        s.extend([
            "CREATE TABLE o (id INT PRIMARY KEY, price DECIMAL(10,2), qty INT, \
             total DECIMAL(14,2), note VARCHAR(20) INVISIBLE) /*M!100301 PAGE_CHECKSUM=1 */",
        ]);
    }
    s.extend([
        "INSERT INTO o (id, price, qty, note) VALUES (1, 2.50, 4, 'n1'), (2, 1.25, 3, NULL)",
        "UPDATE o SET qty = 10 WHERE id = 2",
        "CREATE TABLE c (id INT NOT NULL, tag VARCHAR(10) NOT NULL, v INT, \
         CONSTRAINT one_tag UNIQUE (tag), UNIQUE KEY (v)) COMMENT 'it''s \\'quoted\\''",
        "INSERT INTO c VALUES (1, 'a', NULL), (2, 'b', 5)",
        "UPDATE c SET v = 6 WHERE tag = 'b'",
    ]);
    s
}

#[tokio::test]
async fn tables_created_in_the_binlog_with_each_servers_spellings_are_followed() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("field").await;
    // The position before any of it: the sync replays the CREATEs, then the rows.
    let start = master_pos(&env).await;
    let mut my = db.my().await;
    let version = my_value(&mut my, "SELECT VERSION()")
        .await
        .unwrap_or_default();
    let generated_logged = env.is_mysql() || version.starts_with("10.");
    for sql in statements(env.is_mysql(), generated_logged) {
        my_q(&mut my, sql).await;
    }
    let mut cfg = SyncConfig::new(&env, &db.name, &["*"]).set("create_missing_tables", "true");
    cfg.write_master_info = false;
    let toml = cfg.to_toml(std::path::Path::new("{DATA_DIR}"));
    let end = master_pos(&env).await;
    let mut sync = SyncProc::start_raw(&env, &toml, Some(start)).await;
    // Past every statement: the tables dropped and created again on the way are there.
    sync.wait_master_info_at_least(&end, secs(60)).await;
    sync.wait_query_equal(
        &format!("SELECT email, name FROM {}", db.t("u")),
        &db.t("u"),
        &["email"],
        secs(60),
    )
    .await;
    // Invisible columns are real columns: named, they are selected.
    sync.wait_query_equal(
        &format!("SELECT id, price, qty, total, note FROM {}", db.t("o")),
        &db.t("o"),
        &["id"],
        secs(60),
    )
    .await;
    sync.wait_query_equal(
        &format!("SELECT id, tag, v FROM {}", db.t("c")),
        &db.t("c"),
        &["tag"],
        secs(60),
    )
    .await;
    // The key the sync chose is the one information_schema gives: the first NOT NULL
    // UNIQUE key by name (`one_tag`, not the nullable `v`).
    let pg = db.pg().await;
    let key = pg_primary_key(&pg, &db.t("c")).await;
    assert_eq!(key.as_deref(), Some("tag"), "{}", sync.diag());
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}

/// `MODIFY` between ENUM and a number means what MySQL means by it: an ENUM becomes its
/// member's number, a number becomes the ENUM member of that number (PostgreSQL's own cast
/// would refuse 'b2b' as an integer and stop the sync).
#[tokio::test]
async fn enum_and_integer_modify_keep_mysqls_meaning() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("fieldenum").await;
    let cfg = SyncConfig::new(&env, &db.name, &["*"]).set("create_missing_tables", "true");
    let mut sync = SyncProc::start(&env, &cfg).await;
    let mut my = db.my().await;
    for sql in [
        "CREATE TABLE e (id INT PRIMARY KEY, seg ENUM('b2b','b2c','it''s \\\\ gov'), n INT)",
        "INSERT INTO e VALUES (1, 'b2b', 2), (2, 'it''s \\\\ gov', 3), (3, NULL, 1), (4, 'b2c', NULL)",
    ] {
        my_q(&mut my, sql).await;
    }
    let end = master_pos(&env).await;
    sync.wait_master_info_at_least(&end, secs(60)).await;
    for sql in [
        "ALTER TABLE e MODIFY seg INT",
        "INSERT INTO e VALUES (5, 7, 2)",
        "ALTER TABLE e MODIFY n ENUM('x','y','z')",
        "INSERT INTO e VALUES (6, 1, 'z')",
    ] {
        my_q(&mut my, sql).await;
    }
    sync.wait_tables_equal(&db.t("e"), &db.t("e"), &["id"], secs(60))
        .await;
    let pg = db.pg().await;
    let seg = pg_value(
        &pg,
        &format!("SELECT seg::text FROM {} WHERE id = 2", db.t("e")),
    )
    .await;
    assert_eq!(seg.as_deref(), Some("3"), "{}", sync.diag());
    sync.sigterm_and_wait().await;
    let _ = my.disconnect().await;
    db.cleanup().await;
}
