//! The PostgreSQL side of a table: its columns and key in the catalog, whether they can hold
//! the source's values, and the `CREATE TABLE` the tool makes when asked to.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};

use crate::catalog::mysql::{SourceColumn, SourceTable};
use crate::config::ZeroDate;
use crate::model::kind::Kind;
use crate::model::name::TableName;
use crate::sql;

/// `CREATE TABLE` for the target, with the type mapping of [`Kind::pg_type`] and the key.
///
/// A MySQL `NOT NULL` column stays `NOT NULL`, except a date or time-stamp column outside
/// the key when `zero_date = "null"`: MySQL lets such a column hold `0000-00-00`, which that
/// policy writes as NULL, so the table the tool makes must accept what the tool writes.
pub fn create_table_sql(
    src: &SourceTable,
    target: &TableName,
    zero_date: ZeroDate,
) -> Result<String> {
    let kinds = src.kinds()?;
    let mut lines: Vec<String> = src
        .columns
        .iter()
        .zip(&kinds)
        .map(|(c, k)| {
            format!(
                "    {} {}{}",
                sql::quote_ident(&c.name),
                k.pg_type(&c.column_type),
                if target_not_null(c, k, src.key.contains(&c.name), zero_date) {
                    " NOT NULL"
                } else {
                    ""
                }
            )
        })
        .collect();
    if !src.key.is_empty() {
        let key: Vec<sql::Quoted> = src.key.iter().map(|k| sql::quote_ident(k)).collect();
        lines.push(format!("    PRIMARY KEY ({})", key.join(", ")));
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{}\n);",
        sql::qualified(&target.schema, &target.table),
        lines.join(",\n")
    ))
}

/// Whether the target column the tool makes is `NOT NULL` (see [`create_table_sql`]).
pub fn target_not_null(c: &SourceColumn, k: &Kind, in_key: bool, zero_date: ZeroDate) -> bool {
    let zero_is_null = k.holds_zero_dates() && zero_date == ZeroDate::Null && !in_key;
    !(c.nullable || zero_is_null)
}

pub async fn create_target(
    client: &tokio_postgres::Client,
    src: &SourceTable,
    target: &TableName,
    zero_date: ZeroDate,
) -> Result<()> {
    let ddl = create_table_sql(src, target, zero_date)?;
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
pub async fn target_columns(
    client: &tokio_postgres::Client,
    target: &TableName,
) -> Result<HashMap<String, (String, bool)>> {
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
pub async fn check_target_key(
    client: &tokio_postgres::Client,
    target: &TableName,
    key: &[String],
    schema: &str,
    table: &str,
) -> Result<()> {
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

/// The type values are cast to before assignment. Without a typmod, `character` and `bit` mean
/// length 1, and an explicit cast would silently truncate: cast to the varying form instead and
/// let the assignment into the column check the length.
pub fn cast_type(base: String) -> String {
    match base.as_str() {
        "character" => "text".into(),
        "bit" => "bit varying".into(),
        _ => base,
    }
}

/// A target column whose type cannot hold the source's values is refused at start, naming
/// both; combinations not listed are let through (PostgreSQL's own cast decides).
pub fn check_compatible(
    src: &SourceTable,
    target: &TableName,
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
