//! Checkers' verdicts and what follows from them, in one transaction each: a passed result is verified, paid, and
//! its worker's streak grows; a failed one is rejected, requeued for another worker with the worker's unchecked
//! results of the job, and the worker loses its streak (blocklisted for the job, flagged network-wide when it
//! repeats); an unsure round is followed by a second with larger crops; checkers who disagree with the quorum lose
//! standing. Checks no checker can take any more are accepted unchecked.

use pictor_core::states::TaskState;
use pictor_core::verification::Verdict;

use super::quorum::{agrees, decide, should_suspend, Outcome};
use crate::db::nodes::NodeId;
use crate::db::verdicts::{self as sql, OpenCheck, Rejected, VerdictInput};
use crate::db::verifications::VerificationId;
use crate::db::{lock_row, Db, DbError, JobId, Locked, TaskError, TaskId, Tx};

use super::changes::Changes;
use super::jobs::{complete_if_done, fail_if_a_task_failed};
use super::payments::{claw_back, pay_attempt};

/// A worker rejected this often (anywhere) is flagged: every one of its results is checked from then on.
pub const FLAG_AFTER_REJECTIONS: i64 = 3;
/// Attempts a task may reach through rejections (each rejection grants one more, up to this).
pub const MAX_ATTEMPTS_WITH_REJECTIONS: i64 = 10;
/// How long a check may wait with no checker to take it before the result is accepted as it is.
pub const UNCHECKED_AFTER_MS: i64 = 30 * 60_000;

/// What a verdict changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// More verdicts are needed.
    Pending,
    /// The verification was already decided or cancelled; the verdict is kept for the record.
    Closed,
    Passed {
        task: TaskId,
        job: JobId,
    },
    /// Unsure: a second round with larger crops was opened.
    NextRound {
        task: TaskId,
    },
    /// The result was rejected; `requeued` holds it and the worker's unchecked results of the job.
    Rejected {
        task: TaskId,
        job: JobId,
        worker: NodeId,
        requeued: Vec<TaskId>,
    },
    /// An audit of a checker ended; `suspended` if it called the known-bad copy good.
    Audit {
        checker: NodeId,
        suspended: bool,
    },
}

impl Settlement {
    /// What a settlement changed, for owners' pages and waiting agents: a new round waits for checkers, rejected
    /// results are back in the queue for other workers.
    pub fn changes(&self) -> Changes {
        match self {
            Settlement::Passed { task, .. } => Changes::task(*task),
            Settlement::NextRound { task } => Changes::task(*task).with_checks(true),
            Settlement::Rejected { requeued, .. } => Changes::tasks(requeued.iter().copied()).with_work(true),
            Settlement::Audit { .. } | Settlement::Pending | Settlement::Closed => Changes::default(),
        }
    }
}

/// Records `checker`'s verdict on `verification` and, once the quorum is in, applies the decision.
/// `next_round_crops` are the crops of the second round, used if this decides "unsure" in round 1.
pub async fn record_verdict(
    tx: &mut Tx<'_>,
    verification: VerificationId,
    checker: NodeId,
    input: &VerdictInput,
    next_round_crops: &str,
    now_ms: i64,
) -> Result<Settlement, TaskError> {
    // Verdicts on one verification take turns: the last of a quorum arriving together then sees the others (else
    // each saw too few and the check stayed open forever), and a decided check is decided once.
    lock_row(tx, Locked::Verification(verification)).await?;
    if !sql::submit(tx, verification, checker, input, now_ms).await? {
        return Err(TaskError::LeaseLost);
    }
    let Some(open) = sql::open_check(tx, verification).await? else { return Ok(Settlement::Closed) };
    let given = sql::submitted(tx, verification).await?;
    let verdicts: Vec<Verdict> = given.iter().map(|(_, verdict)| *verdict).collect();
    let mut outcome = decide(&verdicts, usize::try_from(open.quorum).unwrap_or(1));
    if outcome == Outcome::Unsure && open.round >= 2 {
        // Still unsure with larger crops: the creator is better served by a fresh render than by a doubt.
        outcome = Outcome::Failed;
    }
    if outcome == Outcome::Pending {
        return Ok(Settlement::Pending);
    }
    if !sql::close(tx, verification, outcome.state(), now_ms).await? {
        return Ok(Settlement::Closed);
    }
    if let Some(audited) = open.audit_node {
        let suspended = settle_audit(tx, audited, input.verdict, now_ms).await?;
        return Ok(Settlement::Audit { checker: audited, suspended });
    }
    record_agreement(tx, verification, &given, outcome, now_ms).await?;
    Ok(match outcome {
        Outcome::Passed => {
            sql::accept(tx, &open).await?;
            pay_attempt(tx, open.task, open.attempt, now_ms).await?;
            complete_if_done(tx, open.job, now_ms).await?;
            Settlement::Passed { task: open.task, job: open.job }
        }
        Outcome::Unsure => {
            sql::open_next_round(tx, verification, &open, next_round_crops, now_ms).await?;
            Settlement::NextRound { task: open.task }
        }
        Outcome::Failed | Outcome::Pending => {
            let reason = format!("rejected by {} checker verdict(s): the re-rendered crops do not match", given.len());
            let requeued = reject(tx, &open, &reason, now_ms).await?;
            Settlement::Rejected { task: open.task, job: open.job, worker: open.worker, requeued }
        }
    })
}

