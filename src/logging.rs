//! Logs go to stdout and to the log file (`sync.log` by default), as the Go tool's did.

use anyhow::{Context, Result};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::Config;

/// Keep the guard alive for the whole run: dropping it flushes the file.
pub fn init(cfg: &Config) -> Result<WorkerGuard> {
    let filter = EnvFilter::try_new(format!(
        "{},tokio_postgres=warn,mysql_async=warn",
        cfg.log_level
    ))
    .with_context(|| format!("`log_level` {:?} is not a valid level", cfg.log_level))?;
    let dir = cfg
        .log_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.to_path_buf())
        .unwrap_or_else(|| ".".into());
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    let name = cfg
        .log_file
        .file_name()
        .context("`log_file` has no file name")?;
    let appender = tracing_appender::rolling::never(&dir, name);
    let (file, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_target(false))
        .with(
            fmt::layer()
                .with_target(false)
                .with_ansi(false)
                .with_writer(file),
        )
        .init();
    Ok(guard)
}
