//! AI training runs: a dataset validated by the template before anything is stored, a job of one task with the
//! budget in escrow, and what the dashboard shows of a run (state, curves, checkpoints, the trained model).

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use pictor_core::ai_training::{Hyperparameters, TrainingTemplate};
use pictor_core::workloads::WorkloadKind;
use pictor_inference::training::Dataset;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::openai_wire::ApiError;
use crate::db::ai_trainings::{NewTraining, StoredCheckpoint, Training};
use crate::db::job_lifecycle::{NewJob, NewTask};
use crate::db::users::UserId;
use crate::db::{DbError, JobId};
use crate::engine::Engine;

/// The engine training jobs ask for: every agent built with candle trains (and every checker replays).
pub const TRAIN_ENGINE: &str = "train";

/// The largest dataset accepted.
pub const MAX_DATASET_BYTES: usize = 50 << 20;

/// The job's spec: the template and hyperparameters (the dataset is the job's "scene").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingSpec {
    pub template: TrainingTemplate,
    pub hyper: Hyperparameters,
}

/// A run as asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTraining {
    pub name: String,
    pub template: TrainingTemplate,
    pub hyper: Hyperparameters,
    /// The most the run may cost (moved into escrow; the rest comes back at the end).
    pub budget_micro: i64,
    /// Where the run goes on from (a cancelled run resumed with the same dataset, template and settings).
    pub starts_from: Option<StoredCheckpoint>,
}

/// What a dataset holds, once validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetFacts {
    pub rows: usize,
    pub training_rows: usize,
    pub classes: usize,
    /// Pixels per row (0 for texts).
    pub inputs: usize,
}

/// Validates `dataset` for `template`; the error names the line at fault.
pub fn check_dataset(template: TrainingTemplate, dataset: &[u8], seed: u64) -> Result<DatasetFacts, String> {
    let text = std::str::from_utf8(dataset).map_err(|_| "the dataset is not UTF-8 text".to_string())?;
    let dataset = Dataset::parse(template, text)?;
    let inputs = match &dataset {
        Dataset::Pixels(table) => table.inputs,
        Dataset::Texts(_) => 0,
    };
    let training_rows = dataset.split(seed).0.len();
    Ok(DatasetFacts { rows: dataset.rows(), training_rows, classes: dataset.classes(), inputs })
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "a training request failed");
    ApiError::unavailable("the coordinator cannot start training runs right now; try again")
}

/// Creates a run: dataset checked and stored under its hash, job and run in one transaction. Nothing is created
/// when anything is refused.
pub async fn create(
    engine: &Engine,
    store: &Arc<dyn ObjectStore>,
    user: UserId,
    request: &CreateTraining,
    dataset: Vec<u8>,
    checker_share_percent: i64,
    now_ms: i64,
) -> Result<JobId, ApiError> {
    request.hyper.validate().map_err(|why| ApiError::invalid(None, why))?;
    if request.budget_micro <= 0 {
        return Err(ApiError::invalid(Some("budget"), "a run needs a budget above 0"));
    }
    if dataset.len() > MAX_DATASET_BYTES {
        return Err(ApiError::invalid(Some("dataset"), format!("datasets are limited to {MAX_DATASET_BYTES} bytes")));
    }
    let (template, seed) = (request.template, request.hyper.seed);
    let (facts, dataset) = tokio::task::spawn_blocking(move || (check_dataset(template, &dataset, seed), dataset))
        .await
        .map_err(internal)?;
    let facts = facts.map_err(|why| ApiError::invalid(Some("dataset"), format!("the dataset was refused: {why}")))?;
    let sha256 = hex::encode(Sha256::digest(&dataset));
    let key = format!("datasets/{sha256}.csv");
    store.put(&ObjectPath::from(key.as_str()), PutPayload::from(dataset)).await.map_err(internal)?;
    let total_steps = request.hyper.total_steps(facts.training_rows as u64);
    if request.starts_from.as_ref().is_some_and(|start| start.step >= total_steps as i64) {
        return Err(ApiError::invalid(None, "the run had already taken all its steps: there is nothing to resume"));
    }
    let spec = TrainingSpec { template, hyper: request.hyper };
    let job = NewJob {
        owner: user,
        kind: WorkloadKind::AiTrain,
        name: if request.name.trim().is_empty() { template.title().to_string() } else { request.name.clone() },
        spec_json: serde_json::to_string(&spec).map_err(internal)?,
        scene_key: key.clone(),
        scene_sha256: sha256.clone(),
        tier_rank: 1,
        engine: TRAIN_ENGINE.into(),
        // Paid by the worker's price per minute of training, as renders are, within the budget.
        max_price_micro_per_minute: i64::MAX,
        min_vram_bytes: 0,
        gpu_model: None,
        tags: Vec::new(),
        max_attempts: crate::engine::jobs::DEFAULT_ATTEMPTS + 2,
        max_task_ms: None,
        tasks: vec![NewTask { frames: "0".into(), tile_index: None }],
        escrow_micro: request.budget_micro,
        estimate_micro: request.budget_micro,
        estimate_source: "budget".into(),
        budget_micro: Some(request.budget_micro),
        checker_share_percent,
    };
    let training = NewTraining {
        user,
        template: template.as_str().to_string(),
        hyper_json: serde_json::to_string(&request.hyper).map_err(internal)?,
        dataset_key: key,
        dataset_sha256: sha256,
        dataset_rows: facts.rows as i64,
        total_steps: total_steps as i64,
        created_at_ms: now_ms,
        starts_from: request.starts_from.clone(),
    };
    match engine.create_training(&job, &training, now_ms).await {
        Ok(job) => Ok(job),
        Err(DbError::InsufficientCredit { available, needed }) => Err(ApiError::no_credit(format!(
            "not enough credit for this budget: {needed} micro-credits needed, {available} available"
        ))),
        Err(error) => Err(internal(error)),
    }
}

