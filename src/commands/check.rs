//! `mysql-gp-sync check`: a preflight that says, one line per item, what is fine and what must
//! change before syncing. It never stops at the first problem: an operator fixes them all in
//! one round. The exit status is non-zero when something blocks the sync.

use anyhow::Result;
use mysql_async::prelude::Queryable;

use crate::catalog::{LoadOptions, SchemaLoader};
use crate::commands::Settings;
use crate::config::Config;
use crate::model::name::TableName;
use crate::model::rules::TableRules;
use crate::model::table::Skip;
use crate::mysql::connect::BINLOG_REQUIREMENTS;
use crate::state::master_info;

#[derive(Default)]
struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, msg: impl AsRef<str>) {
        println!("[ OK ] {}", msg.as_ref());
    }
    fn fail(&mut self, msg: impl AsRef<str>) {
        self.failures += 1;
        println!("[FAIL] {}", msg.as_ref());
    }
    fn warn(&mut self, msg: impl AsRef<str>) {
        println!("[WARN] {}", msg.as_ref());
    }
    /// A server reached: a warning when the connection is in plain text and leaves the machine.
    fn reached(&mut self, msg: String, plain_text: bool, host: &str, insist: &str) {
        if plain_text_off_machine(plain_text, host) {
            self.warn(format!(
                "{msg}; passwords and rows cross the network in plain text: enable TLS on the server \
                 and set {insist}"
            ));
        } else {
            self.ok(msg);
        }
    }
}

/// An unencrypted connection to a host other than this machine.
fn plain_text_off_machine(plain_text: bool, host: &str) -> bool {
    let loopback = matches!(host, "localhost" | "::1" | "[::1]") || host.starts_with("127.");
    plain_text && !loopback
}

/// Runs every check; `Ok(false)` when at least one blocks.
pub async fn run(s: &Settings) -> Result<bool> {
    let mut r = Report::default();
    let addr = &s.cfg.mysql_addr;
    // A preflight reports an unreachable server at once instead of waiting for it.
    let cfg = &Config {
        start_retry_secs: 0,
        ..(*s.cfg).clone()
    };
    let (mut conn, mysql) = match crate::mysql::connect::connect_mysql(cfg, &s.mysql_tls).await {
        Ok(link) => {
            let (host, _) = cfg.mysql_host_port()?;
            r.reached(
                format!(
                    "MySQL reachable at {addr} as {}: {}",
                    cfg.mysql_user, link.tls
                ),
                link.plain_text,
                &host,
                "mysql_ssl = \"verify_identity\"",
            );
            (
                Some(link.conn),
                Some((mysql_async::Pool::new(link.opts.clone()), link.opts)),
            )
        }
        Err(e) => {
            r.fail(format!("{e:#}"));
            (None, None)
        }
    };
    if let Some(conn) = conn.as_mut() {
        check_binlog_settings(&mut r, conn, cfg).await;
        check_grants(&mut r, conn, cfg).await;
        if let Some((pool, opts)) = &mysql {
            check_position(&mut r, conn, cfg, pool, opts).await;
        }
        check_server_id(&mut r, conn, cfg).await;
    }

    let pg = match crate::postgres::connect::connect_pg(cfg, &s.pg_tls, 2).await {
        Ok(link) => {
            r.reached(
                format!(
                    "PostgreSQL reachable at {}:{} database {} as {}: {}",
                    cfg.pg_host, cfg.pg_port, cfg.pg_dbname, cfg.pg_user, link.tls
                ),
                link.plain_text,
                &cfg.pg_host,
                "pg_sslmode = \"verify-full\"",
            );
            Some(link.pool)
        }
        Err(e) => {
            r.fail(format!("{e:#}"));
            None
        }
    };
    if let Some(pg) = &pg {
        check_synchronous_commit(&mut r, cfg, pg).await;
    }
    if let (Some((mysql, _)), Some(pg)) = (mysql, pg) {
        check_tables(&mut r, cfg, &s.rules, mysql, pg).await?;
    }
    println!();
    if r.failures == 0 {
        println!("all checks passed");
    } else {
        println!(
            "{} check(s) failed: fix them before starting the sync",
            r.failures
        );
    }
    Ok(r.failures == 0)
}

