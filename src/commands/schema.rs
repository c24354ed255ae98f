//! `mysql-gp-sync schema`: the PostgreSQL `CREATE TABLE` statements for the configured tables.

use std::collections::HashSet;

use anyhow::{bail, Result};

use crate::catalog::{LoadOptions, SchemaLoader};
use crate::commands::Settings;
use crate::model::name::TableName;
use crate::mysql::connect::check_mysql;

/// `mysql-gp-sync schema`: the PostgreSQL `CREATE TABLE` statements for the configured tables,
/// from the MySQL schema (shards mapped into one table give one statement).
pub async fn print_schema(s: &Settings) -> Result<()> {
    let mysql = check_mysql(&s.cfg, &s.mysql_tls).await?.pool;
    let loader = SchemaLoader::new(mysql, None, s.rules.clone(), LoadOptions::default());
    let mut done: HashSet<TableName> = HashSet::new();
    let tables = loader.configured_tables().await?;
    if tables.is_empty() {
        bail!("no MySQL table matches the [[source]] sections of the config");
    }
    for TableName { schema, table } in tables {
        let target = loader.rules().target(&schema, &table);
        if !done.insert(target.clone()) {
            println!("-- {schema}.{table} also maps into {target}\n");
            continue;
        }
        let src = loader.source_table(&schema, &table).await?;
        println!("-- from MySQL {schema}.{table}");
        if src.key.is_empty() {
            println!("-- WARNING: no primary key or NOT NULL unique key: the sync cannot replicate this table");
        }
        println!(
            "CREATE SCHEMA IF NOT EXISTS {};",
            crate::sql::quote_ident(&target.schema)
        );
        println!(
            "{}\n",
            crate::catalog::postgres::create_table_sql(&src, &target, s.cfg.zero_date)?
        );
    }
    Ok(())
}
