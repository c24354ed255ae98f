//! What `main.rs` runs: each command is one function here or in its file.

pub mod check;
pub mod init;
pub mod run;
pub mod schema;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::model::rules::TableRules;
use crate::tls::{MysqlTls, PgTls};

/// The config file and what is built from it, once, for every command: the table rules and
/// both TLS setups. Building them here also makes a mistake in them (a pattern that is not a
/// regex, a TLS file that is missing or not PEM) a config error, said before connecting.
#[derive(Clone)]
pub struct Settings {
    pub cfg: Arc<Config>,
    pub rules: TableRules,
    pub mysql_tls: MysqlTls,
    pub pg_tls: PgTls,
}

/// Reads and checks the config file (see [`Settings`]).
pub fn load_config(path: &Path) -> Result<Settings> {
    let cfg = Config::load(path)?;
    let built = (|| {
        Ok::<_, anyhow::Error>((
            TableRules::new(&cfg)?,
            MysqlTls::new(&cfg)?,
            PgTls::new(&cfg)?,
        ))
    })();
    let (rules, mysql_tls, pg_tls) =
        built.with_context(|| format!("config file {}", path.display()))?;
    Ok(Settings {
        cfg: Arc::new(cfg),
        rules,
        mysql_tls,
        pg_tls,
    })
}
