//! AI training runs as a kind of work of the task engine: a lease names the template and hyperparameters, the worker
//! uploads checkpoints as it trains and the trained weights as output 0, and a finished attempt is taken in when its
//! last checkpoint is the run's last step; a checker then replays one segment of its steps.

use pictor_core::agent_protocol::TaskAssignment;
use pictor_core::ai_training::{run_chain, CheckpointRef, ReplayOrder, TrainingTask, TrainingTemplate};
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
        // The segment replayed is one this attempt trained; an attempt that trained none (it resumed at the last
        // step) delivers weights an earlier attempt trained, so the last segment of the chain is replayed, and a
        // mismatch lands on the attempt that trained it.
        let Some((from, to)) = pick_segment(&chain, attempt, rand::random()).or_else(|| last_segment(&chain, attempt))
        else {
            tracing::info!(%task, attempt, "training attempt accepted unchecked: no segment of the run was trained");
            return Ok(Intake::Accept(None));
        };
        let trainer = if to.attempt == attempt {
            node
        } else {
            self.db
                .attempt_node(task, to.attempt)
                .await?
                .ok_or_else(|| WorkloadError::Internal(format!("task {task}: attempt {} has no node", to.attempt)))?
        };
        let trust = self.db.worker_trust(trainer).await?;
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
        Ok(Intake::Accept(Some(NewVerification {
            crops_json,
            quorum,
            blender_version: String::new(),
            checked_node: (trainer != node).then_some(trainer),
            // A mismatch discards the run from the replay's start on: later checkpoints were built on it.
            rejects_after_step: Some(from.step),
        })))
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
    let segments: Vec<(&StoredCheckpoint, &StoredCheckpoint)> =
        segments(chain, attempt).filter(|(_, to)| to.attempt == attempt).collect();
    let index = ((draw * segments.len() as f64) as usize).min(segments.len().checked_sub(1)?);
    segments.get(index).copied()
}

/// The run's last trained segment (whichever attempt trained it), for an attempt that delivers without training.
pub fn last_segment(chain: &[StoredCheckpoint], attempt: i64) -> Option<(&StoredCheckpoint, &StoredCheckpoint)> {
    segments(chain, attempt).last()
}

/// The segments of the run as it went, `attempt`'s checkpoints taken where several attempts uploaded one step.
fn segments(chain: &[StoredCheckpoint], attempt: i64) -> impl Iterator<Item = (&StoredCheckpoint, &StoredCheckpoint)> {
    let steps: Vec<(i64, i64)> = chain.iter().map(|checkpoint| (checkpoint.step, checkpoint.attempt)).collect();
    let run: Vec<&StoredCheckpoint> = run_chain(&steps, attempt).into_iter().map(|index| &chain[index]).collect();
    let pairs: Vec<(&StoredCheckpoint, &StoredCheckpoint)> =
        run.windows(2).filter(|pair| pair[0].step < pair[1].step).map(|pair| (pair[0], pair[1])).collect();
    pairs.into_iter()
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

    #[test]
    fn an_attempt_that_trained_nothing_has_the_last_segment_replayed() {
        // Attempt 1 reached the last step (40) and died before `done`; attempt 2 delivered its weights.
        let chain = [at(1, 0), at(1, 20), at(1, 40)];
        assert!(pick_segment(&chain, 2, 0.5).is_none());
        let (from, to) = last_segment(&chain, 2).expect("a segment");
        assert_eq!((from.step, to.step, to.attempt), (20, 40, 1));
        // A run resumed at its last step from a cancelled run's checkpoint (attempt 0) has nothing to replay.
        assert!(last_segment(&[at(0, 40)], 1).is_none());
    }
}
