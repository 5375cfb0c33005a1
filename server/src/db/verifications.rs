//! Verifications of workers' results: who can check, leasing a check to a checker (one documented query), what it
//! may download, and expiry of verdict leases. Verdicts and their consequences are in `verdicts.rs`.

use sqlx::Row;

use super::nodes::NodeId;
use super::tasks::LeasedAttempt;
use super::users::UserId;
use super::{Backend, Db, DbError};
use super::{JobId, TaskId, Tx};

pub use super::VerificationId;

/// What the planner needs to know about the worker whose result came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerTrust {
    pub owner: UserId,
    /// Consecutive results that passed a check.
    pub valid_streak: i64,
    /// Rejected repeatedly: every result is checked from now on.
    pub flagged: bool,
}

/// A check to store with a finished attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewVerification {
    pub crops_json: String,
    pub quorum: i64,
    /// The Blender its checkers must run (the one that rendered the result); empty: any.
    pub blender_version: String,
    /// The node whose work is checked, when not the one that delivered the attempt (a training attempt that only
    /// delivered weights an earlier attempt trained): a rejection counts against it.
    pub checked_node: Option<NodeId>,
    /// Training: a failed check discards the run's checkpoints after this step (the replay's start).
    pub rejects_after_step: Option<i64>,
}

/// Opens a check of a leased attempt's result (its task now `verifying`).
pub async fn insert_verification(
    tx: &mut Tx<'_>,
    held: LeasedAttempt,
    check: &NewVerification,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO verifications (task_id, attempt, worker_node_id, crops_json, quorum, created_at_ms,
                                    blender_version, rejects_after_step)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(held.task)
    .bind(held.attempt)
    .bind(check.checked_node.unwrap_or(held.node))
    .bind(&check.crops_json)
    .bind(check.quorum)
    .bind(now_ms)
    .bind(&check.blender_version)
    .bind(check.rejects_after_step)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A verification leased to a checker, with what it needs to build the assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeasedVerification {
    pub id: VerificationId,
    pub job: JobId,
    pub task: TaskId,
    pub crops_json: String,
    pub expires_at_ms: i64,
}

/// The object holding a verification's worker output for one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedOutput {
    pub object_key: String,
}

/// The lease query for checkers: the oldest open verification this checker may take. One statement:
/// - open, and an audit only for the checker it was made for (audits first: they are quick and must not wait);
/// - the worker belongs to another owner (no one checks their own machines);
/// - the checker has the job's engine, and the Blender the check asks for (if it asks for one);
/// - the checker has not given a verdict on it already;
/// - fewer verdicts given or in progress than its quorum needs;
/// - with `$4` set (the checker's Blender runs unboxed), only its owner's own jobs.
///
/// Parameters: $1 checker node, $2 checker owner, $3 checker engines, $4 own jobs only (0 or 1).
const NEXT_VERIFICATION: &str = "
    SELECT v.id FROM verifications v
      JOIN tasks t ON t.id = v.task_id
      JOIN jobs j ON j.id = t.job_id
      JOIN nodes w ON w.id = v.worker_node_id
    WHERE v.state = 'open'
      AND (v.audit_node_id IS NULL OR v.audit_node_id = $1)
      AND w.owner_id <> $2
      AND (',' || $3 || ',') LIKE ('%,' || j.engine || ',%')
      AND (v.blender_version = '' OR v.blender_version = (SELECT c.blender_version FROM nodes c WHERE c.id = $1))
      AND NOT EXISTS (SELECT 1 FROM verdicts d WHERE d.verification_id = v.id AND d.checker_node_id = $1)
      AND (SELECT COUNT(*) FROM verdicts d WHERE d.verification_id = v.id AND d.state <> 'expired') < v.quorum
      AND ($4 = 0 OR j.owner_id = $2)
    ORDER BY CASE WHEN v.audit_node_id IS NULL THEN 1 ELSE 0 END, v.id
    LIMIT 1";

/// Checkers counted as able to check a result: seen since `$3` (online, or busy enough to miss a heartbeat or two —
/// a result must not go unchecked because the checkers were slow to answer), enabled, not suspended, of another
/// owner, with the engine and (if `$4` names one) that Blender.
const ELIGIBLE_CHECKERS: &str = "
    SELECT COUNT(*) FROM nodes
    WHERE kind = 'checker' AND last_seen_at_ms >= $3 AND signed_off_at_ms IS NULL
      AND disabled_at_ms IS NULL AND deleted_at_ms IS NULL
      AND suspended_at_ms IS NULL AND owner_id <> $1
      AND (',' || engines || ',') LIKE ('%,' || $2 || ',%')
      AND ($4 = '' OR blender_version = $4)";

/// How recently a checker must have been heard from to count toward checks (unless it signed off).
pub const CHECKER_RECENT_MS: i64 = 10 * 60_000;

