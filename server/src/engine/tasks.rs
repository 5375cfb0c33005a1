//! A leased task's last transitions, as its agent reports them or its lease runs out: rendered (to be checked, or
//! accepted and paid at once), failed (requeued or failed for good, the worker's failures counted toward the job's
//! blocklist), or expired.

use pictor_core::states::{AttemptOutcome, TaskState};

use crate::db::tasks::{self as sql, Ending, ExpiredLease, Finished, LeasedAttempt};
use crate::db::verifications::{insert_verification, NewVerification};
use crate::db::{JobId, TaskError, TaskId, Tx};

use super::jobs::{complete_if_done, fail};
use super::payments::pay_attempt;

/// The agent uploaded every frame of this attempt. With a `verification`, the result waits for checkers
/// (`verifying`); without, it is accepted unchecked (`uploaded`): paid now (and taken back if its worker is caught
/// cheating on this job), completing the job when it was the last task.
pub async fn finish(
    tx: &mut Tx<'_>,
    held: LeasedAttempt,
    finished: &Finished<'_>,
    verification: Option<&NewVerification>,
    now_ms: i64,
) -> Result<JobId, TaskError> {
    let state = if verification.is_some() { TaskState::Verifying } else { TaskState::Uploaded };
    let job = sql::mark_rendered(tx, held, state, finished, now_ms).await?;
    match verification {
        Some(check) => insert_verification(tx, held, check, now_ms).await?,
        None => {
            pay_attempt(tx, held.task, held.attempt, now_ms).await?;
            complete_if_done(tx, job, now_ms).await?;
        }
    }
    Ok(job)
}

/// The agent reports this attempt failed (`error`, and the end of Blender's output in `log`): requeued while
/// attempts remain, else failed (and the job with it). The worker's failures on the job count toward the
/// blocklist.
pub async fn fail_attempt(
    tx: &mut Tx<'_>,
    held: LeasedAttempt,
    error: &str,
    log: &str,
    now_ms: i64,
) -> Result<JobId, TaskError> {
    let ended = Ending { outcome: AttemptOutcome::Failed, error, log };
    let job = give_back(tx, held.task, held.attempt, Some(held), &ended, now_ms).await?;
    sql::count_failure(tx, job, held.node).await?;
    Ok(job)
}

/// A lease ran out, or was held past its job's time limit: the task is given back like a failure, without blaming
/// a node (its agent may be gone). The attempt keeps the last log its agent reported.
pub async fn expire(tx: &mut Tx<'_>, expired: ExpiredLease, now_ms: i64) -> Result<JobId, TaskError> {
    let error = if expired.over_time { "the attempt ran past its time limit" } else { "the lease expired" };
    let ended = Ending { outcome: AttemptOutcome::Expired, error, log: "" };
    give_back(tx, expired.task, expired.attempt, None, &ended, now_ms).await
}

/// Ends the attempt and requeues its task while attempts remain; a task out of attempts fails its job.
async fn give_back(
    tx: &mut Tx<'_>,
    task: TaskId,
    attempt: i64,
    held: Option<LeasedAttempt>,
    ended: &Ending<'_>,
    now_ms: i64,
) -> Result<JobId, TaskError> {
    let (job, state) = sql::give_back(tx, task, attempt, held.map(|held| held.node), ended, now_ms).await?;
    if state == TaskState::Failed {
        fail(tx, job, now_ms).await?;
    }
    Ok(job)
}
