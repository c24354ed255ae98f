//! The target side of the initial load: a target that already holds rows is refused, unless
//! asked to empty it or this load wrote them before it was interrupted.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::config::Config;
use crate::model::name::TableName;
use crate::model::table::TableMeta;
use crate::sql::qualified;
use crate::state::init_state::InitState;

/// Refuses targets that already hold rows, unless `--truncate` or this load wrote them.
pub async fn prepare_targets(
    cfg: &Config,
    pg: &deadpool_postgres::Pool,
    todo: &[Arc<TableMeta>],
    state: &InitState,
    truncate: bool,
) -> Result<()> {
    let client = pg.get().await?;
    let mut seen: HashSet<&TableName> = HashSet::new();
    let mut occupied = Vec::new();
    for m in todo {
        if !seen.insert(&m.target) {
            continue;
        }
        let t = qualified(&m.target.schema, &m.target.table);
        let has_rows: bool = client
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {t})"), &[])
            .await?
            .get(0);
        if !has_rows {
            continue;
        }
        let ours = state.started.contains(&m.target.to_string());
        if truncate || cfg.init_truncate || ours {
            if ours {
                tracing::info!(
                    "{} was partly loaded by an interrupted run: emptying it",
                    m.target
                );
            }
            client.batch_execute(&m.truncate_sql).await?;
        } else {
            occupied.push(m.target.to_string());
        }
    }
    if !occupied.is_empty() {
        bail!(
            "PostgreSQL table(s) {} already hold rows; run `init --truncate` (or set init_truncate = true) \
             to empty them first",
            occupied.join(", ")
        );
    }
    Ok(())
}
