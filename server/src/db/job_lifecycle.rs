//! A job's lifecycle around its tasks: creation with its escrow, re-rendering chosen tasks, cancelling, and the
//! completion or failure that follows its tasks' last transition (each refunding what the job did not spend).

use super::ledger::{balance_in, transfer_in, Account, LedgerError, Transfer};
use super::{JobId, TaskId, Tx};

/// Attempts a task gets (and a re-render adds).
pub const DEFAULT_ATTEMPTS: i64 = 3;
use super::users::UserId;
use super::{Db, DbError};

/// A job to store with its tasks.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub owner: UserId,
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
            tasks: (1..=tasks).map(|frame| NewTask { frames: frame.to_string(), tile_index: None }).collect(),
            escrow_micro: 0,
            estimate_micro: 0,
            estimate_source: String::new(),
            budget_micro: None,
            checker_share_percent: 10,
        }
    }
}

/// A user's credit below this after a job took its escrow is worth a notification.
pub const LOW_BALANCE_MICRO: i64 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTask {
    /// Comma-separated frame numbers.
    pub frames: String,
    pub tile_index: Option<i64>,
}

impl Db {
    /// Stores a job, its tags and its tasks in one transaction.
    pub async fn create_job(&self, job: &NewJob, now_ms: i64) -> Result<JobId, DbError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (owner_id, name, state, created_at_ms, spec_json, scene_key, scene_sha256, tier_rank,
                               engine, max_price_micro_per_minute, min_vram_bytes, gpu_model, max_attempts,
                               estimate_micro, estimate_source, budget_micro, checker_share_percent)
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await?;
        for tag in &job.tags {
            sqlx::query("INSERT INTO job_tags (job_id, tag) VALUES ($1, $2)")
                .bind(id)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
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
            .execute(&mut *tx)
            .await?;
        }
        if job.escrow_micro > 0 {
            let escrow = Transfer::new(
                format!("job:{id}:escrow"),
                Account::Credit(job.owner),
                Account::Escrow(id),
                job.escrow_micro,
                "escrow",
            )
            .job(id);
            match transfer_in(&mut tx, &escrow, now_ms).await {
                Ok(_) => {}
                // Nothing is created: the transaction is dropped, so the job and its tasks vanish with it.
                Err(LedgerError::Insufficient { available, needed }) => {
                    return Err(DbError::InsufficientCredit { available, needed })
                }
                Err(LedgerError::NotPositive) => {}
                Err(LedgerError::Db(error)) => return Err(error),
            }
            if balance_in(&mut tx, Account::Credit(job.owner)).await? < LOW_BALANCE_MICRO {
                let text = format!(
                    "Your credit is low after job “{}” reserved its budget: top up to keep rendering.",
                    job.name
                );
                super::notifications::notify_in(&mut tx, job.owner, "low_balance", &text, Some(id), now_ms).await?;
            }
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Renders the owner's chosen tasks again (failed ones, or finished ones to re-render): they go back to the queue
    /// with a fresh budget of attempts, and the job becomes active again. Leased tasks are left alone.
    /// Returns how many tasks were requeued.
    pub async fn rerender_tasks(
        &self,
        owner: UserId,
        job: JobId,
        tasks: &[TaskId],
        now_ms: i64,
    ) -> Result<u64, DbError> {
        let mut tx = self.begin_write().await?;
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1 AND owner_id = $2")
            .bind(job)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
        match state.as_deref() {
            None => return Err(DbError::NotFound("job")),
            Some("cancelled") => return Err(DbError::Conflict("a cancelled job cannot be re-rendered")),
            Some(_) => {}
        }
        let mut requeued = 0;
        for task in tasks {
            requeued += sqlx::query(
                "UPDATE tasks SET state = 'queued', max_attempt = attempt + $1, node_id = NULL, progress_percent = 0,
                        finished_at_ms = NULL, lease_expires_at_ms = NULL
                 WHERE id = $2 AND job_id = $3 AND state IN ('failed', 'uploaded', 'verified')",
            )
            .bind(DEFAULT_ATTEMPTS)
            .bind(task)
            .bind(job)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if requeued > 0 {
            // Paid for up front, like the job itself; without the credit nothing changes.
            super::payments::fund_rerender(&mut tx, job, i64::try_from(requeued).unwrap_or(i64::MAX), now_ms).await?;
            sqlx::query("UPDATE jobs SET state = 'active', finished_at_ms = NULL WHERE id = $1")
                .bind(job)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(requeued)
    }

    /// Cancels an owner's job: its queued and leased tasks are cancelled (agents learn it at their next lease
    /// extension). Finished outputs stay.
    pub async fn cancel_job(&self, owner: UserId, job: JobId, now_ms: i64) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_at_ms = $1
             WHERE id = $2 AND owner_id = $3 AND state IN ('queued', 'active', 'paused')",
        )
        .bind(now_ms)
        .bind(job)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        super::touched(updated, "running job")?;
        sqlx::query(
            "UPDATE task_attempts SET outcome = 'cancelled', ended_at_ms = $1
             WHERE outcome = 'running' AND task_id IN (SELECT id FROM tasks WHERE job_id = $2 AND state = 'leased')",
        )
        .bind(now_ms)
        .bind(job)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE tasks SET state = 'cancelled', lease_expires_at_ms = NULL
             WHERE job_id = $1 AND state IN ('queued', 'leased')",
        )
        .bind(job)
        .execute(&mut *tx)
        .await?;
        // Results still waiting for checkers are kept as they are: nobody will look at them now.
        sqlx::query(
            "UPDATE verifications SET state = 'cancelled', decided_at_ms = $1
             WHERE state = 'open' AND task_id IN (SELECT id FROM tasks WHERE job_id = $2)",
        )
        .bind(now_ms)
        .bind(job)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE tasks SET state = 'uploaded' WHERE job_id = $1 AND state = 'verifying'")
            .bind(job)
            .execute(&mut *tx)
            .await?;
        super::payments::refund_job(&mut tx, job, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Completes `job` if it is active (or paused) and every task is done (accepted unchecked, or verified): the rest
/// of its escrow goes back to its owner, who is told.
///
/// The job's row is locked before its tasks are counted: of two tasks finishing together, the later transaction
/// then sees the earlier one's task done (each alone saw the other still running, and the job never completed).
/// Callers change their task's state before calling this.
pub(super) async fn complete_job_if_done(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    super::lock_row(tx, super::Locked::Job, job).await?;
    let completed: Option<(i64, String)> = sqlx::query_as(
        "UPDATE jobs SET state = 'completed', finished_at_ms = $1
         WHERE id = $2 AND state IN ('active', 'paused')
           AND NOT EXISTS (SELECT 1 FROM tasks WHERE job_id = $2 AND state NOT IN ('uploaded', 'verified'))
         RETURNING owner_id, name",
    )
    .bind(now_ms)
    .bind(job)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((owner, name)) = completed {
        super::payments::refund_job(tx, job, now_ms).await?;
        let text = format!("Job “{name}” is complete: every frame is in.");
        super::notifications::notify_in(tx, owner, "job_finished", &text, Some(job), now_ms).await?;
    }
    Ok(())
}

/// Fails an active (or paused) job after one of its tasks ran out of attempts: refunded, and its owner told.
pub(super) async fn fail_job(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    let failed: Option<(i64, String)> = sqlx::query_as(
        "UPDATE jobs SET state = 'failed', finished_at_ms = $1 WHERE id = $2 AND state IN ('active', 'paused')
         RETURNING owner_id, name",
    )
    .bind(now_ms)
    .bind(job)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((owner, name)) = failed {
        super::payments::refund_job(tx, job, now_ms).await?;
        let text = format!("Job “{name}” failed: a task ran out of attempts. Its unused budget was refunded.");
        super::notifications::notify_in(tx, owner, "job_failed", &text, Some(job), now_ms).await?;
    }
    Ok(())
}
