//! Logs go to stdout and to the log file (`sync.log` by default), as the Go tool's did. The file
//! is rotated by size (`sync.log.1`, `.2`, … up to `log_max_files`), so a long-running sync
//! never fills the disk and `sync.log` is always the current file for `tail -f`.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use file_rotate::{compression::Compression, suffix::AppendCount, ContentLimit, FileRotate};
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
    if let Some(dir) = cfg.log_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    }
    let rotating = FileRotate::new(
        &cfg.log_file,
        AppendCount::new(cfg.log_max_files),
        ContentLimit::BytesSurpassed(cfg.log_max_size_mb.max(1) * 1024 * 1024),
        Compression::None,
        None,
    );
    let (file, guard) = tracing_appender::non_blocking(rotating);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .with_target(false)
                .with_ansi(std::io::stdout().is_terminal()),
        )
        .with(
            fmt::layer()
                .with_target(false)
                .with_ansi(false)
                .with_writer(file),
        )
        .init();
    Ok(guard)
}
