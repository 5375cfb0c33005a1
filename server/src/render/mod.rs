//! Render jobs: scene uploads, job submission and listing (REST), and the agent's side of tasks.

pub mod agent_tasks;
pub mod archive;
pub mod blobs;
pub mod estimate;
pub mod jobs_api;
pub mod service;
pub mod stitch;

/// Tells the job owner's open pages that `task` changed (best effort: a failed read only costs a live update).
pub async fn publish_task(db: &crate::db::Db, bus: &crate::events::EventBus, task: i64) {
    match db.task_live(task).await {
        Ok(Some(live)) => bus.publish(pictor_core::events::Event::Task(live)),
        Ok(None) => {}
        Err(error) => tracing::warn!(%error, task, "cannot publish a task update"),
    }
}
