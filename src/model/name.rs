//! Table names: one type for a table on either side of the sync.

use crate::sql::Quoted;

/// A table's schema (MySQL: its database) and name, as the server spells them: a MySQL table
/// that a statement, a rule or information_schema names, or the PostgreSQL table it maps to.
/// Displayed `schema.table` for people; [`TableName::quoted`] is the form for SQL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub table: String,
}

impl TableName {
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> TableName {
        TableName {
            schema: schema.into(),
            table: table.into(),
        }
    }

    /// `"schema"."table"`, quoted for PostgreSQL.
    pub fn quoted(&self) -> Quoted {
        crate::sql::qualified(&self.schema, &self.table)
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}
