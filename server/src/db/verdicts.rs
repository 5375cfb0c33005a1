//! Checkers' verdicts and what follows from them, in one transaction each: a passed result is verified and its
//! worker's streak grows; a failed one is rejected, requeued for another worker with the worker's unchecked results
//! of the job, and the worker loses its streak (blocklisted for the job, flagged network-wide when it repeats);
//! an unsure round is followed by a second with larger crops; checkers who disagree with the quorum lose standing.

use pictor_core::verification::Verdict;

use super::job_lifecycle::{complete_job_if_done, fail_job};
use super::nodes::NodeId;
use super::verifications::VerificationId;
use super::{Db, DbError};
use super::{JobId, TaskError, TaskId, Tx};
use crate::verify::aggregate::{agrees, decide, should_suspend, Outcome};

/// A worker rejected this often (anywhere) is flagged: every one of its results is checked from then on.
pub const FLAG_AFTER_REJECTIONS: i64 = 3;
/// Attempts a task may reach through rejections (each rejection grants one more, up to this).
pub const MAX_ATTEMPTS_WITH_REJECTIONS: i64 = 10;

/// One checker's verdict as it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictInput {
    pub verdict: Verdict,
    pub min_ssim: Option<f64>,
    pub measurements_json: String,
    pub render_ms: i64,
}

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

/// task, attempt, worker, round, quorum, audited checker, job.
type OpenRow = (i64, i64, i64, i64, i64, Option<i64>, i64);

struct Open {
    task: TaskId,
    attempt: i64,
    worker: NodeId,
    round: i64,
    quorum: i64,
    audit_node: Option<NodeId>,
    job: JobId,
}

impl Db {
    /// Records `checker`'s verdict on `verification` and, once the quorum is in, applies the decision.
    /// `next_round_crops` are the crops of the second round, used if this decides "unsure" in round 1.
    pub async fn record_verdict(
        &self,
        verification: VerificationId,
        checker: NodeId,
        input: &VerdictInput,
        next_round_crops: &str,
        now_ms: i64,
    ) -> Result<Settlement, TaskError> {
        let mut tx = self.begin_write().await?;
        // Verdicts on one verification take turns: the last of a quorum arriving together then sees the others
        // (else each saw too few and the check stayed open forever), and a decided check is decided once.
        super::lock_row(&mut tx, super::Locked::Verification, verification).await?;
        let recorded = sqlx::query(
            "UPDATE verdicts SET state = 'submitted', verdict = $1, min_ssim = $2, measurements_json = $3,
                    render_ms = $4, submitted_at_ms = $5
             WHERE verification_id = $6 AND checker_node_id = $7 AND state = 'leased'",
        )
        .bind(input.verdict.as_str())
        .bind(input.min_ssim)
        .bind(&input.measurements_json)
        .bind(input.render_ms)
        .bind(now_ms)
        .bind(verification)
        .bind(checker)
        .execute(&mut *tx)
        .await?;
        if recorded.rows_affected() == 0 {
            return Err(TaskError::LeaseLost);
        }
        let open: Option<OpenRow> = sqlx::query_as(
            "SELECT v.task_id, v.attempt, v.worker_node_id, v.round, v.quorum, v.audit_node_id, t.job_id
             FROM verifications v JOIN tasks t ON t.id = v.task_id WHERE v.id = $1 AND v.state = 'open'",
        )
        .bind(verification)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((task, attempt, worker, round, quorum, audit_node, job)) = open else {
            tx.commit().await?;
            return Ok(Settlement::Closed);
        };
        let open = Open { task, attempt, worker, round, quorum, audit_node, job };
        let given: Vec<(i64, String)> = sqlx::query_as(
            "SELECT checker_node_id, verdict FROM verdicts WHERE verification_id = $1 AND state = 'submitted'",
        )
        .bind(verification)
        .fetch_all(&mut *tx)
        .await?;
        let given: Vec<(NodeId, Verdict)> =
            given.into_iter().filter_map(|(node, verdict)| Some((node, Verdict::parse(&verdict)?))).collect();
        let verdicts: Vec<Verdict> = given.iter().map(|(_, verdict)| *verdict).collect();
        let mut outcome = decide(&verdicts, usize::try_from(open.quorum).unwrap_or(1));
        if outcome == Outcome::Unsure && open.round >= 2 {
            // Still unsure with larger crops: the creator is better served by a fresh render than by a doubt.
            outcome = Outcome::Failed;
        }
        if outcome == Outcome::Pending {
            tx.commit().await?;
            return Ok(Settlement::Pending);
        }
        let decided =
            sqlx::query("UPDATE verifications SET state = $1, decided_at_ms = $2 WHERE id = $3 AND state = 'open'")
                .bind(outcome.state())
                .bind(now_ms)
                .bind(verification)
                .execute(&mut *tx)
                .await?;
        if decided.rows_affected() == 0 {
            tx.commit().await?;
            return Ok(Settlement::Closed);
        }
        if let Some(audited) = open.audit_node {
            let suspended = settle_audit(&mut tx, audited, input.verdict, now_ms).await?;
            tx.commit().await?;
            return Ok(Settlement::Audit { checker: audited, suspended });
        }
        record_agreement(&mut tx, verification, &given, outcome, now_ms).await?;
        let settlement = match outcome {
            Outcome::Passed => {
                accept(&mut tx, &open, now_ms).await?;
                Settlement::Passed { task: open.task, job: open.job }
            }
            Outcome::Unsure => {
                sqlx::query(
                    "INSERT INTO verifications (task_id, attempt, worker_node_id, round, crops_json, quorum,
                                                created_at_ms, blender_version)
                     SELECT $1, $2, $3, $4, $5, $6, $7, blender_version FROM verifications WHERE id = $8",
                )
                .bind(open.task)
                .bind(open.attempt)
                .bind(open.worker)
                .bind(open.round + 1)
                .bind(next_round_crops)
                .bind(open.quorum)
                .bind(now_ms)
                .bind(verification)
                .execute(&mut *tx)
                .await?;
                Settlement::NextRound { task: open.task }
            }
            _ => {
                let worst = given.len();
                let reason = format!("rejected by {worst} checker verdict(s): the re-rendered crops do not match");
                let requeued = reject(&mut tx, &open, &reason, now_ms).await?;
                Settlement::Rejected { task: open.task, job: open.job, worker: open.worker, requeued }
            }
        };
        tx.commit().await?;
        Ok(settlement)
    }
}

