//! Render jobs' tasks: the lease query, and the one gateway through which a task's state changes.
//!
//! Every transition is `UPDATE … WHERE id = $task AND state = $expected AND attempt = $attempt [AND node_id = $node]`
//! with the rows affected checked, so an agent whose lease expired and was taken over can never overwrite the new
//! owner's result. Each attempt has its own row in `task_attempts` (who, when, outcome, log).

use std::sync::LazyLock;

use pictor_core::states::{AttemptOutcome, TaskState};
use sqlx::Row;

use super::nodes::NodeId;
use super::{Backend, Db, DbError};

pub use super::{JobId, TaskError, TaskId};

/// One leased attempt — the task, its attempt number and the node holding it: the only handle through which a
/// leased task changes. Every change is guarded by all three, so a node whose lease expired and was taken over can
/// never write over the new holder's work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeasedAttempt {
    pub task: TaskId,
    pub attempt: i64,
    pub node: NodeId,
}

/// A lease to take back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiredLease {
    pub task: TaskId,
    pub attempt: i64,
    /// Still reported on, but held past its job's time limit.
    pub over_time: bool,
}

/// What the asking worker offers, from its registration and settings.
#[derive(Clone, Debug, Default)]
pub struct WorkerOffer {
    pub node: NodeId,
    /// Comma-separated kinds of work it runs (`render`).
    pub workloads: String,
    /// Only this owner's jobs (the node's Blender runs unboxed); `None`: anyone's.
    pub only_owner: Option<super::users::UserId>,
    /// Comma-separated lower-case engine names (`cycles,eevee,workbench`).
    pub engines: String,
    pub vram_bytes: i64,
    /// The worker's GPU model names, joined.
    pub gpu_models: String,
    /// Comma-separated tags.
    pub tags: String,
    pub price_micro_per_minute: i64,
}

/// A task handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub task: TaskId,
    pub job: JobId,
    pub attempt: i64,
    pub frames: String,
    pub tile_index: Option<i64>,
    pub expires_at_ms: i64,
}

impl Lease {
    /// This lease as held by `node`.
    pub fn held_by(&self, node: NodeId) -> LeasedAttempt {
        LeasedAttempt { task: self.task, attempt: self.attempt, node }
    }
}

/// A worker failing this many tasks of one job is not given that job's tasks again.
pub const BLOCKLIST_AFTER_FAILURES: i64 = 3;
/// Rejections on one job that keep a worker from that job's tasks.
pub const BLOCKLIST_AFTER_REJECTIONS: i64 = 2;

/// The lease query: the best queued task this worker may take. One statement, documented where it lives:
/// - the task is queued and its job is queued or active, of a kind of work the worker runs;
/// - the worker has the job's engine, at least its VRAM, its GPU model (if it names one) and every tag it asks for;
/// - the job's tier pays at least the worker's price;
/// - the worker is not blocklisted for the job (too many failed attempts, or results rejected by checkers);
/// - a worker whose Blender runs unboxed takes only its owner's jobs;
/// - highest tier first, then the oldest job, then the lowest task id (frames in order).
///
/// The job is chosen first (there are few running jobs), then its first queued task through the index on
/// `(job_id, state, id)`: no sort over a job's thousands of tasks on every lease.
///
/// Parameters: $1 engines, $2 VRAM, $3 GPU models, $4 price, $5 tags, $6 node, $9 and $10 the blocklist limits,
/// $11 the kinds of work the worker runs, $12 the only owner whose jobs it takes (or NULL).
const ELIGIBLE_JOBS: &str = "
    SELECT j.id, j.tier_rank, j.created_at_ms
    FROM jobs j
    WHERE j.state IN ('queued', 'active')
      AND (',' || $11 || ',') LIKE ('%,' || j.kind || ',%')
      AND EXISTS (SELECT 1 FROM tasks q WHERE q.job_id = j.id AND q.state = 'queued')
      AND (',' || $1 || ',') LIKE ('%,' || j.engine || ',%')
      AND j.min_vram_bytes <= $2
      AND (j.gpu_model IS NULL OR lower($3) LIKE ('%' || lower(j.gpu_model) || '%'))
      AND j.max_price_micro_per_minute >= $4
      AND NOT EXISTS (SELECT 1 FROM job_tags jt
                      WHERE jt.job_id = j.id AND (',' || $5 || ',') NOT LIKE ('%,' || jt.tag || ',%'))
      AND NOT EXISTS (SELECT 1 FROM job_blocklist b
                      WHERE b.job_id = j.id AND b.node_id = $6 AND (b.failures >= $9 OR b.rejections >= $10))
      AND ($12 IS NULL OR j.owner_id = $12)";

