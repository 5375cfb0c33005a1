//! The SQL behind checkers' verdicts: recording one, reading a verification's verdicts, deciding it, and what a
//! decision changes in tasks, attempts, workers' and checkers' standing and blocklists. The rules (quorum, rounds,
//! suspensions, what a rejection costs) are in `engine::verdicts`.

use pictor_core::states::TaskState;
use pictor_core::verification::Verdict;

use super::nodes::NodeId;
use super::verifications::VerificationId;
use super::{DbError, JobId, TaskId, Tx};

/// One checker's verdict as it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictInput {
    pub verdict: Verdict,
    pub min_ssim: Option<f64>,
    pub measurements_json: String,
    pub render_ms: i64,
}

/// An open verification: the attempt it checks, its round and quorum, the checker it audits (if an audit), its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenCheck {
    pub task: TaskId,
    pub attempt: i64,
    pub worker: NodeId,
    pub round: i64,
    pub quorum: i64,
    pub audit_node: Option<NodeId>,
    pub job: JobId,
}

/// task, attempt, worker, round, quorum, audited checker, job.
type OpenRow = (TaskId, i64, NodeId, i64, i64, Option<NodeId>, JobId);

/// Records `checker`'s verdict on its leased verdict row; whether it held that lease.
pub async fn submit(
    tx: &mut Tx<'_>,
    verification: VerificationId,
    checker: NodeId,
    input: &VerdictInput,
    now_ms: i64,
) -> Result<bool, DbError> {
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
    .execute(&mut **tx)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// The verification, if it is still open.
pub async fn open_check(tx: &mut Tx<'_>, verification: VerificationId) -> Result<Option<OpenCheck>, DbError> {
    let open: Option<OpenRow> = sqlx::query_as(
        "SELECT v.task_id, v.attempt, v.worker_node_id, v.round, v.quorum, v.audit_node_id, t.job_id
         FROM verifications v JOIN tasks t ON t.id = v.task_id WHERE v.id = $1 AND v.state = 'open'",
    )
    .bind(verification)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(open.map(|(task, attempt, worker, round, quorum, audit_node, job)| OpenCheck {
        task,
        attempt,
        worker,
        round,
        quorum,
        audit_node,
        job,
    }))
}

/// The verdicts given on a verification so far, by checker (text that names no verdict is skipped).
pub async fn submitted(tx: &mut Tx<'_>, verification: VerificationId) -> Result<Vec<(NodeId, Verdict)>, DbError> {
    let given: Vec<(NodeId, String)> = sqlx::query_as(
        "SELECT checker_node_id, verdict FROM verdicts WHERE verification_id = $1 AND state = 'submitted'",
    )
    .bind(verification)
    .fetch_all(&mut **tx)
    .await?;
    Ok(given.into_iter().filter_map(|(node, verdict)| Some((node, Verdict::parse(&verdict)?))).collect())
}

/// Closes an open verification in `state` (`passed`, `failed`, `unsure` or `cancelled`); whether it was open.
pub async fn close(tx: &mut Tx<'_>, verification: VerificationId, state: &str, now_ms: i64) -> Result<bool, DbError> {
    let decided =
        sqlx::query("UPDATE verifications SET state = $1, decided_at_ms = $2 WHERE id = $3 AND state = 'open'")
            .bind(state)
            .bind(now_ms)
            .bind(verification)
            .execute(&mut **tx)
            .await?;
    Ok(decided.rows_affected() == 1)
}

/// Opens the next round of a verification, with larger `crops_json`.
pub async fn open_next_round(
    tx: &mut Tx<'_>,
    verification: VerificationId,
    open: &OpenCheck,
    crops_json: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO verifications (task_id, attempt, worker_node_id, round, crops_json, quorum,
                                    created_at_ms, blender_version, rejects_after_step)
         SELECT $1, $2, $3, $4, $5, $6, $7, blender_version, rejects_after_step FROM verifications WHERE id = $8",
    )
    .bind(open.task)
    .bind(open.attempt)
    .bind(open.worker)
    .bind(open.round + 1)
    .bind(crops_json)
    .bind(open.quorum)
    .bind(now_ms)
    .bind(verification)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An audited checker rightly called the known-bad copy bad.
pub async fn count_audit_passed(tx: &mut Tx<'_>, checker: NodeId) -> Result<(), DbError> {
    sqlx::query("UPDATE nodes SET audits_passed = audits_passed + 1 WHERE id = $1")
        .bind(checker)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Suspends a checker; its verdict leases in progress go back to the pool at once.
pub async fn suspend(tx: &mut Tx<'_>, checker: NodeId, now_ms: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE nodes SET suspended_at_ms = $1 WHERE id = $2 AND suspended_at_ms IS NULL")
        .bind(now_ms)
        .bind(checker)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE verdicts SET state = 'expired' WHERE checker_node_id = $1 AND state = 'leased'")
        .bind(checker)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Marks a checker's verdict as agreeing with the decision or not, and counts it toward its standing. Returns the
/// checker's totals: agreed, disagreed.
pub async fn record_agreement(
    tx: &mut Tx<'_>,
    verification: VerificationId,
    checker: NodeId,
    agreed: bool,
) -> Result<(i64, i64), DbError> {
    sqlx::query("UPDATE verdicts SET agrees = $1 WHERE verification_id = $2 AND checker_node_id = $3")
        .bind(i64::from(agreed))
        .bind(verification)
        .bind(checker)
        .execute(&mut **tx)
        .await?;
    let column = if agreed { "verdicts_agreed" } else { "verdicts_disagreed" };
    Ok(sqlx::query_as(&format!(
        "UPDATE nodes SET {column} = {column} + 1 WHERE id = $1 RETURNING verdicts_agreed, verdicts_disagreed"
    ))
    .bind(checker)
    .fetch_one(&mut **tx)
    .await?)
}

/// The checked attempt holds up: its task is verified and its worker's streak grows.
pub async fn accept(tx: &mut Tx<'_>, open: &OpenCheck) -> Result<(), DbError> {
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
    Ok(())
}

/// Requeue statement for a rejected result: another attempt (rejections do not use up the creator's attempts, up
/// to `$1`), the worker's claim on it dropped; out of attempts, the task fails.
const REQUEUE_REJECTED: &str = "
    UPDATE tasks SET
        state = CASE WHEN attempt < $1 THEN 'queued' ELSE 'failed' END,
        max_attempt = CASE WHEN max_attempt > attempt THEN max_attempt ELSE attempt + 1 END,
        node_id = NULL, progress_percent = 0, lease_expires_at_ms = NULL, last_error = $2,
        finished_at_ms = CASE WHEN attempt < $1 THEN NULL ELSE $3 END";

/// A result found bad: its task and attempt, the state it is found in (`verifying`, or `uploaded` when accepted
/// unchecked), whether checkers saw it, and why it is rejected.
#[derive(Clone, Copy, Debug)]
pub struct Rejected<'a> {
    pub task: TaskId,
    pub attempt: i64,
    pub found_in: TaskState,
    pub checked: bool,
    pub reason: &'a str,
}

/// Requeues a rejected attempt's task with up to `max_attempts` attempts, and marks the attempt rejected. Returns
/// whether the task was requeued (or failed) now.
pub async fn requeue_rejected(
    tx: &mut Tx<'_>,
    rejected: &Rejected<'_>,
    max_attempts: i64,
    now_ms: i64,
) -> Result<bool, DbError> {
    let requeued = sqlx::query(&format!("{REQUEUE_REJECTED} WHERE id = $4 AND attempt = $5 AND state = $6"))
        .bind(max_attempts)
        .bind(rejected.reason)
        .bind(now_ms)
        .bind(rejected.task)
        .bind(rejected.attempt)
        .bind(rejected.found_in.as_str())
        .execute(&mut **tx)
        .await?;
    let checked_column = if rejected.checked { ", checked = 1" } else { "" };
    sqlx::query(&format!(
        "UPDATE task_attempts SET outcome = 'rejected', error = $1{checked_column} WHERE task_id = $2 AND attempt = $3"
    ))
    .bind(rejected.reason)
    .bind(rejected.task)
    .bind(rejected.attempt)
    .execute(&mut **tx)
    .await?;
    Ok(requeued.rows_affected() == 1)
}

/// A worker's result was rejected: its streak is lost, and it is flagged network-wide at `flag_after` rejections.
pub async fn count_rejection(tx: &mut Tx<'_>, worker: NodeId, flag_after: i64, now_ms: i64) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE nodes SET valid_streak = 0, results_rejected = results_rejected + 1,
                flagged_at_ms = CASE WHEN flagged_at_ms IS NULL AND results_rejected + 1 >= $1 THEN $2
                                     ELSE flagged_at_ms END
         WHERE id = $3",
    )
    .bind(flag_after)
    .bind(now_ms)
    .bind(worker)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Counts a rejection of `worker` on `job` toward the job's blocklist.
pub async fn block_for_rejection(tx: &mut Tx<'_>, job: JobId, worker: NodeId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO job_blocklist (job_id, node_id, failures, rejections) VALUES ($1, $2, 0, 1)
         ON CONFLICT (job_id, node_id) DO UPDATE SET rejections = job_blocklist.rejections + 1",
    )
    .bind(job)
    .bind(worker)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The worker's results of `job` accepted without a check: task and attempt.
pub async fn unchecked_results(tx: &mut Tx<'_>, job: JobId, worker: NodeId) -> Result<Vec<(TaskId, i64)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT id, attempt FROM tasks WHERE job_id = $1 AND node_id = $2 AND state = 'uploaded' ORDER BY id",
    )
    .bind(job)
    .bind(worker)
    .fetch_all(&mut **tx)
    .await?)
}

