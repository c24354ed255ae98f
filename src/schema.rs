//! What a configured table looks like on both sides: its MySQL columns and key (from
//! `information_schema`) and the PostgreSQL table its rows go to (from the catalog), with the
//! statements that write it. Loaded at start and again when a table first appears in the binlog.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;

use crate::rules::{TableRules, TargetName};
use crate::sql;

/// One source column, with what value conversion needs to know about it.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// MySQL `DATA_TYPE`, lower case (`int`, `varchar`, `decimal`, `datetime`, …).
    pub data_type: String,
    /// MySQL `COLUMN_TYPE` (`int(10) unsigned`, `enum('a','b')`, …).
    pub column_type: String,
    pub unsigned: bool,
    /// `None` for binary strings and non-string types.
    pub charset: Option<String>,
    /// The PostgreSQL base type values are cast to (`integer`, `numeric`, …).
    pub pg_type: String,
}

/// A configured source table, resolved against its PostgreSQL target.
#[derive(Debug)]
pub struct TableMeta {
    pub schema: String,
    pub table: String,
    pub target: TargetName,
    pub columns: Vec<Column>,
    /// Indexes into `columns` of the key that identifies a row.
    pub key: Vec<usize>,
    /// Greenplum mode: upserts are a delete of the keys and a plain insert.
    pub greenplum: bool,
    pub upsert_sql: String,
    pub insert_sql: String,
    pub delete_sql: String,
    pub truncate_sql: String,
}

impl TableMeta {
    pub fn source_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
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

pub struct SchemaLoader {
    mysql: mysql_async::Pool,
    pg: deadpool_postgres::Pool,
    rules: TableRules,
    greenplum: bool,
}

struct MyColumn {
    name: String,
    data_type: String,
    column_type: String,
    charset: Option<String>,
}

impl SchemaLoader {
    pub fn new(
        mysql: mysql_async::Pool,
        pg: deadpool_postgres::Pool,
        rules: TableRules,
        greenplum: bool,
    ) -> Self {
        SchemaLoader {
            mysql,
            pg,
            rules,
            greenplum,
        }
    }

    pub fn rules(&self) -> &TableRules {
        &self.rules
    }

    /// Every base table of the configured schemas that the `[[source]]` patterns select.
    pub async fn configured_tables(&self) -> Result<Vec<(String, String)>> {
        let mut conn = self.mysql.get_conn().await?;
        let mut out = Vec::new();
        for schema in self.rules.schemas() {
            let names: Vec<String> = conn
                .exec(
                    "SELECT TABLE_NAME FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                    (schema,),
                )
                .await
                .with_context(|| format!("listing the tables of MySQL schema `{schema}`"))?;
            for t in names {
                if self.rules.is_configured(schema, &t) {
                    out.push((schema.to_string(), t));
                }
            }
        }
        Ok(out)
    }

    /// Loads one table; `Ok(Err(Skip))` when it has no usable key.
    pub async fn load(&self, schema: &str, table: &str) -> Result<Result<Arc<TableMeta>, Skip>> {
        let mut conn = self.mysql.get_conn().await?;
        let rows: Vec<(String, String, String, Option<String>)> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
                 ORDER BY ORDINAL_POSITION",
                (schema, table),
            )
            .await
            .with_context(|| format!("reading the columns of MySQL table `{schema}`.`{table}`"))?;
        if rows.is_empty() {
            bail!("MySQL table `{schema}`.`{table}` does not exist (or the sync user may not SELECT it)");
        }
        let my_cols: Vec<MyColumn> = rows
            .into_iter()
            .map(|(name, data_type, column_type, charset)| MyColumn {
                name,
                data_type: data_type.to_lowercase(),
                column_type: column_type.to_lowercase(),
                charset: charset.filter(|c| c != "binary"),
            })
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
        let Some(key_names) = choose_key(&idx) else {
            return Ok(Err(Skip::NoKey));
        };
        let key: Vec<usize> = key_names
            .iter()
            .map(|k| my_cols.iter().position(|c| &c.name == k).unwrap())
            .collect();

        let target = self.rules.target(schema, table);
        let pg_cols = self.target_columns(&target, schema, table).await?;
        let mut columns = Vec::with_capacity(my_cols.len());
        for c in my_cols {
            let pg_type = pg_cols.get(&c.name).cloned().ok_or_else(|| {
                anyhow!(
                    "PostgreSQL table {target} has no column \"{}\" that MySQL table `{schema}`.`{table}` has; \
                     add it (ALTER TABLE {} ADD COLUMN …) or map the table elsewhere with a [[rule]]",
                    c.name,
                    sql::qualified(&target.schema, &target.table)
                )
            })?;
            columns.push(Column {
                unsigned: c.column_type.contains("unsigned"),
                name: c.name,
                data_type: c.data_type,
                column_type: c.column_type,
                charset: c.charset,
                pg_type,
            });
        }
        if !self.greenplum {
            self.check_target_key(&target, &key_names, schema, table)
                .await?;
        }

        let qualified = sql::qualified(&target.schema, &target.table);
        let typed: Vec<(&str, &str)> = columns
            .iter()
            .map(|c| (c.name.as_str(), c.pg_type.as_str()))
            .collect();
        let key_typed: Vec<(&str, &str)> = key.iter().map(|&k| typed[k]).collect();
        Ok(Ok(Arc::new(TableMeta {
            greenplum: self.greenplum,
            upsert_sql: sql::upsert(&qualified, &typed, &key),
            insert_sql: sql::insert(&qualified, &typed),
            delete_sql: sql::delete(&qualified, &key_typed),
            truncate_sql: sql::truncate(&qualified),
            schema: schema.to_string(),
            table: table.to_string(),
            target,
            columns,
            key,
        })))
    }

    /// Column name → base type of the PostgreSQL target table.
    async fn target_columns(
        &self,
        target: &TargetName,
        schema: &str,
        table: &str,
    ) -> Result<HashMap<String, String>> {
        let client = self.pg.get().await.context("connecting to PostgreSQL")?;
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, NULL) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
                 AND c.relkind IN ('r', 'p')",
                &[&target.schema, &target.table],
            )
            .await
            .with_context(|| format!("reading PostgreSQL table {target}"))?;
        if rows.is_empty() {
            bail!(
                "PostgreSQL table {target} (target of MySQL `{schema}`.`{table}`) does not exist; \
                 create it with the same columns and key before starting the sync"
            );
        }
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// `ON CONFLICT (key)` needs a unique index on exactly the key columns.
    async fn check_target_key(
        &self,
        target: &TargetName,
        key: &[String],
        schema: &str,
        table: &str,
    ) -> Result<()> {
        let client = self.pg.get().await.context("connecting to PostgreSQL")?;
        let rows = client
            .query(
                "SELECT array_agg(a.attname::text ORDER BY a.attname) \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique AND i.indpred IS NULL \
                 GROUP BY i.indexrelid",
                &[&target.schema, &target.table],
            )
            .await?;
        let mut want: Vec<String> = key.to_vec();
        want.sort();
        if rows.iter().any(|r| r.get::<_, Vec<String>>(0) == want) {
            return Ok(());
        }
        bail!(
            "PostgreSQL table {target} has no primary key or unique index on ({}), the key of MySQL `{schema}`.`{table}`; \
             add one (ALTER TABLE … ADD PRIMARY KEY ({})) so rows can be upserted",
            key.join(", "),
            key.join(", ")
        )
    }
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
