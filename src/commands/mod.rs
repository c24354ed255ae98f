//! What `main.rs` runs: each command is one function here or in its file.

pub mod check;
pub mod init;
pub mod run;
pub mod schema;

use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;

/// The config file, read and checked once for every command: its keys, then what depends on
/// more than one key (the table rules' patterns, the TLS files: a file that is missing or not
/// PEM is a config mistake, said before connecting).
pub fn load_config(path: &Path) -> Result<Config> {
    let cfg = Config::load(path)?;
    crate::model::rules::TableRules::new(&cfg)
        .map(drop)
        .and(crate::tls::MysqlTls::new(&cfg).map(drop))
        .and(crate::tls::PgTls::new(&cfg).map(drop))
        .with_context(|| format!("config file {}", path.display()))?;
    Ok(cfg)
}
