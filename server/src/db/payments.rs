//! What work costs and who is paid, inside the transactions that change tasks' and jobs' states: an accepted result
//! pays its worker (and the checker pool its share) from the job's escrow at the worker's price for its render time,
//! within the job's tier; a result later found bad is taken back from the worker's earnings; a job that ends gives
//! its escrow's remainder back to its owner; a job whose escrow runs low pauses until a top-up refills it.

use super::ledger::{balance_in, transfer_in, Account, LedgerError, Moved, Transfer};
use super::{JobId, TaskId, Tx};
use pictor_core::states::JobState;
use sqlx::Row;

use super::DbError;

/// What one attempt is charged: `price × render time`, the price capped by the job's tier, split between the worker
/// and the checker pool (`share_percent` to the pool). Integer micro-credits, rounded down.
pub fn charge(price_micro_per_minute: i64, tier_cap: i64, render_ms: i64, share_percent: i64) -> (i64, i64) {
    let price = i128::from(price_micro_per_minute.min(tier_cap).max(0));
    let total = (price * i128::from(render_ms.max(0)) / 60_000).min(i128::from(i64::MAX));
    let pool = total * i128::from(share_percent.clamp(0, 100)) / 100;
    ((total - pool) as i64, pool as i64)
}

fn ledger_to_db(error: LedgerError) -> DbError {
    match error {
        LedgerError::Db(db) => db,
        // Payments are sized to what the escrow holds, so this means the cached balances are off: fail loudly.
        other => DbError::Corrupt(if matches!(other, LedgerError::NotPositive) { "zero payment" } else { "escrow" }),
    }
}

/// Pays the accepted result of `task`'s `attempt` (once: later calls find the transfers made). Returns the amount
/// the worker received.
pub(super) async fn pay_attempt(tx: &mut Tx<'_>, task: TaskId, attempt: i64, now_ms: i64) -> Result<i64, DbError> {
    let row = sqlx::query(
        "SELECT a.node_id, a.price_micro_per_minute, COALESCE(a.render_ms, a.ended_at_ms - a.started_at_ms) AS ms,
                n.owner_id AS worker_owner, t.job_id, j.max_price_micro_per_minute, j.checker_share_percent
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
    let Some(row) = row else { return Ok(0) };
    let node: i64 = row.try_get("node_id")?;
    let job: JobId = row.try_get("job_id")?;
    // Payments of one job take turns: each reads the escrow and numbers its refills from what the one before
    // committed (two at once both read the same balance and took the same refill key).
    super::lock_row(tx, super::Locked::Job, job).await?;
    let ms: Option<i64> = row.try_get("ms")?;
    let (worker, pool) = charge(
        row.try_get("price_micro_per_minute")?,
        row.try_get("max_price_micro_per_minute")?,
        ms.unwrap_or(0),
        row.try_get("checker_share_percent")?,
    );
    // The work is done at the agreed price: an escrow that falls short (the estimate was low, or several tasks
    // finished at once) is topped up from the owner's credit, within the job's budget. Only if that is not enough
    // is the attempt paid what there is, in proportion.
    let mut available = balance_in(tx, Account::Escrow(job)).await?;
    if worker + pool > available {
        let owner: i64 =
            sqlx::query_scalar("SELECT owner_id FROM jobs WHERE id = $1").bind(job).fetch_one(&mut **tx).await?;
        available += refill(tx, job, owner, worker + pool - available, now_ms).await?;
    }
    let (worker, pool) = if worker + pool > available {
        let scaled = |part: i64| (i128::from(part) * i128::from(available) / i128::from(worker + pool)) as i64;
        (scaled(worker), scaled(pool))
    } else {
        (worker, pool)
    };
    if worker + pool == 0 {
        // A free worker (or an empty escrow): nothing moves, nothing to watch.
        return Ok(0);
    }
    let worker_owner: i64 = row.try_get("worker_owner")?;
    let key = format!("task:{task}:attempt:{attempt}");
    let mut paid = 0;
    if worker > 0 {
        let transfer = Transfer::new(
            format!("{key}:worker"),
            Account::Escrow(job),
            Account::Earnings(worker_owner),
            worker,
            "pay_worker",
        )
        .job(job)
        .task(task)
        .node(node);
        if transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)? == Moved::Now {
            paid = worker;
        }
    }
    if pool > 0 {
        let transfer =
            Transfer::new(format!("{key}:pool"), Account::Escrow(job), Account::CheckerPool, pool, "pay_pool")
                .job(job)
                .task(task)
                .node(node);
        transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)?;
    }
    pause_if_running_dry(tx, job, now_ms).await?;
    Ok(paid)
}