/// A check waiting with no verdict: its id, task, attempt, audited checker, worker's owner, engine, Blender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingCheck {
    pub id: VerificationId,
    pub task: TaskId,
    pub attempt: i64,
    pub audit_node: Option<NodeId>,
    pub worker_owner: i64,
    pub engine: String,
    pub blender_version: String,
}

type WaitingRow = (VerificationId, TaskId, i64, Option<NodeId>, i64, String, String);

impl super::Db {
    /// Checks open since before `created_before_ms` that no checker has given a verdict on or is working on.
    pub async fn checks_waiting_since(&self, created_before_ms: i64) -> Result<Vec<WaitingCheck>, DbError> {
        let rows: Vec<WaitingRow> = sqlx::query_as(
            "SELECT v.id, v.task_id, v.attempt, v.audit_node_id, w.owner_id, j.engine, v.blender_version
             FROM verifications v JOIN tasks t ON t.id = v.task_id JOIN jobs j ON j.id = t.job_id
               JOIN nodes w ON w.id = v.worker_node_id
             WHERE v.state = 'open' AND v.created_at_ms < $1
               AND NOT EXISTS (SELECT 1 FROM verdicts d WHERE d.verification_id = v.id AND d.state <> 'expired')
             ORDER BY v.id",
        )
        .bind(created_before_ms)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, task, attempt, audit_node, worker_owner, engine, blender_version)| WaitingCheck {
                id,
                task,
                attempt,
                audit_node,
                worker_owner,
                engine,
                blender_version,
            })
            .collect())
    }

    /// Lets checkers of any Blender version take an open check.
    pub async fn open_check_to_any_blender(&self, verification: VerificationId) -> Result<(), DbError> {
        sqlx::query("UPDATE verifications SET blender_version = '' WHERE id = $1 AND state = 'open'")
            .bind(verification)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

/// A result waiting for a check that will not come is accepted as it is (`verifying` → `uploaded`). Returns its job
/// when it was.
pub async fn accept_unchecked(tx: &mut Tx<'_>, task: TaskId, attempt: i64) -> Result<Option<JobId>, DbError> {
    Ok(sqlx::query_scalar(
        "UPDATE tasks SET state = 'uploaded' WHERE id = $1 AND attempt = $2 AND state = 'verifying' RETURNING job_id",
    )
    .bind(task)
    .bind(attempt)
    .fetch_optional(&mut **tx)
    .await?)
}
