//! What work costs and who is paid, inside the transactions that change tasks' and jobs' states: an accepted result
//! pays its worker (and the checker pool its share) from the job's escrow at the worker's price for its render time,
//! within the job's tier (a training run per checkpoint segment, to the attempt that trained it); a result later
//! found bad is taken back from the worker's earnings; a job that ends gives its escrow's remainder back to its
//! owner; a job whose escrow runs low pauses until a top-up refills it.

use crate::db::ledger::{balance_in, transfer_in, Account, LedgerError, Moved, Transfer};
use crate::db::payments::AttemptBill;
use crate::db::users::UserId;
use crate::db::{lock_row, payments as sql, welcome, DbError, JobId, Locked, TaskId, Tx};
use pictor_core::states::JobState;

use super::notices::Notice;

/// What one attempt is charged: `price × render time`, the price capped by the job's tier, split between the worker
/// and the checker pool (`share_percent` to the pool). Integer micro-credits, rounded down.
pub fn charge(price_micro_per_minute: i64, tier_cap: i64, render_ms: i64, share_percent: i64) -> (i64, i64) {
    let price = i128::from(price_micro_per_minute.min(tier_cap).max(0));
    let total = (price * i128::from(render_ms.max(0)) / 60_000).min(i128::from(i64::MAX));
    let pool = total * i128::from(share_percent.clamp(0, 100)) / 100;
    ((total - pool) as i64, pool as i64)
}

/// A charge fixed by the work itself (per token), split between the worker and the checker pool.
pub fn split(total_micro: i64, share_percent: i64) -> (i64, i64) {
    let total = total_micro.max(0);
    let pool = (i128::from(total) * i128::from(share_percent.clamp(0, 100)) / 100) as i64;
    (total - pool, pool)
}

/// A charge of `worker + pool` paid from an escrow holding only `available`: each part in proportion.
fn scaled_to(available: i64, worker: i64, pool: i64) -> (i64, i64) {
    if worker + pool <= available {
        return (worker, pool);
    }
    let scaled = |part: i64| (i128::from(part) * i128::from(available.max(0)) / i128::from(worker + pool)) as i64;
    (scaled(worker), scaled(pool))
}

fn ledger_to_db(error: LedgerError) -> DbError {
    match error {
        LedgerError::Db(db) => db,
        // Payments are sized to what the escrow holds, so this means the cached balances are off: fail loudly.
        other => DbError::Corrupt(if matches!(other, LedgerError::NotPositive) { "zero payment" } else { "escrow" }),
    }
}

/// What the idempotency keys of an attempt's payments begin with (`:worker` and `:pool` follow; a training
/// attempt's segments add `:segment:{step}` before them).
fn attempt_key(task: TaskId, attempt: i64) -> String {
    format!("task:{task}:attempt:{attempt}")
}

/// Pays the accepted result of `task`'s `attempt` (once: later calls find the transfers made), unless the worker
/// belongs to the job's owner; a training run's attempt pays every segment of the run it delivers, each to the
/// attempt that trained it. Returns the amount the attempt's worker received.
pub async fn pay_attempt(tx: &mut Tx<'_>, task: TaskId, attempt: i64, now_ms: i64) -> Result<i64, DbError> {
    let Some(bill) = sql::attempt_bill(tx, task, attempt).await? else { return Ok(0) };
    // Payments of one job take turns: each reads the escrow and numbers its refills from what the one before
    // committed (two at once both read the same balance and took the same refill key).
    lock_row(tx, Locked::Job(bill.job)).await?;
    if bill.trains {
        return pay_segments(tx, &bill, task, attempt, now_ms).await;
    }
    let (worker, pool) = match bill.charge_micro {
        Some(total) => split(total, bill.checker_share_percent),
        None => charge(
            bill.price_micro_per_minute,
            bill.tier_cap_micro_per_minute,
            bill.render_ms.unwrap_or(0),
            bill.checker_share_percent,
        ),
    };
    let payment = Payment { task, key: attempt_key(task, attempt), worker_owner: bill.worker_owner, node: bill.node };
    pay(tx, &bill, &payment, worker, pool, now_ms).await
}

