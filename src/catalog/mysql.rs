//! The MySQL side of a table, from `information_schema`: which tables the rules select, their
//! columns and the key rows are matched by.

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;

use crate::model::name::TableName;
use crate::model::rules::TableRules;

pub use crate::model::source_table::{SourceColumn, SourceTable};

/// Every base table of the configured schemas that the `[[source]]` patterns select.
pub async fn configured_tables(
    mysql: &mysql_async::Pool,
    rules: &TableRules,
) -> Result<Vec<TableName>> {
    let mut conn = mysql.get_conn().await?;
    let mut out = Vec::new();
    for schema in rules.schemas() {
        let names: Vec<String> = conn
            .exec(
                "SELECT TABLE_NAME FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                (schema,),
            )
            .await
            .with_context(|| format!("listing the tables of MySQL schema `{schema}`"))?;
        for t in names {
            if rules.is_configured(schema, &t) {
                out.push(TableName::new(schema, t));
            }
        }
    }
    Ok(out)
}

/// The default character set of a MySQL schema.
pub async fn schema_charset(mysql: &mysql_async::Pool, schema: &str) -> Result<Option<String>> {
    let mut conn = mysql.get_conn().await?;
    let cs: Option<String> = conn
        .exec_first(
            "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (schema,),
        )
        .await
        .with_context(|| format!("reading the character set of MySQL schema `{schema}`"))?;
    Ok(cs)
}

/// Columns and key of a MySQL table, from `information_schema`.
pub async fn source_table(
    mysql: &mysql_async::Pool,
    schema: &str,
    table: &str,
) -> Result<SourceTable> {
    let mut conn = mysql.get_conn().await?;
    let rows: Vec<(String, String, String, Option<String>, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, IS_NULLABLE \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        .await
        .with_context(|| format!("reading the columns of MySQL table `{schema}`.`{table}`"))?;
    if rows.is_empty() {
        bail!(
            "MySQL table `{schema}`.`{table}` does not exist (or the sync user may not SELECT it)"
        );
    }
    // MariaDB's JSON is LONGTEXT with a json_valid() check: find those columns.
    let json_checks: Vec<String> = conn
        .exec(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND CHECK_CLAUSE LIKE 'json_valid(%'",
            (schema, table),
        )
        .await
        .unwrap_or_default();
    let is_json = |name: &str| {
        json_checks
            .iter()
            .any(|c| c.trim() == format!("json_valid(`{}`)", name.replace('`', "``")))
    };
    let columns = rows
        .into_iter()
        .map(
            |(name, data_type, column_type, charset, nullable)| SourceColumn {
                data_type: if is_json(&name) {
                    "json".into()
                } else {
                    data_type.to_lowercase()
                },
                name,
                // ENUM and SET member names keep their case: they are data.
                column_type: if matches!(data_type.as_str(), "enum" | "set") {
                    column_type
                } else {
                    column_type.to_lowercase()
                },
                charset: charset.filter(|c| c != "binary"),
                nullable: nullable == "YES",
            },
        )
        .collect();
    let idx: Vec<IndexColumn> = conn
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE, NULLABLE, SUB_PART \
             FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            (schema, table),
        )
        .await
        .with_context(|| format!("reading the indexes of MySQL table `{schema}`.`{table}`"))?;
    let charset: Option<String> = conn
        .exec_first(
            // A collation's name starts with its character set's (MariaDB's uca1400 collations
            // have no row of their own in information_schema.COLLATIONS).
            "SELECT SUBSTRING_INDEX(TABLE_COLLATION, '_', 1) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (schema, table),
        )
        .await
        .with_context(|| {
            format!("reading the character set of MySQL table `{schema}`.`{table}`")
        })?;
    Ok(SourceTable {
        schema: schema.to_string(),
        table: table.to_string(),
        columns,
        key: choose_key(&idx).unwrap_or_default(),
        charset,
    })
}

/// One row of `information_schema.STATISTICS`: index, column, NON_UNIQUE, NULLABLE, SUB_PART.
type IndexColumn = (String, String, i64, String, Option<i64>);

/// The primary key, else the first unique index whose columns are all NOT NULL and whole
/// (a prefix index does not identify a row).
fn choose_key(idx: &[IndexColumn]) -> Option<Vec<String>> {
    let mut by_index: Vec<(&str, Vec<&IndexColumn>)> = Vec::new();
    for row in idx {
        match by_index.last_mut() {
            Some((name, cols)) if *name == row.0 => cols.push(row),
            _ => by_index.push((&row.0, vec![row])),
        }
    }
    by_index
        .into_iter()
        .find(|(name, cols)| {
            *name == "PRIMARY"
                || cols
                    .iter()
                    .all(|c| c.2 == 0 && c.3.is_empty() && c.4.is_none())
        })
        .map(|(_, cols)| cols.iter().map(|c| c.1.clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: &str, c: &str, non_unique: i64, nullable: &str) -> IndexColumn {
        (i.into(), c.into(), non_unique, nullable.into(), None)
    }

    #[test]
    fn primary_key_wins() {
        let idx = vec![
            row("PRIMARY", "a", 0, ""),
            row("PRIMARY", "b", 0, ""),
            row("u", "c", 0, ""),
        ];
        assert_eq!(choose_key(&idx), Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn not_null_unique_key_when_no_primary() {
        let idx = vec![
            row("idx", "x", 1, ""),
            row("u_null", "n", 0, "YES"),
            row("u_ok", "c", 0, ""),
        ];
        assert_eq!(choose_key(&idx), Some(vec!["c".into()]));
    }

    #[test]
    fn no_usable_key() {
        let mut prefix = row("u", "c", 0, "");
        prefix.4 = Some(10);
        assert_eq!(choose_key(&[row("idx", "x", 1, ""), prefix]), None);
        assert_eq!(choose_key(&[]), None);
    }
}
