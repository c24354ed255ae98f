//! The change model: one value per changed row, as the binlog reader hands it to the workers.

use std::cell::RefCell;
use std::sync::Arc;

use mysql_async::Value;

use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::position::Position;
use crate::model::source_table::SourceTable;
use crate::model::table::TableMeta;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Insert, or update to the full after-image (an UPDATE that keeps its key).
    Upsert,
    /// Delete by key (a DELETE, or the old key of an UPDATE that changed it).
    Delete,
}

/// What the source row did, for the per-table counts (`status`, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Insert,
    Update,
    Delete,
    /// The delete of the old key of an UPDATE that changed it: counted with its upsert.
    KeyMove,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub table: Arc<TableMeta>,
    pub op: Op,
    pub kind: RowKind,
    /// The full row image, in the order of `table.columns`: the after-image of an upsert,
    /// the before-image of a delete.
    pub row: Vec<Value>,
    /// The source transaction it belongs to (for the acknowledgement window).
    pub txn: TxnId,
    /// Where the rows event starts in the binlog, for error messages.
    pub pos: Position,
    /// When the source wrote the event (seconds since the epoch), for the lag.
    pub ts: u32,
    /// Its number within the rows event, from 1 (with `pos`, its place in the binlog).
    pub seq: u32,
}

impl Change {
    /// Its place in the binlog, for the transactional checkpoint.
    pub fn mark(&self) -> Mark {
        Mark {
            file: self.pos.file.clone(),
            pos: self.pos.pos,
            seq: self.seq,
        }
    }

    pub fn key_values(&self) -> impl Iterator<Item = &Value> {
        self.table.key.iter().map(|&k| &self.row[k])
    }

    /// The worker for this change: a hash of (target table, key values), so every change of one
    /// target row goes to the same worker, in order, whichever shard it came from (see
    /// [`route`]).
    pub fn worker(&self, workers: usize) -> usize {
        route(&self.table.target, self.key_values(), workers)
    }

    /// `key=value, …` for messages that must name the row.
    pub fn describe_key(&self) -> String {
        describe_key(&self.table, &self.row)
    }
}

