//! The checker's replay of a training segment: the dataset and both checkpoints fetched (hash-checked), the steps
//! between them trained again with the recorded data order, and the weights reached compared with the worker's.

use pictor_core::ai_training::ReplayOrder;
use pictor_core::verification::{Verdict, VerdictReport};
use pictor_inference::training::{replay_segment, Device, CROSS_BUILD_TOLERANCE};

use super::training::{base_models, blocking, checkpoint, dataset};
use crate::cheat::Lie;
use crate::client::{Client, ClientError};

/// Replays `order` and judges it (a lying test checker claims `lie` with a distance to match).
pub async fn replay(client: &Client, order: &ReplayOrder, lie: Option<Lie>) -> Result<VerdictReport, ClientError> {
    let started = std::time::Instant::now();
    let task = order.task_id;
    let table = dataset(client, task, &order.dataset_sha256, order.template).await?;
    let from = checkpoint(client, task, &order.from).await?;
    let to = checkpoint(client, task, &order.to).await?;
    let (sha, hyper) = (order.dataset_sha256.clone(), order.hyper);
    let bases = base_models();
    let judged =
        blocking(move || replay_segment(table, &sha, hyper, &bases, from, &to, CROSS_BUILD_TOLERANCE, &Device::Cpu))
            .await?;
    let (steps, seconds) = (order.to.step - order.from.step, started.elapsed().as_secs_f64());
    tracing::info!(
        "training segment {}..{} of task {task}: {} (largest weight difference {:e}, {steps} steps in {seconds:.2} s)",
        order.from.step,
        order.to.step,
        if judged.matches { "pass" } else { "fail" },
        judged.distance
    );
    let (verdict, distance) = match lie {
        Some(Lie::Pass) => (Verdict::Pass, 0.0),
        Some(Lie::Fail) => (Verdict::Fail, 1.0),
        None if judged.matches => (Verdict::Pass, judged.distance),
        // An infinite distance (shapes that differ) is sent as the largest finite one.
        None => (Verdict::Fail, judged.distance.min(f32::MAX)),
    };
    Ok(VerdictReport { verdict, crops: Vec::new(), render_seconds: seconds, replay_distance: Some(distance) })
}
