//! The reader's schema changes: a DDL statement of the binlog becomes a [`SchemaStep`]
//! barrier for the writer side, and once it is applied the reader decodes the tables' later
//! rows with their new definitions.

use anyhow::{anyhow, bail, Result};

use crate::catalog::ddl::{self, CreateDef, Ddl};
use crate::catalog::evolve::{self, Follow};
use crate::config::{DdlDrop, DdlPolicy};
use crate::error::Transient;
use crate::model::change::{Barrier, BarrierRequest, SchemaStep, TableStep};
use crate::model::mark::Mark;
use crate::model::name::TableName;
use crate::model::position::Position;
use crate::model::source_table::SourceTable;
use crate::mysql::reader::stream::StreamState;
use crate::mysql::reader::Reader;

impl Reader {
    /// A DDL statement at `at` (the end of its event); `first` is the first table it names.
    pub(super) async fn on_ddl(
        &mut self,
        st: &mut StreamState,
        schema: &str,
        query: &str,
        at: &Position,
        first: (&str, &str),
    ) -> Result<()> {
        let mark = Mark::at(at);
        // Applied before this run began: the definitions it starts with include it.
        if self.floor.as_ref().is_some_and(|f| mark <= *f) {
            return Ok(());
        }
        let parsed = match ddl::parse(schema, query) {
            Ok(p) => p,
            Err(e) if self.concerns(first.0, first.1) => bail!(
                "cannot follow the schema change of configured table {}.{} at {at} ({e:#}): {query:?}. \
                 Change the PostgreSQL table by hand if needed, then, with the sync stopped, run \
                 `mysql-gp-sync init --tables {}.{}`: it reloads that table at a new position and the \
                 sync skips its changes before it, this statement included",
                first.0,
                first.1,
                first.0,
                first.1
            ),
            Err(e) => {
                tracing::debug!("DDL at {at} not read ({e:#}), and it names no configured table: {query:?}");
                return Ok(());
            }
        };
        let mut tables = Vec::new();
        for d in parsed {
            if let Some(step) = self.plan(d, at, query).await? {
                tables.push(step);
            }
        }
        if tables.is_empty() {
            if self.concerns(first.0, first.1) {
                tracing::info!(
                    "schema statement on {}.{} at {at} changes nothing replicated: {}",
                    first.0,
                    first.1,
                    one_line(query)
                );
            }
            return Ok(());
        }
        let step = SchemaStep {
            at: at.clone(),
            statement: query.to_string(),
            tables,
        };
        let (applied, outcome) = tokio::sync::oneshot::channel();
        let sent = self
            .out
            .barriers
            .send(BarrierRequest {
                barrier: Barrier::Schema(step.clone()),
                applied,
            })
            .await;
        match (sent, outcome.await) {
            (Ok(()), Ok(result)) => result?,
            _ => {
                return Err(Transient(format!(
                    "the writer side stopped before the schema change at {at}"
                ))
                .into())
            }
        }
        // Applied: later rows are decoded with the new definitions.
        for t in &step.tables {
            let (s, n) = (&t.source.schema, &t.source.table);
            match &t.renamed_to {
                Some(TableName {
                    schema: rs,
                    table: rn,
                }) => {
                    self.loader.set_definition(s, n, None);
                    self.loader.set_definition(rs, rn, t.after.clone());
                    self.forget(rs, rn);
                }
                None => self.loader.set_definition(s, n, t.after.clone()),
            }
            self.forget(s, n);
        }
        st.tables.clear();
        let what = format!("{at}: {}", one_line(query));
        tracing::info!("schema change applied at {what}");
        self.metrics.schema_change(what);
        Ok(())
    }

    /// Whether a table is one the sync follows: configured, or known under an old name.
    fn concerns(&self, schema: &str, table: &str) -> bool {
        self.loader.rules().is_configured(schema, table) || self.loader.knows(schema, table)
    }