/// SQLite (one writer: no task is ever locked by another lease): the best job's first queued task.
static BEST_TASK_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT (SELECT t.id FROM tasks t WHERE t.job_id = e.id AND t.state = 'queued' ORDER BY t.id LIMIT 1)
         FROM ({ELIGIBLE_JOBS}) e
         ORDER BY e.tier_rank DESC, e.created_at_ms, e.id
         LIMIT 1"
    )
});

/// PostgreSQL (replicas and concurrent requests lease at once): jobs in rank order, and in each the first queued
/// task nobody else is leasing right now (`FOR UPDATE SKIP LOCKED`). A job whose queued tasks are all being leased
/// is passed over for the next one, instead of answering "no work" while lower-ranked jobs wait.
static BEST_TASK_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT t.id
         FROM (SELECT * FROM ({ELIGIBLE_JOBS}) e ORDER BY e.tier_rank DESC, e.created_at_ms, e.id) ranked
         CROSS JOIN LATERAL (SELECT t.id FROM tasks t WHERE t.job_id = ranked.id AND t.state = 'queued'
                             ORDER BY t.id LIMIT 1 FOR UPDATE SKIP LOCKED) t
         ORDER BY ranked.tier_rank DESC, ranked.created_at_ms, ranked.id
         LIMIT 1"
    )
});

