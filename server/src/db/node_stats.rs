//! What workers did: finished and failed tasks, earnings, tasks per hour, and each worker's task history.

use pictor_core::states::AttemptOutcome;
use pictor_core::workers::{WorkerTaskPage, WorkerTaskRow};
use sqlx::Row;

use super::nodes::NodeId;
use super::users::UserId;
use super::{Db, DbError};

const HOUR_MS: i64 = 3_600_000;

/// Task history rows per page.
pub const TASKS_PER_PAGE: i64 = 20;

impl Db {
    /// Per worker of `owner`: (node, accepted results, failed or rejected attempts, earned micro-credits).
    pub async fn worker_stats(&self, owner: UserId) -> Result<Vec<(NodeId, i64, i64, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT n.id,
                    (SELECT COUNT(*) FROM task_attempts a WHERE a.node_id = n.id AND a.outcome IN ('uploaded', 'verified')),
                    (SELECT COUNT(*) FROM task_attempts a
                     WHERE a.node_id = n.id AND a.outcome IN ('failed', 'rejected', 'expired')),
                    CAST(COALESCE((SELECT SUM(CASE WHEN t.kind = 'clawback' THEN -t.amount_micro ELSE t.amount_micro END)
                                   FROM ledger_transfers t
                                   WHERE t.node_id = n.id AND (t.kind = 'pay_worker'
                                      OR (t.kind = 'clawback' AND t.idempotency_key LIKE '%:worker:clawback'))), 0)
                         AS BIGINT)
             FROM nodes n WHERE n.owner_id = $1 AND n.kind = 'worker' AND n.deleted_at_ms IS NULL",
        )
        .bind(owner)
        .fetch_all(self.reader())
        .await?)
    }

    /// Per worker of `owner`: the tokens of the AI requests it served, and what they earned (worker shares, less
    /// what checkers' rejections clawed back).
    pub async fn worker_ai_stats(&self, owner: UserId) -> Result<Vec<(NodeId, i64, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT n.id,
                    CAST(COALESCE((SELECT SUM(r.prompt_tokens + r.completion_tokens) FROM ai_requests r
                                   WHERE r.node_id = n.id AND r.status = 'settled'), 0) AS BIGINT),
                    CAST(COALESCE((SELECT SUM(CASE WHEN t.kind = 'ai_claw_back' THEN -t.amount_micro
                                                   ELSE t.amount_micro END)
                                   FROM ledger_transfers t
                                   WHERE t.node_id = n.id AND t.kind IN ('ai_worker', 'ai_claw_back')), 0) AS BIGINT)
             FROM nodes n WHERE n.owner_id = $1 AND n.kind = 'worker' AND n.deleted_at_ms IS NULL",
        )
        .bind(owner)
        .fetch_all(self.reader())
        .await?)
    }

    /// Results `owner`'s workers delivered per hour since `since_ms` (hours with none left out), oldest first.
    pub async fn tasks_per_hour(&self, owner: UserId, since_ms: i64) -> Result<Vec<(i64, i64)>, DbError> {
        let ends: Vec<i64> = sqlx::query_scalar(
            "SELECT a.ended_at_ms FROM task_attempts a JOIN nodes n ON n.id = a.node_id
             WHERE n.owner_id = $1 AND a.outcome IN ('uploaded', 'verified') AND a.ended_at_ms >= $2
             ORDER BY a.ended_at_ms",
        )
        .bind(owner)
        .bind(since_ms)
        .fetch_all(self.reader())
        .await?;
        let mut hours: Vec<(i64, i64)> = Vec::new();
        for end in ends {
            let hour = end.div_euclid(HOUR_MS) * HOUR_MS;
            match hours.last_mut() {
                Some((last, count)) if *last == hour => *count += 1,
                _ => hours.push((hour, 1)),
            }
        }
        Ok(hours)
    }

    /// Page `page` (from 1) of the attempts `node` of `owner` made, newest first; `None` if not theirs.
    pub async fn worker_task_history(
        &self,
        owner: UserId,
        node: NodeId,
        page: i64,
    ) -> Result<Option<WorkerTaskPage>, DbError> {
        let owned: Option<i64> = sqlx::query_scalar("SELECT id FROM nodes WHERE id = $1 AND owner_id = $2")
            .bind(node)
            .bind(owner)
            .fetch_optional(self.reader())
            .await?;
        if owned.is_none() {
            return Ok(None);
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM task_attempts WHERE node_id = $1")
            .bind(node)
            .fetch_one(self.reader())
            .await?;
        let pages = (total + TASKS_PER_PAGE - 1) / TASKS_PER_PAGE;
        let page = page.clamp(1, pages.max(1));
        let rows = sqlx::query(
            "SELECT t.job_id, j.name, a.task_id, t.frames, a.attempt, a.outcome, a.started_at_ms, a.ended_at_ms,
                    a.render_ms,
                    CAST(COALESCE((SELECT SUM(CASE WHEN p.kind = 'clawback' THEN -p.amount_micro ELSE p.amount_micro END)
                                   FROM ledger_transfers p
                                   WHERE p.idempotency_key IN ('task:' || a.task_id || ':attempt:' || a.attempt || ':worker',
                                                               'task:' || a.task_id || ':attempt:' || a.attempt
                                                                   || ':worker:clawback')), 0) AS BIGINT) AS paid
             FROM task_attempts a JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = t.job_id
             WHERE a.node_id = $1 ORDER BY a.started_at_ms DESC, a.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(node)
        .bind(TASKS_PER_PAGE)
        .bind((page - 1) * TASKS_PER_PAGE)
        .fetch_all(self.reader())
        .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok(WorkerTaskRow {
                    job_id: row.try_get("job_id")?,
                    job_name: row.try_get("name")?,
                    task_id: row.try_get("task_id")?,
                    frames: row.try_get("frames")?,
                    attempt: row.try_get("attempt")?,
                    outcome: super::state_in(row, "outcome", AttemptOutcome::parse)?,
                    started_at_ms: row.try_get("started_at_ms")?,
                    ended_at_ms: row.try_get("ended_at_ms")?,
                    render_ms: row.try_get("render_ms")?,
                    paid_micro: row.try_get("paid")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(WorkerTaskPage { rows, page, pages, total }))
    }
}
