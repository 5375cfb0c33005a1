//! The SQL of a job's lifecycle: storing a job with its tasks, requeueing chosen tasks, cancelling, completing and
//! failing. When each happens, and what is paid or refunded with it, is decided in `engine::jobs`.

use pictor_core::states::JobState;
use pictor_core::workloads::WorkloadKind;

use super::users::UserId;
use super::DbError;
use super::{JobId, TaskId, Tx};

/// A job to store with its tasks.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub owner: UserId,
    /// The kind of work its tasks are.
    pub kind: WorkloadKind,
    pub name: String,
    pub spec_json: String,
    pub scene_key: String,
    pub scene_sha256: String,
    /// 0 economy, 1 standard, 2 priority: higher is leased first.
    pub tier_rank: i64,
    /// `cycles`, `eevee` or `workbench`.
    pub engine: String,
    pub max_price_micro_per_minute: i64,
    pub min_vram_bytes: i64,
    pub gpu_model: Option<String>,
    pub tags: Vec<String>,
    pub max_attempts: i64,
    /// The longest one attempt may take; `None`: the coordinator's default.
    pub max_task_ms: Option<i64>,
    pub tasks: Vec<NewTask>,
    /// Moved from the owner's credit into the job's escrow on creation (the estimate, or the budget cap).
    pub escrow_micro: i64,
    pub estimate_micro: i64,
    /// How the estimate was made: "history" or "default".
    pub estimate_source: String,
    pub budget_micro: Option<i64>,
    /// The checker pool's share of every payment, in percent.
    pub checker_share_percent: i64,
}

