//! Registering a node and re-issuing its token: the same steps for workers and checkers.

use pictor_app::AppError;
use pictor_core::accounts::{clean_name, Viewer, MAX_DISPLAY_NAME};
use pictor_core::workers::IssuedNodeConfig;

use super::config_file;
use crate::clock::now_ms;
use crate::db::nodes::{NodeId, NodeKind};
use crate::db::{Db, DbError};

/// A missing node is the caller's mistake; anything else is logged and reported as unavailable.
pub fn node_error(error: DbError) -> AppError {
    crate::api::errors::app_error("node", error)
}

/// Creates a node of `kind` for the viewer, at most `limit` per account, and returns its config file.
pub async fn register(
    db: &Db,
    public_origin: &str,
    viewer: &Viewer,
    kind: NodeKind,
    name: &str,
    limit: usize,
) -> Result<IssuedNodeConfig, AppError> {
    let name = clean_name(name, MAX_DISPLAY_NAME).map_err(AppError::BadRequest)?;
    let now = now_ms();
    let existing = db.nodes_of(viewer.user_id, kind, now).await.map_err(node_error)?;
    if existing.len() >= limit {
        return Err(AppError::BadRequest(format!("at most {limit} {}s per account", kind.as_str())));
    }
    let (token, hash) = config_file::new_token();
    let id = db.issue_node(viewer.user_id, kind, &name, Some(&hash), now).await.map_err(node_error)?;
    Ok(config_file::issue(public_origin, id, &name, kind, token))
}

/// Replaces the node's token (the old one stops working) and returns the new config file.
pub async fn reissue(
    db: &Db,
    public_origin: &str,
    viewer: &Viewer,
    kind: NodeKind,
    node: NodeId,
) -> Result<IssuedNodeConfig, AppError> {
    let (token, hash) = config_file::new_token();
    let name = db.reissue_node_token(viewer.user_id, node, &hash).await.map_err(node_error)?;
    Ok(config_file::issue(public_origin, node, &name, kind, token))
}