impl Db {
    /// Leases the best task for `offer` until `now_ms + lease_ms`, or `None` if nothing fits. On PostgreSQL the
    /// candidate row is locked with `SKIP LOCKED`, so coordinator replicas never hand out one task twice; SQLite
    /// has a single writer.
    pub async fn lease_task(&self, offer: &WorkerOffer, now_ms: i64, lease_ms: i64) -> Result<Option<Lease>, DbError> {
        let best: &str = match self.backend() {
            Backend::Postgres => &BEST_TASK_POSTGRES,
            Backend::Sqlite => &BEST_TASK_SQLITE,
        };
        let claim = format!(
            "UPDATE tasks SET state = 'leased', attempt = attempt + 1, node_id = $6, leased_at_ms = $7,
                    lease_expires_at_ms = $8, progress_percent = 0, log_tail = ''
             WHERE id = ({best}) AND state = 'queued'
             RETURNING id, job_id, attempt, frames, tile_index"
        );
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&claim)
            .bind(&offer.engines)
            .bind(offer.vram_bytes)
            .bind(&offer.gpu_models)
            .bind(offer.price_micro_per_minute)
            .bind(&offer.tags)
            .bind(offer.node)
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(BLOCKLIST_AFTER_FAILURES)
            .bind(BLOCKLIST_AFTER_REJECTIONS)
            .bind(&offer.workloads)
            .bind(offer.only_owner)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let lease = Lease {
            task: row.try_get("id")?,
            job: row.try_get("job_id")?,
            attempt: row.try_get("attempt")?,
            frames: row.try_get("frames")?,
            tile_index: row.try_get("tile_index")?,
            expires_at_ms: now_ms + lease_ms,
        };
        sqlx::query(
            "INSERT INTO task_attempts (task_id, attempt, node_id, started_at_ms, price_micro_per_minute, blender_version)
             VALUES ($1, $2, $3, $4, $5, (SELECT blender_version FROM nodes WHERE id = $3))",
        )
        .bind(lease.task)
        .bind(lease.attempt)
        .bind(offer.node)
        .bind(now_ms)
        .bind(offer.price_micro_per_minute)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE jobs SET state = 'active' WHERE id = $1 AND state = 'queued'")
            .bind(lease.job)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(lease))
    }

    /// Keeps a lease alive and records progress and the live tail of Blender's log; `LeaseLost` tells the agent to
    /// stop.
    pub async fn extend_lease(
        &self,
        held: LeasedAttempt,
        progress: &Progress<'_>,
        expires_at_ms: i64,
    ) -> Result<(), TaskError> {
        let LeasedAttempt { task, attempt, node } = held;
        let result = sqlx::query(
            "UPDATE tasks SET lease_expires_at_ms = $1, progress_percent = $2, log_tail = $6
             WHERE id = $3 AND attempt = $4 AND node_id = $5 AND state = 'leased'",
        )
        .bind(expires_at_ms)
        .bind(progress.percent.clamp(0, 100))
        .bind(task)
        .bind(attempt)
        .bind(node)
        .bind(clip_log(progress.log_tail))
        .execute(self.writer())
        .await?;
        lease_held(result.rows_affected())
    }

    /// Leases to take back at `now_ms`: past their expiry (no progress report in time), or held longer than their
    /// job's time limit (`default_max_ms` when it sets none) plus `grace_ms`. Returns task, attempt and which.
    pub async fn expired_leases(
        &self,
        now_ms: i64,
        default_max_ms: i64,
        grace_ms: i64,
    ) -> Result<Vec<ExpiredLease>, DbError> {
        let rows: Vec<(TaskId, i64, i64)> = sqlx::query_as(
            "SELECT t.id, t.attempt, CASE WHEN t.lease_expires_at_ms < $1 THEN 0 ELSE 1 END
             FROM tasks t JOIN jobs j ON j.id = t.job_id
             WHERE t.state = 'leased'
               AND (t.lease_expires_at_ms < $1 OR t.leased_at_ms + COALESCE(j.max_task_ms, $2) + $3 < $1)
             ORDER BY t.id",
        )
        .bind(now_ms)
        .bind(default_max_ms)
        .bind(grace_ms)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(|(task, attempt, over)| ExpiredLease { task, attempt, over_time: over == 1 }).collect())
    }
}

/// Marks a leased attempt's task done rendering, in `state` (`verifying` or `uploaded`), and closes its attempt
/// with Blender's time. Returns the job, or `LeaseLost`.
pub async fn mark_rendered(
    tx: &mut Tx<'_>,
    held: LeasedAttempt,
    state: TaskState,
    finished: &Finished<'_>,
    now_ms: i64,
) -> Result<JobId, TaskError> {
    let LeasedAttempt { task, attempt, node } = held;
    let job: Option<JobId> = sqlx::query_scalar(
        "UPDATE tasks SET state = $5, progress_percent = 100, finished_at_ms = $1, lease_expires_at_ms = NULL
         WHERE id = $2 AND attempt = $3 AND node_id = $4 AND state = 'leased'
         RETURNING job_id",
    )
    .bind(now_ms)
    .bind(task)
    .bind(attempt)
    .bind(node)
    .bind(state.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(job) = job else { return Err(TaskError::LeaseLost) };
    end_attempt(tx, task, attempt, AttemptOutcome::Uploaded, None, finished.log, now_ms).await?;
    sqlx::query("UPDATE task_attempts SET render_ms = $1 WHERE task_id = $2 AND attempt = $3")
        .bind(finished.render_ms)
        .bind(task)
        .bind(attempt)
        .execute(&mut **tx)
        .await?;
    Ok(job)
}

/// Counts one more failed attempt of `node` on `job` toward the blocklist.
pub async fn count_failure(tx: &mut Tx<'_>, job: JobId, node: NodeId) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO job_blocklist (job_id, node_id, failures) VALUES ($1, $2, 1)
         ON CONFLICT (job_id, node_id) DO UPDATE SET failures = job_blocklist.failures + 1",
    )
    .bind(job)
    .bind(node)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How a finished attempt went, as its agent reports it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Finished<'a> {
    /// The end of Blender's output.
    pub log: &'a str,
    /// Blender's own time for the attempt, when the agent measured it.
    pub render_ms: Option<i64>,
}

