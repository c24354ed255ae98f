//! The change model: one value per changed row, as the binlog reader hands it to the workers.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use mysql_async::Value;

use crate::model::mark::Mark;
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
    /// target row goes to the same worker, in order, whichever shard it came from.
    pub fn worker(&self, workers: usize) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.table.target.hash(&mut h);
        for v in self.key_values() {
            hash_value(v, &mut h);
        }
        (h.finish() % workers as u64) as usize
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

fn hash_value(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::NULL => 0u8.hash(h),
        Value::Bytes(b) => b.hash(h),
        // Signed and unsigned forms of one integer hash alike.
        Value::Int(i) => (*i as i128).hash(h),
        Value::UInt(u) => (*u as i128).hash(h),
        Value::Float(f) => f.to_bits().hash(h),
        Value::Double(d) => d.to_bits().hash(h),
        Value::Date(y, mo, d, hh, mi, s, us) => (y, mo, d, hh, mi, s, us).hash(h),
        Value::Time(neg, d, hh, mi, s, us) => (neg, d, hh, mi, s, us).hash(h),
    }
}

/// Identifies a source transaction inside one run.
pub type TxnId = u64;

/// A change to a whole target table that must sit exactly between the row changes around it
/// (a TRUNCATE; schema changes will be others). The reader sends it to the writer side
/// (`target::barrier`) and waits: the writer side applies it only once every change
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
    pub source: (String, String),
    /// The definition afterwards, under `renamed_to` when the statement renamed it;
    /// `None` when the table is gone (dropped, or renamed to a name not replicated).
    pub after: Option<SourceTable>,
    pub renamed_to: Option<(String, String)>,
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
