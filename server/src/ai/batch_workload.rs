//! AI batch chunks as a kind of work of the task engine: a lease names the model, the worker fetches the chunk's
//! lines, and its uploaded results are checked for shape, priced per token at the batch's prices (the attempt's
//! charge, paid from the job's escrow on acceptance) and, by the worker's record, one line is kept for a checker.

use std::sync::Arc;

use object_store::ObjectStore;
use pictor_core::agent_protocol::TaskAssignment;
use pictor_core::ai::{cost_micro, ModelKind};
use pictor_core::ai_batch::{BatchItem, BatchLineResult, BatchOutcome, BatchTask, BatchWork};
use pictor_core::workloads::WorkloadKind;
use serde_json::json;

use super::batches::{chunk_items, chunk_results};
use super::checks;
use super::gateway::Gateway;
use crate::clock::now_ms;
use crate::db::jobs::JobRenderInfo;
use crate::db::nodes::NodeId;
use crate::db::tasks::Lease;
use crate::db::{ai_batches, ai_checks, payments, Db, TaskId};
use crate::engine::workload::{single_output_assignment, Intake, LeaseLimits, Workload, WorkloadError};

/// Running chunks of batches on workers' inference engines.
pub struct AiBatchWorkload {
    pub db: Db,
    pub store: Arc<dyn ObjectStore>,
    pub gateway: Gateway,
}

/// The job's spec: the model and, for a hosted one, what a worker fetches to load it.
#[derive(serde::Deserialize)]
struct BatchSpec {
    model: String,
    kind: ModelKind,
    #[serde(default)]
    sha256: String,
    #[serde(default)]
    bytes: u64,
    #[serde(default)]
    files: Vec<pictor_core::ai::ModelFile>,
}

#[async_trait::async_trait]
impl Workload for AiBatchWorkload {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::AiBatch
    }

    fn assignment(
        &self,
        lease: &Lease,
        job: &JobRenderInfo,
        limits: LeaseLimits,
    ) -> Result<TaskAssignment, WorkloadError> {
        let spec: BatchSpec = serde_json::from_str(&job.spec_json)
            .map_err(|error| WorkloadError::BadJob { job: lease.job, why: format!("batch spec: {error}") })?;
        let batch =
            BatchTask { model: spec.model, kind: spec.kind, sha256: spec.sha256, bytes: spec.bytes, files: spec.files };
        Ok(TaskAssignment { ai_batch: Some(batch), ..single_output_assignment(lease, limits) })
    }

    async fn intake(&self, task: TaskId, attempt: i64, node: NodeId) -> Result<Intake, WorkloadError> {
        let chunk =
            self.db.batch_chunk(task).await?.ok_or(WorkloadError::Internal(format!("task {task} is no chunk")))?;
        let outputs = self.db.attempt_outputs(task, attempt).await?;
        let Some((_, key)) = outputs.iter().find(|(index, _)| *index == 0) else {
            return Ok(Intake::Refuse("no results were uploaded".into()));
        };
        let items = chunk_items(&self.store, &chunk.input_key).await.map_err(WorkloadError::Internal)?;
        let results = match chunk_results(&self.store, key).await {
            Ok(results) => results,
            Err(why) => return Ok(Intake::Refuse(why)),
        };
        if let Err(why) = check_results(&items, &results) {
            return Ok(Intake::Refuse(why));
        }
        let prices = (chunk.input_price_micro_per_m, chunk.output_price_micro_per_m);
        let charge = results
            .iter()
            .map(|result| {
                let (prompt, completion) = result.outcome.tokens();
                cost_micro(prompt, completion, prices.0, prices.1)
            })
            .fold(0i64, i64::saturating_add);
        let failed = results.iter().filter(|r| matches!(r.outcome, BatchOutcome::Failed { .. })).count() as i64;
        // One answered line, drawn at random, is kept for a checker when the worker's record asks for a check.
        let trust = self.db.worker_trust(node).await?;
        let sampled = checks::sampled(&trust, rand::random())
            .then(|| pick_checked_line(&items, &results, rand::random()))
            .flatten();
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        payments::set_attempt_charge(&mut tx, task, attempt, charge).await?;
        ai_batches::set_chunk_counts(&mut tx, task, results.len() as i64 - failed, failed).await?;
        if let Some((item, result)) = sampled {
            let request = format!("batchline-{task}-{attempt}-{}", item.line);
            let replay = replay_of(item, result);
            let tokens = result.outcome.tokens();
            let tokens = (tokens.0 as i64, tokens.1 as i64);
            ai_batches::insert_line_request(&mut tx, &request, chunk.user, &chunk.model, node, tokens, &replay, now)
                .await?;
            let engine = self.gateway.engine_of(node).unwrap_or_else(|| pictor_inference::ENGINE.to_string());
            ai_checks::open(&mut tx, &request, node, &chunk.model, &engine, now).await?;
        }
        tx.commit().await.map_err(crate::db::DbError::from)?;
        Ok(Intake::Accept(None))
    }
}

