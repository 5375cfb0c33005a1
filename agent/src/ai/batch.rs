//! Runs a leased AI batch chunk: loads the model (from the cache, or fetched as for a load order), runs each line
//! exactly as an API request of the same body would run on this worker, keeps the lease with progress between
//! lines, and puts the results (one JSON line per input line) in the outbox for delivery.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pictor_core::agent_protocol::{ProgressReport, TaskAssignment};
use pictor_core::ai::FromWorker;
use pictor_core::ai_batch::{BatchItem, BatchLineResult, BatchOutcome, BatchTask, BatchWork};
use pictor_inference::ModelCache;
use tokio::time::Instant;

use super::fetch::{self, LoadOrder};
use super::models::{Model, ModelPool};
use super::runner;
use super::AiRun;
use crate::client::{Client, ClientError};
use crate::outbox::{Manifest, Outbox};

/// What a worker runs batch chunks with: the models it serves, and where it keeps them.
#[derive(Clone)]
pub struct BatchRunner {
    pub pool: ModelPool,
    pub cache: ModelCache,
}

impl BatchRunner {
    /// Runs every line of the chunk; the results go into the outbox under the task's attempt.
    pub async fn run(
        &self,
        client: &Client,
        outbox: &Outbox,
        scratch: &Path,
        task: &TaskAssignment,
        batch: &BatchTask,
    ) -> Result<AiRun, ClientError> {
        let started = Instant::now();
        let model = match self.model(client, batch).await {
            Ok(model) => model,
            Err(error) => return Ok(AiRun::Failed(format!("cannot load model '{}': {error}", batch.model))),
        };
        let items = match client.batch_input(task.task_id, task.attempt).await {
            Ok(items) => items,
            Err(ClientError::LeaseLost) => return Ok(AiRun::LeaseLost),
            Err(e @ (ClientError::Unauthorized | ClientError::Disabled(_))) => return Err(e),
            // The coordinator may be restarting: the chunk goes back for another try, the worker carries on.
            Err(error) => return Ok(AiRun::Failed(format!("cannot get the chunk's lines: {error}"))),
        };
        tracing::info!("task {}: {} lines of a batch on {}", task.task_id, items.len(), batch.model);
        let keepalive = Duration::from_millis((task.lease_ms / 3).max(500));
        let mut last_report = Instant::now();
        let mut results = Vec::with_capacity(items.len());
        for (done, item) in items.iter().enumerate() {
            if last_report.elapsed() >= keepalive {
                let percent = (done * 100 / items.len().max(1)).min(99) as u8;
                let log_tail = format!("{done} of {} lines", items.len());
                let report = ProgressReport { attempt: task.attempt, percent, log_tail };
                match client.progress(task.task_id, &report).await {
                    Ok(_) => last_report = Instant::now(),
                    Err(ClientError::LeaseLost) => return Ok(AiRun::LeaseLost),
                    Err(e @ (ClientError::Unauthorized | ClientError::Disabled(_))) => return Err(e),
                    Err(e) => tracing::warn!("progress report on task {} failed: {e}", task.task_id),
                }
            }
            results.push(run_line(&model, item).await);
        }
        let mut text = String::new();
        for result in &results {
            match serde_json::to_string(result) {
                Ok(line) => {
                    text.push_str(&line);
                    text.push('\n');
                }
                Err(e) => return Ok(AiRun::Failed(format!("cannot write the results: {e}"))),
            }
        }
        let file = scratch.join(format!("batch-{}-{}.jsonl", task.task_id, task.attempt));
        if let Err(e) =
            crate::work_dir::ensure(scratch).and_then(|()| std::fs::write(&file, text).map_err(|e| e.to_string()))
        {
            return Ok(AiRun::Failed(format!("cannot keep the results: {e}")));
        }
        let output = match outbox.add_frame(task.task_id, task.attempt, 0, &file).await {
            Ok(output) => output,
            Err(e) => return Ok(AiRun::Failed(e)),
        };
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!("task {}: {} lines in {seconds:.1} s", task.task_id, results.len());
        Ok(AiRun::Done(Manifest {
            task_id: task.task_id,
            attempt: task.attempt,
            frames: vec![output],
            log_tail: format!("{} lines in {seconds:.1} s", results.len()),
            render_seconds: Some(seconds),
        }))
    }