/// An audit shows a checker a known-bad copy: calling it good is lying, and suspends the checker.
async fn settle_audit(tx: &mut Tx<'_>, checker: NodeId, verdict: Verdict, now_ms: i64) -> Result<bool, DbError> {
    match verdict {
        Verdict::Fail => {
            sqlx::query("UPDATE nodes SET audits_passed = audits_passed + 1 WHERE id = $1")
                .bind(checker)
                .execute(&mut **tx)
                .await?;
            Ok(false)
        }
        Verdict::Pass => {
            suspend(tx, checker, now_ms).await?;
            Ok(true)
        }
        Verdict::Unsure => Ok(false),
    }
}

async fn suspend(tx: &mut Tx<'_>, checker: NodeId, now_ms: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE nodes SET suspended_at_ms = $1 WHERE id = $2 AND suspended_at_ms IS NULL")
        .bind(now_ms)
        .bind(checker)
        .execute(&mut **tx)
        .await?;
    // Its leases in progress go back to the pool at once.
    sqlx::query("UPDATE verdicts SET state = 'expired' WHERE checker_node_id = $1 AND state = 'leased'")
        .bind(checker)
        .execute(&mut **tx)
        .await?;
    Ok(())
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
        sqlx::query("UPDATE verdicts SET agrees = $1 WHERE verification_id = $2 AND checker_node_id = $3")
            .bind(i64::from(agreed))
            .bind(verification)
            .bind(checker)
            .execute(&mut **tx)
            .await?;
        let column = if agreed { "verdicts_agreed" } else { "verdicts_disagreed" };
        let (agreed_total, disagreed_total): (i64, i64) = sqlx::query_as(&format!(
            "UPDATE nodes SET {column} = {column} + 1 WHERE id = $1 RETURNING verdicts_agreed, verdicts_disagreed"
        ))
        .bind(checker)
        .fetch_one(&mut **tx)
        .await?;
        if should_suspend(agreed_total, disagreed_total) {
            suspend(tx, *checker, now_ms).await?;
        }
    }
    Ok(())
}