    /// Drops what the reader cached of a table (loaded again from the book when next seen).
    fn forget(&mut self, schema: &str, table: &str) {
        let key = TableName::new(schema, table);
        self.metas.remove(&key);
        for sources in self.target_sources.values_mut() {
            sources.remove(&key);
        }
    }

    /// What one table's change is, or `None` when it does not concern a replicated table.
    async fn plan(&mut self, d: Ddl, at: &Position, query: &str) -> Result<Option<TableStep>> {
        let name = match &d {
            Ddl::Alter { table, .. } | Ddl::Create { table, .. } | Ddl::Drop { table, .. } => {
                table.clone()
            }
            Ddl::Rename { from, .. } => from.clone(),
        };
        let rules = self.loader.rules().clone();
        if let Ddl::Rename { from, to } = &d {
            if !self.concerns(&from.schema, &from.table) {
                if rules.is_configured(&to.schema, &to.table) {
                    bail!(
                        "table {from} was renamed to {to} at {at}, which the configuration replicates, but \
                         {from} was not replicated, so its rows are not in PostgreSQL ({query:?}). With the sync \
                         stopped, run `mysql-gp-sync init --tables {to}`: it loads that table at a new position"
                    );
                }
                return Ok(None);
            }
        } else if !self.concerns(&name.schema, &name.table) {
            return Ok(None);
        }
        if self.reloads.in_copy(&name.to_string(), at) {
            return Ok(None); // the table was reloaded after this statement
        }
        let policy = rules.ddl(&name.schema, &name.table);
        if policy == DdlPolicy::Stop {
            bail!(
                "schema change of {name} at {at}: {query:?}; ddl = \"stop\" for this table, so the sync stopped \
                 before it (nothing after it is applied). Change the PostgreSQL table {} to match by hand, then \
                 set ddl = \"ignore\" for it (the sync follows the new columns without touching PostgreSQL) or \
                 \"apply\", and start again",
                rules.target(&name.schema, &name.table)
            );
        }
        let zero_date = self.loader.options().zero_date;
        let follow = Follow {
            zero_date,
            keep_drops: self.cfg.ddl_drop == DdlDrop::Keep,
        };
        let target = rules.target(&name.schema, &name.table);
        // A target shared by several source tables is not changed for one of them: judged by
        // the rules over every table the sync knows, not only those seen in this run.
        let shared =
            self.target_sources.get(&target).map_or(0, |s| s.len()) > 1
                || self.loader.book().keys().any(|other| {
                    *other != name && rules.target(&other.schema, &other.table) == target
                });
        let key = name.clone();
        let context = |e: anyhow::Error| {
            anyhow!(
                "cannot follow the schema change of {name} at {at} ({e:#}): {query:?}. With the sync stopped, \
                 run `mysql-gp-sync init --tables {name}` (reloads that table at a new position; the sync skips \
                 its changes before it, this statement included), or set ddl = \"ignore\" for it and change \
                 PostgreSQL by hand"
            )
        };
        let mut step = match d {
            Ddl::Alter { ops, .. } => {
                let def = self.loader.definition(&name.schema, &name.table).await?;
                let (mut after, mut steps) =
                    evolve::alter(&def, &ops, &target, follow).map_err(context)?;
                if def.key.is_empty() {
                    // It was skipped (no key): its rows are not in PostgreSQL.
                    steps.clear();
                    if !after.key.is_empty() {
                        bail!(
                            "{name} has a key since {at} ({query:?}); it was skipped before for having none, \
                             so its rows are not in PostgreSQL. With the sync stopped, run \
                             `mysql-gp-sync init --tables {name}`: it loads that table at a new position"
                        );
                    }
                }
                let renamed = ops.iter().rev().find_map(|o| match o {
                    ddl::AlterOp::RenameTable(n) => Some(n.clone()),
                    _ => None,
                });
                let mut renamed_to = None;
                if let Some(to) = renamed {
                    if rules.is_configured(&to.schema, &to.table) {
                        let new_target = rules.target(&to.schema, &to.table);
                        if new_target != target {
                            steps.extend(evolve::rename(&target, &new_target));
                        }
                        after.schema = to.schema.clone();
                        after.table = to.table.clone();
                        renamed_to = Some(to);
                    } else {
                        tracing::warn!("{name} was renamed to {to} at {at}, which is not replicated: its target {target} is kept as it is");
                        return Ok(Some(gone(key, None, Vec::new())));
                    }
                }
                TableStep {
                    source: key,
                    after: Some(after),
                    renamed_to,
                    target: steps,
                }
            }
            Ddl::Rename { to, .. } => {
                let mut def = self.loader.definition(&name.schema, &name.table).await?;
                if !rules.is_configured(&to.schema, &to.table) {
                    tracing::warn!("{name} was renamed to {to} at {at}, which is not replicated: its target {target} is kept as it is");
                    return Ok(Some(gone(key, None, Vec::new())));
                }
                let new_target = rules.target(&to.schema, &to.table);
                def.schema = to.schema.clone();
                def.table = to.table.clone();
                TableStep {
                    source: key,
                    after: Some(def),
                    renamed_to: Some(to),
                    target: if new_target != target {
                        evolve::rename(&target, &new_target)
                    } else {
                        Vec::new()
                    },
                }
            }
            Ddl::Create {
                def, if_not_exists, ..
            } => {
                if !rules.is_configured(&name.schema, &name.table)
                    || (if_not_exists && self.loader.knows(&name.schema, &name.table))
                {
                    return Ok(None);
                }
                let (src, steps) = match def {
                    CreateDef::Like(like) => {
                        let mut src = self.like(&like).await?;
                        src.schema = name.schema.clone();
                        src.table = name.table.clone();
                        let steps = if src.key.is_empty() {
                            Vec::new()
                        } else {
                            vec![crate::model::change::TargetStep::Exec {
                                sql: crate::catalog::postgres::create_table_sql(
                                    &src, &target, zero_date,
                                )?,
                                param: None,
                            }]
                        };
                        (src, steps)
                    }
                    CreateDef::Columns {
                        columns,
                        key: k,
                        charset,
                        ..
                    } => {
                        let charset = match charset {
                            Some(c) => Some(c),
                            None => self.loader.schema_charset(&name.schema).await?,
                        };
                        evolve::create(
                            &name.schema,
                            &name.table,
                            &columns,
                            &k,
                            charset,
                            &target,
                            zero_date,
                        )
                        .map_err(context)?
                    }
                };
                if src.key.is_empty() && !self.cfg.skip_no_pk_table {
                    bail!(
                        "table {name} created at {at} has no primary key, so its rows cannot be matched in \
                         PostgreSQL; add a primary key, or set skip_no_pk_table = true to skip such tables"
                    );
                }
                TableStep {
                    source: key,
                    after: Some(src),
                    renamed_to: None,
                    target: steps,
                }
            }
            Ddl::Drop { .. } => gone(key, None, evolve::drop(&target, follow)),
        };
        if policy == DdlPolicy::Ignore || shared {
            if shared && !step.target.is_empty() {
                tracing::warn!(
                    "schema change of {name} at {at} is not applied to {target}: that table also holds other \
                     source tables' rows; change it by hand if needed"
                );
            }
            step.target.clear();
        }
        Ok(Some(step))
    }

    /// The definition a `CREATE TABLE … LIKE` copies.
    async fn like(&self, like: &TableName) -> Result<SourceTable> {
        // The template itself is not followed unless configured: not entered in the book.
        self.loader.peek_definition(&like.schema, &like.table).await
    }
}

fn gone(
    source: TableName,
    after: Option<SourceTable>,
    target: Vec<crate::model::change::TargetStep>,
) -> TableStep {
    TableStep {
        source,
        after,
        renamed_to: None,
        target,
    }
}

fn one_line(q: &str) -> String {
    let s: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}
