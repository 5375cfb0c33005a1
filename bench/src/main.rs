//! `pictor-bench`: load generators for the coordinator. Each subcommand starts the real coordinator binary on a
//! fresh database and prints its figures (see BENCHMARKS.md for the commands and results).

mod ai;
mod ai_calibrate;
mod calibrate;
mod coordinator;
mod fuzz;
mod heartbeats;
mod overhead;
mod render_job;
mod tasks;
mod verification;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generators and measurements for the Pictor coordinator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulated agents heartbeating: heartbeats/s, latency, coordinator memory per worker
    Heartbeats(heartbeats::Args),
    /// Simulated agents running task cycles (lease → upload → done), next to SQLite's raw commit rate
    Tasks(tasks::Args),
    /// A real agent rendering frames through the coordinator, against bare `blender -b` for the same frames
    AgentOverhead(overhead::Args),
    /// The experiment behind the checkers' crops and SSIM thresholds: honest and tampered renders, real crop
    /// re-renders, false-accept and false-reject rates
    Calibrate(calibrate::Args),
    /// A job rendered by an honest and a cheating worker and checked by a real checker: verification compute as a
    /// share of render compute, cheated frames caught
    Verification(verification::Args),
    /// The AI API through a real coordinator and agent against the bare engine: tokens/s, time to first token,
    /// concurrent streams, embeddings/s
    Ai(ai::Args),
    /// The experiment behind the AI checks: honest replays rejected, other tokens caught, perturbed embeddings
    AiCalibrate(ai_calibrate::Args),
    /// Every endpoint of a real coordinator with many generated inputs: no answer of 500 or more, and no refusal
    /// that changed the database
    Fuzz(fuzz::Args),
}

#[tokio::main]
async fn main() {
    match Cli::parse().command {
        Command::Heartbeats(args) => heartbeats::run(args).await,
        Command::Tasks(args) => tasks::run(args).await,
        Command::AgentOverhead(args) => overhead::run(args).await,
        Command::Calibrate(args) => calibrate::run(args).await,
        Command::Verification(args) => verification::run(args).await,
        Command::Fuzz(args) => fuzz::run(args).await,
        Command::Ai(args) => ai::run(args).await,
        Command::AiCalibrate(args) => ai_calibrate::run(args).await,
    }
}
