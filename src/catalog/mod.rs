//! What a configured table looks like on both sides: its MySQL columns and key ([`mysql`], from
//! `information_schema`) matched with the PostgreSQL table its rows go to ([`postgres`], from
//! the catalog), with the statements that write it. Loaded at start and again when a table
//! first appears in the binlog.

pub mod ddl;
pub mod evolve;
pub mod mysql;
pub mod postgres;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};

use crate::config::ZeroDate;
use crate::model::name::TableName;
use crate::model::rules::TableRules;
use crate::model::table::{Column, Skip, TableMeta};
use crate::sql;
use mysql::SourceTable;
use postgres::{check_compatible, check_target_key, create_target, target_columns};

/// How tables are loaded, from the config.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub greenplum: bool,
    pub zero_date: ZeroDate,
    /// Create missing target tables from the source schema.
    pub create_tables: bool,
}

/// Loads configured tables. It keeps each table's definition as of the reader's position
/// (the *book*): from the schema history or `information_schema` at a start, then moved by
/// each schema change the reader applies, so rows are decoded with the columns they were
/// written with even when the server is several `ALTER`s ahead.
pub struct SchemaLoader {
    mysql: mysql_async::Pool,
    pg: Option<deadpool_postgres::Pool>,
    rules: TableRules,
    options: LoadOptions,
    book: Mutex<HashMap<TableName, SourceTable>>,
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
            book: Mutex::new(HashMap::new()),
        }
    }

    pub fn options(&self) -> LoadOptions {
        self.options
    }

    /// The definition of `schema.table` as of the reader's position: the book's, else
    /// `information_schema`'s (which then enters the book).
    pub async fn definition(&self, schema: &str, table: &str) -> Result<SourceTable> {
        let key = TableName::new(schema, table);
        if let Some(t) = self.book.lock().unwrap().get(&key) {
            return Ok(t.clone());
        }
        let t = mysql::source_table(&self.mysql, schema, table).await?;
        self.book.lock().unwrap().insert(key, t.clone());
        Ok(t)
    }

    /// Like [`Self::definition`], without entering the table in the book.
    pub async fn peek_definition(&self, schema: &str, table: &str) -> Result<SourceTable> {
        let key = TableName::new(schema, table);
        if let Some(t) = self.book.lock().unwrap().get(&key) {
            return Ok(t.clone());
        }
        mysql::source_table(&self.mysql, schema, table).await
    }

    /// Whether the book holds `schema.table` (known without asking the server).
    pub fn knows(&self, schema: &str, table: &str) -> bool {
        self.book
            .lock()
            .unwrap()
            .contains_key(&TableName::new(schema, table))
    }

    /// Sets (or, with `None`, forgets) a table's definition after a schema change.
    pub fn set_definition(&self, schema: &str, table: &str, def: Option<SourceTable>) {
        let key = TableName::new(schema, table);
        let mut book = self.book.lock().unwrap();
        match def {
            Some(d) => book.insert(key, d),
            None => book.remove(&key),
        };
    }

    /// The book's tables and definitions (to record a baseline of them).
    pub fn book(&self) -> HashMap<TableName, SourceTable> {
        self.book.lock().unwrap().clone()
    }

    /// The default character set of a MySQL schema (for tables created without one).
    pub async fn schema_charset(&self, schema: &str) -> Result<Option<String>> {
        mysql::schema_charset(&self.mysql, schema).await
    }

    pub fn rules(&self) -> &TableRules {
        &self.rules
    }

    /// Every base table of the configured schemas that the `[[source]]` patterns select.
    pub async fn configured_tables(&self) -> Result<Vec<TableName>> {
        mysql::configured_tables(&self.mysql, &self.rules).await
    }

    /// Columns and key of a MySQL table, from `information_schema`.
    pub async fn source_table(&self, schema: &str, table: &str) -> Result<SourceTable> {
        mysql::source_table(&self.mysql, schema, table).await
    }

    /// Loads one table and matches it with its target; `Ok(Err(Skip))` when it has no usable key.
    pub async fn load(&self, schema: &str, table: &str) -> Result<Result<Arc<TableMeta>, Skip>> {
        let src = self.definition(schema, table).await?;
        if src.key.is_empty() {
            return Ok(Err(Skip::NoKey));
        }
        let kinds = src.kinds()?;
        let target = self.rules.target(schema, table);
        let client = self.pg()?.get().await.context("connecting to PostgreSQL")?;
        let mut pg_cols = target_columns(&client, &target).await?;
        if pg_cols.is_empty() && self.options.create_tables {
            create_target(&client, &src, &target, self.options.zero_date).await?;
            pg_cols = target_columns(&client, &target).await?;
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
            check_target_key(&client, &target, &src.key, schema, table).await?;
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
            source: TableName::new(schema, table),
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
}
