//! AI training runs as a kind of work of the task engine: a lease names the template and hyperparameters, the worker
//! uploads checkpoints as it trains and the trained weights as output 0, and a finished attempt is taken in when its
//! last checkpoint is the run's last step; a checker then replays one segment of its steps.

use pictor_core::agent_protocol::TaskAssignment;
use pictor_core::ai_training::{CheckpointRef, ReplayOrder, TrainingTask, TrainingTemplate};
use pictor_core::workloads::WorkloadKind;

use super::trainings::{TrainingSpec, TRAIN_ENGINE};
use crate::clock::now_ms;
use crate::db::ai_trainings::StoredCheckpoint;
use crate::db::jobs::JobRenderInfo;
use crate::db::nodes::NodeId;
use crate::db::tasks::Lease;
use crate::db::verifications::NewVerification;
use crate::db::{Db, TaskId};
use crate::engine::workload::{single_output_assignment, Intake, LeaseLimits, Workload, WorkloadError};
use crate::verify::planner::{check_probability, quorum};

/// Running training jobs on workers' candle.
pub struct AiTrainWorkload {
    pub db: Db,
}

#[async_trait::async_trait]
impl Workload for AiTrainWorkload {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::AiTrain
    }

    fn assignment(
        &self,
        lease: &Lease,
        job: &JobRenderInfo,
        limits: LeaseLimits,
    ) -> Result<TaskAssignment, WorkloadError> {
        let spec: TrainingSpec = serde_json::from_str(&job.spec_json)
            .map_err(|error| WorkloadError::BadJob { job: lease.job, why: format!("training spec: {error}") })?;
        let train =
            TrainingTask { template: spec.template, hyper: spec.hyper, dataset_sha256: job.scene_sha256.clone() };
        Ok(TaskAssignment { ai_train: Some(train), ..single_output_assignment(lease, limits) })
    }

    async fn intake(&self, task: TaskId, attempt: i64, node: NodeId) -> Result<Intake, WorkloadError> {
        let training = self
            .db
            .training_of_task(task)
            .await?
            .ok_or_else(|| WorkloadError::Internal(format!("task {task} is no training run")))?;
        if !self.db.attempt_outputs(task, attempt).await?.iter().any(|(index, _)| *index == 0) {
            return Ok(Intake::Refuse("the trained weights were not uploaded".into()));
        }
        let own = self.db.attempt_checkpoints(task, attempt).await?;
        // An attempt that resumed at the run's last step (the earlier one died between its last checkpoint and
        // `done`) trained nothing: it only delivers those weights.
        let last = match own.last() {
            Some(checkpoint) => checkpoint.step,
            None => self.db.resume_point(task).await?.map_or(-1, |checkpoint| checkpoint.step),
        };
        if last != training.total_steps {
            return Ok(Intake::Refuse(format!(
                "the last checkpoint is step {last}; the run has {} steps",
                training.total_steps
            )));
        }
        let chain = self.db.training_checkpoints(task).await?;
        let Some((from, to)) = pick_segment(&chain, attempt, rand::random()) else {
            tracing::info!(%task, attempt, "training attempt accepted unchecked: it trained no segment");
            return Ok(Intake::Accept(None));
        };
        let trust = self.db.worker_trust(node).await?;
        let eligible = self.db.eligible_checkers(trust.owner, TRAIN_ENGINE, "", now_ms()).await?;
        // Replays are deterministic: one checker's verdict settles it.
        let Some(quorum) = quorum(1, eligible) else {
            tracing::info!(%task, attempt, "training attempt accepted unchecked: no checker online");
            return Ok(Intake::Accept(None));
        };
        if rand::random::<f64>() >= check_probability(&trust, false) {
            tracing::info!(%task, attempt, streak = trust.valid_streak, "training attempt not sampled for a check");
            return Ok(Intake::Accept(None));
        }
        // The run's row keeps what the job's spec says: no second read of the job.
        let bad = |why: String| WorkloadError::BadJob { job: training.job, why };
        let template = TrainingTemplate::parse(&training.template).ok_or_else(|| bad("unknown template".into()))?;
        let hyper = serde_json::from_str(&training.hyper_json).map_err(|e| bad(format!("hyperparameters: {e}")))?;
        let order = ReplayOrder {
            task_id: task.into(),
            template,
            hyper,
            dataset_sha256: training.dataset_sha256.clone(),
            from: reference(from),
            to: reference(to),
        };
        let crops_json = serde_json::to_string(&order).map_err(|error| WorkloadError::Internal(error.to_string()))?;
        Ok(Intake::Accept(Some(NewVerification { crops_json, quorum, blender_version: String::new() })))
    }
}

fn reference(checkpoint: &StoredCheckpoint) -> CheckpointRef {
    CheckpointRef {
        step: u64::try_from(checkpoint.step).unwrap_or(0),
        attempt: checkpoint.attempt,
        sha256: checkpoint.sha256.clone(),
    }
}

/// A segment of steps this attempt trained, drawn with `draw` in [0, 1): a checkpoint of `attempt` and the one
/// before it on the run's chain (possibly an earlier attempt's, the one it resumed from). `None` when the attempt
/// trained no segment (it uploaded only what it resumed from).
pub fn pick_segment(
    chain: &[StoredCheckpoint],
    attempt: i64,
    draw: f64,
) -> Option<(&StoredCheckpoint, &StoredCheckpoint)> {
    // The chain as the run went: one checkpoint per step, this attempt's where several attempts uploaded one.
    let mut steps: Vec<&StoredCheckpoint> = Vec::new();
    for checkpoint in chain {
        match steps.last_mut() {
            Some(last) if last.step == checkpoint.step => {
                if checkpoint.attempt == attempt {
                    *last = checkpoint;
                }
            }
            _ => steps.push(checkpoint),
        }
    }
    let segments: Vec<(&StoredCheckpoint, &StoredCheckpoint)> = steps
        .windows(2)
        .filter(|pair| pair[1].attempt == attempt && pair[0].step < pair[1].step)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    let index = ((draw * segments.len() as f64) as usize).min(segments.len().checked_sub(1)?);
    segments.get(index).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(attempt: i64, step: i64) -> StoredCheckpoint {
        StoredCheckpoint {
            task: TaskId(1),
            attempt,
            step,
            object_key: format!("k{attempt}-{step}"),
            sha256: String::new(),
            bytes: 1,
            loss: 1.0,
            accuracy: 0.5,
            created_at_ms: 0,
        }
    }

    #[test]
    fn segments_end_in_the_attempt_and_may_start_where_it_resumed() {
        // Attempt 1 reached step 20 and died; attempt 2 resumed there and finished at 40.
        let chain = [at(1, 0), at(1, 10), at(1, 20), at(2, 30), at(2, 40)];
        let first = pick_segment(&chain, 2, 0.0).expect("a segment");
        assert_eq!((first.0.step, first.0.attempt, first.1.step), (20, 1, 30));
        let last = pick_segment(&chain, 2, 0.99).expect("a segment");
        assert_eq!((last.0.step, last.1.step), (30, 40));
        assert!(pick_segment(&chain, 3, 0.5).is_none(), "an attempt with no checkpoints trained nothing");
        // Where two attempts uploaded the same step, the chain runs through the checked attempt's.
        let chain = [at(1, 0), at(2, 0), at(2, 10)];
        let only = pick_segment(&chain, 2, 0.5).expect("a segment");
        assert_eq!((only.0.attempt, only.1.step), (2, 10));
    }
}