/// Pays the segments of the run that `delivering` (of `task`, billed as `bill`) completes; each once, under its own
/// key. Returns what `delivering`'s worker received now.
async fn pay_segments(
    tx: &mut Tx<'_>,
    bill: &AttemptBill,
    task: TaskId,
    delivering: i64,
    now_ms: i64,
) -> Result<i64, DbError> {
    let checkpoints = sql::trained_checkpoints(tx, task).await?;
    let mut paid_to_delivering = 0;
    for segment in super::training_pay::segment_charges(&checkpoints, delivering) {
        let trained = segment.checkpoint;
        let (worker, pool) = charge(
            trained.price_micro_per_minute,
            bill.tier_cap_micro_per_minute,
            segment.trained_ms,
            bill.checker_share_percent,
        );
        let payment = Payment {
            task,
            key: format!("{}:segment:{}", attempt_key(task, trained.attempt), trained.step),
            worker_owner: trained.worker_owner,
            node: trained.node,
        };
        let paid = pay(tx, bill, &payment, worker, pool, now_ms).await?;
        if trained.attempt == delivering {
            paid_to_delivering += paid;
        }
    }
    Ok(paid_to_delivering)
}

/// Who one payment of a task goes to, under which idempotency key (`{key}:worker`, `{key}:pool`).
struct Payment {
    task: TaskId,
    key: String,
    worker_owner: UserId,
    node: crate::db::nodes::NodeId,
}

/// Moves `worker + pool` out of the bill's job escrow (the job's row locked by the caller): nothing when the worker
/// belongs to the job's owner, the escrow topped up from the owner's credit within the budget when it falls short.
/// Returns what the worker received now (0 when the key was paid before).
async fn pay(
    tx: &mut Tx<'_>,
    bill: &AttemptBill,
    payment: &Payment,
    worker: i64,
    pool: i64,
    now_ms: i64,
) -> Result<i64, DbError> {
    let (job, owner, task) = (bill.job, bill.job_owner, payment.task);
    if owner == payment.worker_owner {
        // A user's own machines render their jobs for free: nobody can turn credit (welcome credits included)
        // into withdrawable earnings by rendering for themselves.
        return Ok(0);
    }
    // The work is done at the agreed price: an escrow that falls short (the estimate was low, or several tasks
    // finished at once) is topped up from the owner's credit, within the job's budget. Only if that is not enough
    // is the attempt paid what there is, in proportion.
    let mut available = balance_in(tx, Account::Escrow(job)).await?;
    if worker + pool > available {
        available += refill(tx, job, owner, worker + pool - available, now_ms).await?;
    }
    let (worker, pool) = scaled_to(available, worker, pool);
    if worker + pool == 0 {
        // A free worker (or an empty escrow): nothing moves, nothing to watch.
        return Ok(0);
    }
    // Welcome money in the escrow pays the worker first and is held in its earnings (never withdrawn); work paid
    // with it adds nothing to the checker pool.
    let welcome_in_escrow = welcome::in_escrow(tx, job).await?;
    let held = worker.min(welcome_in_escrow);
    let pool = pool - pool.min(welcome_in_escrow - held);
    let mut paid = 0;
    if worker > 0 {
        let to = Account::Earnings(payment.worker_owner);
        let transfer = Transfer::new(format!("{}:worker", payment.key), Account::Escrow(job), to, worker, "pay_worker")
            .job(job)
            .task(task)
            .node(payment.node);
        if transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)? == Moved::Now {
            paid = worker;
            welcome::add_to_held(tx, payment.worker_owner, held).await?;
            welcome::add_to_escrow(tx, job, -held).await?;
        }
    }
    if pool > 0 {
        let key = format!("{}:pool", payment.key);
        let transfer = Transfer::new(key, Account::Escrow(job), Account::CheckerPool, pool, "pay_pool")
            .job(job)
            .task(task)
            .node(payment.node);
        transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)?;
    }
    pause_if_running_dry(tx, job, now_ms).await?;
    Ok(paid)
}

