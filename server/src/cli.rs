//! Command line of the `pictor` binary: `pictor [--config FILE] [serve|check-config|demo-worker|submit|admin]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::db::nodes::NodeKind;
use crate::startup::{Application, StartupError};

#[derive(Debug, Parser)]
#[command(
    name = "pictor",
    version,
    about = "Pictor coordinator: the dashboard, agent API and scheduler of a GPU compute network",
    long_about = "Pictor coordinator: the dashboard, agent API and scheduler of a GPU compute network.\n\n\
        Configuration is layered: built-in defaults, then a TOML file (--config, or ./pictor.toml if present), \
        then PICTOR_* environment variables (e.g. PICTOR_LISTEN=0.0.0.0:3000, PICTOR_DATA_DIR=/var/lib/pictor), \
        then DATABASE_URL. With no configuration at all it serves http://127.0.0.1:3000 with an embedded SQLite \
        database and a local object store under ./data."
)]
pub struct Cli {
    /// TOML configuration file (keys: listen, data_dir, database_url, object_store_url, site_root, log, stats_interval_ms)
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the coordinator and dashboard (the default)
    Serve,
    /// Load and validate the configuration, print it, and exit
    CheckConfig,
    /// Create (or re-issue the token of) a worker of the local "Demo workers" account and write its config file:
    /// for trying Pictor on one machine (scripts/demo)
    DemoWorker {
        /// The worker's name
        #[arg(long)]
        name: String,
        /// Where to write its worker.toml
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// A checker node instead (of a separate "Demo checkers" account: nobody checks their own workers)
        #[arg(long)]
        checker: bool,
    },
    /// Upload a .blend and submit a render job to a coordinator (with an API key from the account page);
    /// --follow waits for it, --download DIR fetches its frames
    Submit(Box<crate::submit::SubmitArgs>),
    /// Operator commands on this coordinator's database: grant credit, make operators, check the ledger
    #[command(subcommand)]
    Admin(crate::admin::AdminCommand),
}

/// Runs the chosen command to completion.
pub fn run(cli: Cli) -> Result<(), StartupError> {
    let command = cli.command.unwrap_or(Command::Serve);
    // A client of some coordinator, not one itself: it must not need (or trip over) this machine's server
    // configuration, and its PICTOR_URL / PICTOR_API_KEY are no configuration keys.
    if let Command::Submit(args) = command {
        return submit(*args);
    }
    let config = Config::load(cli.config.as_deref())?;
    match command {
        Command::CheckConfig => {
            println!("{}", config.describe());
            Ok(())
        }
        Command::DemoWorker { name, out, checker } => {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(StartupError::Runtime)?;
            let kind = if checker { NodeKind::Checker } else { NodeKind::Worker };
            runtime.block_on(crate::nodes::demo::write_demo_node(&config, &name, kind, &out))
        }
        Command::Serve => {
            crate::telemetry::init(&config.log);
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(StartupError::Runtime)?;
            runtime.block_on(serve(config))
        }
        Command::Submit(args) => submit(*args),
        Command::Admin(admin) => {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(StartupError::Runtime)?;
            runtime.block_on(crate::admin::run(&config, admin))
        }
    }
}

fn submit(args: crate::submit::SubmitArgs) -> Result<(), StartupError> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(StartupError::Runtime)?;
    // `main` prints any `StartupError` as the one `pictor: error: …` line; the message is the submit error's own.
    runtime.block_on(crate::submit::run(args)).map_err(|error| StartupError::Invalid(error.to_string()))
}

async fn serve(config: Config) -> Result<(), StartupError> {
    let app = Application::build(config).await?;
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        crate::startup::wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    app.run_until_stopped().await
}
