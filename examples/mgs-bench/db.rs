//! The private MariaDB and PostgreSQL: connections, the benchmark's tables, binlog positions,
//! whole-table checksums, and moving a table's rows between the two.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use mysql_gp_sync::model::position::Position;

/// The MariaDB database and the PostgreSQL schema of the benchmark.
pub const DB: &str = "mgsbench";
/// The table every backlog and the steady load write.
pub const TABLE: &str = "mgsbench.sbtest1";
/// The table `init` copies.
pub const INIT_TABLE: &str = "mgsbench.sbinit";

pub fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set (run through scripts/bench.sh)"))
}

/// MariaDB as the admin user, optionally in database `db`.
pub fn mysql_opts(db: Option<&str>) -> Result<mysql_async::Opts> {
    Ok(mysql_async::OptsBuilder::default()
        .ip_or_hostname(env("MGS_MYSQL_HOST")?)
        .tcp_port(env("MGS_MYSQL_PORT")?.parse()?)
        .user(Some(env("MGS_MYSQL_ADMIN_USER")?))
        .pass(Some(env("MGS_MYSQL_ADMIN_PASS")?))
        .db_name(db.map(str::to_string))
        .prefer_socket(false)
        .into())
}

pub async fn pg_connect() -> Result<tokio_postgres::Client> {
    let conninfo = format!(
        "host={} port={} user={} password={} dbname={} application_name=mgs-bench",
        env("MGS_PG_HOST")?,
        env("MGS_PG_PORT")?,
        env("MGS_PG_USER")?,
        env("MGS_PG_PASS")?,
        env("MGS_PG_DB")?
    );
    let (client, conn) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("mgs-bench: PostgreSQL connection: {e}");
        }
    });
    Ok(client)
}

/// "count checksum" of a sysbench-shaped table, equal on both sides when the rows are.
const MY_SUM: &str = "SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', id, k, c, pad)), 1, 8), 16, 10) AS UNSIGNED)), 0) FROM ";
/// The same in PostgreSQL; `char(n)::text` drops the padding, as MariaDB does for a CHAR.
const PG_SUM: &str = "SELECT count(*), COALESCE(sum(('x' || substr(md5(concat_ws('|', id, k, c::text, pad::text)), 1, 8))::bit(32)::bigint), 0)::bigint FROM ";

/// A table's row count and checksum: equal on both sides when the rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sum {
    pub count: i64,
    pub checksum: i64,
}

impl std::fmt::Display for Sum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.count, self.checksum)
    }
}

/// One connection to each server, kept for the whole benchmark.
pub struct Db {
    pub my: mysql_async::Conn,
    pub pg: tokio_postgres::Client,
}

impl Db {
    pub async fn connect() -> Result<Db> {
        let my = mysql_async::Conn::new(mysql_opts(None)?)
            .await
            .context("connecting to MariaDB")?;
        Ok(Db {
            my,
            pg: pg_connect().await?,
        })
    }