/// With `synchronous_commit = off` PostgreSQL confirms commits it can still lose in a crash.
/// The checkpoint (written with the data) lets the sync find out and replay; without it the
/// sync cannot know.
async fn check_synchronous_commit(r: &mut Report, cfg: &Config, pg: &deadpool_postgres::Pool) {
    let Ok(client) = pg.get().await else { return };
    let Ok(row) = client.query_one("SHOW synchronous_commit", &[]).await else {
        return;
    };
    let v: String = row.get(0);
    if !v.eq_ignore_ascii_case("off") {
        return r.ok(format!("synchronous_commit = {v}"));
    }
    if cfg.checkpoint_schema.is_empty() {
        r.warn(
            "synchronous_commit = off and checkpoint_schema = \"\": PostgreSQL can lose commits it confirmed \
             (a crash, a failover) and the sync cannot find out; set checkpoint_schema (the default \
             \"mysql_gp_sync\") so that it replays what PostgreSQL lost",
        );
    } else {
        r.ok(format!(
            "synchronous_commit = off: commits PostgreSQL loses in a crash are found through {}.checkpoint and replayed",
            cfg.checkpoint_schema
        ));
    }
}

async fn variable(conn: &mut mysql_async::Conn, name: &str) -> Option<String> {
    conn.query_first::<String, _>(format!("SELECT @@global.{name}"))
        .await
        .ok()
        .flatten()
}

async fn check_binlog_settings(r: &mut Report, conn: &mut mysql_async::Conn, cfg: &Config) {
    for (name, ok, fix) in BINLOG_REQUIREMENTS {
        match variable(conn, name).await {
            Some(v) if ok.iter().any(|o| v.eq_ignore_ascii_case(o)) => {
                r.ok(format!("{name} = {v}"))
            }
            Some(v) => r.fail(format!("{name} = {v} on {}: {fix}", cfg.mysql_addr)),
            None => r.fail(format!("cannot read {name} on {}", cfg.mysql_addr)),
        }
    }
    // MariaDB 11.4+: with OFF (the default) row events say nothing of where they end; the
    // sync places them by their sizes and checks the count at every event that does say.
    if let Some(v) = variable(conn, "binlog_legacy_event_pos").await {
        r.ok(format!(
            "binlog_legacy_event_pos = {v}{}",
            if v.eq_ignore_ascii_case("OFF") || v == "0" {
                " (row events carry no end position: the sync counts positions from event sizes)"
            } else {
                ""
            }
        ));
    }
    match variable(conn, "binlog_row_metadata").await {
        Some(v) if v.eq_ignore_ascii_case("FULL") => r.ok("binlog_row_metadata = FULL"),
        Some(v) => r.warn(format!(
            "binlog_row_metadata = {v}: works, but FULL lets the sync check column names in every event (SET GLOBAL binlog_row_metadata = 'FULL')"
        )),
        None => r.warn("binlog_row_metadata not supported by this server: column names come from information_schema only"),
    }
}

