//! The initial load (`init`), end to end against the real servers: a consistent copy taken
//! while the application keeps writing, handed off to the binlog stream; refusal of occupied
//! targets; and a load killed half way that resumes without copying finished tables twice.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use mysql_async::prelude::Queryable;

const SBTEST_MY: &str = "CREATE TABLE sbtest (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY (k)) ENGINE=InnoDB";

/// Fills `table` with `n` sysbench-shaped rows (MariaDB's sequence engine, or digits on MySQL).
async fn fill(db: &TestDb, table: &str, n: u64) {
    let mut my = db.my().await;
    let mut start = 1;
    while start <= n {
        let end = (start + 99_999).min(n);
        my_q(
            &mut my,
            &format!(
                "INSERT INTO {table} SELECT seq, seq * 7 % 100000, CONCAT('c-', seq, '-', REPEAT('x', 100)), CONCAT('p', seq) FROM {}",
                db.env.seq_range(start, end)
            ),
        )
        .await;
        start = end + 1;
    }
}

/// Waits until the sync has logged the end of its initial load (and is still running).
async fn wait_initial_load(sync: &mut SyncProc, timeout: Duration) {
    let started = Instant::now();
    while !sync.log().contains("initial load done") {
        sync.assert_alive("during the initial load");
        assert!(
            started.elapsed() < timeout,
            "init did not finish in {timeout:?}\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Config text for a sync that loads first (`init_on_start`), as a user would write it.
fn init_config(
    env: &Env,
    db: &TestDb,
    tables: &[&str],
    parallel: u32,
    user: Option<(&str, &str)>,
) -> String {
    let mut cfg = SyncConfig::new(env, &db.name, tables);
    if let Some((u, p)) = user {
        cfg.mysql_user = u.to_string();
        cfg.mysql_pass = p.to_string();
    }
    let toml = cfg.to_toml(std::path::Path::new("{DATA_DIR}"));
    format!(
        "init_on_start = true\ninit_parallel = {parallel}\ncreate_missing_tables = true\n{toml}"
    )
}

/// Updates, deletes and inserts from `conns` connections until `stop`, counting changes.
fn workload(
    db: &TestDb,
    conns: u64,
    max_id: u64,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..conns)
        .map(|w| {
            let env = db.env.clone();
            let name = db.name.clone();
            let (stop, done) = (stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut my = env.mysql_db(Some(&name)).await;
                let mut rng = Rng::new(1000 + w);
                let mut next_new = max_id + 1 + w * 1_000_000;
                while !stop.load(Ordering::SeqCst) {
                    let id = rng.range(1, max_id + 1);
                    let sql = match rng.range(0, 4) {
                        0 => format!("DELETE FROM sbtest WHERE id = {id}"),
                        1 => {
                            next_new += 1;
                            format!("INSERT INTO sbtest VALUES ({next_new}, 1, 'new', 'row')")
                        }
                        _ => format!("UPDATE sbtest SET k = k + 1, c = CONCAT('u', {id}, '-', k) WHERE id = {id}"),
                    };
                    my.query_drop(&sql).await.expect("workload statement");
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_copies_a_million_rows_while_the_application_writes() {
    let _servers = Servers::shared();
    // The admin user has RELOAD: commits blocked for a moment, 4 snapshot connections.
    let env = Env::get();
    let user = (env.admin_user.as_str(), env.admin_pass.as_str());
    init_while_writing("init1m", 1_000_000, user, "commits were blocked for").await;
}

/// Without RELOAD: MariaDB's binlog_snapshot_position on one connection; MySQL's low
/// watermark with replay on 4 (there is no other consistent way on MySQL without a lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_without_reload_while_the_application_writes() {
    let _servers = Servers::shared();
    let env = Env::get();
    let user = (env.noreload.0.as_str(), env.noreload.1.as_str());
    init_while_writing("initnr", 300_000, user, "lock-free").await;
}

/// Loads `rows` sysbench rows with `user` while two connections update, delete and insert
/// rows of the table being copied; the log must name the way taken (`expect_log`), and the
/// table must end equal.
async fn init_while_writing(name: &str, rows: u64, user: (&str, &str), expect_log: &str) {
    let env = Env::get();
    let db = TestDb::create(name).await;
    let mut my = db.my().await;
    my_q(&mut my, SBTEST_MY).await;
    fill(&db, "sbtest", rows).await;
    my_q(&mut my, "ANALYZE TABLE sbtest").await;

    let stop = Arc::new(AtomicBool::new(false));
    let changes = Arc::new(AtomicU64::new(0));
    let writers = workload(&db, 2, rows, stop.clone(), changes.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let toml = init_config(&env, &db, &["sbtest"], 4, Some(user));
    let mut sync = SyncProc::start_raw(&env, &toml, None).await;
    let started = Instant::now();
    loop {
        sync.assert_alive("during the initial load");
        if sync.log().contains("initial load done") {
            break;
        }
        assert!(
            started.elapsed() < secs(300),
            "initial load did not finish\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Keep writing a little after the hand-off, then stop and compare everything.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    let n = changes.load(Ordering::SeqCst);
    assert!(n > 100, "the workload ran only {n} changes");
    let log = sync.log();
    assert!(
        log.contains(expect_log),
        "expected {expect_log:?} in the log:\n{log}"
    );
    sync.wait_tables_equal(&db.t("sbtest"), &db.t("sbtest"), &["id"], secs(180))
        .await;
    println!(
        "init test on {}: {rows} rows copied as {} with {n} concurrent changes; tables equal",
        env.server_name(),
        user.0
    );
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_without_reload_is_lock_free_refuses_occupied_targets_and_resumes() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("initres").await;
    let mut my = db.my().await;
    my_q(&mut my, "CREATE TABLE a_small (id INT PRIMARY KEY, s SET('x','y','z'), e ENUM('p','q'), ts TIMESTAMP(3) NULL, y YEAR, b BIT(3))").await;
    my_q(&mut my, "INSERT INTO a_small VALUES (1,'x,z','q','2020-02-03 04:05:06.789',1999,b'101'),(2,'','p',NULL,0,b'0')").await;
    my_q(&mut my, &SBTEST_MY.replace("sbtest", "b_big")).await;
    fill(&db, "b_big", 300_000).await;

    // A user without RELOAD: the lock-free way (MariaDB: one snapshot connection).
    let user = (env.noreload.0.as_str(), env.noreload.1.as_str());
    let toml = init_config(&env, &db, &["a_small", "b_big"], 4, Some(user));
    let mut sync = SyncProc::start_raw(&env, &toml, None).await;
    let started = Instant::now();
    // Kill it once the small table is copied and the big one is under way.
    loop {
        sync.assert_alive("during the first load");
        let log = sync.log();
        if log.contains(&format!("copied {}.a_small", db.name)) {
            assert!(log.contains("lock-free"), "{log}");
            break;
        }
        assert!(
            started.elapsed() < secs(120),
            "a_small never copied\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sync.kill9();
    assert!(
        sync.master_info().is_none(),
        "master.info must not exist before the load completes"
    );
    let state = std::fs::read_to_string(sync.data_dir.join("init.state")).expect("init.state kept");
    assert!(state.contains(&format!("{}.a_small", db.name)), "{state}");
    let first_pos: serde_json::Value = serde_json::from_str(&state).unwrap();

    // Rows written now are after the first snapshot: the replay must bring them.
    db.my_exec_all(&[
        "UPDATE a_small SET s = 'y' WHERE id = 1",
        "DELETE FROM b_big WHERE id <= 10",
    ])
    .await;
    sync.restart();
    let started = Instant::now();
    loop {
        sync.assert_alive("during the resumed load");
        if sync.log().contains("initial load done") {
            break;
        }
        assert!(
            started.elapsed() < secs(120),
            "resumed load did not finish\n{}",
            sync.diag()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = sync.log();
    assert!(log.contains("resuming an interrupted load"), "{log}");
    // The resumed run copies the big table and not the small one again (the log holds both runs).
    assert!(log.contains(&format!("copied {}.b_big ", db.name)), "{log}");
    assert_eq!(
        log.matches(&format!("copied {}.a_small ", db.name)).count(),
        1,
        "a table the interrupted run finished must not be copied again:\n{log}"
    );
    let mi = sync.master_info().expect("master.info after the load");
    assert_eq!(
        (mi.0.as_str(), mi.1),
        (
            first_pos["bin_name"].as_str().unwrap(),
            first_pos["bin_pos"].as_u64().unwrap()
        ),
        "replay starts from the first snapshot"
    );
    // SET/ENUM by name, YEAR and BIT in canonical text; TIMESTAMP as an instant below.
    let my_sql = format!(
        "SELECT id, s, e, y + 0 AS y, LPAD(BIN(b), 3, '0') AS b FROM `{}`.a_small",
        db.name
    );
    sync.wait_query_equal(&my_sql, &db.t("a_small"), &["id"], secs(60))
        .await;
    let my_ts = my_value(
        &mut my,
        "SELECT UNIX_TIMESTAMP(ts) FROM a_small WHERE id = 1",
    )
    .await;
    let pg = db.pg().await;
    let pg_ts = pg_value(
        &pg,
        "SELECT extract(epoch FROM ts)::text FROM a_small WHERE id = 1",
    )
    .await;
    let as_f64 = |v: Option<String>| v.and_then(|s| s.parse::<f64>().ok());
    assert_eq!(
        as_f64(my_ts.clone()),
        as_f64(pg_ts.clone()),
        "{my_ts:?} vs {pg_ts:?}"
    );
    assert!(as_f64(my_ts).is_some());
    sync.wait_tables_equal(&db.t("b_big"), &db.t("b_big"), &["id"], secs(120))
        .await;
    sync.sigterm_and_wait().await;

    // A second init onto tables that hold rows is refused, naming them and the way out.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&sync.config_path)
        .args(["init", "--no-follow"])
        .current_dir(&sync.dir_path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("already hold rows") && err.contains("--truncate") && err.contains("b_big"),
        "{err}"
    );
    db.cleanup().await;
}

/// `init` and the stream decode every column the same way: text arrives in the column's own
/// character set (the connection must not convert it first, or a gbk column's text would be
/// decoded twice). The same rows are loaded by `init`, then changed through the binlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_reads_text_in_each_columns_charset() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("initcs").await;
    let mut my = db.my().await;
    my_q(
        &mut my,
        "CREATE TABLE cs (id INT PRIMARY KEY, \
         c_gbk VARCHAR(20) CHARACTER SET gbk, c_big5 VARCHAR(20) CHARACTER SET big5, \
         c_sjis VARCHAR(20) CHARACTER SET sjis, c_latin1 VARCHAR(20) CHARACTER SET latin1, \
         c_cp1251 VARCHAR(20) CHARACTER SET cp1251, c_euckr VARCHAR(20) CHARACTER SET euckr, \
         c_utf8 VARCHAR(20) CHARACTER SET utf8mb4) ENGINE=InnoDB",
    )
    .await;
    let row = |id: u32, suffix: &str| {
        format!(
            "INSERT INTO cs VALUES ({id}, '繁体中文{suffix}', '繁體中文{suffix}', '日本語テキスト{suffix}', \
             'façade ümlaut{suffix}', 'кириллица{suffix}', '한국어{suffix}', '😀 emoji{suffix}')"
        )
    };
    for id in 1..=3 {
        my_q(&mut my, &row(id, "")).await;
    }
    let user = (env.admin_user.as_str(), env.admin_pass.as_str());
    let toml = init_config(&env, &db, &["cs"], 2, Some(user));
    let mut sync = SyncProc::start_raw(&env, &toml, None).await;
    wait_initial_load(&mut sync, secs(60)).await;
    sync.wait_tables_equal(&db.t("cs"), &db.t("cs"), &["id"], secs(60))
        .await;
    // The same text through the binlog.
    my_q(&mut my, &row(4, " 2")).await;
    my_q(
        &mut my,
        "UPDATE cs SET c_gbk = '简体中文', c_cp1251 = 'Ёё' WHERE id = 1",
    )
    .await;
    sync.wait_tables_equal(&db.t("cs"), &db.t("cs"), &["id"], secs(60))
        .await;
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}

/// Every character set the server lists arrives as the same text, through `init` and through
/// the binlog (issue 11): one LONGTEXT column per set, each row a slice of the whole Basic
/// Multilingual Plane (and one of the other planes) written from a utf8mb4 session in
/// non-strict mode, so each column holds every character its set has (the server writes `?`
/// for the others). PostgreSQL must hold exactly `CONVERT(c USING utf8mb4)`. ENUM and SET
/// names in non-UTF-8 sets too. A last row puts every byte 0x01–0xFF into each single-byte
/// column: where a byte is no character of its set, MySQL shows `?` and PostgreSQL must get
/// U+FFFD, with a log line naming table, column, key and binlog position.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_character_set_arrives_as_the_same_text_through_init_and_the_stream() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("initallcs").await;
    let mut my = db.my().await;
    let sets: Vec<(String, u32)> = my
        .query(
            "SELECT CHARACTER_SET_NAME, MAXLEN FROM information_schema.CHARACTER_SETS \
             WHERE CHARACTER_SET_NAME <> 'binary' ORDER BY 1",
        )
        .await
        .unwrap();
    assert!(sets.len() >= 39, "the server lists {sets:?}");
    // (column, type, one value per row id modulo its length)
    let enums: &[(&str, &str, &[&str])] = &[
        (
            "e_latin2",
            "ENUM('żółw','kot') CHARACTER SET latin2",
            &["żółw", "kot"],
        ),
        (
            "e_sjis",
            "ENUM('日本','語') CHARACTER SET sjis",
            &["日本", "語"],
        ),
        (
            "e_koi8r",
            "ENUM('кот','пёс') CHARACTER SET koi8r",
            &["кот", "пёс"],
        ),
        (
            "s_gbk",
            "SET('中','文') CHARACTER SET gbk",
            &["中,文", "文"],
        ),
        // Not '😀': information_schema shows names outside the BMP as '????' (README).
        ("e_utf32", "ENUM('ü','Ж') CHARACTER SET utf32", &["ü", "Ж"]),
        (
            "e_case",
            "ENUM('Red','red','RED') CHARACTER SET latin1 COLLATE latin1_bin",
            &["Red", "red", "RED"],
        ),
        (
            "e_swe7",
            "ENUM('Åland','x') CHARACTER SET swe7",
            &["Åland", "x"],
        ),
    ];
    let mut cols: Vec<String> = sets
        .iter()
        .map(|(cs, _)| format!("`c_{cs}` LONGTEXT CHARACTER SET {cs}"))
        .collect();
    cols.extend(enums.iter().map(|(n, t, _)| format!("`{n}` {t}")));
    my_q(
        &mut my,
        &format!(
            "CREATE TABLE cs_all (id INT PRIMARY KEY, {}) ENGINE=InnoDB",
            cols.join(", ")
        ),
    )
    .await;

    // The BMP without controls, surrogates and U+FFFE/U+FFFF, in slices; then other planes.
    let bmp: Vec<char> = (0x20u32..0xFFFE).filter_map(char::from_u32).collect();
    let mut slices: Vec<String> = bmp.chunks(2048).map(|c| c.iter().collect()).collect();
    slices.push(
        (0x10000u32..0x110000)
            .step_by(509)
            .filter_map(char::from_u32)
            .collect(),
    );
    let names: Vec<String> = sets.iter().map(|(cs, _)| format!("`c_{cs}`")).collect();
    // Text literals as UTF-8 bytes (`_utf8mb4 X'…'`): MySQL refuses to convert a prepared
    // statement's parameter into a set that lacks some of its characters, but converts a
    // literal (with `?` for those, in non-strict mode).
    let lit = |text: &str| format!("_utf8mb4 X'{}'", hex(text.as_bytes()));
    let enum_names: Vec<String> = enums.iter().map(|e| format!("`{}`", e.0)).collect();
    let insert = |id: usize, text: &str| {
        let t = lit(text);
        let mut vals: Vec<String> = vec![id.to_string()];
        vals.extend(names.iter().map(|_| t.clone()));
        vals.extend(enums.iter().map(|e| lit(e.2[id % e.2.len()])));
        format!(
            "INSERT INTO cs_all (id, {}, {}) VALUES ({})",
            names.join(", "),
            enum_names.join(", "),
            vals.join(", ")
        )
    };
    my_q(&mut my, "SET NAMES utf8mb4").await;
    my_q(&mut my, "SET SESSION sql_mode = ''").await;
    let half = slices.len() / 2;
    for (i, text) in slices[..half].iter().enumerate() {
        my_q(&mut my, &insert(i + 1, text)).await;
    }

    // Half the rows through `init`, …
    let user = (env.admin_user.as_str(), env.admin_pass.as_str());
    let toml = init_config(&env, &db, &["cs_all"], 2, Some(user));
    let mut sync = SyncProc::start_raw(&env, &toml, None).await;
    wait_initial_load(&mut sync, secs(120)).await;
    let after_init = compare_cs_all(&env, &db, &[]).await;
    assert!(
        after_init.is_empty(),
        "after init:\n{}\n{}",
        after_init.join("\n"),
        sync.diag()
    );

    // … the other half, an update and the bytes that are no characters through the binlog.
    for (i, text) in slices.iter().enumerate().skip(half) {
        my_q(&mut my, &insert(i + 1, text)).await;
    }
    let last = lit(slices.last().unwrap());
    let update = format!(
        "UPDATE cs_all SET {} WHERE id = 1",
        names
            .iter()
            .map(|n| format!("{n} = {last}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    my_q(&mut my, &update).await;
    let single: Vec<&str> = sets
        .iter()
        .filter(|(_, maxlen)| *maxlen == 1)
        .map(|(cs, _)| cs.as_str())
        .collect();
    let every_byte: String = (1..=255u8).map(|b| format!("{b:02X}")).collect();
    my_q(
        &mut my,
        &format!(
            "INSERT INTO cs_all (id, {}) VALUES (100, {})",
            single
                .iter()
                .map(|cs| format!("`c_{cs}`"))
                .collect::<Vec<_>>()
                .join(", "),
            single
                .iter()
                .map(|cs| format!("CAST(X'{every_byte}' AS CHAR CHARACTER SET {cs})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .await;
    let target = master_pos(&env).await;
    sync.wait_master_info_at_least(&target, secs(120)).await;
    let diffs = compare_cs_all(&env, &db, &[100]).await;
    assert!(
        diffs.is_empty(),
        "after the stream:\n{}\n{}",
        diffs.join("\n"),
        sync.diag()
    );
    let log = sync.log();
    let reported = log.lines().find(|l| {
        l.contains("cs_all")
            && l.contains("c_cp1250")
            && l.contains("id=100")
            && l.contains("binlog position")
            && l.contains("U+FFFD")
    });
    assert!(
        reported.is_some(),
        "no log line names the table, column, key and position of the bytes that are no cp1250 \
         characters\n{}",
        sync.diag()
    );
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}

/// Cell by cell, MySQL's text (`utf8mb4` session) against PostgreSQL's. In rows `lossy`, a `?`
/// in MySQL may be U+FFFD in PostgreSQL (a byte that is no character), and at least one is.
async fn compare_cs_all(env: &Env, db: &TestDb, lossy: &[i64]) -> Vec<String> {
    let mut my = db.my().await;
    my_q(&mut my, "SET NAMES utf8mb4").await;
    let pg = env.pg().await;
    let names: Vec<String> = my
        .query(format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{}' \
             AND TABLE_NAME = 'cs_all' ORDER BY ORDINAL_POSITION",
            db.name
        ))
        .await
        .unwrap();
    let my_sql = format!(
        "SELECT {} FROM cs_all ORDER BY id",
        names
            .iter()
            .map(|n| format!("CAST(`{n}` AS CHAR)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let my_rows: Vec<mysql_async::Row> = my.query(my_sql).await.unwrap();
    let pg_sql = format!(
        "SELECT {} FROM \"{}\".cs_all t ORDER BY t.id",
        names
            .iter()
            .map(|n| format!("\"{n}\"::text"))
            .collect::<Vec<_>>()
            .join(", "),
        db.name
    );
    let pg_rows = pg.query(pg_sql.as_str(), &[]).await.unwrap();
    let mut out = Vec::new();
    if my_rows.len() != pg_rows.len() {
        out.push(format!(
            "MySQL has {} rows, PostgreSQL {}",
            my_rows.len(),
            pg_rows.len()
        ));
        return out;
    }
    let mut replaced = 0;
    for (m, p) in my_rows.iter().zip(&pg_rows) {
        let id: String = m.get(0).unwrap();
        let id_n: i64 = id.parse().unwrap();
        for (i, n) in names.iter().enumerate() {
            let mv: Option<String> = m.get(i).unwrap();
            let pv: Option<String> = p.get(i);
            let same = match (&mv, &pv) {
                (Some(a), Some(b)) if lossy.contains(&id_n) => {
                    a.chars().count() == b.chars().count()
                        && a.chars().zip(b.chars()).all(|(x, y)| {
                            replaced += (x == '?' && y == '\u{FFFD}') as usize;
                            x == y || (x == '?' && y == '\u{FFFD}')
                        })
                }
                (a, b) => a == b,
            };
            if !same {
                let first = match (&mv, &pv) {
                    (Some(a), Some(b)) => a
                        .chars()
                        .zip(b.chars())
                        .enumerate()
                        .find(|(_, (x, y))| x != y)
                        .map(|(k, (x, y))| {
                            format!(
                                "char {k}: MySQL U+{:04X}, PostgreSQL U+{:04X}",
                                x as u32, y as u32
                            )
                        })
                        .unwrap_or_else(|| {
                            format!("lengths {} and {}", a.chars().count(), b.chars().count())
                        }),
                    _ => format!("MySQL {mv:?}, PostgreSQL {pv:?}"),
                };
                out.push(format!("id={id} {n}: {first}"));
            }
        }
    }
    if !lossy.is_empty() && replaced == 0 {
        out.push("no byte that is no character arrived as U+FFFD".into());
    }
    let _ = my.disconnect().await;
    out
}

/// `init` creates a table that holds what the default zero-date policy writes: zero dates in
/// `NOT NULL` columns arrive as NULL, in the load and in the stream after it (issue 11).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn init_creates_tables_that_hold_zero_dates_of_not_null_columns() {
    let _servers = Servers::shared();
    let env = Env::get();
    let db = TestDb::create("initzd").await;
    let mut my = db.my().await;
    my_q(&mut my, "SET SESSION sql_mode = ''").await;
    my_q(
        &mut my,
        "CREATE TABLE zd (id INT PRIMARY KEY, d DATE NOT NULL, dt DATETIME(6) NOT NULL, \
         ts TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00') ENGINE=InnoDB",
    )
    .await;
    my_q(
        &mut my,
        "INSERT INTO zd VALUES (1, '0000-00-00', '2020-00-15 10:00:00', '0000-00-00 00:00:00'), \
         (2, '2024-02-29', '2024-02-29 23:59:59.5', '2024-02-29 12:00:00')",
    )
    .await;
    let user = (env.admin_user.as_str(), env.admin_pass.as_str());
    let toml = init_config(&env, &db, &["zd"], 1, Some(user));
    let mut sync = SyncProc::start_raw(&env, &toml, None).await;
    my_q(
        &mut my,
        "INSERT INTO zd VALUES (3, '2021-05-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00')",
    )
    .await;
    let target = master_pos(&env).await;
    sync.wait_master_info_at_least(&target, secs(60)).await;
    let pg = env.pg().await;
    let got = pg_value(
        &pg,
        &format!(
            "SELECT string_agg(concat_ws('|', id, coalesce(d::text, 'NULL'), \
             coalesce(dt::text, 'NULL'), coalesce((ts IS NULL)::text, '?')), ';' ORDER BY id) \
             FROM \"{}\".zd",
            db.name
        ),
    )
    .await;
    assert_eq!(
        got.as_deref(),
        Some("1|NULL|NULL|true;2|2024-02-29|2024-02-29 23:59:59.5|false;3|NULL|NULL|true"),
        "{}",
        sync.diag()
    );
    sync.sigterm_and_wait().await;
    db.cleanup().await;
}
