//! `pictor-agent`: one binary for a node of the network, as a `worker` (renders) or a `checker` (verifies).

use pictor_agent::{cheat, telemetry, terminal, worker};
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
        #[command(flatten)]
        test: WorkerTestFlags,
    },
    /// Verify workers' results by re-rendering crops of them
    Checker {
        /// The checker.toml downloaded from "Checker Nodes"
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// Skip the benchmark render of each Blender version at start
        #[arg(long, env = "PICTOR_AGENT_NO_BENCHMARK", value_parser = clap::builder::FalseyValueParser::new())]
        no_benchmark: bool,
        #[command(flatten)]
        test: CheckerTestFlags,
    },
}

/// Misbehaviour for verification tests: debug builds only, never in `--help`.
#[derive(Debug, clap::Args)]
struct WorkerTestFlags {
    #[cfg(debug_assertions)]
    #[arg(long, hide = true, value_enum)]
    cheat: Option<cheat::Cheat>,
    /// The share of frames faked.
    #[cfg(debug_assertions)]
    #[arg(long, hide = true, default_value_t = 1.0)]
    cheat_rate: f64,
}

impl WorkerTestFlags {
    fn cheating(&self) -> Option<cheat::Cheating> {
        #[cfg(debug_assertions)]
        return self.cheat.map(|cheat| cheat::Cheating { cheat, rate: self.cheat_rate.clamp(0.0, 1.0) });
        #[cfg(not(debug_assertions))]
        None
    }
}

#[derive(Debug, clap::Args)]
struct CheckerTestFlags {
    #[cfg(debug_assertions)]
    #[arg(long, hide = true, value_enum)]
    lie: Option<cheat::Lie>,
}

impl CheckerTestFlags {
    fn lie(&self) -> Option<cheat::Lie> {
        #[cfg(debug_assertions)]
        return self.lie;
        #[cfg(not(debug_assertions))]
        None
    }
}

fn main() -> ExitCode {
    let (config, benchmark, role) = match Cli::parse().mode {
        Mode::Worker { config, no_benchmark, test } => {
            (config, !no_benchmark, worker::Role::Worker { cheat: test.cheating() })
        }
        Mode::Checker { config, no_benchmark, test } => {
            (config, !no_benchmark, worker::Role::Checker { lie: test.lie() })
        }
    };
    let terminal = terminal::Terminal::stderr();
    telemetry::init(&terminal);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(worker::run(worker::Options { config, benchmark, role }, terminal));
    // A helper process still being killed must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// The one line a failed run prints, whatever went wrong.
fn fail(message: &str) -> ExitCode {
    eprintln!("pictor-agent: error: {}", message.replace(['\r', '\n'], " "));
    ExitCode::FAILURE
}
