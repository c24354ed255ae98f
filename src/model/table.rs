//! A configured table as the sync applies it: its source columns with their kinds, the
//! PostgreSQL table its rows go to, its key, and the statements that write it.

use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::config::ZeroDate;
use crate::model::kind::Kind;
use crate::model::name::TableName;

/// One source column, with what value conversion needs to know about it.
#[derive(Debug)]
pub struct Column {
    pub name: String,
    /// MySQL `DATA_TYPE`, lower case (`int`, `varchar`, `decimal`, `datetime`, …).
    pub data_type: String,
    /// MySQL `COLUMN_TYPE` (`int(10) unsigned`, `enum('a','b')`, …).
    pub column_type: String,
    /// How its binlog values are read.
    pub kind: Kind,
    /// The PostgreSQL base type values are cast to (`integer`, `numeric`, …).
    pub pg_type: String,
    pub zero_date: ZeroDate,
    /// Set once a NUL byte was dropped from this column's text (logged once).
    pub nul_warned: AtomicBool,
    /// Values whose bytes were not all characters of the column's set (see `charset`).
    pub bad_text: AtomicU64,
}

impl Column {
    pub fn new(
        name: String,
        data_type: String,
        column_type: String,
        kind: Kind,
        pg_type: String,
        zero_date: ZeroDate,
    ) -> Self {
        Column {
            name,
            data_type,
            column_type,
            kind,
            pg_type,
            zero_date,
            nul_warned: AtomicBool::new(false),
            bad_text: AtomicU64::new(0),
        }
    }
}

/// A configured source table, resolved against its PostgreSQL target.
#[derive(Debug)]
pub struct TableMeta {
    /// The MySQL table.
    pub source: TableName,
    /// `source` as text (`schema.table`), kept for messages and the metrics' labels.
    pub name: String,
    /// The PostgreSQL table it maps to.
    pub target: TableName,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key that identifies a row.
    pub key: Vec<usize>,
    /// Greenplum mode: upserts are a delete of the keys and a plain insert.
    pub greenplum: bool,
    pub upsert_sql: String,
    pub insert_sql: String,
    pub copy_sql: String,
    pub delete_sql: String,
    pub truncate_sql: String,
}

impl TableMeta {
    pub fn source_name(&self) -> &str {
        &self.name
    }

    pub fn key_names(&self) -> Vec<&str> {
        self.key
            .iter()
            .map(|&k| self.columns[k].name.as_str())
            .collect()
    }
}

/// Why a configured table is not replicated.
#[derive(Debug)]
pub enum Skip {
    NoKey,
}