/// The results answer every line of the chunk, in order, with the kind of answer its work asks for; a worker's own
/// failure (not the line's fault) sends the chunk to another try.
pub fn check_results(items: &[BatchItem], results: &[BatchLineResult]) -> Result<(), String> {
    if items.len() != results.len() {
        return Err(format!("{} results for {} lines", results.len(), items.len()));
    }
    for (item, result) in items.iter().zip(results) {
        if item.line != result.line {
            return Err(format!("result for line {} where line {} was expected", result.line, item.line));
        }
        match (&item.work, &result.outcome) {
            (BatchWork::Generate { sampling, .. }, BatchOutcome::Generated { token_ids, .. }) => {
                if token_ids.len() > sampling.max_tokens as usize {
                    return Err(format!("line {}: more tokens than max_tokens", item.line));
                }
            }
            (BatchWork::Embed { inputs, .. }, BatchOutcome::Embedded { vectors, .. }) => {
                if vectors.len() != inputs.len() {
                    return Err(format!("line {}: {} vectors for {} inputs", item.line, vectors.len(), inputs.len()));
                }
            }
            (_, BatchOutcome::Failed { caller_error: true, .. }) => {}
            (_, BatchOutcome::Failed { message, .. }) => {
                return Err(format!("line {}: the worker failed: {message}", item.line));
            }
            _ => return Err(format!("line {}: an answer of the wrong kind", item.line)),
        }
    }
    Ok(())
}

/// An answered line to check (`draw` uniform in [0, 1)); `None` when no line was answered.
fn pick_checked_line<'a>(
    items: &'a [BatchItem],
    results: &'a [BatchLineResult],
    draw: f64,
) -> Option<(&'a BatchItem, &'a BatchLineResult)> {
    let answered: Vec<(&BatchItem, &BatchLineResult)> = items
        .iter()
        .zip(results)
        .filter(|(_, result)| !matches!(result.outcome, BatchOutcome::Failed { .. }))
        .collect();
    let index = ((draw * answered.len() as f64) as usize).min(answered.len().checked_sub(1)?);
    answered.get(index).copied()
}

/// What a checker replays for a line: the same JSON an API request's check carries.
fn replay_of(item: &BatchItem, result: &BatchLineResult) -> String {
    match (&item.work, &result.outcome) {
        (BatchWork::Generate { prompt, sampling }, BatchOutcome::Generated { token_ids, .. }) => {
            json!({ "prompt": prompt, "sampling": sampling, "token_ids": token_ids }).to_string()
        }
        (BatchWork::Embed { inputs, .. }, BatchOutcome::Embedded { vectors, .. }) => {
            let packed: Vec<String> = vectors.iter().map(|v| pictor_core::ai::packed_vectors::encode(v)).collect();
            json!({ "inputs": inputs, "vectors": packed }).to_string()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_core::ai::{Prompt, Sampling};

    fn item(line: u32) -> BatchItem {
        let sampling = Sampling { max_tokens: 2, temperature: 0.0, top_p: None, seed: 1 };
        BatchItem {
            line,
            custom_id: format!("c{line}"),
            work: BatchWork::Generate { prompt: Prompt::Text("x".into()), sampling },
        }
    }

    fn generated(line: u32, tokens: usize) -> BatchLineResult {
        BatchLineResult {
            line,
            outcome: BatchOutcome::Generated {
                text: "y".into(),
                token_ids: vec![7; tokens],
                finish_reason: "length".into(),
                prompt_tokens: 3,
            },
        }
    }

    #[test]
    fn results_must_answer_every_line_in_order_within_its_limits() {
        let items = [item(4), item(5)];
        assert!(check_results(&items, &[generated(4, 2), generated(5, 1)]).is_ok());
        assert!(check_results(&items, &[generated(4, 2)]).unwrap_err().contains("1 results for 2 lines"));
        assert!(check_results(&items, &[generated(5, 1), generated(4, 1)]).unwrap_err().contains("line 4"));
        assert!(check_results(&items, &[generated(4, 3), generated(5, 1)]).unwrap_err().contains("max_tokens"));
        let line_fault = BatchLineResult {
            line: 5,
            outcome: BatchOutcome::Failed { message: "too long".into(), caller_error: true },
        };
        assert!(check_results(&items, &[generated(4, 1), line_fault.clone()]).is_ok());
        let worker_fault =
            BatchLineResult { line: 5, outcome: BatchOutcome::Failed { message: "oom".into(), caller_error: false } };
        assert!(check_results(&items, &[generated(4, 1), worker_fault]).unwrap_err().contains("worker failed"));
        let wrong = BatchLineResult { line: 5, outcome: BatchOutcome::Embedded { vectors: vec![], prompt_tokens: 1 } };
        assert!(check_results(&items, &[generated(4, 1), wrong]).unwrap_err().contains("wrong kind"));
        // Only answered lines are checked.
        let results = [generated(4, 1), line_fault];
        assert_eq!(pick_checked_line(&items, &results, 0.99).map(|(item, _)| item.line), Some(4));
        let replay = replay_of(&items[0], &results[0]);
        assert!(replay.contains("\"token_ids\":[7]"), "{replay}");
    }
}