/// Takes back what a result that turned out bad was paid (as much as its owner's earnings still hold), into the
/// job's escrow to pay the render that replaces it.
pub(super) async fn claw_back(tx: &mut Tx<'_>, task: TaskId, attempt: i64, now_ms: i64) -> Result<(), DbError> {
    let key = format!("task:{task}:attempt:{attempt}");
    let paid: Vec<(String, i64, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT t.kind, t.amount_micro, a.user_id, t.job_id FROM ledger_transfers t
           JOIN ledger_accounts a ON a.id = t.to_account
         WHERE t.idempotency_key IN ($1, $2)",
    )
    .bind(format!("{key}:worker"))
    .bind(format!("{key}:pool"))
    .fetch_all(&mut **tx)
    .await?;
    for (kind, amount, owner, job) in paid {
        let Some(job) = job else { continue };
        let (from, suffix) = match (kind.as_str(), owner) {
            ("pay_worker", Some(owner)) => (Account::Earnings(owner), "worker"),
            ("pay_pool", _) => (Account::CheckerPool, "pool"),
            _ => continue,
        };
        let amount = amount.min(balance_in(tx, from).await?);
        if amount > 0 {
            let transfer =
                Transfer::new(format!("{key}:{suffix}:clawback"), from, Account::Escrow(job), amount, "clawback")
                    .job(job)
                    .task(task)
                    .memo("the result was rejected by checkers");
            transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)?;
        }
    }
    Ok(())
}

/// Gives what is left in an ended job's escrow back to its owner. Callers have just changed the job's state, so its
/// row is already locked by the transaction.
pub(super) async fn refund_job(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    let owner: Option<i64> =
        sqlx::query_scalar("SELECT owner_id FROM jobs WHERE id = $1").bind(job).fetch_optional(&mut **tx).await?;
    let Some(owner) = owner else { return Ok(()) };
    let left = balance_in(tx, Account::Escrow(job)).await?;
    if left > 0 {
        // Keyed by the amount too: a job re-opened by "render again" and ended again refunds what came back in.
        let refunds: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM ledger_transfers WHERE kind = 'refund' AND job_id = $1")
                .bind(job)
                .fetch_one(&mut **tx)
                .await?;
        let transfer = Transfer::new(
            format!("job:{job}:refund:{}", refunds + 1),
            Account::Escrow(job),
            Account::Credit(owner),
            left,
            "refund",
        )
        .job(job);
        transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)?;
    }
    Ok(())
}