#[cfg(test)]
impl NewJob {
    /// A Standard Cycles job of `owner`, free (no escrow), with one task per frame from 1 to `tasks`: tests change
    /// what they need with `..NewJob::sample(owner, tasks)`.
    pub fn sample(owner: UserId, tasks: usize) -> Self {
        NewJob {
            owner,
            kind: WorkloadKind::Render,
            name: "job".into(),
            spec_json: "{}".into(),
            scene_key: "scenes/x.blend".into(),
            scene_sha256: "00".into(),
            tier_rank: 1,
            engine: "cycles".into(),
            max_price_micro_per_minute: 1_000_000,
            min_vram_bytes: 0,
            gpu_model: None,
            tags: vec![],
            max_attempts: 3,
            max_task_ms: None,
            tasks: (1..=tasks).map(|frame| NewTask { frames: frame.to_string(), tile_index: None }).collect(),
            escrow_micro: 0,
            estimate_micro: 0,
            estimate_source: String::new(),
            budget_micro: None,
            checker_share_percent: 10,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    /// Comma-separated frame numbers.
    pub frames: String,
    pub tile_index: Option<i64>,
}

/// Stores a job, its tags and its tasks.
pub async fn insert_job(tx: &mut Tx<'_>, job: &NewJob, now_ms: i64) -> Result<JobId, DbError> {
    let id: JobId = sqlx::query_scalar(
        "INSERT INTO jobs (owner_id, name, state, created_at_ms, spec_json, scene_key, scene_sha256, tier_rank,
                           engine, max_price_micro_per_minute, min_vram_bytes, gpu_model, max_attempts,
                           estimate_micro, estimate_source, budget_micro, checker_share_percent, kind, max_task_ms)
         VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         RETURNING id",
    )
    .bind(job.owner)
    .bind(&job.name)
    .bind(now_ms)
    .bind(&job.spec_json)
    .bind(&job.scene_key)
    .bind(&job.scene_sha256)
    .bind(job.tier_rank)
    .bind(&job.engine)
    .bind(job.max_price_micro_per_minute)
    .bind(job.min_vram_bytes)
    .bind(job.gpu_model.as_deref())
    .bind(job.max_attempts)
    .bind(job.estimate_micro)
    .bind(&job.estimate_source)
    .bind(job.budget_micro)
    .bind(job.checker_share_percent)
    .bind(job.kind.as_str())
    .bind(job.max_task_ms)
    .fetch_one(&mut **tx)
    .await?;
    for tag in &job.tags {
        sqlx::query("INSERT INTO job_tags (job_id, tag) VALUES ($1, $2)").bind(id).bind(tag).execute(&mut **tx).await?;
    }
    for task in &job.tasks {
        sqlx::query(
            "INSERT INTO tasks (job_id, state, created_at_ms, frames, tile_index, max_attempt)
             VALUES ($1, 'queued', $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(now_ms)
        .bind(&task.frames)
        .bind(task.tile_index)
        .bind(job.max_attempts)
        .execute(&mut **tx)
        .await?;
    }
    Ok(id)
}

/// The state of `owner`'s job, if it is theirs.
pub async fn state_of_owned(tx: &mut Tx<'_>, owner: UserId, job: JobId) -> Result<Option<JobState>, DbError> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 AND owner_id = $2")
        .bind(job)
        .bind(owner)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(state.map(|state| super::parse_state(&state, "state", JobState::parse)).transpose()?)
}

/// Puts a finished or failed task of `job` back in the queue with `attempts` more attempts; whether it was.
pub async fn requeue_finished(tx: &mut Tx<'_>, job: JobId, task: TaskId, attempts: i64) -> Result<bool, DbError> {
    let requeued = sqlx::query(
        "UPDATE tasks SET state = 'queued', max_attempt = attempt + $1, node_id = NULL, progress_percent = 0,
                finished_at_ms = NULL, lease_expires_at_ms = NULL
         WHERE id = $2 AND job_id = $3 AND state IN ('failed', 'uploaded', 'verified')",
    )
    .bind(attempts)
    .bind(task)
    .bind(job)
    .execute(&mut **tx)
    .await?;
    Ok(requeued.rows_affected() == 1)
}

/// Makes a job active again (its tasks were requeued).
pub async fn reopen(tx: &mut Tx<'_>, job: JobId) -> Result<(), DbError> {
    sqlx::query("UPDATE jobs SET state = 'active', finished_at_ms = NULL WHERE id = $1")
        .bind(job)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Cancels an owner's running job: its queued and leased tasks are cancelled (agents learn it at their next lease
/// extension), its open checks closed, and results waiting for them kept as they are. Finished outputs stay.
pub async fn cancel(tx: &mut Tx<'_>, owner: UserId, job: JobId, now_ms: i64) -> Result<(), DbError> {
    let updated = sqlx::query(
        "UPDATE jobs SET state = 'cancelled', finished_at_ms = $1
         WHERE id = $2 AND owner_id = $3 AND state IN ('queued', 'active', 'paused')",
    )
    .bind(now_ms)
    .bind(job)
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    super::touched(updated, "running job")?;
    sqlx::query(
        "UPDATE task_attempts SET outcome = 'cancelled', ended_at_ms = $1
         WHERE outcome = 'running' AND task_id IN (SELECT id FROM tasks WHERE job_id = $2 AND state = 'leased')",
    )
    .bind(now_ms)
    .bind(job)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE tasks SET state = 'cancelled', lease_expires_at_ms = NULL
         WHERE job_id = $1 AND state IN ('queued', 'leased')",
    )
    .bind(job)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE verifications SET state = 'cancelled', decided_at_ms = $1
         WHERE state = 'open' AND task_id IN (SELECT id FROM tasks WHERE job_id = $2)",
    )
    .bind(now_ms)
    .bind(job)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE tasks SET state = 'uploaded' WHERE job_id = $1 AND state = 'verifying'")
        .bind(job)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Completes an active (or paused) job whose every task is done (accepted unchecked, or verified). Returns its
/// owner and name when it completed now. The caller holds the job's row (see `lock_row`).
pub async fn complete_if_all_done(
    tx: &mut Tx<'_>,
    job: JobId,
    now_ms: i64,
) -> Result<Option<(UserId, String)>, DbError> {
    Ok(sqlx::query_as(
        "UPDATE jobs SET state = 'completed', finished_at_ms = $1
         WHERE id = $2 AND state IN ('active', 'paused')
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = $2 AND state NOT IN ('uploaded', 'verified'))
         RETURNING owner_id, name",
    )
    .bind(now_ms)
    .bind(job)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Fails an active (or paused) job. Returns its owner and name when it failed now.
pub async fn fail(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<Option<(UserId, String)>, DbError> {
    Ok(sqlx::query_as(
        "UPDATE jobs SET state = 'failed', finished_at_ms = $1 WHERE id = $2 AND state IN ('active', 'paused')
         RETURNING owner_id, name",
    )
    .bind(now_ms)
    .bind(job)
    .fetch_optional(&mut **tx)
    .await?)
}

/// Whether any task of `job` has failed (run out of attempts).
pub async fn has_failed_task(tx: &mut Tx<'_>, job: JobId) -> Result<bool, DbError> {
    let failed: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE job_id = $1 AND state = 'failed' LIMIT 1")
        .bind(job)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(failed.is_some())
}
