//! What a configured table looks like on both sides: its MySQL columns and key (from
//! `information_schema`) and the PostgreSQL table its rows go to (from the catalog), with the
//! statements that write it. Loaded at start and again when a table first appears in the binlog.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use mysql_async::prelude::Queryable;

use crate::config::ZeroDate;
use crate::model::kind::Kind;
use crate::model::rules::{TableRules, TargetName};
use crate::sql;

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
    /// `schema.table` of the source, for messages and counts.
    pub name: String,
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

/// A MySQL column as `information_schema` describes it.
#[derive(Debug, Clone)]
pub struct SourceColumn {
    pub name: String,
    pub data_type: String,
    pub column_type: String,
    pub charset: Option<String>,
    pub nullable: bool,
}

/// A MySQL table as `information_schema` describes it, before it is matched with its target.
#[derive(Debug, Clone)]
pub struct SourceTable {
    pub schema: String,
    pub table: String,
    pub columns: Vec<SourceColumn>,
    /// Key column names; empty when the table has no usable key.
    pub key: Vec<String>,
}

impl SourceTable {
    fn kinds(&self) -> Result<Vec<Kind>> {
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

    /// `CREATE TABLE` for the target, with the type mapping of [`Kind::pg_type`] and the key.
    ///
    /// A MySQL `NOT NULL` column stays `NOT NULL`, except a date or time-stamp column outside
    /// the key when `zero_date = "null"`: MySQL lets such a column hold `0000-00-00`, which that
    /// policy writes as NULL, so the table the tool makes must accept what the tool writes.
    pub fn create_table_sql(&self, target: &TargetName, zero_date: ZeroDate) -> Result<String> {
        let kinds = self.kinds()?;
        let mut lines: Vec<String> = self
            .columns
            .iter()
            .zip(&kinds)
            .map(|(c, k)| {
                let zero_is_null = k.holds_zero_dates()
                    && zero_date == ZeroDate::Null
                    && !self.key.contains(&c.name);
                format!(
                    "    {} {}{}",
                    sql::quote_ident(&c.name),
                    k.pg_type(&c.column_type),
                    if c.nullable || zero_is_null {
                        ""
                    } else {
                        " NOT NULL"
                    }
                )
            })
            .collect();
        if !self.key.is_empty() {
            let key: Vec<String> = self.key.iter().map(|k| sql::quote_ident(k)).collect();
            lines.push(format!("    PRIMARY KEY ({})", key.join(", ")));
        }
        Ok(format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n);",
            sql::qualified(&target.schema, &target.table),
            lines.join(",\n")
        ))
    }
}

/// How tables are loaded, from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub greenplum: bool,
    pub zero_date: ZeroDate,
    /// Create missing target tables from the source schema.
    pub create_tables: bool,
}

pub struct SchemaLoader {
    mysql: mysql_async::Pool,
    pg: Option<deadpool_postgres::Pool>,
    rules: TableRules,
    options: LoadOptions,
}

impl SchemaLoader {
    /// `pg` may be `None` for commands that only read the MySQL side (`schema`).
    pub fn new(
        mysql: mysql_async::Pool,
        pg: Option<deadpool_postgres::Pool>,
        rules: TableRules,
        options: LoadOptions,
    ) -> Self {
        SchemaLoader {
            mysql,
            pg,
            rules,
            options,
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

    /// Columns and key of a MySQL table, from `information_schema`.
    pub async fn source_table(&self, schema: &str, table: &str) -> Result<SourceTable> {
        let mut conn = self.mysql.get_conn().await?;
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
            bail!("MySQL table `{schema}`.`{table}` does not exist (or the sync user may not SELECT it)");
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
        Ok(SourceTable {
            schema: schema.to_string(),
            table: table.to_string(),
            columns,
            key: choose_key(&idx).unwrap_or_default(),
        })
    }

    /// Loads one table and matches it with its target; `Ok(Err(Skip))` when it has no usable key.
    pub async fn load(&self, schema: &str, table: &str) -> Result<Result<Arc<TableMeta>, Skip>> {
        let src = self.source_table(schema, table).await?;
        if src.key.is_empty() {
            return Ok(Err(Skip::NoKey));
        }
        let kinds = src.kinds()?;
        let target = self.rules.target(schema, table);
        let mut pg_cols = self.target_columns(&target).await?;
        if pg_cols.is_empty() && self.options.create_tables {
            self.create_target(&src, &target).await?;
            pg_cols = self.target_columns(&target).await?;
        }
        if pg_cols.is_empty() {
            bail!(
                "PostgreSQL table {target} (target of MySQL `{schema}`.`{table}`) does not exist; \
                 create it (`mysql-gp-sync schema` prints the CREATE TABLE) or set create_missing_tables = true"
            );
        }
        let mut columns = Vec::with_capacity(src.columns.len());
        for (c, kind) in src.columns.iter().zip(kinds) {
            let (pg_type, not_null) = pg_cols.get(&c.name).cloned().ok_or_else(|| {
                anyhow!(
                    "PostgreSQL table {target} has no column \"{}\" that MySQL table `{schema}`.`{table}` has; \
                     add it (ALTER TABLE {} ADD COLUMN {} {}) or map the table elsewhere with a [[rule]]",
                    c.name,
                    sql::qualified(&target.schema, &target.table),
                    sql::quote_ident(&c.name),
                    kind.pg_type(&c.column_type)
                )
            })?;
            check_compatible(&src, &target, c, &kind, &pg_type)?;
            // A key column is NOT NULL in any case (a zero date there stops at its row, naming it).
            let in_key = src.key.contains(&c.name);
            if not_null
                && !in_key
                && kind.holds_zero_dates()
                && self.options.zero_date == ZeroDate::Null
            {
                bail!(
                    "PostgreSQL column {target}.{} is NOT NULL, but MySQL `{schema}`.`{table}`.`{}` ({}) \
                     can hold zero dates such as '0000-00-00', which zero_date = \"null\" (the default) \
                     writes as NULL, so the first one would stop the sync: set zero_date = \"-infinity\" \
                     (date and timestamp columns accept it), or drop the constraint \
                     (ALTER TABLE {} ALTER COLUMN {} DROP NOT NULL)",
                    sql::quote_ident(&c.name),
                    c.name,
                    c.column_type,
                    sql::qualified(&target.schema, &target.table),
                    sql::quote_ident(&c.name),
                );
            }
            columns.push(Column::new(
                c.name.clone(),
                c.data_type.clone(),
                c.column_type.clone(),
                kind,
                pg_type,
                self.options.zero_date,
            ));
        }
        let key: Vec<usize> = src
            .key
            .iter()
            .map(|k| src.columns.iter().position(|c| &c.name == k).unwrap())
            .collect();
        if !self.options.greenplum {
            self.check_target_key(&target, &src.key, schema, table)
                .await?;
        }

        let qualified = sql::qualified(&target.schema, &target.table);
        let typed: Vec<(&str, &str)> = columns
            .iter()
            .map(|c| (c.name.as_str(), c.pg_type.as_str()))
            .collect();
        let key_typed: Vec<(&str, &str)> = key.iter().map(|&k| typed[k]).collect();
        Ok(Ok(Arc::new(TableMeta {
            greenplum: self.options.greenplum,
            upsert_sql: sql::upsert(&qualified, &typed, &key),
            insert_sql: sql::insert(&qualified, &typed),
            copy_sql: sql::copy_in(&qualified, &typed),
            delete_sql: sql::delete(&qualified, &key_typed),
            truncate_sql: sql::truncate(&qualified),
            name: format!("{schema}.{table}"),
            schema: schema.to_string(),
            table: table.to_string(),
            target,
            columns,
            key,
        })))
    }

    fn pg(&self) -> Result<&deadpool_postgres::Pool> {
        self.pg
            .as_ref()
            .ok_or_else(|| anyhow!("internal: no PostgreSQL pool for this command"))
    }

    async fn create_target(&self, src: &SourceTable, target: &TargetName) -> Result<()> {
        let ddl = src.create_table_sql(target, self.options.zero_date)?;
        let client = self.pg()?.get().await.context("connecting to PostgreSQL")?;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {};\n{ddl}",
                sql::quote_ident(&target.schema)
            ))
            .await
            .with_context(|| format!("creating PostgreSQL table {target}"))?;
        tracing::info!(
            "created PostgreSQL table {target} from MySQL `{}`.`{}`",
            src.schema,
            src.table
        );
        Ok(())
    }

