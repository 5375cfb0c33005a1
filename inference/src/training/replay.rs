//! The checker's side of training: replay a worker's segment of steps from its earlier checkpoint, with the
//! recorded data order, and compare the weights reached with those of the worker's later checkpoint.

use candle_core::Device;
use pictor_core::ai_training::Hyperparameters;

use super::{BaseModels, Checkpoint, Dataset, Trainer};
use crate::InferenceError;

/// How far a replay landed from the worker's checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayVerdict {
    /// The largest absolute difference of any weight.
    pub distance: f32,
    /// Within the tolerance: 0 (bit-exact) on the worker's own engine build, a small calibrated bound otherwise.
    pub matches: bool,
}

/// The bound for a replay on another engine build (another thread count or SIMD path reorders float sums): far
/// below what even one skipped or altered step moves the weights (measured in the tests beside this module).
pub const CROSS_BUILD_TOLERANCE: f32 = 1e-4;

/// Replays the steps from `from` to `to` and compares.
#[allow(clippy::too_many_arguments)]
pub fn replay_segment(
    dataset: Dataset,
    dataset_sha256: &str,
    hyper: Hyperparameters,
    bases: &BaseModels,
    from: Checkpoint,
    to: &Checkpoint,
    tolerance: f32,
    device: &Device,
) -> Result<ReplayVerdict, InferenceError> {
    if to.info.step <= from.info.step {
        return Err(InferenceError::invalid("the later checkpoint is not after the earlier one"));
    }
    let steps = to.info.step - from.info.step;
    let mut trainer = Trainer::resume(dataset, dataset_sha256, hyper, from, bases, device)?;
    for _ in 0..steps {
        trainer.train_step()?;
    }
    let distance = trainer.checkpoint()?.weight_distance(to)?;
    Ok(ReplayVerdict { distance, matches: distance <= tolerance })
}
