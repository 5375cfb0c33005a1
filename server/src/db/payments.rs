//! The SQL behind payments: what an attempt is billed from, what a job has spent and may still take, the transfers
//! an attempt was paid with, and pausing and resuming jobs. What is charged and when is decided in
//! `engine::payments`.

use pictor_core::states::JobState;
use sqlx::Row;

use super::nodes::NodeId;
use super::users::UserId;
use super::{DbError, JobId, TaskId, Tx};

/// What an accepted attempt is paid from: its worker, the price it rendered at and for how long, the job's tier
/// cap and checker share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptBill {
    pub node: NodeId,
    pub worker_owner: UserId,
    pub job: JobId,
    pub job_owner: UserId,
    pub price_micro_per_minute: i64,
    pub tier_cap_micro_per_minute: i64,
    pub render_ms: Option<i64>,
    pub checker_share_percent: i64,
    /// Set for work billed per token (AI batch chunks): the attempt costs this, whatever the time it took.
    pub charge_micro: Option<i64>,
    /// A training run: paid per checkpoint segment (see [`trained_checkpoints`]), not per attempt.
    pub trains: bool,
}

/// One checkpoint of a training run with what its segment is paid from: the attempt that trained it, its worker and
/// price, and when the segment began (the attempt's previous checkpoint, or the attempt's start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainedCheckpoint {
    pub attempt: i64,
    pub step: i64,
    pub created_at_ms: i64,
    pub attempt_started_at_ms: i64,
    pub node: NodeId,
    pub worker_owner: UserId,
    pub price_micro_per_minute: i64,
}

pub async fn attempt_bill(tx: &mut Tx<'_>, task: TaskId, attempt: i64) -> Result<Option<AttemptBill>, DbError> {
    let row = sqlx::query(
        "SELECT a.node_id, a.price_micro_per_minute, COALESCE(a.render_ms, a.ended_at_ms - a.started_at_ms) AS ms,
                n.owner_id AS worker_owner, t.job_id, j.owner_id AS job_owner, j.max_price_micro_per_minute,
                j.checker_share_percent, a.charge_micro, j.kind
         FROM task_attempts a
           JOIN tasks t ON t.id = a.task_id
           JOIN jobs j ON j.id = t.job_id
           JOIN nodes n ON n.id = a.node_id
         WHERE a.task_id = $1 AND a.attempt = $2",
    )
    .bind(task)
    .bind(attempt)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(AttemptBill {
        node: row.try_get("node_id")?,
        worker_owner: row.try_get("worker_owner")?,
        job: row.try_get("job_id")?,
        job_owner: row.try_get("job_owner")?,
        price_micro_per_minute: row.try_get("price_micro_per_minute")?,
        tier_cap_micro_per_minute: row.try_get("max_price_micro_per_minute")?,
        render_ms: row.try_get("ms")?,
        checker_share_percent: row.try_get("checker_share_percent")?,
        charge_micro: row.try_get("charge_micro")?,
        trains: row.try_get::<String, _>("kind")? == pictor_core::workloads::WorkloadKind::AiTrain.as_str(),
    }))
}

/// The checkpoints of a training run that its trainers' attempts uploaded and no failed check discarded, in step
/// order (a cancelled run's checkpoint that a resumed run starts from has no attempt here: it was paid there).
pub async fn trained_checkpoints(tx: &mut Tx<'_>, task: TaskId) -> Result<Vec<TrainedCheckpoint>, DbError> {
    let rows = sqlx::query(&format!(
        "SELECT c.attempt, c.step, c.created_at_ms, a.started_at_ms, a.node_id, n.owner_id, a.price_micro_per_minute
         FROM training_checkpoints c
           JOIN task_attempts a ON a.task_id = c.task_id AND a.attempt = c.attempt
           JOIN nodes n ON n.id = a.node_id
         WHERE c.task_id = $1 AND {}
         ORDER BY c.step, c.attempt",
        super::ai_trainings::NOT_REJECTED
    ))
    .bind(task)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TrainedCheckpoint {
                attempt: row.try_get("attempt")?,
                step: row.try_get("step")?,
                created_at_ms: row.try_get("created_at_ms")?,
                attempt_started_at_ms: row.try_get("started_at_ms")?,
                node: row.try_get("node_id")?,
                worker_owner: row.try_get("owner_id")?,
                price_micro_per_minute: row.try_get("price_micro_per_minute")?,
            })
        })
        .collect()
}

