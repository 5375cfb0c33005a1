//! The coordinator's side of the Checker Nodes page: [`CheckerService`] over the database.

use pictor_app::ports::CheckerService;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::checkers::{CheckerCounts, CheckerSummary, CheckersOverview};
use pictor_core::workers::IssuedNodeConfig;

use super::registry::{self, node_error};
use crate::clock::now_ms;
use crate::db::nodes::NodeKind;
use crate::db::{Db, NodeId};

/// A user may run this many checkers.
pub const MAX_CHECKERS_PER_USER: usize = 50;

pub struct DbCheckers {
    pub db: Db,
    /// The coordinator URL written into config files.
    pub public_origin: String,
}

impl DbCheckers {
    /// `checker` if `viewer` owns it and it is a checker (worker ids are not accepted here).
    async fn owned_checker(&self, viewer: &Viewer, checker: i64) -> Result<(), AppError> {
        let owned = self.db.checker_counts_of(viewer.user_id).await.map_err(node_error)?;
        if owned.iter().any(|(id, _)| id.0 == checker) {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

#[async_trait::async_trait]
impl CheckerService for DbCheckers {
    async fn overview(&self, viewer: &Viewer) -> Result<CheckersOverview, AppError> {
        let nodes = self.db.nodes_of(viewer.user_id, NodeKind::Checker, now_ms()).await.map_err(node_error)?;
        let counts = self.db.checker_counts_of(viewer.user_id).await.map_err(node_error)?;
        let checkers: Vec<CheckerSummary> = nodes
            .into_iter()
            .map(|node| {
                let summary = node.summary;
                let counts = counts.iter().find(|(id, _)| id.0 == summary.id).map(|(_, c)| *c);
                CheckerSummary {
                    id: summary.id,
                    name: summary.name,
                    status: summary.status,
                    last_seen_at_ms: summary.last_seen_at_ms,
                    hardware_brief: summary.hardware_brief,
                    counts: counts.unwrap_or(CheckerCounts::default()),
                    earned_micro: summary.earned_micro,
                }
            })
            .collect();
        Ok(CheckersOverview { earned_micro: checkers.iter().map(|c| c.earned_micro).sum(), checkers })
    }

    async fn create(&self, viewer: &Viewer, name: &str) -> Result<IssuedNodeConfig, AppError> {
        registry::register(&self.db, &self.public_origin, viewer, NodeKind::Checker, name, MAX_CHECKERS_PER_USER).await
    }

    async fn reissue_token(&self, viewer: &Viewer, checker: i64) -> Result<IssuedNodeConfig, AppError> {
        self.owned_checker(viewer, checker).await?;
        registry::reissue(&self.db, &self.public_origin, viewer, NodeKind::Checker, NodeId(checker)).await
    }

    async fn delete(&self, viewer: &Viewer, checker: i64) -> Result<(), AppError> {
        self.owned_checker(viewer, checker).await?;
        self.db.delete_node(viewer.user_id, NodeId(checker), now_ms()).await.map_err(node_error)
    }
}