/// What a progress report carries besides the lease: the share done and the tail of Blender's log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress<'a> {
    pub percent: i64,
    pub log_tail: &'a str,
}

/// How an attempt ended: its outcome, the error (if it failed) and its log.
pub struct Ending<'a> {
    pub outcome: AttemptOutcome,
    pub error: &'a str,
    pub log: &'a str,
}

/// Logs kept per attempt: the end of Blender's output is where the error is.
const MAX_LOG_BYTES: usize = 16 * 1024;

/// The last `MAX_LOG_BYTES` of `log`, cut at a character boundary.
fn clip_log(log: &str) -> &str {
    if log.len() <= MAX_LOG_BYTES {
        return log;
    }
    let mut start = log.len() - MAX_LOG_BYTES;
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

fn lease_held(rows: u64) -> Result<(), TaskError> {
    if rows == 0 {
        return Err(TaskError::LeaseLost);
    }
    Ok(())
}

use super::Tx;

/// Closes the running attempt row. An empty `log` keeps the live tail the agent last reported.
async fn end_attempt(
    tx: &mut Tx<'_>,
    task: TaskId,
    attempt: i64,
    outcome: AttemptOutcome,
    error: Option<&str>,
    log: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE task_attempts SET outcome = $1, error = $6, ended_at_ms = $3,
                log = CASE WHEN $2 = '' THEN (SELECT log_tail FROM tasks WHERE id = $4) ELSE $2 END
         WHERE task_id = $4 AND attempt = $5 AND outcome = 'running'",
    )
    .bind(outcome.as_str())
    .bind(clip_log(log))
    .bind(now_ms)
    .bind(task)
    .bind(attempt)
    .bind(error)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends a leased attempt (`failed` or `expired`): back to the queue while attempts remain, else `failed`. Returns
/// the job and the task's new state. `node` guards reports from agents; the timeout checker passes `None`.
pub async fn give_back(
    tx: &mut Tx<'_>,
    task: TaskId,
    attempt: i64,
    node: Option<NodeId>,
    ended: &Ending<'_>,
    now_ms: i64,
) -> Result<(JobId, TaskState), TaskError> {
    let row: Option<(JobId, String)> = sqlx::query_as(
        "UPDATE tasks SET
            state = CASE WHEN attempt < max_attempt THEN 'queued' ELSE 'failed' END,
            node_id = NULL, lease_expires_at_ms = NULL, progress_percent = 0, last_error = $1,
            finished_at_ms = CASE WHEN attempt < max_attempt THEN NULL ELSE $2 END
         WHERE id = $3 AND attempt = $4 AND state = 'leased' AND ($5 IS NULL OR node_id = $5)
         RETURNING job_id, state",
    )
    .bind(ended.error)
    .bind(now_ms)
    .bind(task)
    .bind(attempt)
    .bind(node)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((job, state)) = row else { return Err(TaskError::LeaseLost) };
    end_attempt(tx, task, attempt, ended.outcome, Some(ended.error), ended.log, now_ms).await?;
    Ok((job, super::parse_state(&state, "state", TaskState::parse)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_clipped_to_their_end_at_a_character_boundary() {
        let long = format!("{}é{}", "a".repeat(MAX_LOG_BYTES), "z".repeat(10));
        let clipped = clip_log(&long);
        assert!(clipped.len() <= MAX_LOG_BYTES && clipped.ends_with("zzzzzzzzzz"), "{}", clipped.len());
        assert_eq!(clip_log("short"), "short");
    }
}
