//! `mysql-gp-sync`: keeps PostgreSQL tables in sync with MySQL / MariaDB tables by reading the
//! binlog as a replica. This file only parses the command line and sets up logging.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use mysql_gp_sync::{config::Config, logging, sync};

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The TOML configuration file.
    #[arg(short, long, default_value = "conf/mysql-gp-sync.toml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sync in the foreground (the default).
    Run,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = Config::load(&cli.config)?;
    let _guard = logging::init(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => rt.block_on(sync::run(cfg, &cli.config)),
    }
}