/// The result holds up: the task is verified, its worker's streak grows, and the job may be complete.
async fn accept(tx: &mut Tx<'_>, open: &Open, now_ms: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE tasks SET state = 'verified' WHERE id = $1 AND attempt = $2 AND state = 'verifying'")
        .bind(open.task)
        .bind(open.attempt)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE task_attempts SET outcome = 'verified', checked = 1 WHERE task_id = $1 AND attempt = $2")
        .bind(open.task)
        .bind(open.attempt)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE nodes SET valid_streak = valid_streak + 1, results_verified = results_verified + 1 WHERE id = $1",
    )
    .bind(open.worker)
    .execute(&mut **tx)
    .await?;
    super::payments::pay_attempt(tx, open.task, open.attempt, now_ms).await?;
    complete_job_if_done(tx, open.job, now_ms).await
}

/// Requeue statement for a rejected result: another attempt (rejections do not use up the creator's attempts, up
/// to a cap), the worker's claim on it dropped.
const REQUEUE_REJECTED: &str = "
    UPDATE tasks SET
        state = CASE WHEN attempt < $1 THEN 'queued' ELSE 'failed' END,
        max_attempt = CASE WHEN max_attempt > attempt THEN max_attempt ELSE attempt + 1 END,
        node_id = NULL, progress_percent = 0, lease_expires_at_ms = NULL, last_error = $2,
        finished_at_ms = CASE WHEN attempt < $1 THEN NULL ELSE $3 END";

/// The result does not hold up: the task goes back to the queue, the worker loses its streak and is blocklisted
/// for the job after repeated rejections, and its results of the job that were accepted unchecked are rendered
/// again too. Returns every requeued task.
async fn reject(tx: &mut Tx<'_>, open: &Open, reason: &str, now_ms: i64) -> Result<Vec<TaskId>, DbError> {
    let rejected = sqlx::query(&format!("{REQUEUE_REJECTED} WHERE id = $4 AND attempt = $5 AND state = 'verifying'"))
        .bind(MAX_ATTEMPTS_WITH_REJECTIONS)
        .bind(reason)
        .bind(now_ms)
        .bind(open.task)
        .bind(open.attempt)
        .execute(&mut **tx)
        .await?;
    let mut requeued = Vec::new();
    if rejected.rows_affected() == 1 {
        requeued.push(open.task);
    }
    sqlx::query(
        "UPDATE task_attempts SET outcome = 'rejected', checked = 1, error = $1 WHERE task_id = $2 AND attempt = $3",
    )
    .bind(reason)
    .bind(open.task)
    .bind(open.attempt)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE nodes SET valid_streak = 0, results_rejected = results_rejected + 1,
                flagged_at_ms = CASE WHEN flagged_at_ms IS NULL AND results_rejected + 1 >= $1 THEN $2
                                     ELSE flagged_at_ms END
         WHERE id = $3",
    )
    .bind(FLAG_AFTER_REJECTIONS)
    .bind(now_ms)
    .bind(open.worker)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO job_blocklist (job_id, node_id, failures, rejections) VALUES ($1, $2, 0, 1)
         ON CONFLICT (job_id, node_id) DO UPDATE SET rejections = job_blocklist.rejections + 1",
    )
    .bind(open.job)
    .bind(open.worker)
    .execute(&mut **tx)
    .await?;
    // Its results of this job that nobody checked cannot be trusted now.
    let unchecked: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, attempt FROM tasks WHERE job_id = $1 AND node_id = $2 AND state = 'uploaded' ORDER BY id",
    )
    .bind(open.job)
    .bind(open.worker)
    .fetch_all(&mut **tx)
    .await?;
    let retro = "re-rendered: the worker that rendered it was caught with a bad result on this job";
    for (task, attempt) in unchecked {
        sqlx::query(&format!("{REQUEUE_REJECTED} WHERE id = $4 AND attempt = $5 AND state = 'uploaded'"))
            .bind(MAX_ATTEMPTS_WITH_REJECTIONS)
            .bind(retro)
            .bind(now_ms)
            .bind(task)
            .bind(attempt)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE task_attempts SET outcome = 'rejected', error = $1 WHERE task_id = $2 AND attempt = $3")
            .bind(retro)
            .bind(task)
            .bind(attempt)
            .execute(&mut **tx)
            .await?;
        // It was paid when accepted: taken back, to pay for the render that replaces it.
        super::payments::claw_back(tx, task, attempt, now_ms).await?;
        requeued.push(task);
    }
    // A task that ran out of attempts fails its job, as any failed task does.
    let failed: Option<i64> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE job_id = $1 AND state = 'failed' LIMIT 1")
        .bind(open.job)
        .fetch_optional(&mut **tx)
        .await?;
    if failed.is_some() {
        fail_job(tx, open.job, now_ms).await?;
    }
    Ok(requeued)
}

