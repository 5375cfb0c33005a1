//! Node liveness: registration, heartbeats, clean sign-off, and the sweep that marks silent nodes offline.

use pictor_core::agent_protocol::MISSED_HEARTBEATS_OFFLINE;

use super::nodes::NodeId;
use super::users::UserId;
use super::{Db, DbError};

/// A node whose online state just changed, for the owner's live dashboards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LivenessChange {
    pub node: NodeId,
    pub owner: UserId,
}

impl Db {
    /// Stores what the agent reported at start-up and marks the node online.
    pub async fn register_node(
        &self,
        node: NodeId,
        agent_version: &str,
        hardware_json: &str,
        benchmark_score: Option<i64>,
        heartbeat_interval_ms: i64,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let result = sqlx::query(
            "UPDATE nodes SET agent_version = $1, hardware_json = $2, benchmark_score = $3, online = 1,
                    last_seen_at_ms = $4, heartbeat_interval_ms = $5, signed_off_at_ms = NULL
             WHERE id = $6 AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL",
        )
        .bind(agent_version)
        .bind(hardware_json)
        .bind(benchmark_score)
        .bind(now_ms)
        .bind(heartbeat_interval_ms)
        .bind(node)
        .execute(self.writer())
        .await?;
        super::touched(result, "enabled node")
    }

    /// Records that `node` was heard from at `now_ms`; `true` if this brought it (back) online.
    pub async fn record_heartbeat(&self, node: NodeId, now_ms: i64) -> Result<bool, DbError> {
        // Two statements instead of reading the old state first: the common case (already online) is one write.
        let came_online = sqlx::query(
            "UPDATE nodes SET last_seen_at_ms = $1, online = 1, signed_off_at_ms = NULL
             WHERE id = $2 AND online = 0 AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(node)
        .execute(self.writer())
        .await?
        .rows_affected()
            == 1;
        if came_online {
            return Ok(true);
        }
        let result = sqlx::query(
            "UPDATE nodes SET last_seen_at_ms = $1 WHERE id = $2 AND deleted_at_ms IS NULL AND disabled_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(node)
        .execute(self.writer())
        .await?;
        if result.rows_affected() == 0 {
            return Err(DbError::NotFound("enabled node"));
        }
        Ok(false)
    }

    /// The agent signed off at `now_ms`; `true` if it was online.
    pub async fn mark_node_offline(&self, node: NodeId, now_ms: i64) -> Result<bool, DbError> {
        let result = sqlx::query("UPDATE nodes SET online = 0, signed_off_at_ms = $1 WHERE id = $2 AND online = 1")
            .bind(now_ms)
            .bind(node)
            .execute(self.writer())
            .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Marks offline every online node silent for [`MISSED_HEARTBEATS_OFFLINE`] of its heartbeat intervals.
    pub async fn sweep_silent_nodes(&self, now_ms: i64) -> Result<Vec<LivenessChange>, DbError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "UPDATE nodes SET online = 0
             WHERE online = 1 AND last_seen_at_ms + $1 * heartbeat_interval_ms < $2
             RETURNING id, owner_id",
        )
        .bind(MISSED_HEARTBEATS_OFFLINE as i64)
        .bind(now_ms)
        .fetch_all(self.writer())
        .await?;
        Ok(rows.into_iter().map(|(node, owner)| LivenessChange { node: NodeId(node), owner }).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::nodes::NodeKind;

    const NOW: i64 = 1_800_000_000_000;

    async fn a_node_is_online_while_heartbeats_arrive_and_offline_after_three_missed(db: Db) {
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let node = db.create_node(owner, NodeKind::Worker, "box", NOW).await.expect("node");
        db.register_node(node, "0.1.0", "{}", Some(500), 5_000, NOW).await.expect("register");
        assert!(!db.record_heartbeat(node, NOW + 5_000).await.expect("beat"), "already online");
        assert_eq!(
            db.sweep_silent_nodes(NOW + 5_000 + 15_000).await.expect("sweep"),
            vec![],
            "3 intervals is the limit"
        );
        let swept = db.sweep_silent_nodes(NOW + 5_000 + 15_001).await.expect("sweep");
        assert_eq!(swept, vec![LivenessChange { node, owner }]);
        assert_eq!(db.sweep_silent_nodes(NOW + 60_000).await.expect("sweep"), vec![], "reported once");
        assert!(db.record_heartbeat(node, NOW + 70_000).await.expect("beat"), "back online");
        assert!(db.mark_node_offline(node, NOW).await.expect("offline"));
        assert!(!db.mark_node_offline(node, NOW).await.expect("offline"), "already offline");
    }

    async fn a_disabled_or_deleted_node_cannot_heartbeat(db: Db) {
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let node = db.create_node(owner, NodeKind::Worker, "box", NOW).await.expect("node");
        db.set_node_enabled(owner, node, false, NOW).await.expect("disable");
        assert!(matches!(db.record_heartbeat(node, NOW).await, Err(DbError::NotFound(_))));
        assert!(matches!(db.register_node(node, "0.1.0", "{}", None, 5_000, NOW).await, Err(DbError::NotFound(_))));
        db.set_node_enabled(owner, node, true, NOW).await.expect("enable");
        assert!(db.record_heartbeat(node, NOW).await.expect("beat"));
        db.delete_node(owner, node, NOW).await.expect("delete");
        assert!(matches!(db.record_heartbeat(node, NOW).await, Err(DbError::NotFound(_))));
    }

    crate::both_backends!(
        a_node_is_online_while_heartbeats_arrive_and_offline_after_three_missed,
        a_disabled_or_deleted_node_cannot_heartbeat,
    );
}
