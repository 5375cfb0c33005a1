//! Audits of checkers: picking a verified result to tamper with, and storing the audit as a verification only its
//! checker may take.

use sqlx::Row;

use super::nodes::NodeId;
use super::users::UserId;
use super::{Db, DbError};
use super::{JobId, TaskId};

/// A verified result an audit can be made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSource {
    pub task: TaskId,
    pub attempt: i64,
    pub worker: NodeId,
    pub job: JobId,
    pub tile_index: Option<i64>,
    pub frame: i64,
    pub object_key: String,
}

impl Db {
    /// Whether `checker` has an audit waiting already (one at a time is enough).
    pub async fn open_audit_exists(&self, checker: NodeId) -> Result<bool, DbError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM verifications WHERE audit_node_id = $1 AND state = 'open' LIMIT 1")
                .bind(checker)
                .fetch_optional(self.reader())
                .await?;
        Ok(found.is_some())
    }

    /// A random verified PNG or JPEG frame whose worker belongs to someone other than `checker_owner`.
    pub async fn audit_candidate(&self, checker_owner: UserId) -> Result<Option<AuditSource>, DbError> {
        let row = sqlx::query(
            "SELECT t.id, t.attempt, t.node_id, t.job_id, t.tile_index, o.frame, o.object_key
             FROM tasks t
               JOIN nodes w ON w.id = t.node_id
               JOIN task_outputs o ON o.task_id = t.id AND o.attempt = t.attempt
             WHERE t.state = 'verified' AND w.owner_id <> $1
               AND (o.object_key LIKE '%.png' OR o.object_key LIKE '%.jpg')
             ORDER BY RANDOM() LIMIT 1",
        )
        .bind(checker_owner)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(AuditSource {
            task: row.try_get("id")?,
            attempt: row.try_get("attempt")?,
            worker: row.try_get("node_id")?,
            job: row.try_get("job_id")?,
            tile_index: row.try_get("tile_index")?,
            frame: row.try_get("frame")?,
            object_key: row.try_get("object_key")?,
        }))
    }

    /// Stores an audit of `checker`: the tampered copy at `audit_key`, one verdict needed.
    pub async fn create_audit(
        &self,
        source: &AuditSource,
        crops_json: &str,
        checker: NodeId,
        audit_key: &str,
        now_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO verifications (task_id, attempt, worker_node_id, crops_json, quorum, audit_node_id, audit_key,
                                        created_at_ms)
             VALUES ($1, $2, $3, $4, 1, $5, $6, $7)",
        )
        .bind(source.task)
        .bind(source.attempt)
        .bind(source.worker)
        .bind(crops_json)
        .bind(checker)
        .bind(audit_key)
        .bind(now_ms)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}