    /// A clean slate: no old binlogs, empty `sbtest1` and `probe` on both sides.
    pub async fn create_tables(&mut self) -> Result<()> {
        for q in [
            "RESET MASTER".to_string(),
            format!("DROP DATABASE IF EXISTS {DB}"),
            format!("CREATE DATABASE {DB}"),
            // The Sequence engine's seq_1_to_N tables live in the current database.
            format!("USE {DB}"),
            format!(
                "CREATE TABLE {TABLE} (id INT NOT NULL AUTO_INCREMENT, k INT NOT NULL DEFAULT 0,
                 c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '',
                 PRIMARY KEY (id), KEY k_1 (k)) ENGINE=InnoDB"
            ),
            format!(
                "CREATE TABLE {DB}.probe (id BIGINT NOT NULL PRIMARY KEY, ts DATETIME(6) NOT NULL) ENGINE=InnoDB"
            ),
        ] {
            self.my.query_drop(q).await?;
        }
        self.pg
            .batch_execute(&format!(
                "SET client_min_messages = warning;
                 DROP SCHEMA IF EXISTS {DB} CASCADE;
                 CREATE SCHEMA {DB};
                 CREATE TABLE {TABLE} (id int PRIMARY KEY, k int, c char(120), pad char(60));
                 CREATE TABLE {DB}.probe (id bigint PRIMARY KEY, ts timestamp(6))"
            ))
            .await?;
        Ok(())
    }

    /// Runs MariaDB statements (`;`-separated) on the one connection, so session settings hold.
    pub async fn my_exec(&mut self, sql: &str) -> Result<()> {
        Ok(self.my.query_drop(sql).await?)
    }

    /// The server's current binlog end (`SHOW MASTER STATUS`).
    pub async fn master_pos(&mut self) -> Result<Position> {
        let row: Option<mysql_async::Row> = self.my.query_first("SHOW MASTER STATUS").await?;
        let Some(row) = row else {
            bail!("SHOW MASTER STATUS returned nothing (is log_bin on?)")
        };
        let file: String = row.get(0).context("SHOW MASTER STATUS: no file")?;
        let pos: u64 = row.get(1).context("SHOW MASTER STATUS: no position")?;
        Ok(Position::new(file, pos))
    }

    /// The end of a backlog written up to `end` as the sync can report it: the end of the last
    /// event at or before `end` after which it may resume (a commit, a statement, a file's
    /// GTID list). MariaDB may append a BINLOG_CHECKPOINT after the last commit, which no
    /// replica position ever names.
    pub async fn settled_end(&mut self, end: &Position) -> Result<Position> {
        let rows: Vec<mysql_async::Row> = self
            .my
            .query(format!("SHOW BINLOG EVENTS IN '{}'", end.file))
            .await?;
        let mut settled = None;
        for row in rows {
            let ty: String = row.get(2).context("SHOW BINLOG EVENTS: no Event_type")?;
            let at: u64 = row.get(4).context("SHOW BINLOG EVENTS: no End_log_pos")?;
            let info: String = row.get(5).unwrap_or_default();
            let resumable = matches!(ty.as_str(), "Xid" | "Gtid_list")
                || (ty == "Query" && info.trim() != "BEGIN");
            if resumable && at <= end.pos {
                settled = Some(at);
            }
        }
        Ok(settled.map_or_else(|| end.clone(), |p| Position::new(end.file.clone(), p)))
    }

    pub async fn my_sum(&mut self, table: &str) -> Result<Sum> {
        let row: Option<(i64, i64)> = self.my.query_first(format!("{MY_SUM}{table}")).await?;
        let (count, checksum) = row.context("no checksum row from MariaDB")?;
        Ok(Sum { count, checksum })
    }

    pub async fn pg_sum(&self, table: &str) -> Result<Sum> {
        let row = self.pg.query_one(&format!("{PG_SUM}{table}"), &[]).await?;
        Ok(Sum {
            count: row.get(0),
            checksum: row.get(1),
        })
    }

    /// Both checksums of `table`: (PostgreSQL's, MariaDB's).
    pub async fn sums(&mut self, table: &str) -> Result<(Sum, Sum)> {
        Ok((self.pg_sum(table).await?, self.my_sum(table).await?))
    }

    /// Fills `table` (empty, sysbench-shaped) with ids 1..=rows in `INSERT ... SELECT`
    /// statements of `chunk` rows from the Sequence engine, in sysbench's shape: k random in
    /// 1..=rows, c 11 groups of 10 digits, pad 5 groups of 11. `binlog = false`: not binlogged.
    pub async fn insert_rows(
        &mut self,
        table: &str,
        rows: u64,
        chunk: u64,
        binlog: bool,
    ) -> Result<()> {
        if !binlog {
            self.my.query_drop("SET SESSION sql_log_bin = 0").await?;
        }
        let d10 = "LPAD(FLOOR(RAND() * 1e10), 10, '0')";
        let d11 = "LPAD(FLOOR(RAND() * 1e11), 11, '0')";
        let c = format!("CONCAT_WS('-', {})", [d10; 11].join(", "));
        let pad = format!("CONCAT_WS('-', {})", [d11; 5].join(", "));
        let mut lo = 1;
        while lo <= rows {
            let hi = (lo + chunk - 1).min(rows);
            self.my
                .query_drop(format!(
                    "INSERT INTO {table} (id, k, c, pad) SELECT seq, 1 + FLOOR(RAND() * {rows}), {c}, {pad} FROM seq_{lo}_to_{hi}"
                ))
                .await?;
            lo = hi + 1;
        }
        if !binlog {
            self.my.query_drop("SET SESSION sql_log_bin = 1").await?;
        }
        Ok(())
    }

    /// Writes MariaDB's `sbtest1` as COPY text (tab-separated; its values need no escaping).
    pub async fn dump_table(&mut self, file: &Path) -> Result<()> {
        let mut out = BufWriter::new(std::fs::File::create(file)?);
        let mut written = Ok(());
        self.my
            .query_iter(format!("SELECT id, k, c, pad FROM {TABLE}"))
            .await?
            .for_each_and_drop(|row| {
                let (id, k, c, pad): (i64, i64, String, String) = mysql_async::from_row(row);
                if written.is_ok() {
                    written = writeln!(out, "{id}\t{k}\t{c}\t{pad}");
                }
            })
            .await?;
        written?;
        out.flush()?;
        Ok(())
    }

    /// Replaces PostgreSQL's `sbtest1` by a dump, then VACUUM ANALYZE: every config starts from
    /// the same settled table.
    pub async fn load_table(&self, file: &Path) -> Result<()> {
        crate::load::copy_file(&self.pg, TABLE, file).await?;
        self.pg
            .batch_execute(&format!("VACUUM (ANALYZE) {TABLE}"))
            .await?;
        Ok(())
    }

    /// PostgreSQL's `sbtest1` as MariaDB's is now.
    pub async fn copy_table_over(&mut self, dump: &Path) -> Result<()> {
        self.dump_table(dump).await?;
        self.load_table(dump).await?;
        std::fs::remove_file(dump)?;
        Ok(())
    }

    pub async fn versions(&mut self) -> Result<(String, String)> {
        let my: Option<String> = self.my.query_first("SELECT VERSION()").await?;
        let pg: String = self.pg.query_one("SHOW server_version", &[]).await?.get(0);
        let pg = pg.split_whitespace().next().unwrap_or_default().to_string();
        Ok((my.unwrap_or_default(), pg))
    }
}
