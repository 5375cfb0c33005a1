//! `pictor`: the coordinator binary. Parses the command line and hands over to `startup`.

use std::process::ExitCode;

use clap::Parser;
use pictor_server::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match pictor_server::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One clear line, no panic trace: the operator fixes the config and tries again.
            eprintln!("pictor: error: {error}");
            ExitCode::FAILURE
        }
    }
}
