//! `pictor-agent`: one binary for a node of the network, as a `worker` (renders) or a `checker` (verifies).

mod backoff;
mod benchmark;
mod blender;
mod client;
mod config;
mod exec;
mod hardware;
mod metrics;
mod nvidia;
mod outbox;
mod render;
mod render_log;
mod scene_cache;
mod shutdown;
mod status;
mod tasks;
mod telemetry;
mod terminal;
mod work_dir;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "pictor-agent", version, about = "Pictor node agent: render as a worker or verify as a checker")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Lend this machine's GPUs: lease render tasks and run them with Blender
    Worker {
        /// The worker.toml downloaded from "My Workers"
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Skip the benchmark render of each Blender version at start
        #[arg(long, env = "PICTOR_AGENT_NO_BENCHMARK", value_parser = clap::builder::FalseyValueParser::new())]
        no_benchmark: bool,
    },
    /// Verify workers' results by re-rendering samples of them
    Checker {
        /// The checker.toml downloaded from "Checker Nodes"
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().mode {
        Mode::Worker { config, no_benchmark } => {
            let terminal = terminal::Terminal::stderr();
            telemetry::init(&terminal);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
            };
            let result = runtime.block_on(worker::run(worker::Options { config, benchmark: !no_benchmark }, terminal));
            // A helper process still being killed must not hold up the exit.
            runtime.shutdown_timeout(Duration::from_secs(1));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e.to_string()),
            }
        }
        Mode::Checker { config } => {
            eprintln!(
                "pictor-agent: checker mode is not available yet in this build (config {} was not read)",
                config.display()
            );
            ExitCode::from(2)
        }
    }
}

/// The one line a failed run prints, whatever went wrong.
fn fail(message: &str) -> ExitCode {
    eprintln!("pictor-agent: error: {}", message.replace(['\r', '\n'], " "));
    ExitCode::FAILURE
}