/// A check waiting with no verdict: id, task, attempt, audited checker, worker owner, engine, Blender version.
type WaitingRow = (i64, i64, i64, Option<i64>, i64, String, String);

/// How long a check may wait with no checker to take it before the result is accepted as it is.
pub const UNCHECKED_AFTER_MS: i64 = 30 * 60_000;

impl Db {
    /// Checks nobody can take any more: open longer than `max_wait_ms`, no verdict given or in progress, and no
    /// eligible checker heard from recently (the network lost its checkers). Their results are accepted unchecked —
    /// paid, and their jobs completed when done — so that no job waits forever; stale audits are dropped. A check
    /// waiting for the worker's Blender version, which no eligible checker runs any more, is opened to checkers of
    /// any version instead: checked another way rather than not at all. Returns the tasks accepted.
    pub async fn accept_when_no_checker_remains(&self, now_ms: i64, max_wait_ms: i64) -> Result<Vec<TaskId>, DbError> {
        let stale: Vec<WaitingRow> = sqlx::query_as(
            "SELECT v.id, v.task_id, v.attempt, v.audit_node_id, w.owner_id, j.engine, v.blender_version
             FROM verifications v JOIN tasks t ON t.id = v.task_id JOIN jobs j ON j.id = t.job_id
               JOIN nodes w ON w.id = v.worker_node_id
             WHERE v.state = 'open' AND v.created_at_ms < $1
               AND NOT EXISTS (SELECT 1 FROM verdicts d WHERE d.verification_id = v.id AND d.state <> 'expired')
             ORDER BY v.id",
        )
        .bind(now_ms - max_wait_ms)
        .fetch_all(self.reader())
        .await?;
        let mut accepted = Vec::new();
        for (verification, task, attempt, audit, owner, engine, blender) in stale {
            if audit.is_none() && self.eligible_checkers(owner, &engine, &blender, now_ms).await? > 0 {
                continue;
            }
            if audit.is_none() && !blender.is_empty() && self.eligible_checkers(owner, &engine, "", now_ms).await? > 0 {
                sqlx::query("UPDATE verifications SET blender_version = '' WHERE id = $1 AND state = 'open'")
                    .bind(verification)
                    .execute(self.writer())
                    .await?;
                continue;
            }
            let mut tx = self.begin_write().await?;
            let closed = sqlx::query(
                "UPDATE verifications SET state = 'cancelled', decided_at_ms = $1 WHERE id = $2 AND state = 'open'",
            )
            .bind(now_ms)
            .bind(verification)
            .execute(&mut *tx)
            .await?;
            if closed.rows_affected() == 1 && audit.is_none() {
                let job: Option<i64> = sqlx::query_scalar(
                    "UPDATE tasks SET state = 'uploaded' WHERE id = $1 AND attempt = $2 AND state = 'verifying' RETURNING job_id",
                )
                .bind(task)
                .bind(attempt)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(job) = job {
                    super::payments::pay_attempt(&mut tx, task, attempt, now_ms).await?;
                    complete_job_if_done(&mut tx, job, now_ms).await?;
                    accepted.push(task);
                }
            }
            tx.commit().await?;
        }
        Ok(accepted)
    }
}
