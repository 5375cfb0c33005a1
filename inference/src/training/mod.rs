//! Training on candle: the pixel-classifier and text-classifier templates, their datasets, a seeded generator, an
//! AdamW whose state can be checkpointed, and the replay that checks a worker's segment of steps.

mod adamw;
mod checkpoint;
mod dataset;
mod learner;
mod mlp;
mod pixels;
mod replay;
mod rng;
mod text_network;
mod texts;
mod trainer;

/// Training runs on the CPU: its arithmetic is what checkpoints and replays compare bit for bit.
pub use candle_core::Device;
pub(crate) use checkpoint::{header_metadata, labels_of, names_of};
pub use checkpoint::{model_distance, Checkpoint, RunInfo, TEXT_BASE_MODEL};
pub use dataset::Dataset;
pub use learner::BaseModels;
pub(crate) use mlp::{Mlp, HIDDEN, PARAMS};
pub use pixels::PixelTable;
pub use replay::{replay_segment, ReplayVerdict, CROSS_BUILD_TOLERANCE};
pub use text_network::{TextEncoder, TextNetwork, HEAD_BIAS, HEAD_WEIGHT, MAX_TEXT_TOKENS};
pub use texts::TextTable;
pub use trainer::Trainer;

#[cfg(test)]
mod tests;
