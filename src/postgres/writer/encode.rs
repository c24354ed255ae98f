//! A batch's rows as PostgreSQL reads them: COPY text, or one `text[]` array per column.
//! Pure: no I/O; a value that cannot be converted is an error naming the table, the key and
//! the binlog position.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use tokio_postgres::types::ToSql;

use crate::model::change::{Change, Op};
use crate::model::table::TableMeta;

pub(crate) type Text = Option<String>;

/// One statement's worth of rows: the changes behind them, and their values as PostgreSQL
/// will read them ([`Group::encode`]).
pub struct Group<'a> {
    pub meta: &'a Arc<TableMeta>,
    pub op: Op,
    /// One change per target row (the last of the batch for it), in binlog order.
    pub changes: Vec<&'a Change>,
    /// Every row's key was first and last written by a source INSERT in this batch: the rows
    /// are new to the table, unless this is a replay.
    pub fresh: bool,
    /// Text arrays, one `text[]` parameter per column: every column of an upsert, the key
    /// columns of a delete, and only the key columns when the rows go by COPY (Greenplum mode
    /// deletes those keys first; empty otherwise).
    pub columns: Vec<Vec<Text>>,
    /// The rows as COPY text (tab-separated fields, one line per row) when they go by COPY.
    pub copy: Option<bytes::Bytes>,
}

impl<'a> Group<'a> {
    /// A group of one change, not encoded yet (to try a row on its own).
    pub fn single(meta: &'a Arc<TableMeta>, op: Op, change: &'a Change) -> Group<'a> {
        Group {
            meta,
            op,
            changes: vec![change],
            fresh: false,
            columns: Vec::new(),
            copy: None,
        }
    }

    /// Converts the rows for the statements that write them: COPY text when `copy` allows it
    /// for this group (see [`Group::uses_copy`]), else column arrays. A value that cannot be
    /// converted stops the sync, naming the table, the key and the binlog position.
    pub fn encode(&mut self, copy: bool) -> Result<()> {
        let mut text = String::new();
        self.copy = None;
        let cols: Vec<usize> = if self.uses_copy(copy) {
            let mut out = Vec::with_capacity(self.changes.len() * self.meta.columns.len() * 16);
            for ch in &self.changes {
                for c in 0..ch.row.len() {
                    if c > 0 {
                        out.push(b'\t');
                    }
                    let some = field_text(ch, c, &mut text)?;
                    crate::sql::copy_field(&mut out, some.then_some(text.as_str()));
                }
                out.push(b'\n');
            }
            self.copy = Some(out.into());
            if self.meta.greenplum {
                self.meta.key.clone()
            } else {
                Vec::new()
            }
        } else if self.op == Op::Upsert {
            (0..self.meta.columns.len()).collect()
        } else {
            self.meta.key.clone()
        };
        self.columns = vec![Vec::with_capacity(self.changes.len()); cols.len()];
        for ch in &self.changes {
            for (out, &c) in self.columns.iter_mut().zip(&cols) {
                out.push(field_text(ch, c, &mut text)?.then(|| text.clone()));
            }
        }
        Ok(())
    }

    /// Whether this group is written by COPY when COPY is allowed: new rows, or any upsert in
    /// Greenplum mode, where the batch's keys are deleted first.
    pub fn uses_copy(&self, copy: bool) -> bool {
        copy && self.op == Op::Upsert && (self.fresh || self.meta.greenplum)
    }

    /// The key arrays (after [`Group::encode`]).
    pub fn keys(&self) -> Vec<&(dyn ToSql + Sync)> {
        let all = self.columns.iter().map(|c| c as &(dyn ToSql + Sync));
        if self.copy.is_some() || self.op == Op::Delete {
            all.collect()
        } else {
            let all: Vec<_> = all.collect();
            self.meta.key.iter().map(|&k| all[k]).collect()
        }
    }

    /// Every column array (after [`Group::encode`]).
    pub fn all(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.columns
            .iter()
            .map(|c| c as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Encodes every group for a write with or without COPY.
pub fn encode(groups: &mut [Group<'_>], copy: bool) -> Result<()> {
    groups.iter_mut().try_for_each(|g| g.encode(copy))
}

/// Column `c` of `ch` as PostgreSQL text, into `out`; `false` for NULL.
pub fn field_text(ch: &Change, c: usize, out: &mut String) -> Result<bool> {
    let col = &ch.table.columns[c];
    let in_key = ch.table.key.contains(&c);
    crate::convert::write_pg_text_replacing(
        col,
        &ch.row[c],
        in_key,
        |e, n| {
            tracing::warn!(
                "MySQL table {} (key {}, binlog position {}): {e}{}",
                ch.table.source_name(),
                ch.describe_key(),
                ch.pos,
                if n == 10 {
                    "; further ones in this column are not logged"
                } else {
                    ""
                }
            )
        },
        out,
    )
    .map_err(|e| {
        anyhow!(
            "cannot convert a row of MySQL table {} (key {}, binlog position {}): {e}",
            ch.table.source_name(),
            ch.describe_key(),
            ch.pos
        )
    })
}
