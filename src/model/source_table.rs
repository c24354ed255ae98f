//! A MySQL table's definition as the sync tracks it: columns, key and default character set,
//! from `information_schema` at a start, then moved forward by each schema change the binlog
//! holds (see `catalog::evolve`), so rows are always decoded with the definition as of their
//! position.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::model::kind::Kind;

/// A MySQL column as `information_schema` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceColumn {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
    pub charset: Option<String>,
    pub nullable: bool,
}

/// A MySQL table as `information_schema` describes it, before it is matched with its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceTable {
    pub schema: String,
    pub table: String,
    pub columns: Vec<SourceColumn>,
    /// Key column names; empty when the table has no usable key.
    pub key: Vec<String>,
    /// The table's default character set: what a column added without one gets.
    #[serde(default)]
    pub charset: Option<String>,
}

impl SourceTable {
    pub fn kinds(&self) -> Result<Vec<Kind>> {
        self.columns
            .iter()
            .map(|c| {
                Kind::parse(&c.data_type, &c.column_type, c.charset.as_deref()).with_context(|| {
                    format!(
                        "MySQL table `{}`.`{}` column `{}`",
                        self.schema, self.table, c.name
                    )
                })
            })
            .collect()
    }
}
