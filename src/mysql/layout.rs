//! How one TABLE_MAP event lays out a configured table: which binlog column is which of the
//! table's columns (by the names the binlog logs, else by position), and a row image put in
//! the table's column order.

use std::sync::Arc;

use anyhow::{bail, Result};
use mysql_async::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_async::Value;

use crate::model::position::Position;
use crate::model::table::TableMeta;
use crate::mysql::rows::RowPlan;

/// A configured table as one TABLE_MAP event lays it out: binlog column i is `meta.columns[map[i]]`.
pub(super) struct Layout {
    pub meta: Arc<TableMeta>,
    pub map: Vec<usize>,
    pub plan: RowPlan,
}

/// A full row image in `meta.columns` order. A missing column means the server does not log
/// full images, which would make upserts write NULLs over real values: refuse.
pub(super) fn image(layout: &Layout, values: Vec<Value>, at: &Position) -> Result<Vec<Value>> {
    if values.len() != layout.map.len() {
        bail!(
            "a row of {} at {at} has {} of its {} columns: the server must log full row images (binlog_row_image=FULL)",
            layout.meta.source_name(),
            values.len(),
            layout.map.len()
        );
    }
    // Usually the binlog's column order is the table's: then the image is already in order.
    if layout.map.iter().enumerate().all(|(i, &m)| i == m) {
        return Ok(values);
    }
    let mut out = vec![Value::NULL; layout.meta.columns.len()];
    for (i, v) in values.into_iter().enumerate() {
        out[layout.map[i]] = v;
    }
    Ok(out)
}

/// Column names logged in the table map (binlog_row_metadata=FULL), if any.
pub fn binlog_column_names(tme: &TableMapEvent<'_>) -> Option<Vec<String>> {
    for field in tme.iter_optional_meta() {
        if let Ok(OptionalMetadataField::ColumnName(names)) = field {
            return Some(
                names
                    .iter_names()
                    .filter_map(|n| n.ok())
                    .map(|n| n.name().to_string())
                    .collect(),
            );
        }
    }
    None
}

/// Maps binlog columns to the loaded table's columns: by name when the binlog has names, else
/// by position when the counts agree. `None` when they do not fit.
pub(super) fn layout_of(
    meta: &TableMeta,
    names: Option<&[String]>,
    count: usize,
) -> Option<Vec<usize>> {
    if count != meta.columns.len() {
        return None;
    }
    match names {
        Some(names) if names.len() == count => {
            let map: Option<Vec<usize>> = names
                .iter()
                .map(|n| meta.columns.iter().position(|c| &c.name == n))
                .collect();
            let mut seen = map.clone()?;
            seen.sort_unstable();
            seen.dedup();
            (seen.len() == count).then_some(map?)
        }
        _ => Some((0..count).collect()),
    }
}