/// An audit shows a checker a known-bad copy: calling it good is lying, and suspends the checker.
async fn settle_audit(tx: &mut Tx<'_>, checker: NodeId, verdict: Verdict, now_ms: i64) -> Result<bool, DbError> {
    match verdict {
        Verdict::Fail => {
            sql::count_audit_passed(tx, checker).await?;
            Ok(false)
        }
        Verdict::Pass => {
            sql::suspend(tx, checker, now_ms).await?;
            Ok(true)
        }
        Verdict::Unsure => Ok(false),
    }
}

/// Marks each verdict as agreeing or not with the decision, counts it toward its checker's standing, and suspends
/// checkers who disagree more than they agree.
async fn record_agreement(
    tx: &mut Tx<'_>,
    verification: VerificationId,
    given: &[(NodeId, Verdict)],
    outcome: Outcome,
    now_ms: i64,
) -> Result<(), DbError> {
    for (checker, verdict) in given {
        let Some(agreed) = agrees(*verdict, outcome) else { continue };
        let (agreed_total, disagreed_total) = sql::record_agreement(tx, verification, *checker, agreed).await?;
        if should_suspend(agreed_total, disagreed_total) {
            sql::suspend(tx, *checker, now_ms).await?;
        }
    }
    Ok(())
}

/// The result does not hold up: the task goes back to the queue, the worker loses its streak and is blocklisted
/// for the job after repeated rejections, and its results of the job that were accepted unchecked are rendered
/// again too (what they were paid taken back). Returns every requeued task.
async fn reject(tx: &mut Tx<'_>, open: &OpenCheck, reason: &str, now_ms: i64) -> Result<Vec<TaskId>, DbError> {
    let checked =
        Rejected { task: open.task, attempt: open.attempt, found_in: TaskState::Verifying, checked: true, reason };
    let mut requeued = Vec::new();
    if sql::requeue_rejected(tx, &checked, MAX_ATTEMPTS_WITH_REJECTIONS, now_ms).await? {
        requeued.push(open.task);
    }
    sql::count_rejection(tx, open.worker, FLAG_AFTER_REJECTIONS, now_ms).await?;
    sql::block_for_rejection(tx, open.job, open.worker).await?;
    // Its results of this job that nobody checked cannot be trusted now.
    let retro = "re-rendered: the worker that rendered it was caught with a bad result on this job";
    for (task, attempt) in sql::unchecked_results(tx, open.job, open.worker).await? {
        let unchecked = Rejected { task, attempt, found_in: TaskState::Uploaded, checked: false, reason: retro };
        sql::requeue_rejected(tx, &unchecked, MAX_ATTEMPTS_WITH_REJECTIONS, now_ms).await?;
        // It was paid when accepted: taken back, to pay for the render that replaces it.
        claw_back(tx, task, attempt, now_ms).await?;
        requeued.push(task);
    }
    // A task that ran out of attempts fails its job, as any failed task does.
    fail_if_a_task_failed(tx, open.job, now_ms).await?;
    Ok(requeued)
}

/// Checks nobody can take any more: open longer than `max_wait_ms`, no verdict given or in progress, and no
/// eligible checker heard from recently (the network lost its checkers). Their results are accepted unchecked —
/// paid, and their jobs completed when done — so that no job waits forever; stale audits are dropped. A check
/// waiting for the worker's Blender version, which no eligible checker runs any more, is opened to checkers of
/// any version instead: checked another way rather than not at all. Returns the tasks accepted.
pub async fn accept_when_no_checker_remains(db: &Db, now_ms: i64, max_wait_ms: i64) -> Result<Vec<TaskId>, DbError> {
    let mut accepted = Vec::new();
    for check in db.checks_waiting_since(now_ms - max_wait_ms).await? {
        let audit = check.audit_node.is_some();
        let owner = check.worker_owner;
        if !audit && db.eligible_checkers(owner, &check.engine, &check.blender_version, now_ms).await? > 0 {
            continue;
        }
        if !audit
            && !check.blender_version.is_empty()
            && db.eligible_checkers(owner, &check.engine, "", now_ms).await? > 0
        {
            db.open_check_to_any_blender(check.id).await?;
            continue;
        }
        let mut tx = db.begin_write().await?;
        if sql::close(&mut tx, check.id, "cancelled", now_ms).await? && !audit {
            if let Some(job) = sql::accept_unchecked(&mut tx, check.task, check.attempt).await? {
                pay_attempt(&mut tx, check.task, check.attempt, now_ms).await?;
                complete_if_done(&mut tx, job, now_ms).await?;
                accepted.push(check.task);
            }
        }
        tx.commit().await?;
    }
    Ok(accepted)
}
