//! Runs a leased training run: fetches the dataset (hash-checked), goes on from the run's last checkpoint or starts
//! from the seed (uploading step 0, so the initial weights travel inside the first checkpoint), trains in segments
//! off the async threads, uploads a checkpoint every N steps while reporting progress, and puts the trained weights
//! in the outbox as output 0.

use std::path::Path;
use std::time::Duration;

use pictor_core::agent_protocol::{ProgressReport, TaskAssignment};
use pictor_core::ai_training::TrainingTemplate;
use pictor_core::ai_training::{checkpoint_path, dataset_path, resume_path, CheckpointRef, TrainingTask};
use pictor_inference::training::{BaseModels, Checkpoint, Dataset, Device, Trainer};
use pictor_inference::ModelCache;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::AiRun;
use crate::cheat::{Cheat, Cheating};
use crate::client::{Client, ClientError};
use crate::outbox::{Manifest, Outbox};

/// The longest one blocking stretch of training runs before the lease is looked after again.
const SLICE: Duration = Duration::from_millis(500);

/// The dataset of a run (a worker holding its lease, or a checker checking it), checked against its hash and read
/// by its template's rules.
pub async fn dataset(
    client: &Client,
    task: i64,
    sha256: &str,
    template: TrainingTemplate,
) -> Result<Dataset, ClientError> {
    let bytes = client.get_bytes(&dataset_path(task), &[]).await?;
    if hex::encode(Sha256::digest(&bytes)) != sha256 {
        return Err(ClientError::LocalFile("the dataset does not match its sha256".into()));
    }
    tokio::task::spawn_blocking(move || {
        let text = String::from_utf8(bytes).map_err(|_| "the dataset is not UTF-8".to_string())?;
        Dataset::parse(template, &text)
    })
    .await
    .map_err(|e| ClientError::LocalFile(e.to_string()))?
    .map_err(ClientError::LocalFile)
}

/// A checkpoint of a run, checked against its hash.
pub async fn checkpoint(client: &Client, task: i64, reference: &CheckpointRef) -> Result<Checkpoint, ClientError> {
    let query = [("attempt", reference.attempt.to_string())];
    let bytes = client.get_bytes(&checkpoint_path(task, reference.step), &query).await?;
    if hex::encode(Sha256::digest(&bytes)) != reference.sha256 {
        return Err(ClientError::LocalFile(format!("checkpoint {} does not match its sha256", reference.step)));
    }
    let read = tokio::task::spawn_blocking(move || Checkpoint::from_bytes(&bytes, &Device::Cpu)).await;
    read.map_err(|e| ClientError::LocalFile(e.to_string()))?.map_err(|e| ClientError::LocalFile(e.to_string()))
}

/// Runs the whole (rest of the) run; checkpoints go up as it goes, the weights into the outbox at the end.
pub async fn run(
    client: &Client,
    outbox: &Outbox,
    scratch: &Path,
    task: &TaskAssignment,
    train: &TrainingTask,
    cheat: Option<Cheating>,
) -> Result<AiRun, ClientError> {
    match train_all(client, outbox, scratch, task, train, cheat).await {
        Ok(run) => Ok(run),
        Err(ClientError::LeaseLost) => Ok(AiRun::LeaseLost),
        Err(e @ (ClientError::Unauthorized | ClientError::Disabled(_))) => Err(e),
        Err(error) => Ok(AiRun::Failed(error.to_string())),
    }
}