async fn check_grants(r: &mut Report, conn: &mut mysql_async::Conn, cfg: &Config) {
    let grants: Vec<String> = match conn.query("SHOW GRANTS").await {
        Ok(g) => g,
        Err(e) => return r.warn(format!("cannot read the grants of {}: {e}", cfg.mysql_user)),
    };
    let text = grants.join("\n").to_uppercase();
    let global = |p: &str| {
        grants.iter().any(|g| {
            let g = g.to_uppercase();
            g.contains(" ON *.* ") && (g.contains(p) || g.contains("ALL PRIVILEGES"))
        })
    };
    let mariadb = cfg.flavor == crate::config::Flavor::Mariadb;
    // Each flavor's own names: MariaDB 10.5+ shows REPLICATION CLIENT as BINLOG MONITOR.
    let client_priv = if mariadb {
        "BINLOG MONITOR"
    } else {
        "REPLICATION CLIENT"
    };
    let mut missing = Vec::new();
    if !global("REPLICATION SLAVE") {
        missing.push("REPLICATION SLAVE");
    }
    if !(global("REPLICATION CLIENT") || global("BINLOG MONITOR")) {
        missing.push(client_priv);
    }
    let schemas: Vec<String> = cfg.source.iter().map(|s| s.schema.to_uppercase()).collect();
    let can_select = global("SELECT")
        || schemas.iter().all(|s| {
            text.lines().any(|g| {
                (g.contains("SELECT") || g.contains("ALL PRIVILEGES"))
                    && (g.contains(&format!(" ON `{s}`.*")) || g.contains(&format!(" ON {s}.*")))
            })
        });
    if !can_select {
        missing.push("SELECT on the configured schemas");
    }
    if missing.is_empty() {
        r.ok(format!(
            "{} has REPLICATION SLAVE, {client_priv} and SELECT",
            cfg.mysql_user
        ));
        // What `init` will do with this user (it needs nothing more than the above).
        if global("RELOAD") {
            r.ok(format!(
                "{} has RELOAD: init blocks commits for a moment ({}) and copies on init_parallel connections",
                cfg.mysql_user,
                if mariadb { "BACKUP STAGE BLOCK_COMMIT" } else { "FLUSH TABLES WITH READ LOCK" }
            ));
        } else {
            r.ok(format!(
                "{} has no RELOAD: init takes the lock-free way ({})",
                cfg.mysql_user,
                if mariadb {
                    "binlog_snapshot_position, one reading connection"
                } else {
                    "a low watermark and replay, init_parallel connections"
                }
            ));
        }
    } else {
        r.fail(format!(
            "{} lacks {}: GRANT {} ON *.* TO the sync user",
            cfg.mysql_user,
            missing.join(", "),
            missing.join(", ")
        ));
    }
}

async fn check_position(
    r: &mut Report,
    conn: &mut mysql_async::Conn,
    cfg: &Config,
    pool: &mysql_async::Pool,
    opts: &mysql_async::Opts,
) {
    let path = cfg.master_info_path();
    let logs = match crate::mysql::connect::binary_logs(conn).await {
        Ok(l) => l,
        Err(e) => return r.fail(format!("{e:#}")),
    };
    let place = match master_info::load_place(&path, cfg.flavor == crate::config::Flavor::Mariadb) {
        Ok(None) => {
            return r.warn(format!(
                "no {}: the sync would start from the first binlog the server has ({}); write a position to start elsewhere",
                path.display(),
                logs.first().map(|l| l.0.as_str()).unwrap_or("none")
            ))
        }
        Ok(Some(p)) => p,
        Err(e) => return r.fail(format!("{e:#}")),
    };
    let p = &place.pos;
    match logs.iter().find(|l| *l.0 == *p.file) {
        Some((_, size)) if p.pos <= *size => {}
        Some((_, size)) => {
            return r.fail(format!("{} says {p} but {} is only {size} bytes", path.display(), p.file))
        }
        None if place.gtids.is_some() => {}
        None => {
            return r.fail(format!(
                "{} says {p} but the server no longer has {} (purged): re-load the tables and write a current position",
                path.display(),
                p.file
            ))
        }
    }
    // The decision a start makes, with its reasons: the history the position is in.
    match crate::pipeline::start::plan_resume(cfg, pool, opts, &place, false).await {
        Ok(plan) if plan.replay => r.warn(format!(
            "{} position {p} belongs to another binlog history than this server's; new_history = \"replay\": \
             the sync would replay the server's binlog from {} into the existing tables",
            path.display(),
            plan.at.pos
        )),
        Ok(plan) => {
            let how = match (plan.by_gtid, place.fp.origin) {
                (true, _) => format!("resumes by GTID {}", place.gtids.map(|g| g.to_string()).unwrap_or_default()),
                (false, Some(o)) => format!("same history: {} was {}", p.file, o.describe()),
                (false, None) => "its history is not checked (no fingerprint: the Go tool's file, or an earlier \
                     version's) until the sync saves a position"
                    .to_string(),
            };
            r.ok(format!("{} position {p} is on the server; {how}", path.display()))
        }
        Err(e) => r.fail(format!("{} position {p}: {e:#}", path.display())),
    }
}