/// Takes back what a result that turned out bad was paid (as much as its owner's earnings still hold), into the
/// job's escrow to pay the render that replaces it.
pub async fn claw_back(tx: &mut Tx<'_>, task: TaskId, attempt: i64, now_ms: i64) -> Result<(), DbError> {
    let paid = sql::payments_by_key_prefix(tx, task, &format!("{}:", attempt_key(task, attempt))).await?;
    for (key, kind, amount, owner, job) in paid {
        let Some(job) = job else { continue };
        let from = match (kind.as_str(), owner) {
            ("pay_worker", Some(owner)) => Account::Earnings(owner),
            ("pay_pool", _) => Account::CheckerPool,
            _ => continue,
        };
        let amount = amount.min(balance_in(tx, from).await?);
        if amount > 0 {
            let transfer = Transfer::new(format!("{key}:clawback"), from, Account::Escrow(job), amount, "clawback")
                .job(job)
                .task(task)
                .memo("the result was rejected by checkers");
            if transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)? == Moved::Now {
                if let Account::Earnings(owner) = from {
                    // What was held of it goes back into the escrow as welcome money.
                    let back = amount.min(welcome::held_earnings(tx, owner).await?);
                    welcome::add_to_held(tx, owner, -back).await?;
                    welcome::add_to_escrow(tx, job, back).await?;
                }
            }
        }
    }
    Ok(())
}

/// Gives what is left in an ended job's escrow back to its owner. Callers have just changed the job's state, so its
/// row is already locked by the transaction.
pub async fn refund_job(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    let Some(owner) = sql::job_owner(tx, job).await? else { return Ok(()) };
    let left = balance_in(tx, Account::Escrow(job)).await?;
    if left > 0 {
        // Numbered: a job re-opened by "render again" and ended again refunds what came back in.
        let refunds = sql::transfers_of_kind(tx, job, "refund").await?;
        let transfer = Transfer::new(
            format!("job:{job}:refund:{}", refunds + 1),
            Account::Escrow(job),
            Account::Credit(owner),
            left,
            "refund",
        )
        .job(job);
        if transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)? == Moved::Now {
            // The welcome part goes back to the welcome part of the owner's credit.
            let welcome_back = left.min(welcome::in_escrow(tx, job).await?);
            welcome::add_to_credit(tx, owner, welcome_back).await?;
            welcome::add_to_escrow(tx, job, -welcome_back).await?;
        }
    }
    Ok(())
}

/// After money moved from `owner`'s credit into `job`'s escrow: paid credit is spent first, so welcome money went
/// with it only as far as the credit left is now smaller than its welcome part.
pub async fn follow_welcome_into_escrow(tx: &mut Tx<'_>, owner: UserId, job: JobId) -> Result<(), DbError> {
    let credit = balance_in(tx, Account::Credit(owner)).await?;
    let taken = welcome::cap_to_credit(tx, owner, credit).await?;
    welcome::add_to_escrow(tx, job, taken).await
}

/// How much more may go into `job`'s escrow: without a budget, anything; with one, the budget less what the owner
/// has put in so far.
async fn budget_room(tx: &mut Tx<'_>, job: JobId) -> Result<i64, DbError> {
    let (budget, committed) = sql::budget_and_committed(tx, job).await?;
    Ok(budget.map_or(i64::MAX, |budget| (budget - committed).max(0)))
}

/// The job's average cost per paid task so far (0 before any payment).
async fn average_cost(tx: &mut Tx<'_>, job: JobId) -> Result<Option<i64>, DbError> {
    let (spent, paid) = sql::spent(tx, job).await?;
    Ok((paid > 0).then(|| spent / paid))
}