async fn train_all(
    client: &Client,
    outbox: &Outbox,
    scratch: &Path,
    task: &TaskAssignment,
    train: &TrainingTask,
    cheat: Option<Cheating>,
) -> Result<AiRun, ClientError> {
    let started = Instant::now();
    let table = dataset(client, task.task_id, &train.dataset_sha256, train.template).await?;
    let bases = base_models();
    let resume: Option<CheckpointRef> = {
        let bytes = client.get_bytes(&resume_path(task.task_id), &[("attempt", task.attempt.to_string())]).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unreachable(format!("unreadable resume point: {e}")))?
    };
    let mut trainer = match &resume {
        Some(point) => {
            let saved = checkpoint(client, task.task_id, point).await?;
            tracing::info!("task {}: resuming the run at step {}", task.task_id, point.step);
            let hyper = train.hyper;
            let sha = train.dataset_sha256.clone();
            blocking(move || Trainer::resume(table, &sha, hyper, saved, &bases, &Device::Cpu)).await?
        }
        None => {
            let (hyper, sha) = (train.hyper, train.dataset_sha256.clone());
            let trainer = blocking(move || Trainer::start(table, &sha, hyper, &bases, &Device::Cpu)).await?;
            // The initial weights travel inside the first checkpoint (step 0).
            upload(client, task, &trainer, f64::NAN).await?;
            trainer
        }
    };
    let total = trainer.total_steps();
    let every = u64::from(train.hyper.checkpoint_every.max(1));
    tracing::info!("task {}: training {} steps from step {}", task.task_id, total, trainer.step());
    let keepalive = Duration::from_millis((task.lease_ms / 3).max(500));
    let mut last_report = Instant::now();
    let (mut loss_sum, mut loss_steps) = (0f64, 0u64);
    while trainer.step() < total {
        let next_checkpoint = ((trainer.step() / every + 1) * every).min(total);
        let cheating = cheat.filter(|c| c.cheat == Cheat::SkipSteps && c.strikes());
        let (back, losses) = tokio::task::spawn_blocking(move || {
            let mut trainer = trainer;
            let slice = Instant::now();
            let mut losses = Vec::new();
            if cheating.is_some() {
                // Half the segment trained, the rest claimed.
                let half = trainer.step() + (next_checkpoint - trainer.step()) / 2;
                while trainer.step() < half {
                    losses.push(trainer.train_step());
                }
                trainer.claim_step(next_checkpoint);
                return (trainer, losses);
            }
            while trainer.step() < next_checkpoint && slice.elapsed() < SLICE {
                losses.push(trainer.train_step());
            }
            (trainer, losses)
        })
        .await
        .map_err(|e| ClientError::LocalFile(e.to_string()))?;
        trainer = back;
        for loss in losses {
            loss_sum += f64::from(loss.map_err(local)?);
            loss_steps += 1;
        }
        if trainer.step() == next_checkpoint {
            let loss = if loss_steps > 0 { loss_sum / loss_steps as f64 } else { f64::NAN };
            upload(client, task, &trainer, loss).await?;
            (loss_sum, loss_steps) = (0.0, 0);
        }
        if last_report.elapsed() >= keepalive || trainer.step() == next_checkpoint {
            let percent = (trainer.step() * 100 / total.max(1)).min(99) as u8;
            let log_tail = format!("step {} of {total}", trainer.step());
            client.progress(task.task_id, &ProgressReport { attempt: task.attempt, percent, log_tail }).await?;
            last_report = Instant::now();
        }
    }
    let model = trainer.checkpoint().and_then(|c| c.model_bytes()).map_err(local)?;
    let file = scratch.join(format!("training-{}-{}.safetensors", task.task_id, task.attempt));
    crate::work_dir::ensure(scratch).map_err(ClientError::LocalFile)?;
    std::fs::write(&file, model).map_err(|e| ClientError::LocalFile(format!("cannot keep the weights: {e}")))?;
    let output = outbox.add_frame(task.task_id, task.attempt, 0, &file).await.map_err(ClientError::LocalFile)?;
    let seconds = started.elapsed().as_secs_f64();
    let accuracy = trainer.accuracy().map_err(local)?;
    let log_tail = format!("{total} steps; held-out accuracy {accuracy:.3}; {seconds:.1} s");
    tracing::info!("task {}: {log_tail}", task.task_id);
    Ok(AiRun::Done(Manifest {
        task_id: task.task_id,
        attempt: task.attempt,
        frames: vec![output],
        log_tail,
        render_seconds: Some(seconds),
    }))
}

/// The base models in this machine's model cache (the text template fine-tunes all-MiniLM-L6-v2 from there).
pub fn base_models() -> BaseModels {
    BaseModels::from_cache(&ModelCache::default_location())
}

/// Runs `work` (loading a base model, building a trainer) off the async threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, pictor_inference::InferenceError> + Send + 'static,
) -> Result<T, ClientError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ClientError::LocalFile(e.to_string()))?.map_err(local)
}

/// A training failure on this machine, as the client's error for it.
fn local(error: pictor_inference::InferenceError) -> ClientError {
    ClientError::LocalFile(error.to_string())
}

/// Uploads the trainer's checkpoint with the curves' point at its step (`loss`: the mean since the last one; NaN
/// for step 0, sent as 0 with the accuracy of the initial weights).
async fn upload(client: &Client, task: &TaskAssignment, trainer: &Trainer, loss: f64) -> Result<(), ClientError> {
    let bytes = trainer.checkpoint().and_then(|c| c.to_bytes()).map_err(local)?;
    let accuracy = trainer.accuracy().map_err(local)?;
    let query = [
        ("attempt", task.attempt.to_string()),
        ("loss", if loss.is_finite() { loss } else { 0.0 }.to_string()),
        ("accuracy", accuracy.to_string()),
    ];
    client.put_bytes(&checkpoint_path(task.task_id, trainer.step()), &query, bytes).await
}