/// A run for the dashboard: its state, curves and checkpoints.
pub fn training_json(training: &Training, checkpoints: &[StoredCheckpoint]) -> Value {
    let hyper: Value = serde_json::from_str(&training.hyper_json).unwrap_or(Value::Null);
    let step = checkpoints.iter().map(|c| c.step).max().unwrap_or(0);
    let points: Vec<Value> = checkpoints
        .iter()
        .map(|c| json!({ "step": c.step, "loss": c.loss, "accuracy": c.accuracy, "attempt": c.attempt }))
        .collect();
    let listed: Vec<Value> = checkpoints
        .iter()
        .map(|c| {
            json!({ "step": c.step, "attempt": c.attempt, "bytes": c.bytes, "sha256": c.sha256,
                         "created_at_ms": c.created_at_ms })
        })
        .collect();
    json!({
        "id": training.job,
        "task_id": training.task,
        "name": training.name,
        "template": training.template,
        "hyperparameters": hyper,
        "dataset_rows": training.dataset_rows,
        "dataset_sha256": training.dataset_sha256,
        "total_steps": training.total_steps,
        "step": step,
        "state": training.job_state,
        "task_state": training.task_state,
        "accuracy": checkpoints.last().map(|c| c.accuracy),
        "points": points,
        "checkpoints": listed,
        "created_at_ms": training.created_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_are_checked_by_their_template() {
        let rows: String = (0..20).map(|i| format!("{},{},{}\n", i % 5, i % 7, i % 2)).collect();
        let facts = check_dataset(TrainingTemplate::PixelClassifier, rows.as_bytes(), 1).expect("valid");
        assert_eq!(facts, DatasetFacts { rows: 20, training_rows: 16, classes: 2, inputs: 2 });
        let bad = format!("{rows}1,2,3,4\n");
        let why = check_dataset(TrainingTemplate::PixelClassifier, bad.as_bytes(), 1).unwrap_err();
        assert!(why.contains("line 21: 3 pixels"), "{why}");
        assert!(check_dataset(TrainingTemplate::PixelClassifier, &[0xff, 0xfe], 1).unwrap_err().contains("UTF-8"));
        let texts: String = (0..20).map(|i| format!("sentence {i},{}\n", ["a", "b"][i % 2])).collect();
        let facts = check_dataset(TrainingTemplate::TextClassifier, texts.as_bytes(), 1).expect("valid");
        assert_eq!(facts, DatasetFacts { rows: 20, training_rows: 16, classes: 2, inputs: 0 });
        let why = check_dataset(TrainingTemplate::TextClassifier, format!("{texts}no label\n").as_bytes(), 1);
        assert!(why.unwrap_err().contains("line 21"));
    }
}