/// Moves up to `wanted` from the owner's credit into the job's escrow, never past the job's budget; returns what
/// was moved.
async fn refill(tx: &mut Tx<'_>, job: JobId, owner: UserId, wanted: i64, now_ms: i64) -> Result<i64, DbError> {
    let amount = wanted.min(balance_in(tx, Account::Credit(owner)).await?).min(budget_room(tx, job).await?);
    if amount <= 0 {
        return Ok(0);
    }
    let refills = sql::transfers_of_kind(tx, job, "refill").await?;
    let transfer = Transfer::new(
        format!("job:{job}:refill:{}", refills + 1),
        Account::Credit(owner),
        Account::Escrow(job),
        amount,
        "refill",
    )
    .job(job);
    if transfer_in(tx, &transfer, now_ms).await.map_err(ledger_to_db)? == Moved::Now {
        follow_welcome_into_escrow(tx, owner, job).await?;
    }
    Ok(amount)
}

/// After a payment: if the escrow cannot pay for the tasks in flight (rendering or being checked) and one more at
/// the job's average cost so far, it is refilled from the owner's credit for the rest of the job; if the credit (or
/// the job's budget) cannot cover that, the job pauses (no new tasks are handed out) and its owner is told.
async fn pause_if_running_dry(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    let funding = sql::funding(tx, job).await?;
    if funding.state != JobState::Active || funding.queued == 0 {
        return Ok(());
    }
    let Some(average) = average_cost(tx, job).await? else { return Ok(()) };
    let needed_now = average * (funding.in_flight + 1);
    let escrow = balance_in(tx, Account::Escrow(job)).await?;
    if escrow >= needed_now {
        return Ok(());
    }
    let wanted = average * (funding.queued + funding.in_flight) - escrow;
    let moved = refill(tx, job, funding.owner, wanted, now_ms).await?;
    if escrow + moved >= needed_now || !sql::pause_job(tx, job).await? {
        return Ok(());
    }
    let notice = if budget_room(tx, job).await? == 0 {
        Notice::PausedAtBudget { job: &funding.name }
    } else {
        Notice::PausedForCredit { job: &funding.name }
    };
    notice.send(tx, funding.owner, Some(job), now_ms).await
}

/// After a top-up: each paused job of `owner` is refilled for its remaining tasks (as far as the credit goes) and
/// resumes. Returns the jobs resumed.
pub async fn resume_paused_jobs(tx: &mut Tx<'_>, owner: UserId, now_ms: i64) -> Result<Vec<JobId>, DbError> {
    let mut resumed = Vec::new();
    for job in sql::paused_jobs_of(tx, owner).await? {
        lock_row(tx, Locked::Job(job)).await?;
        let remaining = sql::tasks_to_render(tx, job).await?;
        let average = average_cost(tx, job).await?.unwrap_or(0);
        let escrow = balance_in(tx, Account::Escrow(job)).await?;
        let moved = refill(tx, job, owner, average * remaining - escrow, now_ms).await?;
        if escrow + moved >= average {
            sql::resume_job(tx, job).await?;
            resumed.push(job);
        }
    }
    Ok(resumed)
}

/// Funds a re-render of `tasks` tasks of `job` from the owner's credit, at the job's average cost per task so far
/// (or its estimate per task); refused, changing nothing, when the credit or the job's budget cannot cover it.
pub async fn fund_rerender(tx: &mut Tx<'_>, job: JobId, tasks: i64, now_ms: i64) -> Result<(), DbError> {
    lock_row(tx, Locked::Job(job)).await?;
    let (owner, estimate, total) = sql::estimate_basis(tx, job).await?;
    let per_task = average_cost(tx, job).await?.unwrap_or(estimate / total.max(1));
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

    #[test]
    fn a_per_token_charge_is_split_with_the_pool() {
        assert_eq!(split(1_000, 10), (900, 100));
        assert_eq!(split(7, 10), (7, 0));
        assert_eq!(split(-5, 10), (0, 0));
    }

    #[test]
    fn a_short_escrow_pays_both_parts_in_proportion() {
        assert_eq!(scaled_to(1_000, 900, 100), (900, 100));
        assert_eq!(scaled_to(500, 900, 100), (450, 50));
        assert_eq!(scaled_to(0, 900, 100), (0, 0));
    }
}
