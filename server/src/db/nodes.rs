//! Worker and checker nodes: registration and liveness.

use super::users::UserId;
use super::{Db, DbError};

/// Primary key of a node.
pub type NodeId = i64;

/// What a node does in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Worker,
    Checker,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Worker => "worker",
            NodeKind::Checker => "checker",
        }
    }
}

impl Db {
    /// Registers a node for `owner`; it is offline until its first heartbeat.
    pub async fn create_node(&self, owner: UserId, kind: NodeKind, name: &str, now_ms: i64) -> Result<NodeId, DbError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO nodes (owner_id, kind, name, created_at_ms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(owner)
        .bind(kind.as_str())
        .bind(name)
        .bind(now_ms)
        .fetch_one(self.writer())
        .await?;
        Ok(id)
    }

    /// Records that `node` was heard from at `now_ms`.
    pub async fn record_heartbeat(&self, node: NodeId, now_ms: i64) -> Result<(), DbError> {
        let result = sqlx::query("UPDATE nodes SET last_seen_at_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(node)
            .execute(self.writer())
            .await?;
        if result.rows_affected() == 0 {
            return Err(DbError::NotFound("node"));
        }
        Ok(())
    }

    /// Takes a node out of service; it no longer counts as online.
    pub async fn disable_node(&self, node: NodeId, now_ms: i64) -> Result<(), DbError> {
        let result = sqlx::query("UPDATE nodes SET disabled_at_ms = $1 WHERE id = $2 AND disabled_at_ms IS NULL")
            .bind(now_ms)
            .bind(node)
            .execute(self.writer())
            .await?;
        if result.rows_affected() == 0 {
            return Err(DbError::NotFound("enabled node"));
        }
        Ok(())
    }
}
