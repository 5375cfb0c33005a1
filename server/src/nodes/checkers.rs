//! The coordinator's side of the Checker Nodes page: [`CheckerService`] over the database.

use pictor_app::ports::CheckerService;
use pictor_app::AppError;
use pictor_core::accounts::{clean_name, Viewer, MAX_DISPLAY_NAME};
use pictor_core::checkers::{CheckerCounts, CheckerSummary, CheckersOverview};
use pictor_core::workers::IssuedNodeConfig;

use super::config_file;
use crate::clock::now_ms;
use crate::db::nodes::NodeKind;
use crate::db::{Db, DbError};

/// A user may run this many checkers.
pub const MAX_CHECKERS_PER_USER: usize = 50;

pub struct DbCheckers {
    pub db: Db,
    /// The coordinator URL written into config files.
    pub public_origin: String,
}

fn to_app_error(error: DbError) -> AppError {
    match error {
        DbError::NotFound(_) => AppError::NotFound,
        other => {
            tracing::error!(error = %other, "checker request failed");
            AppError::Unavailable
        }
    }
}

impl DbCheckers {
    /// `checker` if `viewer` owns it and it is a checker (worker ids are not accepted here).
    async fn owned_checker(&self, viewer: &Viewer, checker: i64) -> Result<(), AppError> {
        let owned = self.db.checker_counts_of(viewer.user_id).await.map_err(to_app_error)?;
        if owned.iter().any(|(id, _)| *id == checker) {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

#[async_trait::async_trait]
impl CheckerService for DbCheckers {
    async fn overview(&self, viewer: &Viewer) -> Result<CheckersOverview, AppError> {
        let nodes = self.db.nodes_of(viewer.user_id, NodeKind::Checker, now_ms()).await.map_err(to_app_error)?;
        let counts = self.db.checker_counts_of(viewer.user_id).await.map_err(to_app_error)?;
        let checkers: Vec<CheckerSummary> = nodes
            .into_iter()
            .map(|node| {
                let summary = node.summary;
                let counts = counts.iter().find(|(id, _)| *id == summary.id).map(|(_, c)| *c);
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
        let name = clean_name(name, MAX_DISPLAY_NAME).map_err(AppError::BadRequest)?;
        let now = now_ms();
        let existing = self.db.nodes_of(viewer.user_id, NodeKind::Checker, now).await.map_err(to_app_error)?;
        if existing.len() >= MAX_CHECKERS_PER_USER {
            return Err(AppError::BadRequest(format!("at most {MAX_CHECKERS_PER_USER} checkers per account")));
        }
        let (token, hash) = config_file::new_token();
        let id = self
            .db
            .issue_node(viewer.user_id, NodeKind::Checker, &name, Some(&hash), now)
            .await
            .map_err(to_app_error)?;
        Ok(config_file::issue(&self.public_origin, id, &name, NodeKind::Checker, token))
    }

    async fn reissue_token(&self, viewer: &Viewer, checker: i64) -> Result<IssuedNodeConfig, AppError> {
        self.owned_checker(viewer, checker).await?;
        let (token, hash) = config_file::new_token();
        let name = self.db.reissue_node_token(viewer.user_id, checker, &hash).await.map_err(to_app_error)?;
        Ok(config_file::issue(&self.public_origin, checker, &name, NodeKind::Checker, token))
    }

    async fn delete(&self, viewer: &Viewer, checker: i64) -> Result<(), AppError> {
        self.owned_checker(viewer, checker).await?;
        self.db.delete_node(viewer.user_id, checker, now_ms()).await.map_err(to_app_error)
    }
}
