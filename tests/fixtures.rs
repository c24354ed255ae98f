//! Type fidelity (issue "Type fidelity"), the MySQL 8 half: binlog content that the local
//! MariaDB 10.11 of `tests/e2e/types.rs` cannot produce, read from real binlog files captured by
//! other projects (`tests/fixtures/binlog/`, described file by file in its README.md).
//!
//! Every row goes through the production path, as the reader does it:
//! `rows::RowPlan` (made once from the table map) decodes the rows event into values, binary
//! JSON becoming JSON text and a partial JSON update an error →
//! `convert::to_pg_text` with a `Column` built from the table's DDL the way
//! `information_schema.COLUMNS` describes it (DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME).
//! The tests assert the exact text PostgreSQL would parse into the target column.
//!
//! Where a fixture does not carry its table's DDL (the CREATE TABLE ran before the captured
//! file began), the DDL is reconstructed from the table map (types, lengths, charsets) and the
//! statements logged with the rows; each such place says so.
//!
//! Every image is also decoded by mysql_common's own `RowsEventData::rows` (the reference),
//! and the two must give the same values: a differential test of `RowPlan` over every file.
//!
//! A missing fixture directory fails every test, naming the expected location.

use std::io::BufReader;

use mysql_async::Value;
use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::{
    EventData, OptionalMetadataField, RowsEventData, TableMapEvent,
};
use mysql_common::binlog::row::BinlogRow;
use mysql_common::binlog::value::BinlogValue;
use mysql_common::binlog::{BinlogFile, EventStreamReader};
use mysql_gp_sync::config::ZeroDate;
use mysql_gp_sync::convert::to_pg_text;
use mysql_gp_sync::model::kind::Kind;
use mysql_gp_sync::model::table::Column;
use mysql_gp_sync::mysql::layout::binlog_column_names;
use mysql_gp_sync::mysql::rows::{binlog_value, RowPlan};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/binlog");

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the binlog fixture {path}: {e}. The captured binlog files are part of the \
             repository (tests/fixtures/binlog/, described in its README.md)"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Reading a binlog file, compressed transaction payloads included
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Write,
    Update,
    Delete,
    PartialUpdate,
}

/// One decoded row entry of a rows event (an UPDATE entry carries both images).
struct RowEntry {
    table: String,
    op: Op,
    /// Read from inside a TRANSACTION_PAYLOAD_EVENT.
    in_payload: bool,
    /// mysql_common's decoding (the reference).
    before: Option<BinlogRow>,
    after: Option<BinlogRow>,
    /// The production decoding (`RowPlan`); for a partial JSON update, its refusal.
    plan_before: Option<Result<Vec<Value>, String>>,
    plan_after: Option<Result<Vec<Value>, String>>,
}

#[derive(Default)]
struct Decoded {
    rows: Vec<RowEntry>,
    table_maps: Vec<TableMapEvent<'static>>,
    /// QUERY and ROWS_QUERY texts, in order.
    queries: Vec<String>,
    payloads: usize,
    events: usize,
}

impl Decoded {
    fn rows_of(&self, table: &str) -> Vec<&RowEntry> {
        self.rows.iter().filter(|r| r.table == table).collect()
    }
}

fn decode(rel: &str, bytes: &[u8]) -> Decoded {
    let mut file = BinlogFile::new(BinlogVersion::Version4, BufReader::new(bytes))
        .unwrap_or_else(|e| panic!("{rel}: not a binlog file: {e}"));
    let mut out = Decoded::default();
    while let Some(ev) = file.next() {
        let ev = ev.unwrap_or_else(|e| panic!("{rel}: cannot read event #{}: {e}", out.events));
        out.events += 1;
        let data = ev
            .read_data()
            .unwrap_or_else(|e| panic!("{rel}: cannot decode event #{}: {e}", out.events));
        if let Some(EventData::TransactionPayloadEvent(payload)) = data {
            out.payloads += 1;
            let mut inner = payload
                .decompressed()
                .unwrap_or_else(|e| panic!("{rel}: cannot decompress a transaction payload: {e}"));
            while let Some(ev) = file
                .reader_mut()
                .read_decompressed(&mut inner)
                .unwrap_or_else(|e| panic!("{rel}: cannot read an event of a payload: {e}"))
            {
                let data = ev
                    .read_data()
                    .unwrap_or_else(|e| panic!("{rel}: cannot decode an event of a payload: {e}"));
                collect(rel, &mut out, file.reader(), data, true);
            }
        } else {
            collect(rel, &mut out, file.reader(), data, false);
        }
    }
    out
}