    /// Column name → (base type, `NOT NULL`) of the PostgreSQL target table.
    /// Empty when the table does not exist.
    async fn target_columns(&self, target: &TargetName) -> Result<HashMap<String, (String, bool)>> {
        let client = self.pg()?.get().await.context("connecting to PostgreSQL")?;
        let rows = client
            .query(
                "SELECT a.attname::text, format_type(a.atttypid, NULL), a.attnotnull \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
                 AND c.relkind IN ('r', 'p')",
                &[&target.schema, &target.table],
            )
            .await
            .with_context(|| format!("reading PostgreSQL table {target}"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (cast_type(r.get(1)), r.get(2))))
            .collect())
    }

    /// `ON CONFLICT (key)` needs a unique index on exactly the key columns.
    async fn check_target_key(
        &self,
        target: &TargetName,
        key: &[String],
        schema: &str,
        table: &str,
    ) -> Result<()> {
        let client = self.pg()?.get().await.context("connecting to PostgreSQL")?;
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

/// The type values are cast to before assignment. Without a typmod, `character` and `bit` mean
/// length 1, and an explicit cast would silently truncate: cast to the varying form instead and
/// let the assignment into the column check the length.
fn cast_type(base: String) -> String {
    match base.as_str() {
        "character" => "text".into(),
        "bit" => "bit varying".into(),
        _ => base,
    }
}

/// A target column whose type cannot hold the source's values is refused at start, naming
/// both; combinations not listed are let through (PostgreSQL's own cast decides).
fn check_compatible(
    src: &SourceTable,
    target: &TargetName,
    c: &SourceColumn,
    kind: &Kind,
    pg_type: &str,
) -> Result<()> {
    let ok: &[&str] = match kind {
        Kind::Int { bits, unsigned } => match (bits, unsigned) {
            (8, false) | (16, false) => &[
                "smallint",
                "integer",
                "bigint",
                "numeric",
                "text",
                "character varying",
            ],
            (8, true) => &[
                "smallint",
                "integer",
                "bigint",
                "numeric",
                "text",
                "character varying",
            ],
            (16, true) | (24, _) | (32, false) => {
                &["integer", "bigint", "numeric", "text", "character varying"]
            }
            (32, true) | (64, false) => &["bigint", "numeric", "text", "character varying"],
            _ => &["numeric", "text", "character varying"],
        },
        Kind::Decimal => &["numeric", "text", "character varying"],
        Kind::Binary { .. } | Kind::Geometry => &["bytea"],
        _ => return Ok(()),
    };
    if ok.contains(&pg_type) {
        return Ok(());
    }
    bail!(
        "PostgreSQL column {target}.{} is {pg_type}, which cannot hold every value of MySQL `{}`.`{}`.{} {}; \
         change it to {} (ALTER TABLE … ALTER COLUMN … TYPE …)",
        c.name,
        src.schema,
        src.table,
        c.name,
        c.column_type,
        kind.pg_type(&c.column_type)
    )
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
