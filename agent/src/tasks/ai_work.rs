//! The work loop's AI tasks: a batch chunk or a training run is run by its runner, then what it left in the outbox
//! is delivered like a render's outputs (or the failure reported).

use pictor_core::agent_protocol::TaskAssignment;

use super::{deliver_keeping_lease, Tasks};
use crate::ai::AiRun;
use crate::client::ClientError;

impl Tasks<'_> {
    /// Runs a chunk of an AI batch and delivers its results like a render's outputs.
    pub(super) async fn run_chunk(
        &self,
        task: &TaskAssignment,
        batch: &pictor_core::ai_batch::BatchTask,
    ) -> Result<(), ClientError> {
        let Some(runner) = &self.batches else {
            return self.report_failure(task, "this worker runs no AI batches", "").await;
        };
        tracing::info!("leased task {} (a chunk of batch job {}, attempt {})", task.task_id, task.job_id, task.attempt);
        let run = runner.run(self.client, &self.outbox, &self.batch_dir, task, batch).await?;
        self.deliver_ai(task, run, "the results").await
    }

    /// Runs (the rest of) a training run and delivers its trained weights like a render's outputs.
    pub(super) async fn run_training(
        &self,
        task: &TaskAssignment,
        train: &pictor_core::ai_training::TrainingTask,
    ) -> Result<(), ClientError> {
        tracing::info!("leased task {} (training job {}, attempt {})", task.task_id, task.job_id, task.attempt);
        let run = crate::ai::training::run(self.client, &self.outbox, &self.batch_dir, task, train, self.cheat).await?;
        self.deliver_ai(task, run, "the weights").await
    }

    /// Delivers what an AI task left in the outbox (`what` names it in a failure), or reports why it failed.
    async fn deliver_ai(&self, task: &TaskAssignment, run: AiRun, what: &str) -> Result<(), ClientError> {
        match run {
            AiRun::Done(manifest) => match self.outbox.seal(manifest) {
                Ok(entry) => deliver_keeping_lease(self.client, &self.outbox, &entry, task.lease_ms).await,
                Err(e) => {
                    self.outbox.discard(task.task_id, task.attempt);
                    self.report_failure(task, &format!("cannot keep {what}: {e}"), "").await
                }
            },
            AiRun::Failed(error) => {
                self.outbox.discard(task.task_id, task.attempt);
                tracing::warn!("task {} failed: {error}", task.task_id);
                self.report_failure(task, &error, "").await
            }
            AiRun::LeaseLost => {
                self.outbox.discard(task.task_id, task.attempt);
                tracing::warn!("lease lost on task {} (its job was cancelled or the lease expired)", task.task_id);
                Ok(())
            }
        }
    }
}