    /// The chunk's model, loaded now if this worker does not hold it.
    async fn model(&self, client: &Client, batch: &BatchTask) -> Result<Model, String> {
        if let Some(model) = self.pool.get(&batch.model) {
            return Ok(model);
        }
        let order = LoadOrder {
            model: batch.model.clone(),
            kind: batch.kind,
            sha256: batch.sha256.clone(),
            bytes: batch.bytes,
            files: batch.files.clone(),
        };
        fetch::load(client, &self.cache, &self.pool, &order).await?;
        self.pool.get(&batch.model).ok_or_else(|| "the model was unloaded as soon as it loaded".into())
    }
}

/// One line on the engine, as the API runs a request: the same runner, the same sampling.
async fn run_line(model: &Model, item: &BatchItem) -> BatchLineResult {
    let (model, work) = (model.clone(), item.work.clone());
    let messages = tokio::task::spawn_blocking(move || {
        let (out, mut received) = tokio::sync::mpsc::unbounded_channel();
        match (&model, &work) {
            (Model::Chat(chat), BatchWork::Generate { prompt, sampling }) => {
                runner::generate(chat, "batch", prompt, sampling, &AtomicBool::new(false), &out)
            }
            (Model::Embedding(embedding), BatchWork::Embed { inputs, .. }) => {
                runner::embed(embedding, "batch", inputs, &out)
            }
            _ => {
                let message = "the line's endpoint does not fit the model's kind".to_string();
                let _ = out.send(FromWorker::Failed { request: "batch".into(), message, caller_error: true });
            }
        }
        drop(out);
        let mut messages = Vec::new();
        while let Ok(message) = received.try_recv() {
            messages.push(message);
        }
        messages
    })
    .await
    .unwrap_or_default();
    BatchLineResult { line: item.line, outcome: outcome_of(messages) }
}

/// The runner's messages for one line as its result.
fn outcome_of(messages: Vec<FromWorker>) -> BatchOutcome {
    let (mut text, mut token_ids, mut prompt) = (String::new(), Vec::new(), 0);
    for message in messages {
        match message {
            FromWorker::Started { prompt_tokens, .. } => prompt = prompt_tokens,
            FromWorker::Token { id, text: piece, .. } => {
                token_ids.push(id);
                text.push_str(&piece);
            }
            FromWorker::Finished { finish_reason, .. } => {
                return BatchOutcome::Generated { text, token_ids, finish_reason, prompt_tokens: prompt }
            }
            FromWorker::Embedded { vectors, prompt_tokens, .. } => {
                return BatchOutcome::Embedded { vectors, prompt_tokens }
            }
            FromWorker::Failed { message, caller_error, .. } => return BatchOutcome::Failed { message, caller_error },
            _ => {}
        }
    }
    BatchOutcome::Failed { message: "the engine stopped without an answer".into(), caller_error: false }
}

/// Where a chunk's results are written before they move to the outbox.
pub fn scratch_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("batches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_result_gathers_the_tokens_of_its_answer() {
        let messages = vec![
            FromWorker::Started { request: "batch".into(), prompt_tokens: 5 },
            FromWorker::Token { request: "batch".into(), id: 1, text: "Hel".into() },
            FromWorker::Token { request: "batch".into(), id: 2, text: "lo".into() },
            FromWorker::Finished {
                request: "batch".into(),
                finish_reason: "stop".into(),
                completion_tokens: 2,
                first_token_ms: None,
            },
        ];
        assert_eq!(
            outcome_of(messages),
            BatchOutcome::Generated {
                text: "Hello".into(),
                token_ids: vec![1, 2],
                finish_reason: "stop".into(),
                prompt_tokens: 5
            }
        );
        assert!(matches!(outcome_of(Vec::new()), BatchOutcome::Failed { caller_error: false, .. }));
    }
}
