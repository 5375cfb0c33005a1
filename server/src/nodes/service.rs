//! The coordinator's side of the My Workers pages: [`WorkerService`] over the database.

use pictor_app::ports::WorkerService;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::workers::{
    IssuedNodeConfig, WorkerDetails, WorkerSettings, WorkerSummary, WorkerTaskPage, WorkersOverview,
};

use super::registry::{self, node_error};
use crate::clock::now_ms;
use crate::db::node_metrics::{COARSE, FINE};
use crate::db::nodes::NodeKind;
use crate::db::{Db, NodeId};

/// A user may run this many workers.
pub const MAX_WORKERS_PER_USER: usize = 200;
const HOUR_MS: i64 = 3_600_000;

pub struct DbWorkers {
    pub db: Db,
    /// The coordinator URL written into config files.
    pub public_origin: String,
    /// The workers serving AI models right now, and what they hold.
    pub ai_gateway: crate::ai::gateway::Gateway,
}

impl DbWorkers {
    /// Adds each worker's AI figures: the models it holds now, its tokens served and AI earnings.
    async fn with_ai(&self, owner: i64, workers: &mut [WorkerSummary]) -> Result<(), AppError> {
        let stats = self.db.worker_ai_stats(owner).await.map_err(node_error)?;
        let warm = self.ai_gateway.warm_workers();
        for worker in workers {
            if let Some((_, tokens, earned)) = stats.iter().find(|(id, ..)| id.0 == worker.id) {
                worker.ai_tokens = *tokens;
                worker.ai_earned_micro = *earned;
            }
            worker.ai_models = warm
                .iter()
                .filter(|link| link.node.0 == worker.id)
                .flat_map(|link| link.models.iter().map(|model| model.id.clone()))
                .collect();
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl WorkerService for DbWorkers {
    async fn overview(&self, viewer: &Viewer) -> Result<WorkersOverview, AppError> {
        let now = now_ms();
        let nodes = self.db.nodes_of(viewer.user_id, NodeKind::Worker, now).await.map_err(node_error)?;
        let stats = self.db.worker_stats(viewer.user_id).await.map_err(node_error)?;
        let mut failed = 0;
        let mut workers: Vec<_> = nodes
            .into_iter()
            .map(|node| {
                let mut summary = node.summary;
                if let Some((_, done, failures, earned)) = stats.iter().find(|(id, ..)| id.0 == summary.id) {
                    summary.tasks_done = *done;
                    summary.earned_micro = *earned;
                    failed += failures;
                }
                summary
            })
            .collect();
        self.with_ai(viewer.user_id, &mut workers).await?;
        let earnings_by_day =
            self.db.earnings_by_day(viewer.user_id, now - 30 * 24 * HOUR_MS).await.map_err(node_error)?;
        Ok(WorkersOverview {
            earned_micro: workers.iter().map(|worker| worker.earned_micro + worker.ai_earned_micro).sum(),
            tasks_done: workers.iter().map(|worker| worker.tasks_done).sum(),
            tasks_failed: failed,
            tasks_per_hour: self.db.tasks_per_hour(viewer.user_id, now - 24 * HOUR_MS).await.map_err(node_error)?,
            earnings_by_day,
            workers,
        })
    }

    async fn task_history(&self, viewer: &Viewer, worker: i64, page: i64) -> Result<WorkerTaskPage, AppError> {
        self.db
            .worker_task_history(viewer.user_id, NodeId(worker), page)
            .await
            .map_err(node_error)?
            .ok_or(AppError::NotFound)
    }

    async fn details(&self, viewer: &Viewer, worker: i64) -> Result<WorkerDetails, AppError> {
        let now = now_ms();
        let node = self.db.node_of(viewer.user_id, NodeId(worker), now).await.map_err(node_error)?;
        let mut node = node.ok_or(AppError::NotFound)?;
        let stats = self.db.worker_stats(viewer.user_id).await.map_err(node_error)?;
        if let Some((_, done, _, earned)) = stats.iter().find(|(id, ..)| id.0 == worker) {
            node.summary.tasks_done = *done;
            node.summary.earned_micro = *earned;
        }
        self.with_ai(viewer.user_id, std::slice::from_mut(&mut node.summary)).await?;
        Ok(WorkerDetails {
            recent: self.db.metric_history(NodeId(worker), FINE, now - HOUR_MS).await.map_err(node_error)?,
            day: self.db.metric_history(NodeId(worker), COARSE, now - 24 * HOUR_MS).await.map_err(node_error)?,
            summary: node.summary,
            hardware: node.hardware,
            agent_version: node.agent_version,
            created_at_ms: node.created_at_ms,
        })
    }

    async fn create(&self, viewer: &Viewer, name: &str) -> Result<IssuedNodeConfig, AppError> {
        registry::register(&self.db, &self.public_origin, viewer, NodeKind::Worker, name, MAX_WORKERS_PER_USER).await
    }

    async fn reissue_token(&self, viewer: &Viewer, worker: i64) -> Result<IssuedNodeConfig, AppError> {
        registry::reissue(&self.db, &self.public_origin, viewer, NodeKind::Worker, NodeId(worker)).await
    }

    async fn update_settings(&self, viewer: &Viewer, worker: i64, settings: WorkerSettings) -> Result<(), AppError> {
        settings.validate().map_err(AppError::BadRequest)?;
        self.db.update_worker_settings(viewer.user_id, NodeId(worker), &settings, now_ms()).await.map_err(node_error)
    }

    async fn delete(&self, viewer: &Viewer, worker: i64) -> Result<(), AppError> {
        self.db.delete_node(viewer.user_id, NodeId(worker), now_ms()).await.map_err(node_error)
    }
}