/// Sets what an attempt of per-token work costs (before it is accepted and paid).
pub async fn set_attempt_charge(tx: &mut Tx<'_>, task: TaskId, attempt: i64, charge_micro: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE task_attempts SET charge_micro = $1 WHERE task_id = $2 AND attempt = $3")
        .bind(charge_micro)
        .bind(task)
        .bind(attempt)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn job_owner(tx: &mut Tx<'_>, job: JobId) -> Result<Option<UserId>, DbError> {
    Ok(sqlx::query_scalar("SELECT owner_id FROM jobs WHERE id = $1").bind(job).fetch_optional(&mut **tx).await?)
}

/// One transfer an attempt was paid with: its idempotency key, kind (`pay_worker` or `pay_pool`), amount, the user
/// whose account received it (none for the pool) and its job.
pub type PaidPart = (String, String, i64, Option<UserId>, Option<JobId>);

/// The payments of `task`'s job whose idempotency keys begin with `prefix` (an attempt's; read only to take them
/// back). The job narrows the search to its payments by index; the prefix is made of digits, letters and colons:
/// nothing `LIKE` reads as a pattern.
pub async fn payments_by_key_prefix(tx: &mut Tx<'_>, task: TaskId, prefix: &str) -> Result<Vec<PaidPart>, DbError> {
    Ok(sqlx::query_as(
        "SELECT t.idempotency_key, t.kind, t.amount_micro, a.user_id, t.job_id FROM ledger_transfers t
           JOIN ledger_accounts a ON a.id = t.to_account
         WHERE t.job_id = (SELECT job_id FROM tasks WHERE id = $1) AND t.kind IN ('pay_worker', 'pay_pool')
           AND t.idempotency_key LIKE $2",
    )
    .bind(task)
    .bind(format!("{prefix}%"))
    .fetch_all(&mut **tx)
    .await?)
}

/// How many transfers of `kind` a job has had (numbers its refills and refunds).
pub async fn transfers_of_kind(tx: &mut Tx<'_>, job: JobId, kind: &str) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM ledger_transfers WHERE kind = $1 AND job_id = $2")
        .bind(kind)
        .bind(job)
        .fetch_one(&mut **tx)
        .await?)
}

/// What a job has spent on tasks so far, and on how many distinct tasks.
pub async fn spent(tx: &mut Tx<'_>, job: JobId) -> Result<(i64, i64), DbError> {
    Ok(sqlx::query_as(
        "SELECT (SELECT CAST(COALESCE(SUM(amount_micro), 0) AS BIGINT) FROM ledger_transfers
                 WHERE job_id = $1 AND kind IN ('pay_worker', 'pay_pool')),
                (SELECT COUNT(DISTINCT task_id) FROM ledger_transfers WHERE job_id = $1 AND kind = 'pay_worker')",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?)
}

/// A job's budget (if it has one) and what its owner has put in so far: reserved and refilled, less refunds.
pub async fn budget_and_committed(tx: &mut Tx<'_>, job: JobId) -> Result<(Option<i64>, i64), DbError> {
    Ok(sqlx::query_as(
        "SELECT budget_micro,
                CAST(COALESCE((SELECT SUM(CASE WHEN kind = 'refund' THEN -amount_micro ELSE amount_micro END)
                               FROM ledger_transfers
                               WHERE job_id = $1 AND kind IN ('escrow', 'refill', 'refund')), 0) AS BIGINT)
         FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?)
}

/// A job as its funding sees it: whose, named what, in which state, with how many tasks queued and in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Funding {
    pub owner: UserId,
    pub name: String,
    pub state: JobState,
    pub queued: i64,
    /// Rendering or being checked: each may still be paid.
    pub in_flight: i64,
}

pub async fn funding(tx: &mut Tx<'_>, job: JobId) -> Result<Funding, DbError> {
    let row = sqlx::query(
        "SELECT owner_id, name, state,
                (SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state = 'queued') AS queued,
                (SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state IN ('leased', 'verifying')) AS leased
         FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Funding {
        owner: row.try_get("owner_id")?,
        name: row.try_get("name")?,
        state: super::state_in(&row, "state", JobState::parse)?,
        queued: row.try_get("queued")?,
        in_flight: row.try_get("leased")?,
    })
}

/// Pauses an active job (no new tasks are handed out); whether it was active.
pub async fn pause_job(tx: &mut Tx<'_>, job: JobId) -> Result<bool, DbError> {
    let paused = sqlx::query("UPDATE jobs SET state = 'paused' WHERE id = $1 AND state = 'active'")
        .bind(job)
        .execute(&mut **tx)
        .await?;
    Ok(paused.rows_affected() == 1)
}

/// Resumes a paused job.
pub async fn resume_job(tx: &mut Tx<'_>, job: JobId) -> Result<(), DbError> {
    sqlx::query("UPDATE jobs SET state = 'active' WHERE id = $1 AND state = 'paused'")
        .bind(job)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn paused_jobs_of(tx: &mut Tx<'_>, owner: UserId) -> Result<Vec<JobId>, DbError> {
    Ok(sqlx::query_scalar("SELECT id FROM jobs WHERE owner_id = $1 AND state = 'paused' ORDER BY id")
        .bind(owner)
        .fetch_all(&mut **tx)
        .await?)
}

/// Tasks of a job still to render (queued or rendering).
pub async fn tasks_to_render(tx: &mut Tx<'_>, job: JobId) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state IN ('queued', 'leased')")
        .bind(job)
        .fetch_one(&mut **tx)
        .await?)
}

/// A job's owner, its estimate and its number of tasks (what a re-render is priced from before anything was paid).
pub async fn estimate_basis(tx: &mut Tx<'_>, job: JobId) -> Result<(UserId, i64, i64), DbError> {
    Ok(sqlx::query_as(
        "SELECT owner_id, estimate_micro, (SELECT COUNT(*) FROM tasks WHERE job_id = $1) FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?)
}
