//! Network-wide figures for the live dashboard panel, read in one statement.

use pictor_core::network::NetworkSample;
use sqlx::Row;

use super::{Db, DbError};

impl Db {
    /// Counts online nodes (the liveness sweep keeps that flag honest), tasks finished in the minute before
    /// `now_ms`, and tasks waiting in the queue.
    pub async fn network_sample(&self, now_ms: i64) -> Result<NetworkSample, DbError> {
        let row = sqlx::query(
            "SELECT
                (SELECT COUNT(*) FROM nodes
                  WHERE kind = 'worker' AND online = 1 AND disabled_at_ms IS NULL) AS online_workers,
                (SELECT COUNT(*) FROM nodes
                  WHERE kind = 'checker' AND online = 1 AND disabled_at_ms IS NULL) AS online_checkers,
                (SELECT COUNT(*) FROM tasks
                  WHERE finished_at_ms > $1 AND finished_at_ms <= $2) AS tasks_per_minute,
                (SELECT COUNT(*) FROM tasks WHERE state = 'queued') AS queued_tasks",
        )
        .bind(now_ms - 60_000)
        .bind(now_ms)
        .fetch_one(self.reader())
        .await?;
        Ok(NetworkSample {
            at_ms: now_ms,
            online_workers: row.try_get("online_workers")?,
            online_checkers: row.try_get("online_checkers")?,
            tasks_per_minute: row.try_get("tasks_per_minute")?,
            queued_tasks: row.try_get("queued_tasks")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::nodes::NodeKind;

    const NOW: i64 = 1_800_000_000_000;

    async fn empty_network_counts_zero(db: Db) {
        let sample = db.network_sample(NOW).await.expect("sample");
        assert_eq!(sample, NetworkSample { at_ms: NOW, ..NetworkSample::default() });
    }

    async fn only_recent_enabled_nodes_count_as_online(db: Db) {
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let fresh = db.create_node(owner, NodeKind::Worker, "fresh", NOW).await.expect("node");
        let stale = db.create_node(owner, NodeKind::Worker, "stale", NOW).await.expect("node");
        let disabled = db.create_node(owner, NodeKind::Worker, "disabled", NOW).await.expect("node");
        let checker = db.create_node(owner, NodeKind::Checker, "checker", NOW).await.expect("node");
        let _never_seen = db.create_node(owner, NodeKind::Worker, "new", NOW).await.expect("node");
        db.record_heartbeat(fresh, NOW - 1_000).await.expect("beat");
        db.record_heartbeat(stale, NOW - 60_000).await.expect("beat");
        db.record_heartbeat(disabled, NOW - 1_000).await.expect("beat");
        db.disable_node(disabled, NOW).await.expect("disable");
        db.record_heartbeat(checker, NOW - 10).await.expect("beat");
        db.sweep_silent_nodes(NOW).await.expect("sweep");

        let sample = db.network_sample(NOW).await.expect("sample");
        assert_eq!((sample.online_workers, sample.online_checkers), (1, 1));
    }

    async fn tasks_per_minute_counts_only_the_last_minute(db: Db) {
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let job: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (owner_id, name, created_at_ms) VALUES ($1, 'scene', $2) RETURNING id",
        )
        .bind(owner)
        .bind(NOW)
        .fetch_one(db.writer())
        .await
        .expect("job");
        for (state, finished) in [
            ("verified", Some(NOW - 5_000)),
            ("verified", Some(NOW - 59_000)),
            ("verified", Some(NOW - 61_000)),
            ("queued", None),
            ("queued", None),
            ("queued", None),
        ] {
            sqlx::query("INSERT INTO tasks (job_id, state, created_at_ms, finished_at_ms) VALUES ($1, $2, $3, $4)")
                .bind(job)
                .bind(state)
                .bind(NOW - 120_000)
                .bind(finished)
                .execute(db.writer())
                .await
                .expect("task");
        }
        let sample = db.network_sample(NOW).await.expect("sample");
        assert_eq!((sample.tasks_per_minute, sample.queued_tasks), (2, 3));
    }

    async fn heartbeat_for_unknown_node_is_not_found(db: Db) {
        let error = db.record_heartbeat(crate::db::NodeId(999), NOW).await.expect_err("unknown node");
        assert!(matches!(error, DbError::NotFound("enabled node")), "{error}");
    }

    crate::both_backends!(
        empty_network_counts_zero,
        only_recent_enabled_nodes_count_as_online,
        tasks_per_minute_counts_only_the_last_minute,
        heartbeat_for_unknown_node_is_not_found
    );
}
