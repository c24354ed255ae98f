//! The schema history in PostgreSQL (`<checkpoint_schema>.schema_history`): each configured
//! table's definition from a binlog position on. A row is written at a start for a table the
//! history lacks (its baseline, from `information_schema`), by `init` at its snapshot, and by
//! every schema change, in the transaction that changes the target and the checkpoints.
//!
//! A run starts with each table's definition as of where it starts reading, so rows are
//! decoded with the columns they were written with even when the server is several `ALTER`s
//! ahead (`binlog_row_metadata = MINIMAL` logs no column names to tell).

use std::collections::HashMap;

use anyhow::{Context, Result};

use crate::catalog::SchemaLoader;
use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::source_table::SourceTable;
use crate::sql::{qualified, Quoted};
use crate::state::checkpoint::Checkpoints;

type Key = TableName;

/// The history rows of one sync (the checkpoint's `source`).
pub struct SchemaHistory {
    table: Quoted,
    source: String,
}

/// The `CREATE TABLE` of the history (run with the checkpoint table's).
pub fn ddl(table: &Quoted) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
             source text NOT NULL,
             source_schema text NOT NULL,
             source_table text NOT NULL,
             bin_name text NOT NULL,
             bin_pos bigint NOT NULL,
             seq integer NOT NULL,
             definition text,
             statement text,
             recorded_at timestamptz NOT NULL DEFAULT now()
         )"
    )
}

pub fn table_name(checkpoint_schema: &str) -> Quoted {
    qualified(checkpoint_schema, "schema_history")
}

impl SchemaHistory {
    pub fn new(cp: &Checkpoints, checkpoint_schema: &str) -> Self {
        SchemaHistory {
            table: table_name(checkpoint_schema),
            source: cp.source().to_string(),
        }
    }

    /// Each table's definition as of `at`: the latest row at or before it; for a table whose
    /// rows are all after it (reloaded by `init --tables` since), the earliest. `None`: the
    /// table did not exist there (dropped, renamed away). `at = None`: the latest of all.
    pub async fn at(
        &self,
        pg: &deadpool_postgres::Pool,
        at: Option<&Mark>,
    ) -> Result<HashMap<Key, Option<SourceTable>>> {
        let client = pg.get().await.context("connecting to PostgreSQL")?;
        let rows = client
            .query(
                &format!(
                    "SELECT source_schema, source_table, bin_name, bin_pos, seq, definition \
                     FROM {} WHERE source = $1",
                    self.table
                ),
                &[&self.source],
            )
            .await
            .with_context(|| format!("reading the schema history {}", self.table))?;
        // Rows of one statement share its position and differ by `seq`: all count as at it.
        let limit = at.map(|at| Mark {
            seq: u32::MAX,
            ..at.clone()
        });
        let mut best: HashMap<Key, (bool, Mark, Option<String>)> = HashMap::new();
        for r in rows {
            let key: Key = TableName::new(r.get::<_, String>(0), r.get::<_, String>(1));
            let mark = Mark {
                file: r.get::<_, String>(2).into(),
                pos: r.get::<_, i64>(3) as u64,
                seq: r.get::<_, i32>(4) as u32,
            };
            let def: Option<String> = r.get(5);
            // Across binlog sequences (another server's files) marks have no order; the
            // history then keeps the order it always had (see `Mark::cmp_any`).
            let before = limit.as_ref().is_none_or(|l| mark.cmp_any(l).is_le());
            let better = match best.get(&key) {
                None => true,
                // At or before `at`, the latest wins; otherwise the earliest.
                Some((b, m, _)) => match (before, *b) {
                    (true, false) => true,
                    (false, true) => false,
                    (true, true) => mark.cmp_any(m).is_gt(),
                    (false, false) => mark.cmp_any(m).is_lt(),
                },
            };
            if better {
                best.insert(key, (before, mark, def));
            }
        }
        best.into_iter()
            .map(|(k, (_, _, def))| {
                let def = def
                    .map(|d| serde_json::from_str::<SourceTable>(&d))
                    .transpose()
                    .with_context(|| format!("schema history of {k}"))?;
                Ok((k, def))
            })
            .collect()
    }

    /// Puts each table's definition as of `at` in the loader's book. Returns the tables the
    /// history knows, each with whether it exists there.
    pub async fn rewind(
        &self,
        pg: &deadpool_postgres::Pool,
        loader: &SchemaLoader,
        at: Option<&Mark>,
    ) -> Result<HashMap<Key, bool>> {
        let known = self.at(pg, at).await?;
        let mut out = HashMap::new();
        for (TableName { schema, table }, def) in known {
            out.insert(TableName::new(schema.clone(), table.clone()), def.is_some());
            loader.set_definition(&schema, &table, def);
        }
        Ok(out)
    }

    /// Records the definitions of tables the history has no row for, at `at` (a start).
    pub async fn baseline(
        &self,
        pg: &deadpool_postgres::Pool,
        at: &Mark,
        defs: &HashMap<Key, SourceTable>,
    ) -> Result<()> {
        let client = pg.get().await.context("connecting to PostgreSQL")?;
        let sql = format!(
            "INSERT INTO {t} (source, source_schema, source_table, bin_name, bin_pos, seq, definition, statement) \
             SELECT $1, $2, $3, $4, $5, 0, $6, 'baseline' \
             WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE source = $1 AND source_schema = $2 AND source_table = $3)",
            t = self.table
        );
        let (file, pos) = (at.file.to_string(), at.pos as i64);
        for (TableName { schema, table }, def) in defs {
            let json = serde_json::to_string(def)?;
            client
                .execute(&sql, &[&self.source, schema, table, &file, &pos, &json])
                .await
                .with_context(|| format!("recording the schema of {schema}.{table}"))?;
        }
        Ok(())
    }

    /// `init`: the loaded tables' history starts again at its snapshot.
    pub async fn reset(
        &self,
        pg: &deadpool_postgres::Pool,
        at: &Mark,
        defs: &HashMap<Key, SourceTable>,
    ) -> Result<()> {
        let client = pg.get().await.context("connecting to PostgreSQL")?;
        for TableName { schema, table } in defs.keys() {
            client
                .execute(
                    &format!(
                        "DELETE FROM {} WHERE source = $1 AND source_schema = $2 AND source_table = $3",
                        self.table
                    ),
                    &[&self.source, schema, table],
                )
                .await
                .with_context(|| format!("resetting the schema history of {schema}.{table}"))?;
        }
        drop(client);
        self.baseline(pg, at, defs).await
    }

    /// A full `init`: the history starts again.
    pub async fn clear(&self, pg: &deadpool_postgres::Pool) -> Result<()> {
        let client = pg.get().await.context("connecting to PostgreSQL")?;
        client
            .execute(
                &format!("DELETE FROM {} WHERE source = $1", self.table),
                &[&self.source],
            )
            .await
            .context("clearing the schema history")?;
        Ok(())
    }

    /// Records a table's definition from `at` on (`None`: gone), inside `tx`.
    pub async fn record(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        key: &Key,
        at: &Mark,
        def: Option<&SourceTable>,
        statement: &str,
    ) -> Result<(), tokio_postgres::Error> {
        let json = def.map(|d| serde_json::to_string(d).expect("a definition serializes"));
        let (file, pos, seq) = (at.file.to_string(), at.pos as i64, at.seq as i32);
        tx.execute(
            &format!(
                "INSERT INTO {} (source, source_schema, source_table, bin_name, bin_pos, seq, definition, statement) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                self.table
            ),
            &[&self.source, &key.schema, &key.table, &file, &pos, &seq, &json, &statement],
        )
        .await?;
        Ok(())
    }
}
