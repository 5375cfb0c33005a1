//! A job's lifecycle around its tasks: creation with its escrow, re-rendering chosen tasks, cancelling, and the
//! completion or failure that follows its tasks' last transition (each refunding what the job did not spend).

use pictor_core::states::JobState;

use crate::db::job_lifecycle::{self as sql, NewJob};
use crate::db::ledger::{balance_in, transfer_in, Account, LedgerError, Transfer};
use crate::db::users::UserId;
use crate::db::{lock_row, DbError, JobId, Locked, TaskId, Tx};

use super::notices::{Notice, LOW_BALANCE_MICRO};
use super::payments::{self, fund_rerender, refund_job};

/// Attempts a re-rendered task gets.
pub const DEFAULT_ATTEMPTS: i64 = 3;

/// Stores a job with its tasks and moves its escrow from the owner's credit; with too little credit nothing is
/// created. An owner left with little credit is told.
pub async fn create(tx: &mut Tx<'_>, job: &NewJob, now_ms: i64) -> Result<JobId, DbError> {
    let id = sql::insert_job(tx, job, now_ms).await?;
    if job.escrow_micro > 0 {
        let escrow = Transfer::new(
            format!("job:{id}:escrow"),
            Account::Credit(job.owner),
            Account::Escrow(id),
            job.escrow_micro,
            "escrow",
        )
        .job(id);
        match transfer_in(tx, &escrow, now_ms).await {
            Ok(_) => payments::follow_welcome_into_escrow(tx, job.owner, id).await?,
            Err(LedgerError::NotPositive) => {}
            // The caller drops the transaction, so the job and its tasks vanish with it.
            Err(LedgerError::Insufficient { available, needed }) => {
                return Err(DbError::InsufficientCredit { available, needed })
            }
            Err(LedgerError::Db(error)) => return Err(error),
        }
        if balance_in(tx, Account::Credit(job.owner)).await? < LOW_BALANCE_MICRO {
            Notice::LowBalance { job: &job.name }.send(tx, job.owner, Some(id), now_ms).await?;
        }
    }
    Ok(id)
}

/// Renders the owner's chosen tasks again (failed ones, or finished ones to re-render): they go back to the queue
/// with a fresh budget of attempts, paid for up front, and the job becomes active again. Leased tasks are left
/// alone. Returns the tasks requeued.
pub async fn rerender(
    tx: &mut Tx<'_>,
    owner: UserId,
    job: JobId,
    tasks: &[TaskId],
    now_ms: i64,
) -> Result<Vec<TaskId>, DbError> {
    match sql::state_of_owned(tx, owner, job).await? {
        None => return Err(DbError::NotFound("job")),
        Some(JobState::Cancelled) => return Err(DbError::Conflict("a cancelled job cannot be re-rendered")),
        Some(_) => {}
    }
    let mut requeued = Vec::new();
    for &task in tasks {
        if sql::requeue_finished(tx, job, task, DEFAULT_ATTEMPTS).await? {
            requeued.push(task);
        }
    }
    if !requeued.is_empty() {
        // Without the credit nothing changes: the caller drops the transaction.
        fund_rerender(tx, job, i64::try_from(requeued.len()).unwrap_or(i64::MAX), now_ms).await?;
        sql::reopen(tx, job).await?;
    }
    Ok(requeued)
}

/// Cancels an owner's running job and gives back what its escrow holds.
pub async fn cancel(tx: &mut Tx<'_>, owner: UserId, job: JobId, now_ms: i64) -> Result<(), DbError> {
    sql::cancel(tx, owner, job, now_ms).await?;
    refund_job(tx, job, now_ms).await
}

/// Completes `job` if it is active (or paused) and every task is done: the rest of its escrow goes back to its
/// owner, who is told.
///
/// The job's row is locked before its tasks are counted: of two tasks finishing together, the later transaction
/// then sees the earlier one's task done (each alone saw the other still running, and the job never completed).
/// Callers change their task's state before calling this.
pub async fn complete_if_done(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    lock_row(tx, Locked::Job(job)).await?;
    if let Some((owner, name)) = sql::complete_if_all_done(tx, job, now_ms).await? {
        refund_job(tx, job, now_ms).await?;
        Notice::Completed { job: &name }.send(tx, owner, Some(job), now_ms).await?;
    }
    Ok(())
}

/// Fails an active (or paused) job after one of its tasks ran out of attempts: refunded, and its owner told.
pub async fn fail(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    if let Some((owner, name)) = sql::fail(tx, job, now_ms).await? {
        refund_job(tx, job, now_ms).await?;
        Notice::Failed { job: &name }.send(tx, owner, Some(job), now_ms).await?;
    }
    Ok(())
}

/// Fails `job` when one of its tasks has run out of attempts.
pub async fn fail_if_a_task_failed(tx: &mut Tx<'_>, job: JobId, now_ms: i64) -> Result<(), DbError> {
    if sql::has_failed_task(tx, job).await? {
        fail(tx, job, now_ms).await?;
    }
    Ok(())
}
