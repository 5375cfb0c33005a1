//! `pictor-agent`: one binary for a node of the network, as a `worker` (renders) or a `checker` (verifies).

use std::path::PathBuf;
use std::process::ExitCode;

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
    },
    /// Verify workers' results by re-rendering samples of them
    Checker {
        /// The checker.toml downloaded from "Checker Nodes"
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mode, config) = match &cli.mode {
        Mode::Worker { config } => ("worker", config),
        Mode::Checker { config } => ("checker", config),
    };
    eprintln!(
        "pictor-agent: {mode} mode is not available yet in this build (config {} was not read)",
        config.display()
    );
    ExitCode::from(2)
}