/// What a job has spent on tasks so far, and on how many distinct tasks.
async fn spent(tx: &mut Tx<'_>, job: JobId) -> Result<(i64, i64), DbError> {
    Ok(sqlx::query_as(
        "SELECT (SELECT CAST(COALESCE(SUM(amount_micro), 0) AS BIGINT) FROM ledger_transfers
                 WHERE job_id = $1 AND kind IN ('pay_worker', 'pay_pool')),
                (SELECT COUNT(DISTINCT task_id) FROM ledger_transfers WHERE job_id = $1 AND kind = 'pay_worker')",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?)
}

/// How much more may go into `job`'s escrow: without a budget, anything; with one, the budget less what the owner
/// has put in so far (reserved and refilled, less what came back as refunds).
async fn budget_room(tx: &mut Tx<'_>, job: JobId) -> Result<i64, DbError> {
    let (budget, committed): (Option<i64>, i64) = sqlx::query_as(
        "SELECT budget_micro,
                CAST(COALESCE((SELECT SUM(CASE WHEN kind = 'refund' THEN -amount_micro ELSE amount_micro END)
                               FROM ledger_transfers
                               WHERE job_id = $1 AND kind IN ('escrow', 'refill', 'refund')), 0) AS BIGINT)
         FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?;
    Ok(budget.map_or(i64::MAX, |budget| (budget - committed).max(0)))
}

/// Moves up to `wanted` from the owner's credit into the job's escrow, never past the job's budget; returns what
/// was moved.
async fn refill(tx: &mut Tx<'_>, job: JobId, owner: i64, wanted: i64, now_ms: i64) -> Result<i64, DbError> {
    let amount = wanted.min(balance_in(tx, Account::Credit(owner)).await?).min(budget_room(tx, job).await?);
    if amount <= 0 {
        return Ok(0);
    }
    let refills: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ledger_transfers WHERE kind = 'refill' AND job_id = $1")
            .bind(job)
            .fetch_one(&mut **tx)
            .await?;
    let transfer = Transfer::new(
        format!("job:{job}:refill:{}", refills + 1),
        Account::Credit(owner),
        Account::Escrow(job),
        amount,
        "refill",
    )
    .job(job);
    transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)?;
    Ok(amount)
}

/// After a payment: if the escrow cannot pay for the tasks in flight (rendering or being checked) and one more at
/// the job's average cost so far, it is refilled from the owner's credit for the rest of the job; if the credit (or
/// the job's budget) cannot cover that, the job pauses (no new tasks are handed out) and its owner is told.
async fn pause_if_running_dry(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    let row = sqlx::query(
        "SELECT owner_id, name, state,
                (SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state = 'queued') AS queued,
                (SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state IN ('leased', 'verifying')) AS leased
         FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?;
    let state = super::state_in(&row, "state", JobState::parse)?;
    let (queued, leased): (i64, i64) = (row.try_get("queued")?, row.try_get("leased")?);
    let (spent, paid) = spent(tx, job).await?;
    if state != JobState::Active || queued == 0 || paid == 0 {
        return Ok(());
    }
    let average = spent / paid;
    let escrow = balance_in(tx, Account::Escrow(job)).await?;
    if escrow >= average * (leased + 1) {
        return Ok(());
    }
    let owner: i64 = row.try_get("owner_id")?;
    let moved = refill(tx, job, owner, average * (queued + leased) - escrow, now_ms).await?;
    if escrow + moved >= average * (leased + 1) {
        return Ok(());
    }
    sqlx::query("UPDATE jobs SET state = 'paused' WHERE id = $1 AND state = 'active'")
        .bind(job)
        .execute(&mut **tx)
        .await?;
    let name: String = row.try_get("name")?;
    let text = if budget_room(tx, job).await? == 0 {
        format!("Job “{name}” paused: it reached its budget. Cancel it to get back what it still holds.")
    } else {
        format!("Job “{name}” paused: it ran out of credit. Top up your credit to resume it.")
    };
    super::notifications::notify_in(tx, owner, "job_paused", &text, Some(job), now_ms).await
}

/// After a top-up: each paused job of `owner` is refilled for its remaining tasks (as far as the credit goes) and
/// resumes. Returns the jobs resumed.
pub(super) async fn resume_paused_jobs(tx: &mut Tx<'_>, owner: i64, now_ms: i64) -> Result<Vec<JobId>, DbError> {
    let jobs: Vec<i64> = sqlx::query_scalar("SELECT id FROM jobs WHERE owner_id = $1 AND state = 'paused' ORDER BY id")
        .bind(owner)
        .fetch_all(&mut **tx)
        .await?;
    let mut resumed = Vec::new();
    for job in jobs {
        super::lock_row(tx, super::Locked::Job, job).await?;
        let remaining: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state IN ('queued', 'leased')")
                .bind(job)
                .fetch_one(&mut **tx)
                .await?;
        let (spent, paid) = spent(tx, job).await?;
        let average = if paid > 0 { spent / paid } else { 0 };
        let escrow = balance_in(tx, Account::Escrow(job)).await?;
        let moved = refill(tx, job, owner, average * remaining - escrow, now_ms).await?;
        if escrow + moved >= average {
            sqlx::query("UPDATE jobs SET state = 'active' WHERE id = $1 AND state = 'paused'")
                .bind(job)
                .execute(&mut **tx)
                .await?;
            resumed.push(job);
        }
    }
    Ok(resumed)
}

/// Funds a re-render of `tasks` tasks of `job` from the owner's credit, at the job's average cost per task so far
/// (or its estimate per task); refused, changing nothing, when the credit or the job's budget cannot cover it.
pub(super) async fn fund_rerender(tx: &mut Tx<'_>, job: JobId, tasks: i64, now_ms: i64) -> Result<(), DbError> {
    super::lock_row(tx, super::Locked::Job, job).await?;
    let (owner, estimate, total): (i64, i64, i64) = sqlx::query_as(
        "SELECT owner_id, estimate_micro, (SELECT COUNT(*) FROM tasks WHERE job_id = $1) FROM jobs WHERE id = $1",
    )
    .bind(job)
    .fetch_one(&mut **tx)
    .await?;
    let (spent, paid) = spent(tx, job).await?;
    let per_task = if paid > 0 { spent / paid } else { estimate / total.max(1) };
    let needed = per_task * tasks - balance_in(tx, Account::Escrow(job)).await?;
    if needed <= 0 {
        return Ok(());
    }
    if budget_room(tx, job).await? < needed {
        return Err(DbError::Conflict("the job's budget is spent"));
    }
    let available = balance_in(tx, Account::Credit(owner)).await?;
    if available < needed {
        return Err(DbError::InsufficientCredit { available, needed });
    }
    refill(tx, job, owner, needed, now_ms).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_is_price_times_minutes_within_the_tier_split_with_the_pool() {
        // 1 credit per minute for 90 s: 1.5 credits, 10 % to the checker pool.
        assert_eq!(charge(1_000_000, 5_000_000, 90_000, 10), (1_350_000, 150_000));
        // The tier caps the price.
        assert_eq!(charge(9_000_000, 1_000_000, 60_000, 10), (900_000, 100_000));
        // Rounded down to the micro-credit; nothing negative.
        assert_eq!(charge(1, 5_000_000, 1, 10), (0, 0));
        assert_eq!(charge(1_000_000, 5_000_000, -5, 10), (0, 0));
        // No overflow for absurd render times.
        assert!(charge(i64::MAX, i64::MAX, i64::MAX, 10).0 != 0);
    }
}
