//! `mysql-gp-sync`: keeps PostgreSQL tables in sync with MySQL / MariaDB tables by reading the
//! binlog as a replica. This file only parses the command line and sets up logging.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use mysql_gp_sync::commands;
use mysql_gp_sync::commands::Settings;
use mysql_gp_sync::ops::logging;

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
    /// Print the PostgreSQL CREATE TABLE statements for the configured tables.
    Schema,
    /// Initial load: copy the configured tables at a consistent snapshot, write master.info at
    /// the matching position, then run the sync from there.
    Init {
        /// Empty target tables that already hold rows instead of refusing.
        #[arg(long)]
        truncate: bool,
        /// Stop after the copy instead of going on with the sync.
        #[arg(long)]
        no_follow: bool,
        /// Reload only these tables (`schema.table`, comma-separated) at a new position while
        /// the others keep theirs (the sync must be stopped); e.g. after an event it refused.
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
    },
    /// Preflight: what is fine and what must change before syncing (exit 1 if anything blocks).
    Check,
    /// Show what the running sync is doing: position, lag, rows/s, per-table counts.
    Status,
}

/// Exit status of a configuration mistake: retrying cannot help (systemd's
/// `RestartPreventExitStatus=2`); every other failure exits 1.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    mysql_gp_sync::tls::install_provider();
    let settings = match commands::load_config(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let command = cli.command.unwrap_or(Command::Run);
    // Only the long-running sync logs; `schema` prints SQL on stdout and nothing else.
    let guard = match command {
        Command::Run | Command::Init { .. } => match logging::init(&settings.cfg) {
            Ok(g) => Some(g),
            Err(e) => {
                eprintln!("Error: {e:#}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        Command::Schema | Command::Status | Command::Check => None,
    };
    let code = match run(cli.config, settings, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Into sync.log too (while its writer is still alive): that is where operators look.
            if guard.is_some() {
                tracing::error!("{e:#}");
            }
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    };
    drop(guard);
    code
}

fn run(config: PathBuf, s: Settings, command: Command) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        Command::Run => rt.block_on(commands::run::run(s, &config)),
        Command::Init {
            truncate,
            no_follow,
            tables,
        } => rt.block_on(async {
            if tables.is_empty() {
                commands::init::run(&s, truncate).await?;
            } else {
                commands::init::reload(&s, &tables).await?;
            }
            if no_follow {
                return Ok(());
            }
            commands::run::run(s, &config).await
        }),
        Command::Schema => rt.block_on(commands::schema::print_schema(&s)),
        Command::Status => mysql_gp_sync::ops::status::print(&s.cfg.status_path()),
        Command::Check => match rt.block_on(commands::check::run(&s))? {
            true => Ok(()),
            false => std::process::exit(1),
        },
    }
}
