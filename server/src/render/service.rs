//! The coordinator's side of the Rendering pages: [`JobService`] over the database.

use pictor_app::ports::JobService;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::jobs::{AttemptView, JobDetails, JobSummary};

use crate::clock::now_ms;
use crate::db::{Db, DbError, JobId, TaskId};

pub struct DbJobs {
    pub db: Db,
    pub engine: crate::engine::Engine,
    /// How long a result waits for a checker before it is accepted unchecked (told on the job page).
    pub unchecked_after_ms: i64,
}

fn to_app_error(error: DbError) -> AppError {
    crate::api::errors::app_error("job", error)
}

#[async_trait::async_trait]
impl JobService for DbJobs {
    async fn jobs(&self, viewer: &Viewer) -> Result<Vec<JobSummary>, AppError> {
        self.db.jobs_of(viewer.user_id).await.map_err(to_app_error)
    }

    async fn job(&self, viewer: &Viewer, job: i64) -> Result<JobDetails, AppError> {
        let mut details =
            self.db.job_of(viewer.user_id, JobId(job)).await.map_err(to_app_error)?.ok_or(AppError::NotFound)?;
        details.checks.accepted_unchecked_after_ms = self.unchecked_after_ms;
        Ok(details)
    }

    async fn cancel(&self, viewer: &Viewer, job: i64) -> Result<(), AppError> {
        self.engine.cancel_job(viewer.user_id, JobId(job), now_ms()).await.map_err(to_app_error)
    }

    async fn rerender(&self, viewer: &Viewer, job: i64, tasks: Option<Vec<i64>>) -> Result<u64, AppError> {
        let tasks = match tasks {
            Some(tasks) => tasks,
            None => {
                let details = self.job(viewer, job).await?;
                details
                    .tasks
                    .iter()
                    .filter(|task| task.state == pictor_core::states::TaskState::Failed)
                    .map(|task| task.id)
                    .collect()
            }
        };
        if tasks.len() > 10_000 {
            return Err(AppError::BadRequest("at most 10 000 tasks at once".into()));
        }
        let tasks: Vec<TaskId> = tasks.into_iter().map(TaskId).collect();
        let requeued =
            self.engine.rerender_tasks(viewer.user_id, JobId(job), &tasks, now_ms()).await.map_err(to_app_error)?;
        Ok(requeued.len() as u64)
    }

    async fn attempts(&self, viewer: &Viewer, job: i64, task: i64) -> Result<Vec<AttemptView>, AppError> {
        self.db
            .task_attempts(viewer.user_id, JobId(job), TaskId(task))
            .await
            .map_err(to_app_error)?
            .ok_or(AppError::NotFound)
    }
}