/// `key=value, …` of a row of `table` (values in column order).
pub fn describe_key(table: &TableMeta, row: &[Value]) -> String {
    table
        .key
        .iter()
        .map(|&k| format!("{}={}", table.columns[k].name, show(&row[k])))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(v: &Value) -> String {
    match v {
        Value::Bytes(b) => format!("{:?}", String::from_utf8_lossy(b)),
        other => other.as_sql(true),
    }
}

/// Which routing [`route`] does: stored with every worker checkpoint. The checkpoints skip a
/// worker's changes up to its mark, which is sound only if every key goes to the same worker
/// as when the mark was written; marks of another version are dropped at start (a plain
/// replay), as for another worker count. Bump it with any change to [`route`] or to
/// [`key_bytes`]: the test `routing_is_pinned` fails until the pinned workers are updated too.
pub const ROUTING_VERSION: i32 = 1;

thread_local! {
    static KEY_BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Routing version 1: XXH3-64 (seed 0, a specified hash: the same on every build, toolchain
/// and platform, unlike std's `DefaultHasher`) of the target's schema and name and each key
/// value in the encoding of [`key_bytes`], modulo the worker count.
pub fn route<'a>(
    target: &TableName,
    key: impl Iterator<Item = &'a Value>,
    workers: usize,
) -> usize {
    KEY_BYTES.with_borrow_mut(|b| {
        b.clear();
        put_bytes(b, target.schema.as_bytes());
        put_bytes(b, target.table.as_bytes());
        for v in key {
            key_bytes(v, b);
        }
        (xxhash_rust::xxh3::xxh3_64(b) % workers.max(1) as u64) as usize
    })
}

/// A length-prefixed byte string (so that `("ab", "c")` and `("a", "bc")` differ).
fn put_bytes(b: &mut Vec<u8>, bytes: &[u8]) {
    b.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    b.extend_from_slice(bytes);
}

/// One key value as routing bytes: a tag, then the value. Signed and unsigned forms of one
/// integer are one value (the binlog gives an unsigned column's small values either way).
fn key_bytes(v: &Value, b: &mut Vec<u8>) {
    match v {
        Value::NULL => b.push(0),
        Value::Bytes(x) => {
            b.push(1);
            put_bytes(b, x);
        }
        Value::Int(i) => {
            b.push(2);
            b.extend_from_slice(&(*i as i128).to_le_bytes());
        }
        Value::UInt(u) => {
            b.push(2);
            b.extend_from_slice(&(*u as i128).to_le_bytes());
        }
        Value::Float(f) => {
            b.push(3);
            b.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Double(d) => {
            b.push(4);
            b.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Date(y, mo, d, hh, mi, s, us) => {
            b.push(5);
            b.extend_from_slice(&y.to_le_bytes());
            b.extend_from_slice(&[*mo, *d, *hh, *mi, *s]);
            b.extend_from_slice(&us.to_le_bytes());
        }
        Value::Time(neg, d, hh, mi, s, us) => {
            b.push(6);
            b.push(u8::from(*neg));
            b.extend_from_slice(&d.to_le_bytes());
            b.extend_from_slice(&[*hh, *mi, *s]);
            b.extend_from_slice(&us.to_le_bytes());
        }
    }
}

/// Identifies a source transaction inside one run.
pub type TxnId = u64;

/// A change to a whole target table that must sit exactly between the row changes around it
/// (a TRUNCATE; schema changes will be others). The reader sends it to the writer side
/// (`postgres::barrier`) and waits: the writer side applies it only once every change
/// before it is committed, and nothing after it is sent before it is applied.
#[derive(Debug)]
pub enum Barrier {
    /// Empty the table's target. `at` is the end of the TRUNCATE's event: once applied, every
    /// worker's checkpoint is there, so a replay does not empty the table again.
    Truncate { table: Arc<TableMeta>, at: Position },
    /// A schema change of configured tables (see [`SchemaStep`]).
    Schema(SchemaStep),
}

/// One schema-change statement of the binlog, as the writer side applies it: the target
/// statements of every table it changes, and each table's new definition for the schema
/// history, in one transaction with every worker's checkpoint at `at`.
#[derive(Debug, Clone)]
pub struct SchemaStep {
    /// The end of the statement's event.
    pub at: Position,
    /// The statement, for the log and the status.
    pub statement: String,
    pub tables: Vec<TableStep>,
}

/// What one statement does to one configured table.
#[derive(Debug, Clone)]
pub struct TableStep {
    /// `schema.table` of the source before the statement (its name in the history).
    pub source: TableName,
    /// The definition afterwards, under `renamed_to` when the statement renamed it;
    /// `None` when the table is gone (dropped, or renamed to a name not replicated).
    pub after: Option<SourceTable>,
    pub renamed_to: Option<TableName>,
    /// Run in order in PostgreSQL (none when the target is left alone).
    pub target: Vec<TargetStep>,
}

/// A PostgreSQL statement of a schema change.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetStep {
    /// Run `sql`, with `$1` bound to `param` (a value: never spliced into the text).
    Exec { sql: String, param: Option<String> },
    /// `sql` says whether the table holds rows; if it does, the change cannot be followed (why).
    RequireEmpty { sql: String, why: String },
    /// Drop the primary key constraint of `table` (qualified), found by name in the catalog.
    DropPrimaryKey { table: String },
}

/// A [`Barrier`] on its way to the writer side, with the channel its outcome comes back on.
#[derive(Debug)]
pub struct BarrierRequest {
    pub barrier: Barrier,
    pub applied: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins routing version 1: a build that sends these keys elsewhere changed the routing,
    /// and must bump [`ROUTING_VERSION`] (and these figures) so that old marks are dropped.
    #[test]
    fn routing_is_pinned() {
        assert_eq!(ROUTING_VERSION, 1);
        // XXH3-64 itself, by the reference's value for the empty input.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2D06_8005_38D3_94C2);
        let t = TableName {
            schema: "public".into(),
            table: "orders".into(),
        };
        let one = |v: Value| route(&t, [v].iter(), 16);
        let got = [
            one(Value::Int(1)),
            one(Value::Int(2)),
            one(Value::Int(-7)),
            one(Value::UInt(42)),
            one(Value::Bytes(b"alice@example.com".to_vec())),
            one(Value::Date(2024, 2, 29, 12, 0, 0, 5)),
            one(Value::NULL),
            route(&t, [Value::Int(1), Value::Bytes(b"x".to_vec())].iter(), 16),
        ];
        assert_eq!(got, PINNED, "the routing of keys to workers changed");
        // Signed and unsigned forms of one integer go to one worker.
        assert_eq!(one(Value::Int(42)), one(Value::UInt(42)));
        // The target is part of it.
        let other = TableName {
            schema: "public".into(),
            table: "orders2".into(),
        };
        let spread: std::collections::HashSet<usize> = (0..64)
            .map(|i| route(&other, [Value::Int(i)].iter(), 16))
            .collect();
        assert!(spread.len() > 8, "keys spread over the workers: {spread:?}");
    }

    const PINNED: [usize; 8] = [6, 7, 9, 12, 15, 2, 14, 15];
}
