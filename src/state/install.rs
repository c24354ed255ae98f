//! The PostgreSQL side's own tables, installed in one place, in order, in one transaction
//! under an advisory lock (several syncs may start at once): the checkpoint table and the
//! columns later versions added to it, the schema history, the lease table and its fence
//! function (whose SQL the lease keeps), then the rows earlier versions named otherwise.
//! Everything is idempotent: a start of any version runs it again.

use std::sync::Arc;

use anyhow::Result;

use crate::config::Config;
use crate::sql::{qualified, quote_ident, Quoted};
use crate::state::checkpoint::{source_name, Checkpoints, LEASE_LOCK_CLASS};
use crate::state::{lease, schema_history};

/// Installs (or brings up to date) the tables in `checkpoint_schema` and returns this sync's
/// checkpoints; `None`, with a warning, when the schema is off or the PostgreSQL user may not
/// create it: the sync then works as before, on master.info alone.
pub async fn checkpoints(
    cfg: &Config,
    pg: &deadpool_postgres::Pool,
    greenplum: bool,
) -> Option<Arc<Checkpoints>> {
    if cfg.checkpoint_schema.is_empty() {
        return None;
    }
    let table = qualified(&cfg.checkpoint_schema, "checkpoint");
    let history = schema_history::table_name(&cfg.checkpoint_schema);
    let lease_table = qualified(&cfg.checkpoint_schema, "lease");
    let fence_fn = qualified(&cfg.checkpoint_schema, "fence");
    let ddl = [
        format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(&cfg.checkpoint_schema)
        ),
        checkpoint_ddl(&table),
        schema_history::ddl(&history),
        lease::ddl(&lease_table, &fence_fn, greenplum),
    ]
    .join(";\n");
    let created = async {
        let mut client = pg.get().await?;
        let tx = client.transaction().await?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({LEASE_LOCK_CLASS}, 0)"
        ))
        .await?;
        tx.batch_execute(&ddl).await?;
        tx.commit().await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = created {
        tracing::warn!(
            "cannot create the checkpoint table {table} ({e:#}): replays after a crash will rewrite \
             rows already applied (harmless, but not exact); grant CREATE or set checkpoint_schema = \"\""
        );
        return None;
    }
    let source = source_name(cfg);
    if let Err(e) = carry_over(pg, &table, &history, cfg, &source).await {
        tracing::warn!(
            "cannot carry the checkpoints of {} over to {source:?} ({e:#})",
            cfg.mysql_addr
        );
    }
    Some(Arc::new(Checkpoints::new(
        cfg,
        table,
        lease_table,
        &fence_fn,
        greenplum,
    )))
}

/// The checkpoint table, and the columns versions added since its first (Greenplum 6 has no
/// `ADD COLUMN IF NOT EXISTS`: the catalog is asked).
fn checkpoint_ddl(table: &Quoted) -> String {
    let table_lit = format!("'{}'", table.as_str().replace('\'', "''"));
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
             source text NOT NULL,
             worker integer NOT NULL,
             workers integer NOT NULL,
             bin_name text NOT NULL,
             bin_pos bigint NOT NULL,
             seq integer NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now(),
             gtid text,
             PRIMARY KEY (source, worker)
         );
         DO $add$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {table_lit}::regclass
                            AND attname = 'gtid' AND NOT attisdropped) THEN
                 ALTER TABLE {table} ADD COLUMN gtid text;
             END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = {table_lit}::regclass
                            AND attname = 'origin' AND NOT attisdropped) THEN
                 ALTER TABLE {table} ADD COLUMN origin text;
                 ALTER TABLE {table} ADD COLUMN gtid_last text;
                 ALTER TABLE {table} ADD COLUMN routing integer;
             END IF;
         END $add$"
    )
}

/// Renames the rows of this sync from the name earlier versions gave it (`mysql_addr#server_id`)
/// to `source`, in the checkpoint table and the schema history, unless rows under `source`
/// exist already. The spelling of `mysql_addr` the rows were written with may differ from
/// today's (a server added to the list, a host renamed): of several, the one written last is
/// taken (the others are older syncs with the same `server_id`, whose rows are left alone).
async fn carry_over(
    pg: &deadpool_postgres::Pool,
    table: &Quoted,
    history: &Quoted,
    cfg: &Config,
    source: &str,
) -> Result<()> {
    let mut client = pg.get().await?;
    let tx = client.transaction().await?;
    let taken: Option<String> = tx
        .query_opt(
            &format!(
                "SELECT source FROM {table} WHERE source LIKE '%#' || $1 \
                 AND NOT EXISTS (SELECT 1 FROM {table} WHERE source = $2) \
                 GROUP BY source ORDER BY bool_or(source = $3) DESC, max(updated_at) DESC LIMIT 1"
            ),
            &[
                &cfg.server_id.to_string(),
                &source,
                &format!("{}#{}", cfg.mysql_addr, cfg.server_id),
            ],
        )
        .await?
        .map(|r| r.get(0));
    let Some(old) = taken else { return Ok(()) };
    // Copied and deleted rather than updated: `source` is in Greenplum's distribution key.
    tx.execute(
        &format!(
            "INSERT INTO {table} (source, worker, workers, bin_name, bin_pos, seq, updated_at, gtid, origin, \
             gtid_last, routing) SELECT $1, worker, workers, bin_name, bin_pos, seq, updated_at, gtid, origin, \
             gtid_last, routing FROM {table} WHERE source = $2"
        ),
        &[&source, &old],
    )
    .await?;
    tx.execute(
        &format!(
            "INSERT INTO {history} (source, source_schema, source_table, bin_name, bin_pos, seq, definition, \
             statement, recorded_at) SELECT $1, source_schema, source_table, bin_name, bin_pos, seq, definition, \
             statement, recorded_at FROM {history} WHERE source = $2"
        ),
        &[&source, &old],
    )
    .await?;
    for t in [table, history] {
        tx.execute(&format!("DELETE FROM {t} WHERE source = $1"), &[&old])
            .await?;
    }
    tx.commit().await?;
    tracing::info!(
        "checkpoints of {old:?} carried over to {source:?} (a sync is named by its server_id now)"
    );
    Ok(())
}