async fn check_server_id(r: &mut Report, conn: &mut mysql_async::Conn, cfg: &Config) {
    if variable(conn, "server_id").await.as_deref() == Some(&cfg.server_id.to_string()) {
        return r.fail(format!(
            "server_id {} is the server's own id: pick another one for the sync",
            cfg.server_id
        ));
    }
    // SHOW SLAVE HOSTS is gone from MySQL 8.4; SHOW REPLICAS exists since 8.0.22, and MariaDB
    // knows SHOW REPLICA HOSTS since 10.5.
    let version = variable(conn, "version").await.unwrap_or_default();
    let (sql, privilege) = if version.to_ascii_lowercase().contains("mariadb") {
        ("SHOW REPLICA HOSTS", "REPLICATION MASTER ADMIN")
    } else if crate::mysql::connect::version_triple(&version) >= (8, 0, 22) {
        ("SHOW REPLICAS", "REPLICATION SLAVE")
    } else {
        ("SHOW SLAVE HOSTS", "REPLICATION SLAVE")
    };
    match conn.query_map(sql, |row: mysql_async::Row| row.get::<u32, _>(0).unwrap_or(0)).await {
        Ok(ids) if ids.contains(&cfg.server_id) => r.fail(format!(
            "a replica with server_id {} is already connected (another sync, or this one running): two replicas with one id disconnect each other",
            cfg.server_id
        )),
        Ok(_) => r.ok(format!("no other replica uses server_id {}", cfg.server_id)),
        Err(_) => r.warn(format!(
            "cannot list replicas ({sql} needs {privilege}): make sure no other replica uses server_id {}",
            cfg.server_id
        )),
    }
}

async fn check_tables(
    r: &mut Report,
    cfg: &Config,
    rules: &TableRules,
    mysql: mysql_async::Pool,
    pg: deadpool_postgres::Pool,
) -> Result<()> {
    // As the sync decides it (`auto` asks the server), so check judges the same key rules.
    let greenplum = crate::postgres::connect::is_greenplum(cfg, &*pg.get().await?).await?;
    let loader = SchemaLoader::new(
        mysql,
        Some(pg),
        rules.clone(),
        LoadOptions {
            greenplum,
            zero_date: cfg.zero_date,
            create_tables: false,
        },
    );
    let tables = match loader.configured_tables().await {
        Ok(t) => t,
        Err(e) => {
            r.fail(format!("{e:#}"));
            return Ok(());
        }
    };
    if tables.is_empty() {
        r.warn("no MySQL table matches the [[source]] sections yet");
    }
    for TableName { schema, table } in tables {
        match loader.load(&schema, &table).await {
            Ok(Ok(m)) => r.ok(format!(
                "{schema}.{table} → {} (key {}), columns match",
                m.target,
                m.key_names().join(", ")
            )),
            Ok(Err(Skip::NoKey)) if cfg.skip_no_pk_table => {
                r.warn(format!("{schema}.{table} has no primary key: it will be skipped"))
            }
            Ok(Err(Skip::NoKey)) => r.fail(format!(
                "{schema}.{table} has no primary key and no NOT NULL unique key: add one, or set skip_no_pk_table = true"
            )),
            Err(e) if cfg.create_missing_tables && format!("{e:#}").contains("does not exist") => {
                r.ok(format!("{schema}.{table}: target missing, will be created (create_missing_tables = true)"))
            }
            Err(e) => r.fail(format!("{e:#}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plain_text_off_machine;

    #[test]
    fn plain_text_is_flagged_only_when_it_leaves_the_machine() {
        let (plain, tls) = (true, false);
        assert!(plain_text_off_machine(plain, "db1.example.com"));
        assert!(plain_text_off_machine(plain, "10.0.0.7"));
        assert!(!plain_text_off_machine(plain, "127.0.0.1"));
        assert!(!plain_text_off_machine(plain, "localhost"));
        assert!(!plain_text_off_machine(tls, "db1.example.com"));
    }
}