impl Db {
    /// The trust of the worker `node`.
    pub async fn worker_trust(&self, node: NodeId) -> Result<WorkerTrust, DbError> {
        let row: Option<(i64, i64, Option<i64>)> =
            sqlx::query_as("SELECT owner_id, valid_streak, flagged_at_ms FROM nodes WHERE id = $1")
                .bind(node)
                .fetch_optional(self.reader())
                .await?;
        let (owner, valid_streak, flagged) = row.ok_or(DbError::NotFound("node"))?;
        Ok(WorkerTrust { owner, valid_streak, flagged: flagged.is_some() })
    }

    /// How many checkers could check a result of `worker_owner` rendered with `engine` at `now_ms`: running
    /// Blender `blender_version`, or any Blender if it is empty.
    pub async fn eligible_checkers(
        &self,
        worker_owner: UserId,
        engine: &str,
        blender_version: &str,
        now_ms: i64,
    ) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(ELIGIBLE_CHECKERS)
            .bind(worker_owner)
            .bind(engine)
            .bind(now_ms - CHECKER_RECENT_MS)
            .bind(blender_version)
            .fetch_one(self.reader())
            .await?)
    }

    /// The Blender version that rendered `task`'s `attempt` (empty if its agent did not say).
    pub async fn attempt_blender_version(&self, task: TaskId, attempt: i64) -> Result<String, DbError> {
        Ok(sqlx::query_scalar("SELECT blender_version FROM task_attempts WHERE task_id = $1 AND attempt = $2")
            .bind(task)
            .bind(attempt)
            .fetch_optional(self.reader())
            .await?
            .unwrap_or_default())
    }

    /// Leases the next verification to `checker` until `now_ms + lease_ms`; `None` if nothing waits for it
    /// (with `own_jobs_only`, only checks of its owner's jobs). On PostgreSQL the verification row is locked with
    /// `SKIP LOCKED`, so two checkers racing for the last slot of a quorum do not both get it; SQLite has a single
    /// writer.
    pub async fn lease_verification(
        &self,
        checker: NodeId,
        checker_owner: UserId,
        engines: &str,
        own_jobs_only: bool,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Option<LeasedVerification>, DbError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE OF v SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(&format!("{NEXT_VERIFICATION}{lock}"))
            .bind(checker)
            .bind(checker_owner)
            .bind(engines)
            .bind(i64::from(own_jobs_only))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else { return Ok(None) };
        sqlx::query(
            "INSERT INTO verdicts (verification_id, checker_node_id, leased_at_ms, lease_expires_at_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(checker)
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT v.id, t.job_id, v.task_id, v.crops_json FROM verifications v JOIN tasks t ON t.id = v.task_id
             WHERE v.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let leased = LeasedVerification {
            id: row.try_get("id")?,
            job: row.try_get("job_id")?,
            task: row.try_get("task_id")?,
            crops_json: row.try_get("crops_json")?,
            expires_at_ms: now_ms + lease_ms,
        };
        tx.commit().await?;
        Ok(Some(leased))
    }

    /// The worker's output of `frame` as `checker` must see it (the tampered copy for an audit), if `checker`
    /// holds a lease on the verification.
    pub async fn verification_output(
        &self,
        verification: VerificationId,
        checker: NodeId,
        frame: i64,
    ) -> Result<Option<VerifiedOutput>, DbError> {
        let key: Option<String> = sqlx::query_scalar(
            "SELECT COALESCE(v.audit_key, o.object_key) FROM verifications v
               JOIN verdicts d ON d.verification_id = v.id AND d.checker_node_id = $2 AND d.state = 'leased'
               LEFT JOIN task_outputs o ON o.task_id = v.task_id AND o.attempt = v.attempt AND o.frame = $3
             WHERE v.id = $1 AND v.state = 'open'",
        )
        .bind(verification)
        .bind(checker)
        .bind(frame)
        .fetch_optional(self.reader())
        .await?
        .flatten();
        Ok(key.map(|object_key| VerifiedOutput { object_key }))
    }

    /// Verdict leases past their expiry free their slot for another checker. Returns how many expired.
    pub async fn expire_verdict_leases(&self, now_ms: i64) -> Result<u64, DbError> {
        let result =
            sqlx::query("UPDATE verdicts SET state = 'expired' WHERE state = 'leased' AND lease_expires_at_ms < $1")
                .bind(now_ms)
                .execute(self.writer())
                .await?;
        Ok(result.rows_affected())
    }

    /// Gives back the checks `checker` had leased, because it signed off: other checkers can take them at once.
    pub async fn release_verdict_leases_of(&self, checker: NodeId) -> Result<u64, DbError> {
        let result =
            sqlx::query("UPDATE verdicts SET state = 'expired' WHERE state = 'leased' AND checker_node_id = $1")
                .bind(checker)
                .execute(self.writer())
                .await?;
        Ok(result.rows_affected())
    }

    /// A verification's crops and the task it checks.
    pub async fn verification_crops(&self, verification: VerificationId) -> Result<Option<(String, TaskId)>, DbError> {
        Ok(sqlx::query_as("SELECT crops_json, task_id FROM verifications WHERE id = $1")
            .bind(verification)
            .fetch_optional(self.reader())
            .await?)
    }
}
