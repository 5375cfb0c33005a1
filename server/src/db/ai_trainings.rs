//! The SQL of AI training runs: a run beside its job, the checkpoints its attempts upload (each with its point of the
//! curves), and where a new attempt resumes. What a run does is in `ai::trainings`.

use sqlx::Row;

use super::tasks::LeasedAttempt;
use super::users::UserId;
use super::{Db, DbError, JobId, TaskId, Tx};

/// A run as created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTraining {
    pub user: UserId,
    pub template: String,
    pub hyper_json: String,
    pub dataset_key: String,
    pub dataset_sha256: String,
    pub dataset_rows: i64,
    pub total_steps: i64,
    pub created_at_ms: i64,
    /// A checkpoint the run goes on from (a cancelled run resumed): stored as the new task's attempt 0, so its first
    /// attempt resumes there and a checker can replay from it.
    pub starts_from: Option<StoredCheckpoint>,
}

/// A run with its job's name and state and its one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Training {
    pub job: JobId,
    pub task: TaskId,
    pub user: UserId,
    pub name: String,
    pub template: String,
    pub hyper_json: String,
    pub dataset_key: String,
    pub dataset_sha256: String,
    pub dataset_rows: i64,
    pub total_steps: i64,
    pub created_at_ms: i64,
    /// queued, active, paused, completed, failed or cancelled.
    pub job_state: String,
    /// The task's state (queued, leased, uploaded, verifying, verified, failed, cancelled).
    pub task_state: String,
}

/// One uploaded checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCheckpoint {
    pub task: TaskId,
    pub attempt: i64,
    pub step: i64,
    pub object_key: String,
    pub sha256: String,
    pub bytes: i64,
    pub loss: f64,
    pub accuracy: f64,
    pub created_at_ms: i64,
}

/// Stores the run of job `job` (in the job's transaction).
pub async fn insert(tx: &mut Tx<'_>, training: &NewTraining, job: JobId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ai_trainings (job_id, user_id, template, hyper_json, dataset_key, dataset_sha256, dataset_rows,
                                   total_steps, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(job)
    .bind(training.user)
    .bind(&training.template)
    .bind(&training.hyper_json)
    .bind(&training.dataset_key)
    .bind(&training.dataset_sha256)
    .bind(training.dataset_rows)
    .bind(training.total_steps)
    .bind(training.created_at_ms)
    .execute(&mut **tx)
    .await?;
    if let Some(start) = &training.starts_from {
        let task: TaskId =
            sqlx::query_scalar("SELECT id FROM tasks WHERE job_id = $1").bind(job).fetch_one(&mut **tx).await?;
        let seed = StoredCheckpoint { created_at_ms: training.created_at_ms, ..start.clone() };
        insert_checkpoint(tx, task, 0, &seed).await?;
    }
    Ok(())
}

