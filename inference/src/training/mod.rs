//! Training on candle: the pixel-classifier template, its datasets, a seeded generator, an AdamW whose state can be
//! checkpointed, and the replay that checks a worker's segment of steps.

mod adamw;
mod checkpoint;
mod mlp;
mod pixels;
mod replay;
mod rng;
mod trainer;

/// Training runs on the CPU: its arithmetic is what checkpoints and replays compare bit for bit.
pub use candle_core::Device;
pub use checkpoint::{model_distance, Checkpoint, RunInfo};
pub(crate) use mlp::{Mlp, HIDDEN, PARAMS};
pub use pixels::PixelTable;
pub use replay::{replay_segment, ReplayVerdict, CROSS_BUILD_TOLERANCE};
pub use trainer::Trainer;

#[cfg(test)]
mod tests;