fn collect(
    rel: &str,
    out: &mut Decoded,
    reader: &EventStreamReader,
    data: Option<EventData<'_>>,
    in_payload: bool,
) {
    match data {
        Some(EventData::QueryEvent(q)) => out.queries.push(q.query().into_owned()),
        Some(EventData::RowsQueryEvent(q)) => out.queries.push(q.query().into_owned()),
        Some(EventData::TableMapEvent(t)) => out.table_maps.push(t.into_owned()),
        Some(EventData::RowsEvent(rows)) => {
            let tme = reader
                .get_tme(rows.table_id())
                .unwrap_or_else(|| panic!("{rel}: rows event without its table map"));
            let table = format!("{}.{}", tme.database_name(), tme.table_name());
            let op = match rows {
                RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Write,
                RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) => {
                    Op::Update
                }
                RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => {
                    Op::Delete
                }
                RowsEventData::PartialUpdateRowsEvent(_) => Op::PartialUpdate,
            };
            let plan = RowPlan::new(tme)
                .unwrap_or_else(|e| panic!("{rel}: no row plan for {table}: {e:#}"));
            let planned: Vec<_> = match plan.rows(&rows) {
                Ok(images) => images
                    .into_iter()
                    .map(|(b, a)| (b.map(Ok), a.map(Ok)))
                    .collect(),
                Err(e) => {
                    assert_eq!(op, Op::PartialUpdate, "{rel}: {table}: {e:#}");
                    let refused = Some(Err(format!("{e:#}")));
                    vec![(refused.clone(), refused); rows.rows(tme).count()]
                }
            };
            let reference: Vec<_> = rows
                .rows(tme)
                .map(|r| r.unwrap_or_else(|e| panic!("{rel}: cannot decode a row of {table}: {e}")))
                .collect();
            assert_eq!(
                planned.len(),
                reference.len(),
                "{rel}: rows of a {table} event"
            );
            for ((before, after), (plan_before, plan_after)) in reference.into_iter().zip(planned) {
                if op != Op::PartialUpdate {
                    for (r, p) in [(&before, &plan_before), (&after, &plan_after)] {
                        assert_eq!(
                            r.as_ref().map(reference_values),
                            p.clone().map(|p| p.map_err(|e| e.to_string())),
                            "{rel}: {table}: RowPlan and mysql_common decode a row differently"
                        );
                    }
                }
                out.rows.push(RowEntry {
                    table: table.clone(),
                    op,
                    in_payload,
                    before,
                    after,
                    plan_before,
                    plan_after,
                });
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Columns as information_schema describes them, and the production conversion
// ---------------------------------------------------------------------------------------------

/// A column from its `COLUMN_TYPE` as `information_schema.COLUMNS` shows it; DATA_TYPE is the
/// type name before any `(` or space, and CHARACTER_SET_NAME is the table's charset for the
/// character string types (the only ones that have one), as for a column declared without its
/// own charset.
fn col(name: &str, column_type: &str, table_charset: &str) -> Column {
    let data_type = column_type
        .split(['(', ' '])
        .next()
        .unwrap()
        .to_ascii_lowercase();
    let charset = matches!(
        data_type.as_str(),
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
    )
    .then_some(table_charset);
    let kind = Kind::parse(&data_type, column_type, charset)
        .unwrap_or_else(|e| panic!("column {name} {column_type}: {e}"));
    let pg_type = kind.pg_type(column_type);
    Column::new(
        name.into(),
        data_type,
        column_type.into(),
        kind,
        pg_type,
        ZeroDate::Null,
    )
}

fn cols(table_charset: &str, ddl: &[(&str, &str)]) -> Vec<Column> {
    ddl.iter().map(|(n, t)| col(n, t, table_charset)).collect()
}

/// mysql_common's image as plain values, the way the reader turned them before `RowPlan`.
fn reference_values(row: &BinlogRow) -> Result<Vec<Value>, String> {
    row.clone()
        .unwrap()
        .into_iter()
        .map(|v| binlog_value(v).map_err(|e| e.to_string()))
        .collect()
}

/// `to_pg_text` for every column of a decoded image; the first failure as a message.
fn try_pg_row(
    cols: &[Column],
    image: &Result<Vec<Value>, String>,
) -> Result<Vec<Option<String>>, String> {
    let values = image.as_ref().map_err(|e| format!("decoding: {e}"))?;
    if values.len() != cols.len() {
        return Err(format!(
            "the row image has {} columns, the DDL {}",
            values.len(),
            cols.len()
        ));
    }
    cols.iter()
        .zip(values)
        .map(|(c, v)| to_pg_text(c, v).map_err(|e| format!("to_pg_text({}, {v:?}): {e}", c.name)))
        .collect()
}

fn pg_row(what: &str, cols: &[Column], image: &Result<Vec<Value>, String>) -> Vec<Option<String>> {
    try_pg_row(cols, image).unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn after(what: &str, cols: &[Column], r: &RowEntry) -> Vec<Option<String>> {
    let img = r
        .plan_after
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no after image"));
    pg_row(what, cols, img)
}

fn before(what: &str, cols: &[Column], r: &RowEntry) -> Vec<Option<String>> {
    let img = r
        .plan_before
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no before image"));
    pg_row(what, cols, img)
}

/// Expected texts: `None` is SQL NULL.
fn texts(v: &[Option<&str>]) -> Vec<Option<String>> {
    v.iter().map(|s| s.map(str::to_string)).collect()
}

fn json(text: &Option<String>) -> serde_json::Value {
    let t = text.as_deref().expect("a JSON value, not NULL");
    serde_json::from_str(t).unwrap_or_else(|e| panic!("not JSON ({e}): {t}"))
}

/// JSON text without the whitespace between tokens, so that number tokens (`9.00`, `123.456`)
/// can be compared exactly, which serde_json's f64 numbers cannot.
fn compact_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in s.chars() {
        if in_str {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Binary JSON
// ---------------------------------------------------------------------------------------------

/// `CREATE TABLE mysql.t (id INT PRIMARY KEY AUTO_INCREMENT, json_col JSON,
///  name VARCHAR(100) AS (json_col->>'$.name'), age INT AS (json_col->'$.age'))`, MySQL 8.0.22
/// (utf8mb4 by default). The generated columns are logged too.
fn json_t_columns() -> Vec<Column> {
    cols(
        "utf8mb4",
        &[
            ("id", "int"),
            ("json_col", "json"),
            ("name", "varchar(100)"),
            ("age", "int"),
        ],
    )
}

#[test]
fn binary_json_documents_become_json_text() {
    let rel = "rust_mysql_common/json.binlog.000001";
    let d = decode(rel, &fixture(rel));
    let cols = json_t_columns();
    let doc = |age: i64, data: &str, name: &str| serde_json::json!({"age": age, "data": data, "name": name});
    let people = [
        (24, "xxxxxxxxxx", "Joe"),
        (32, "yyyyyyyyyy", "Sue"),
        (40, "zzzzzzzzzz", "Pete"),
    ];
    let check = |what: &str, got: &[Option<String>], id: usize, age: i64| {
        let (_, data, name) = people[(id - 1) % 3];
        assert_eq!(
            got[0].as_deref(),
            Some(id.to_string().as_str()),
            "{what}: id"
        );
        assert_eq!(json(&got[1]), doc(age, data, name), "{what}: json_col");
        assert_eq!(got[2].as_deref(), Some(name), "{what}: name (generated)");
        assert_eq!(
            got[3].as_deref(),
            Some(age.to_string().as_str()),
            "{what}: age (generated)"
        );
    };

    let writes: Vec<_> = d.rows.iter().filter(|r| r.op == Op::Write).collect();
    assert_eq!(writes.len(), 6, "{rel}: inserted rows");
    for (i, r) in writes.iter().enumerate() {
        assert_eq!(r.table, "mysql.t");
        let what = format!("{rel} insert #{}", i + 1);
        let got = after(&what, &cols, r);
        check(&what, &got, i + 1, people[i % 3].0);
    }

    let updates: Vec<_> = d.rows.iter().filter(|r| r.op == Op::Update).collect();
    assert_eq!(updates.len(), 6, "{rel}: updated rows (full images)");
    for (i, r) in updates.iter().enumerate() {
        let what = format!("{rel} update #{}", i + 1);
        let age = people[i % 3].0;
        check(
            &format!("{what} before"),
            &before(&what, &cols, r),
            i + 1,
            age,
        );
        check(
            &format!("{what} after"),
            &after(&what, &cols, r),
            i + 1,
            age + 1,
        );
    }
    assert_eq!(d.rows.len(), 18, "{rel}: rows in the file (README: 18)");
}

/// The opaque JSON scalars MySQL stores for values that came from SQL types (DATE, DATETIME,
/// TIME, DECIMAL, and a VARCHAR cast as such). The expected text is what MySQL itself prints
/// for the document (`SELECT a FROM foo.test`), which PostgreSQL's jsonb keeps digit for digit:
/// dates and times are JSON strings, a DECIMAL is a JSON number with all its digits (123.456
/// must not go through a float, 9.00 keeps its scale), any other opaque value is the string
/// `base64:type<N>:<data>`.
///
/// When written, this failed for the six documents with an opaque scalar: the reader turned
/// binary JSON into text through mysql_common's `serde_json::Value::try_from(jsonb::Value)`,
/// which refuses opaque values, so such a row stops the sync.
#[test]
fn opaque_json_scalars_keep_their_value() {
    let rel = "rust_mysql_common/json-opaque.binlog";
    let d = decode(rel, &fixture(rel));
    let cols = cols("utf8mb4", &[("a", "json")]);
    let expected = [
        r#"{"a":"base64:type15:VQ=="}"#,
        r#"{"b":"2012-03-18"}"#,
        r#"{"c":"2012-03-18 11:30:45.000000"}"#,
        r#"{"c":"87:31:46.654321"}"#,
        r#"{"d":123.456}"#,
        r#"{"e":9.00}"#,
        r#"{"e":[0,1,true,false]}"#,
        r#"{"e":null}"#,
    ];
    assert_eq!(d.rows.len(), expected.len(), "{rel}: rows");
    let mut wrong = Vec::new();
    for (r, want) in d.rows.iter().zip(expected) {
        assert_eq!(r.table, "foo.test");
        let img = r.plan_after.as_ref().expect("insert");
        let got = match try_pg_row(&cols, img) {
            Ok(v) => v,
            Err(e) => {
                wrong.push(format!("{want}: conversion failed: {e}"));
                continue;
            }
        };
        let text = got[0].clone().unwrap_or_default();
        if compact_json(&text) != want {
            wrong.push(format!("{want}: got {text}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{rel}: JSON documents with opaque scalars (column a JSON):\n  {}",
        wrong.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Partial JSON updates
// ---------------------------------------------------------------------------------------------

#[test]
fn partial_json_update_is_refused_with_what_to_do() {
    let rel = "rust_mysql_common/json.binlog.000001";
    let d = decode(rel, &fixture(rel));
    let partial: Vec<_> = d
        .rows
        .iter()
        .filter(|r| r.op == Op::PartialUpdate)
        .collect();
    assert_eq!(
        partial.len(),
        6,
        "{rel}: rows of the PARTIAL_UPDATE_ROWS event"
    );
    for (i, r) in partial.iter().enumerate() {
        let img = r.after.clone().expect("after image");
        // The after image holds the changed columns only (json_col as a diff, name, age).
        assert!(
            (0..img.len()).any(|i| matches!(img.as_ref(i), Some(BinlogValue::JsonDiff(_)))),
            "the after image should hold a JSON diff"
        );
        match r.plan_after.clone().expect("after image") {
            Ok(v) => panic!("a partial JSON update must not become values, got {v:?}"),
            Err(msg) => {
                assert!(
                    msg.contains("binlog_row_value_options"),
                    "the error should say which setting to change: {msg}"
                );
            }
        }
        // The before image of a partial update only holds the key, which converts.
        let b = r.before.clone().expect("before image");
        let v = reference_values(&b).expect("key of the before image");
        assert_eq!(v.len(), 1);
        assert_eq!(
            to_pg_text(&json_t_columns()[0], &v[0]).unwrap(),
            Some((i + 1).to_string())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Compressed transactions (TRANSACTION_PAYLOAD_EVENT, zstd)
// ---------------------------------------------------------------------------------------------

#[test]
fn compressed_transaction_rows_are_read_and_converted() {
    // MySQL 8.0.32: one payload holding BEGIN, TABLE_MAP test.tb1 (INT), WRITE_ROWS, XID. The
    // CREATE TABLE is not in the file; the column name is ours.
    let rel = "rust_mysql_common/transaction_compression.000001";
    let d = decode(rel, &fixture(rel));
    assert_eq!(d.payloads, 1, "{rel}: payload events");
    assert_eq!(d.rows.len(), 1, "{rel}: rows");
    let r = &d.rows[0];
    assert!(r.in_payload && r.op == Op::Write && r.table == "test.tb1");
    assert_eq!(
        after(rel, &cols("utf8mb4", &[("c", "int")]), r),
        texts(&[Some("1")])
    );
}

#[test]
fn compressed_transaction_update_of_movies() {
    // MySQL 8.0.28: one payload holding an UPDATE of demo.movies. The CREATE TABLE is not in the
    // file: the DDL is rebuilt from the table map (INT, VARCHAR, INT, 8× VARCHAR whose byte
    // lengths 1024 / 4096 / 2048 are 256 / 1024 / 512 utf8mb4 characters); names are ours.
    let rel = "mysql-binlog-connector-java/mysql-bin.compressed";
    let d = decode(rel, &fixture(rel));
    assert_eq!(d.events, 5, "{rel}: top-level events (origin test: 5)");
    assert_eq!(d.payloads, 1, "{rel}: payload events");
    assert_eq!(d.rows.len(), 1, "{rel}: rows");
    let r = &d.rows[0];
    assert!(r.in_payload && r.op == Op::Update && r.table == "demo.movies");
    let cols = cols(
        "utf8mb4",
        &[
            ("movie_id", "int"),
            ("title", "varchar(256)"),
            ("year", "int"),
            ("country", "varchar(256)"),
            ("genres", "varchar(256)"),
            ("actors", "varchar(1024)"),
            ("directors", "varchar(512)"),
            ("composers", "varchar(256)"),
            ("screenwriters", "varchar(256)"),
            ("cinematographer", "varchar(256)"),
            ("production_companies", "varchar(256)"),
        ],
    );
    let row = |genres| {
        texts(&[
            Some("1"),
            Some("Once Upon a Time in the West"),
            Some("1968"),
            Some("Italy"),
            Some(genres),
            Some(
                "Claudia Cardinale|Charles Bronson|Henry Fonda|Gabriele Ferzetti|Frank Wolff|\
                 Al Mulock|Jason Robards|Woody Strode|Jack Elam|Lionel Stander|Paolo Stoppa|\
                 Keenan Wynn|Aldo Sambrell",
            ),
            Some("Sergio Leone"),
            Some("Ennio Morricone"),
            Some("Sergio Leone|Sergio Donati|Dario Argento|Bernardo Bertolucci"),
            Some("Tonino Delli Colli"),
            Some("Paramount Pictures"),
        ])
    };
    assert_eq!(before(rel, &cols, r), row("Western"));
    assert_eq!(after(rel, &cols, r), row("Western|Action"));
}

/// `a.test_table_3` of mysql-binlog-connector-rust's `mysql-bin.000057` (MySQL 8.0.31). Its
/// CREATE TABLE is not in the file nor in the origin repository; rebuilt from the table map
/// (types, lengths; DEFAULT_CHARSET utf8mb3 with one binary column, the 3-byte CHAR) and the
/// logged statements (`insert into test_table_3 values(6666, 'product_item_value_2', now(),
/// 111, 'description_1', now(), 'large', 'd', 'b3', '{"c": 1}', 'product_item_2_value', ...)`,
/// `update test_table_3 set enum_field='large', set_field='c', product_item_2=... where
/// product_id=55555`). The ENUM members other than 'large' (4th: the binlog carries index 4)
/// and the SET members other than 'c' (3rd: bit 2) and 'd' (4th: bit 3) are placeholders, as
/// are the names of columns the statements do not name.
fn test_table_3_columns() -> Vec<Column> {
    cols(
        "utf8mb3",
        &[
            ("product_id", "int"),
            ("product_item", "varchar(255)"),
            ("d1", "date"),
            ("i1", "int"),
            ("description", "text"),
            ("ts1", "timestamp"),
            (
                "enum_field",
                "enum('x-small','small','medium','large','x-large')",
            ),
            ("set_field", "set('a','b','c','d')"),
            ("code", "binary(3)"),
            ("doc", "json"),
            ("product_item_2", "varchar(255)"),
            ("d2", "date"),
            ("d3", "date"),
            ("i2", "int"),
            ("description_3", "text"),
            ("ts2", "timestamp"),
            ("d4", "date"),
            ("i3", "int"),
            ("description_4", "text"),
            ("ts3", "timestamp"),
        ],
    )
}

#[test]
fn compressed_transactions_with_gtids_and_rows_queries() {
    let rel = "mysql-binlog-connector-rust/mysql-bin.000057";
    let d = decode(rel, &fixture(rel));
    assert_eq!(d.events, 8, "{rel}: top-level events (origin test: 8)");
    assert_eq!(d.payloads, 2, "{rel}: payload events");
    assert!(d.queries.iter().any(|q| q == "insert into b values(1)"));
    assert!(d
        .queries
        .iter()
        .any(|q| q.starts_with("update test_table_3 set enum_field='large', set_field='c'")));
    assert_eq!(d.rows.len(), 3, "{rel}: rows");
    assert!(d.rows.iter().all(|r| r.in_payload));

    // insert into b values(1)
    let b = d.rows_of("a.b");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].op, Op::Write);
    assert_eq!(
        after(rel, &cols("utf8mb3", &[("id", "int")]), b[0]),
        texts(&[Some("1")])
    );

    let cols = test_table_3_columns();
    let t3 = d.rows_of("a.test_table_3");
    assert_eq!(t3.len(), 2);
    // TIMESTAMP is an instant: now() ran at 1668951630 = 2022-11-20 13:40:30 UTC.
    let row = |id: &str, enum_v: &str, set_v: &str, item2: &str, ts: &str| {
        texts(&[
            Some(id),
            Some("product_item_value_2"),
            Some("2022-11-20"),
            Some("111"),
            Some("description_1"),
            Some(ts),
            Some(enum_v),
            Some(set_v),
            Some("\\x623300"), // 'b3' in BINARY(3): MySQL pads with a zero byte
            Some(r#"{"c":1}"#),
            Some(item2),
            Some("2022-11-20"),
            Some("2022-11-20"),
            Some("2222"),
            Some("description_3_value"),
            Some(ts),
            Some("2022-11-20"),
            Some("222"),
            Some("description_4_value"),
            Some(ts),
        ])
    };
    let ts_update = "2022-11-20 13:40:30.000000+00";
    assert_eq!(t3[0].op, Op::Update);
    let (b, a) = (before(rel, &cols, t3[0]), after(rel, &cols, t3[0]));
    assert_eq!(
        json(&a[9]),
        serde_json::json!({"c": 1}),
        "{rel}: JSON column"
    );
    assert_eq!(
        b,
        row("55555", "large", "d", "product_item_2_value", ts_update),
        "{rel}: update, before image"
    );
    assert_eq!(
        a,
        row("55555", "large", "c", "product_3_value", ts_update),
        "{rel}: update, after image (enum_field='large', set_field='c')"
    );
    // insert into test_table_3 values(6666, ..., 'large', 'd', 'b3', '{"c": 1}', ...), at
    // 1668952412 = 2022-11-20 13:53:32 UTC.
    assert_eq!(t3[1].op, Op::Write);
    assert_eq!(
        after(rel, &cols, t3[1]),
        row(
            "6666",
            "large",
            "d",
            "product_item_2_value",
            "2022-11-20 13:53:32.000000+00"
        ),
        "{rel}: insert"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Table-map optional metadata (binlog_row_metadata=FULL): names, ENUM / SET strings
// ---------------------------------------------------------------------------------------------

#[test]
fn enum_and_set_become_names_with_full_row_metadata() {
    let rel = "rust_mysql_common/mysql-enum-string-set.000001";
    let d = decode(rel, &fixture(rel));
    // CREATE TABLE t(f1 CHAR(128), f2 VARCHAR(300), f3 ENUM('var1', 'variant2', 'foo'),
    //                f4 SET('one', 'two', 'three', 'four'), f5 TEXT)  -- MySQL 8.0.28, utf8mb4
    let cols = cols(
        "utf8mb4",
        &[
            ("f1", "char(128)"),
            ("f2", "varchar(300)"),
            ("f3", "enum('var1','variant2','foo')"),
            ("f4", "set('one','two','three','four')"),
            ("f5", "text"),
        ],
    );

    // The reader maps binlog columns to the table's columns by these names.
    assert!(!d.table_maps.is_empty());
    for tme in &d.table_maps {
        assert_eq!(
            binlog_column_names(tme),
            Some(vec![
                "f1".into(),
                "f2".into(),
                "f3".into(),
                "f4".into(),
                "f5".into()
            ]),
            "{rel}: column names in the table map"
        );
        // The member lists logged with the table map are those information_schema gives.
        let mut member_lists = 0;
        for field in tme.iter_optional_meta() {
            match field.expect("optional metadata") {
                OptionalMetadataField::EnumStrValue(e) => {
                    let lists: Vec<Vec<String>> = e
                        .iter_values()
                        .map(|v| {
                            v.unwrap()
                                .values()
                                .iter()
                                .map(|s| s.value().into_owned())
                                .collect()
                        })
                        .collect();
                    let Kind::Enum(members) = &cols[2].kind else {
                        panic!("f3 is an ENUM")
                    };
                    assert_eq!(lists, vec![members.clone()]);
                    member_lists += 1;
                }
                OptionalMetadataField::SetStrValue(s) => {
                    let lists: Vec<Vec<String>> = s
                        .iter_values()
                        .map(|v| {
                            v.unwrap()
                                .values()
                                .iter()
                                .map(|s| s.value().into_owned())
                                .collect()
                        })
                        .collect();
                    let Kind::Set(members) = &cols[3].kind else {
                        panic!("f4 is a SET")
                    };
                    assert_eq!(lists, vec![members.clone()]);
                    member_lists += 1;
                }
                _ => {}
            }
        }
        assert_eq!(
            member_lists, 2,
            "{rel}: the table map should log the ENUM and SET members"
        );
    }

    let digits = |n: usize| -> String { "0123456789".chars().cycle().take(n).collect() };
    // The long value of the origin test (298 characters): 129 digits, 129 digits, 40 digits.
    let f2_long = format!("{}{}{}", digits(129), digits(129), digits(40));
    let first = texts(&[
        Some(&digits(100)),
        Some(&f2_long),
        Some("var1"),
        Some("one,three"),
        Some("0123456789"),
    ]);
    let second = texts(&[
        Some("field1"),
        Some("field_2"),
        Some("variant2"),
        Some("two,four"),
        Some(&f2_long),
    ]);
    assert_eq!(d.rows.len(), 3, "{rel}: rows");
    let (w, u, del) = (&d.rows[0], &d.rows[1], &d.rows[2]);
    assert_eq!((w.op, u.op, del.op), (Op::Write, Op::Update, Op::Delete));
    assert_eq!(after(rel, &cols, w), first, "{rel}: insert");
    assert_eq!(before(rel, &cols, u), first, "{rel}: update, before");
    assert_eq!(after(rel, &cols, u), second, "{rel}: update, after");
    assert_eq!(before(rel, &cols, del), second, "{rel}: delete");
}

// ---------------------------------------------------------------------------------------------
// 5. BIT, 6. negative TIME
// ---------------------------------------------------------------------------------------------

#[test]
fn bit_columns_keep_their_width() {
    let rel = "rust_mysql_common/mysql_type_bit.000001";
    let d = decode(rel, &fixture(rel));
    // CREATE TABLE foo(a BIT(3), b TEXT, c BIT(8)); insert a=0b100, b='foo', c=0b100000
    let cols = cols(
        "utf8mb4",
        &[("a", "bit(3)"), ("b", "text"), ("c", "bit(8)")],
    );
    assert_eq!(
        binlog_column_names(&d.table_maps[0]),
        Some(vec!["a".into(), "b".into(), "c".into()])
    );
    assert_eq!(d.rows.len(), 1);
    assert_eq!(
        after(rel, &cols, &d.rows[0]),
        texts(&[Some("100"), Some("foo"), Some("00100000")])
    );
}

#[test]
fn negative_time_over_24_hours() {
    let rel = "rust_mysql_common/time_issue.000001";
    let d = decode(rel, &fixture(rel));
    // noria.t, a single TIME column (no names in the table map; ours), value -507:48:27.
    assert_eq!(d.rows.len(), 1);
    assert_eq!(
        after(rel, &cols("utf8mb4", &[("t", "time")]), &d.rows[0]),
        texts(&[Some("-507:48:27.000000")])
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Sweeps: every value of every row converts, and looks like its PostgreSQL type
// ---------------------------------------------------------------------------------------------

/// A converted value has the form PostgreSQL's input function for the column's type expects
/// (and, for ENUM / SET / integers / DECIMAL / YEAR / BIT, a value the MySQL column can hold).
fn check_shape(c: &Column, text: &str) -> Result<(), String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ymd = |s: &str| {
        let p: Vec<&str> = s.split('-').collect();
        p.len() == 3
            && p.iter().all(|x| digits(x))
            && p[0].len() == 4
            && p[1].len() == 2
            && p[2].len() == 2
    };
    let hms6 = |s: &str| {
        let p: Vec<&str> = s.split([':', '.']).collect();
        p.len() == 4
            && p.iter().all(|x| digits(x))
            && p[1].len() == 2
            && p[2].len() == 2
            && p[3].len() == 6
    };
    let datetime = |s: &str| s.split_once(' ').is_some_and(|(d, t)| ymd(d) && hms6(t));
    let (ok, expected) = match &c.kind {
        Kind::Int { bits, unsigned } => {
            let (lo, hi) = if *unsigned {
                (0, (1i128 << bits) - 1)
            } else {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            };
            let ok = text.parse::<i128>().is_ok_and(|v| (lo..=hi).contains(&v));
            (ok, "an integer in the column's range")
        }
        Kind::Decimal => {
            let inner = &c.column_type[c.column_type.find('(').unwrap() + 1..];
            let (p, s) = inner.trim_end_matches(')').split_once(',').unwrap();
            let (p, s): (usize, usize) = (p.parse().unwrap(), s.parse().unwrap());
            let t = text.strip_prefix('-').unwrap_or(text);
            let (int, frac) = t.split_once('.').unwrap_or((t, ""));
            let ok = digits(int)
                && frac.len() == s
                && (s == 0 || digits(frac))
                && int.trim_start_matches('0').len() <= p - s;
            (ok, "a decimal of the column's precision and scale")
        }
        Kind::Float => (text.parse::<f32>().is_ok(), "a real"),
        Kind::Double => (text.parse::<f64>().is_ok(), "a double"),
        Kind::Bit(n) => (
            text.len() == *n as usize && text.bytes().all(|b| b == b'0' || b == b'1'),
            "a bit string of the column's width",
        ),
        Kind::Text(_) => (true, "text"),
        Kind::Binary { .. } | Kind::Geometry => (
            text.strip_prefix("\\x")
                .is_some_and(|h| h.len() % 2 == 0 && h.bytes().all(|b| b.is_ascii_hexdigit())),
            "bytea hex",
        ),
        Kind::Enum(members) => (
            text.is_empty() || members.iter().any(|m| m == text),
            "a member of the ENUM",
        ),
        Kind::Set(members) => (
            text.is_empty() || text.split(',').all(|t| members.iter().any(|m| m == t)),
            "members of the SET",
        ),
        Kind::Date => (ymd(text), "YYYY-MM-DD"),
        Kind::DateTime => (datetime(text), "YYYY-MM-DD HH:MM:SS.ffffff"),
        Kind::Timestamp => (
            text.strip_suffix("+00").is_some_and(datetime),
            "YYYY-MM-DD HH:MM:SS.ffffff+00",
        ),
        Kind::Time => (
            hms6(text.strip_prefix('-').unwrap_or(text)),
            "[-]H:MM:SS.ffffff",
        ),
        Kind::Year => (
            text.parse::<u16>()
                .is_ok_and(|y| y == 0 || (1901..=2155).contains(&y)),
            "a MySQL YEAR",
        ),
        Kind::Json => (
            serde_json::from_str::<serde_json::Value>(text).is_ok(),
            "JSON",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} {}: expected {expected}, got {text:?}",
            c.name, c.column_type
        ))
    }
}

/// Converts every image of every row of the tables in `ddl`; all failures are collected.
/// Returns the number of images converted per table.
fn sweep(
    rel: &str,
    d: &Decoded,
    ddl: &[(&str, Vec<Column>)],
) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    for (i, r) in d.rows.iter().enumerate() {
        let Some((_, cols)) = ddl.iter().find(|(t, _)| *t == r.table) else {
            failures.push(format!("row {i}: table {} has no DDL in the test", r.table));
            continue;
        };
        for img in [&r.plan_before, &r.plan_after].into_iter().flatten() {
            match try_pg_row(cols, img) {
                Ok(values) => {
                    for (c, v) in cols.iter().zip(&values) {
                        if let Some(t) = v {
                            if let Err(e) = check_shape(c, t) {
                                failures.push(format!("row {i} of {}: {e}", r.table));
                            }
                        }
                    }
                    *counts.entry(r.table.clone()).or_insert(0) += 1;
                }
                Err(e) => failures.push(format!("row {i} of {}: {e}", r.table)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{rel}: {} failures, first ones:\n  {}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n  ")
    );
    counts
}

/// MySqlCdc's sample (MySQL 5.7.23): the table of its Scripts.sql, 3 single-row inserts.
#[test]
fn mysqlcdc_every_type_converts_to_the_inserted_values() {
    let rel = "MySqlCdc/mysql-bin.000001";
    let d = decode(rel, &fixture(rel));
    // The server runs with lower_case_table_names: the table map names `mysqlcdc`.
    let counts = sweep(rel, &d, &[("test.mysqlcdc", mysqlcdc_columns())]);
    assert_eq!(counts.get("test.mysqlcdc"), Some(&3), "{rel}: rows");
    let cols = &mysqlcdc_columns();

    // Scripts.sql's insert is the third row (Id 13); the first two (Id 11, 12) differ from it
    // only in TinyColumn, ShortColumn, Int24Column and the first letter of CharColumn.
    let row = |id, tiny, short, int24, chr: &str| {
        texts(&[
            Some(id),
            Some(tiny),
            Some(short),
            Some(int24),
            Some("123456789"),
            Some("1234567890987654321"),
            // FLOAT 12345.6789 is stored as the f32 12345.6787109375, whose shortest text is
            // 12345.679; DOUBLE 123456789.0987654321 as the f64 123456789.09876543.
            Some("1.2345679e4"),
            Some("1.2345678909876543e8"),
            Some("1234567890112233445566778899001112223334445556667778889.9900011112"),
            Some(chr),
            Some("Hello world!"),
            Some("\\x1234564534454534"),
            Some(r#"{"id":1,"name":"John"}"#),
            Some("\\x152354"),
            Some("0111101101010101011110000111"),
            Some("Medium"),
            Some("Red"),
            Some("1989"),
            Some("1985-10-23"),
            Some("1988-11-27 14:12:13.345000"),
            Some("15:22:33.670000"),
            // '1985-10-13 13:22:23.567' in the session time zone of the writer (UTC+3): the
            // binlog holds the instant, 498046943.567 s after the epoch.
            Some("1985-10-13 10:22:23.567000+00"),
        ])
    };
    let expected = [
        row(
            "11",
            "121",
            "12341",
            "1234561",
            "Bsd234234 234234 zdfsfsdfsdf",
        ),
        row(
            "12",
            "122",
            "12342",
            "1234562",
            "Csd234234 234234 zdfsfsdfsdf",
        ),
        row(
            "13",
            "123",
            "12345",
            "1234567",
            "Asd234234 234234 zdfsfsdfsdf",
        ),
    ];
    assert_eq!(d.rows.len(), 3);
    for (r, want) in d.rows.iter().zip(expected) {
        let mut got = after(rel, cols, r);
        assert_eq!(
            json(&got[12]),
            serde_json::json!({"id": 1, "name": "John"}),
            "{rel}: JsonColumn"
        );
        got[12] = got[12].as_deref().map(compact_json);
        assert_eq!(got, want, "{rel}: row {:?}", got[0]);
        // The float texts read back to the very values MySQL stores for the literals.
        assert_eq!(
            got[6].as_deref().unwrap().parse::<f32>().unwrap().to_bits(),
            "12345.6789".parse::<f32>().unwrap().to_bits()
        );
        assert_eq!(
            got[7].as_deref().unwrap().parse::<f64>().unwrap().to_bits(),
            "123456789.0987654321".parse::<f64>().unwrap().to_bits()
        );
    }
}

/// Scripts.sql, as information_schema (5.7) describes it; DEFAULT CHARSET=utf8mb4.
fn mysqlcdc_columns() -> Vec<Column> {
    cols(
        "utf8mb4",
        &[
            ("Id", "int(11)"),
            ("TinyColumn", "tinyint(4)"),
            ("ShortColumn", "smallint(6)"),
            ("Int24Column", "mediumint(9)"),
            ("Int32Column", "int(11)"),
            ("LongColumn", "bigint(20)"),
            ("FloatColumn", "float"),
            ("DoubleColumn", "double"),
            ("DecimalColumn", "decimal(65,10)"),
            ("CharColumn", "char(200)"),
            ("VarcharColumn", "varchar(700)"),
            ("VarstringColumn", "varbinary(800)"),
            ("JsonColumn", "json"),
            ("BlobColumn", "blob"),
            ("BitColumn", "bit(28)"),
            ("EnumColumn", "enum('Low','Medium','High')"),
            ("SetColumn", "set('Green','Yellow','Red')"),
            ("YearColumn", "year(4)"),
            ("DateColumn", "date"),
            ("DateTimeColumn", "datetime(3)"),
            ("TimeColumn", "time(2)"),
            ("TimestampColumn", "timestamp(3)"),
        ],
    )
}

/// The Sakila sample database loaded into MySQL 5.5.27 (`*_ROWS_EVENT_V1`, no checksums): 16
/// tables, 47,273 rows. The DDL is the CREATE TABLE statements logged in the file, as
/// information_schema (5.5) describes them (`DEFAULT CHARSET=utf8`; BOOLEAN is tinyint(1)).
fn sakila_tables() -> Vec<(&'static str, Vec<Column>)> {
    let id5 = "smallint(5) unsigned";
    let id3 = "tinyint(3) unsigned";
    let ts = ("last_update", "timestamp");
    let t = |name: &'static str, ddl: &[(&str, &str)]| (name, cols("utf8", ddl));
    vec![
        t(
            "sakila.actor",
            &[
                ("actor_id", id5),
                ("first_name", "varchar(45)"),
                ("last_name", "varchar(45)"),
                ts,
            ],
        ),
        t(
            "sakila.address",
            &[
                ("address_id", id5),
                ("address", "varchar(50)"),
                ("address2", "varchar(50)"),
                ("district", "varchar(20)"),
                ("city_id", id5),
                ("postal_code", "varchar(10)"),
                ("phone", "varchar(20)"),
                ts,
            ],
        ),
        t(
            "sakila.category",
            &[("category_id", id3), ("name", "varchar(25)"), ts],
        ),
        t(
            "sakila.city",
            &[
                ("city_id", id5),
                ("city", "varchar(50)"),
                ("country_id", id5),
                ts,
            ],
        ),
        t(
            "sakila.country",
            &[("country_id", id5), ("country", "varchar(50)"), ts],
        ),
        t(
            "sakila.customer",
            &[
                ("customer_id", id5),
                ("store_id", id3),
                ("first_name", "varchar(45)"),
                ("last_name", "varchar(45)"),
                ("email", "varchar(50)"),
                ("address_id", id5),
                ("active", "tinyint(1)"),
                ("create_date", "datetime"),
                ts,
            ],
        ),
        t(
            "sakila.film",
            &[
                ("film_id", id5),
                ("title", "varchar(255)"),
                ("description", "text"),
                ("release_year", "year(4)"),
                ("language_id", id3),
                ("original_language_id", id3),
                ("rental_duration", id3),
                ("rental_rate", "decimal(4,2)"),
                ("length", id5),
                ("replacement_cost", "decimal(5,2)"),
                ("rating", "enum('G','PG','PG-13','R','NC-17')"),
                (
                    "special_features",
                    "set('Trailers','Commentaries','Deleted Scenes','Behind the Scenes')",
                ),
                ts,
            ],
        ),
        t(
            "sakila.film_actor",
            &[("actor_id", id5), ("film_id", id5), ts],
        ),
        t(
            "sakila.film_category",
            &[("film_id", id5), ("category_id", id3), ts],
        ),
        t(
            "sakila.film_text",
            &[
                ("film_id", "smallint(6)"),
                ("title", "varchar(255)"),
                ("description", "text"),
            ],
        ),
        t(
            "sakila.inventory",
            &[
                ("inventory_id", "mediumint(8) unsigned"),
                ("film_id", id5),
                ("store_id", id3),
                ts,
            ],
        ),
        t(
            "sakila.language",
            &[("language_id", id3), ("name", "char(20)"), ts],
        ),
        t(
            "sakila.payment",
            &[
                ("payment_id", id5),
                ("customer_id", id5),
                ("staff_id", id3),
                ("rental_id", "int(11)"),
                ("amount", "decimal(5,2)"),
                ("payment_date", "datetime"),
                ts,
            ],
        ),
        t(
            "sakila.rental",
            &[
                ("rental_id", "int(11)"),
                ("rental_date", "datetime"),
                ("inventory_id", "mediumint(8) unsigned"),
                ("customer_id", id5),
                ("return_date", "datetime"),
                ("staff_id", id3),
                ts,
            ],
        ),
        t(
            "sakila.staff",
            &[
                ("staff_id", id3),
                ("first_name", "varchar(45)"),
                ("last_name", "varchar(45)"),
                ("address_id", id5),
                ("picture", "blob"),
                ("email", "varchar(50)"),
                ("store_id", id3),
                ("active", "tinyint(1)"),
                ("username", "varchar(16)"),
                ("password", "varchar(40)"),
                ts,
            ],
        ),
        t(
            "sakila.store",
            &[
                ("store_id", id3),
                ("manager_staff_id", id3),
                ("address_id", id5),
                ts,
            ],
        ),
    ]
}

#[test]
fn sakila_every_row_converts() {
    let rel = "mysql-binlog-connector-java/mysql-bin.sakila.gz";
    let bytes = gunzip(&fixture(rel));
    assert_eq!(bytes.len(), 1_445_714, "{rel}: decompressed size");
    let d = decode(rel, &bytes);
    assert_eq!(d.events, 1_462, "{rel}: events (origin test: 1,462)");
    assert_eq!(d.rows.len(), 47_273, "{rel}: rows");
    let tables = sakila_tables();
    let counts = sweep(rel, &d, &tables);
    assert_eq!(counts.len(), 16, "{rel}: tables with rows: {counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 47_273);

    // Spot checks against sakila-data.sql. Its TIMESTAMP literals ('2006-02-15 04:34:33') were
    // written in a UTC+1 session: the binlog holds the instant, one hour earlier in UTC.
    let first = |t: &str| {
        let cols = &tables.iter().find(|(n, _)| *n == t).unwrap().1;
        after(rel, cols, d.rows_of(t)[0])
    };
    assert_eq!(
        first("sakila.actor"),
        texts(&[
            Some("1"),
            Some("PENELOPE"),
            Some("GUINESS"),
            Some("2006-02-15 03:34:33.000000+00")
        ])
    );
    assert_eq!(
        first("sakila.film"),
        texts(&[
            Some("1"),
            Some("ACADEMY DINOSAUR"),
            Some(
                "A Epic Drama of a Feminist And a Mad Scientist who must Battle a Teacher in \
                 The Canadian Rockies"
            ),
            Some("2006"),
            Some("1"),
            None,
            Some("6"),
            Some("0.99"),
            Some("86"),
            Some("20.99"),
            Some("PG"),
            Some("Deleted Scenes,Behind the Scenes"),
            Some("2006-02-15 04:03:42.000000+00"),
        ])
    );
    assert_eq!(
        first("sakila.payment"),
        texts(&[
            Some("1"),
            Some("1"),
            Some("1"),
            Some("76"),
            Some("2.99"),
            Some("2005-05-25 11:30:37.000000"),
            Some("2006-02-15 21:12:30.000000+00"),
        ])
    );
    assert_eq!(
        first("sakila.rental"),
        texts(&[
            Some("1"),
            Some("2005-05-24 22:53:30.000000"),
            Some("367"),
            Some("130"),
            Some("2005-05-26 22:04:30.000000"),
            Some("1"),
            Some("2006-02-15 20:30:53.000000+00"),
        ])
    );
    // CHAR(20) 'English' arrives without its padding, as MySQL returns it.
    assert_eq!(
        first("sakila.language"),
        texts(&[
            Some("1"),
            Some("English"),
            Some("2006-02-15 04:02:19.000000+00")
        ])
    );
    // NULL and '' stay distinct.
    let address = first("sakila.address");
    assert_eq!((&address[2], &address[5]), (&None, &Some(String::new())));
    // The staff picture BLOB is a PNG image; password is VARCHAR(40) BINARY (utf8_bin).
    let staff = first("sakila.staff");
    assert!(staff[4]
        .as_deref()
        .unwrap()
        .starts_with("\\x89504e470d0a1a0a"));
    assert_eq!(
        staff[9].as_deref(),
        Some("8cb2237d0679ca88db6464eac60da96345513964")
    );
}

/// The one gzip-compressed fixture, unpacked.
fn gunzip(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .expect("the fixture is a valid gzip file");
    out
}