/// Stores one checkpoint row of `task`'s `attempt`.
async fn insert_checkpoint(
    tx: &mut Tx<'_>,
    task: TaskId,
    attempt: i64,
    stored: &StoredCheckpoint,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO training_checkpoints (task_id, attempt, step, object_key, sha256, bytes, loss, accuracy,
                                           created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(task)
    .bind(attempt)
    .bind(stored.step)
    .bind(&stored.object_key)
    .bind(&stored.sha256)
    .bind(stored.bytes)
    .bind(stored.loss)
    .bind(stored.accuracy)
    .bind(stored.created_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

const TRAINING: &str = "SELECT r.job_id, t.id AS task_id, r.user_id, j.name, r.template, r.hyper_json, r.dataset_key,
        r.dataset_sha256, r.dataset_rows, r.total_steps, r.created_at_ms, j.state AS job_state,
        t.state AS task_state
    FROM ai_trainings r JOIN jobs j ON j.id = r.job_id JOIN tasks t ON t.job_id = r.job_id";

fn training(row: &sqlx::any::AnyRow) -> Result<Training, sqlx::Error> {
    Ok(Training {
        job: row.try_get("job_id")?,
        task: row.try_get("task_id")?,
        user: row.try_get("user_id")?,
        name: row.try_get("name")?,
        template: row.try_get("template")?,
        hyper_json: row.try_get("hyper_json")?,
        dataset_key: row.try_get("dataset_key")?,
        dataset_sha256: row.try_get("dataset_sha256")?,
        dataset_rows: row.try_get("dataset_rows")?,
        total_steps: row.try_get("total_steps")?,
        created_at_ms: row.try_get("created_at_ms")?,
        job_state: row.try_get("job_state")?,
        task_state: row.try_get("task_state")?,
    })
}

const CHECKPOINT: &str = "SELECT c.task_id, c.attempt, c.step, c.object_key, c.sha256, c.bytes, c.loss, c.accuracy,
        c.created_at_ms FROM training_checkpoints c";

fn checkpoint(row: &sqlx::any::AnyRow) -> Result<StoredCheckpoint, sqlx::Error> {
    Ok(StoredCheckpoint {
        task: row.try_get("task_id")?,
        attempt: row.try_get("attempt")?,
        step: row.try_get("step")?,
        object_key: row.try_get("object_key")?,
        sha256: row.try_get("sha256")?,
        bytes: row.try_get("bytes")?,
        loss: row.try_get("loss")?,
        accuracy: row.try_get("accuracy")?,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

/// Checkpoints a failed check discarded are never resumed from, shown nor paid: those of the attempt it rejected, and
/// those after the replayed segment's start that were uploaded by then (they were built on the segment).
pub(super) const NOT_REJECTED: &str = "NOT EXISTS (SELECT 1 FROM verifications v
    WHERE v.task_id = c.task_id AND v.state = 'failed'
      AND (v.attempt = c.attempt OR (c.attempt <= v.attempt AND c.step > v.rejects_after_step)))";

impl Db {
    /// The run of job `job`.
    pub async fn training(&self, job: JobId) -> Result<Option<Training>, DbError> {
        let row =
            sqlx::query(&format!("{TRAINING} WHERE r.job_id = $1")).bind(job).fetch_optional(self.reader()).await?;
        Ok(row.as_ref().map(training).transpose()?)
    }

    /// The run whose task is `task`.
    pub async fn training_of_task(&self, task: TaskId) -> Result<Option<Training>, DbError> {
        let row = sqlx::query(&format!("{TRAINING} WHERE t.id = $1")).bind(task).fetch_optional(self.reader()).await?;
        Ok(row.as_ref().map(training).transpose()?)
    }

    /// A user's runs, newest first.
    pub async fn trainings(&self, user: UserId, limit: i64) -> Result<Vec<Training>, DbError> {
        let rows = sqlx::query(&format!(
            "{TRAINING} WHERE r.user_id = $1 ORDER BY r.created_at_ms DESC, r.job_id DESC LIMIT $2"
        ))
        .bind(user)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(training).collect::<Result<_, _>>()?)
    }

    /// Records a checkpoint of a leased attempt; `false` (nothing stored) unless `held` is the task's live lease.
    /// The same step uploaded again within the lease replaces the earlier row; its object key is returned.
    pub async fn record_checkpoint(
        &self,
        held: LeasedAttempt,
        stored: &StoredCheckpoint,
    ) -> Result<(bool, Option<String>), DbError> {
        let LeasedAttempt { task, attempt, node } = held;
        let mut tx = self.begin_write().await?;
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM tasks WHERE id = $1 AND attempt = $2 AND node_id = $3 AND state = 'leased'",
        )
        .bind(task)
        .bind(attempt)
        .bind(node)
        .fetch_optional(&mut *tx)
        .await?;
        if live.is_none() {
            return Ok((false, None));
        }
        let earlier: Option<String> = sqlx::query_scalar(
            "SELECT object_key FROM training_checkpoints WHERE task_id = $1 AND attempt = $2 AND step = $3",
        )
        .bind(task)
        .bind(attempt)
        .bind(stored.step)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM training_checkpoints WHERE task_id = $1 AND attempt = $2 AND step = $3")
            .bind(task)
            .bind(attempt)
            .bind(stored.step)
            .execute(&mut *tx)
            .await?;
        insert_checkpoint(&mut tx, task, attempt, stored).await?;
        tx.commit().await?;
        Ok((true, earlier))
    }

    /// Where a new attempt of `task` goes on from: the latest checkpoint of any attempt not rejected by a check.
    pub async fn resume_point(&self, task: TaskId) -> Result<Option<StoredCheckpoint>, DbError> {
        let row = sqlx::query(&format!(
            "{CHECKPOINT} WHERE c.task_id = $1 AND {NOT_REJECTED} ORDER BY c.step DESC, c.attempt DESC LIMIT 1"
        ))
        .bind(task)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.as_ref().map(checkpoint).transpose()?)
    }

    /// One checkpoint.
    pub async fn stored_checkpoint(
        &self,
        task: TaskId,
        attempt: i64,
        step: i64,
    ) -> Result<Option<StoredCheckpoint>, DbError> {
        let row = sqlx::query(&format!("{CHECKPOINT} WHERE c.task_id = $1 AND c.attempt = $2 AND c.step = $3"))
            .bind(task)
            .bind(attempt)
            .bind(step)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.as_ref().map(checkpoint).transpose()?)
    }

    /// The run's checkpoints in step order (rejected attempts' left out): its curves and its downloads.
    pub async fn training_checkpoints(&self, task: TaskId) -> Result<Vec<StoredCheckpoint>, DbError> {
        let rows =
            sqlx::query(&format!("{CHECKPOINT} WHERE c.task_id = $1 AND {NOT_REJECTED} ORDER BY c.step, c.attempt"))
                .bind(task)
                .fetch_all(self.reader())
                .await?;
        Ok(rows.iter().map(checkpoint).collect::<Result<_, _>>()?)
    }

    /// The checkpoints one attempt uploaded, in step order.
    pub async fn attempt_checkpoints(&self, task: TaskId, attempt: i64) -> Result<Vec<StoredCheckpoint>, DbError> {
        let rows = sqlx::query(&format!("{CHECKPOINT} WHERE c.task_id = $1 AND c.attempt = $2 ORDER BY c.step"))
            .bind(task)
            .bind(attempt)
            .fetch_all(self.reader())
            .await?;
        Ok(rows.iter().map(checkpoint).collect::<Result<_, _>>()?)
    }

    /// The node that ran attempt `attempt` of `task`.
    pub async fn attempt_node(&self, task: TaskId, attempt: i64) -> Result<Option<super::NodeId>, DbError> {
        Ok(sqlx::query_scalar("SELECT node_id FROM task_attempts WHERE task_id = $1 AND attempt = $2")
            .bind(task)
            .bind(attempt)
            .fetch_optional(self.reader())
            .await?)
    }

    /// Whether `node` holds the live lease of `task` (any attempt).
    pub async fn node_leases_task(&self, node: super::NodeId, task: TaskId) -> Result<bool, DbError> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM tasks WHERE id = $1 AND node_id = $2 AND state = 'leased'")
                .bind(task)
                .bind(node)
                .fetch_optional(self.reader())
                .await?;
        Ok(found.is_some())
    }

    /// Whether checker `node` holds a lease on an open check of `task`.
    pub async fn checker_checks_task(&self, node: super::NodeId, task: TaskId) -> Result<bool, DbError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM verifications v JOIN verdicts d ON d.verification_id = v.id
             WHERE v.task_id = $1 AND v.state = 'open' AND d.checker_node_id = $2 AND d.state = 'leased' LIMIT 1",
        )
        .bind(task)
        .bind(node)
        .fetch_optional(self.reader())
        .await?;
        Ok(found.is_some())
    }
}
