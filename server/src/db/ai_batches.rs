//! The SQL of AI batches: a batch beside its job, its chunks beside their tasks, its progress counted from the
//! chunks' tasks, and the once-only close that records its output files. What a batch does is in `ai::batches`.

use sqlx::Row;

use super::ai_files::AiFile;
use super::users::UserId;
use super::{Db, DbError, JobId, NodeId, TaskId, Tx};

/// A batch as created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    pub id: String,
    pub user: UserId,
    pub input_file_id: String,
    pub endpoint: String,
    pub model: String,
    pub completion_window: String,
    pub metadata: Option<String>,
    pub lines: i64,
    pub input_price_micro_per_m: i64,
    pub output_price_micro_per_m: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// One chunk of lines, in the order of the job's tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChunk {
    pub first_line: i64,
    pub lines: i64,
    pub input_key: String,
}

/// A batch with its job's state and its lines' progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub user: UserId,
    pub job: JobId,
    pub input_file_id: String,
    pub endpoint: String,
    pub model: String,
    pub completion_window: String,
    pub metadata: Option<String>,
    pub lines: i64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub expired_at_ms: Option<i64>,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    pub finalized_at_ms: Option<i64>,
    /// queued, active, paused, completed, failed or cancelled.
    pub job_state: String,
    pub job_finished_at_ms: Option<i64>,
    /// Lines answered in accepted chunks.
    pub completed: i64,
    /// Lines that failed: in accepted chunks, and every line of chunks that ran out of attempts.
    pub failed: i64,
    /// Micro-credits paid for the batch's chunks so far.
    pub spent_micro: i64,
    /// The prices its lines are billed at (the model's when it was created).
    pub input_price_micro_per_m: i64,
    pub output_price_micro_per_m: i64,
}

/// A chunk with what its worker and the coordinator's intake need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub task: TaskId,
    pub batch: String,
    pub job: JobId,
    pub user: UserId,
    pub first_line: i64,
    pub lines: i64,
    pub input_key: String,
    pub model: String,
    pub endpoint: String,
    pub input_price_micro_per_m: i64,
    pub output_price_micro_per_m: i64,
}

/// A chunk's end, for writing the batch's output files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkEnd {
    pub task: TaskId,
    pub first_line: i64,
    pub lines: i64,
    pub input_key: String,
    pub task_state: String,
    /// The accepted attempt's output.
    pub output_key: Option<String>,
    pub last_error: Option<String>,
}

const BATCH_SELECT: &str = "
    SELECT b.id, b.user_id, b.job_id, b.input_file_id, b.endpoint, b.model_id, b.completion_window, b.metadata,
           b.lines, b.created_at_ms, b.expires_at_ms, b.expired_at_ms, b.output_file_id, b.error_file_id,
           b.finalized_at_ms, b.input_price_micro_per_m, b.output_price_micro_per_m, j.state AS job_state, j.finished_at_ms AS job_finished_at_ms,
           CAST(COALESCE((SELECT SUM(c.ok_lines) FROM ai_batch_chunks c JOIN tasks t ON t.id = c.task_id
                          WHERE c.batch_id = b.id AND t.state IN ('uploaded', 'verifying', 'verified')), 0)
                AS BIGINT) AS completed,
           CAST(COALESCE((SELECT SUM(CASE WHEN t.state = 'failed' THEN c.lines ELSE c.failed_lines END)
                          FROM ai_batch_chunks c JOIN tasks t ON t.id = c.task_id
                          WHERE c.batch_id = b.id AND t.state IN ('uploaded', 'verifying', 'verified', 'failed')), 0)
                AS BIGINT) AS failed,
           CAST(COALESCE((SELECT SUM(l.amount_micro) FROM ledger_transfers l
                          WHERE l.job_id = b.job_id AND l.kind IN ('pay_worker', 'pay_pool')), 0) AS BIGINT) AS spent
    FROM ai_batches b JOIN jobs j ON j.id = b.job_id";

fn batch_of(row: &sqlx::any::AnyRow) -> Result<Batch, sqlx::Error> {
    Ok(Batch {
        id: row.try_get("id")?,
        user: row.try_get("user_id")?,
        job: row.try_get("job_id")?,
        input_file_id: row.try_get("input_file_id")?,
        endpoint: row.try_get("endpoint")?,
        model: row.try_get("model_id")?,
        completion_window: row.try_get("completion_window")?,
        metadata: row.try_get("metadata")?,
        lines: row.try_get("lines")?,
        created_at_ms: row.try_get("created_at_ms")?,
        expires_at_ms: row.try_get("expires_at_ms")?,
        expired_at_ms: row.try_get("expired_at_ms")?,
        output_file_id: row.try_get("output_file_id")?,
        error_file_id: row.try_get("error_file_id")?,
        finalized_at_ms: row.try_get("finalized_at_ms")?,
        job_state: row.try_get("job_state")?,
        job_finished_at_ms: row.try_get("job_finished_at_ms")?,
        completed: row.try_get("completed")?,
        failed: row.try_get("failed")?,
        spent_micro: row.try_get("spent")?,
        input_price_micro_per_m: row.try_get("input_price_micro_per_m")?,
        output_price_micro_per_m: row.try_get("output_price_micro_per_m")?,
    })
}

/// Stores a batch beside its just-created job, one chunk per task (in task order).
pub async fn insert(tx: &mut Tx<'_>, batch: &NewBatch, job: JobId, chunks: &[NewChunk]) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ai_batches (id, job_id, user_id, input_file_id, endpoint, model_id, completion_window, metadata,
                                 lines, input_price_micro_per_m, output_price_micro_per_m, created_at_ms, expires_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&batch.id)
    .bind(job)
    .bind(batch.user)
    .bind(&batch.input_file_id)
    .bind(&batch.endpoint)
    .bind(&batch.model)
    .bind(&batch.completion_window)
    .bind(&batch.metadata)
    .bind(batch.lines)
    .bind(batch.input_price_micro_per_m)
    .bind(batch.output_price_micro_per_m)
    .bind(batch.created_at_ms)
    .bind(batch.expires_at_ms)
    .execute(&mut **tx)
    .await?;
    let tasks: Vec<TaskId> =
        sqlx::query_scalar("SELECT id FROM tasks WHERE job_id = $1 ORDER BY id").bind(job).fetch_all(&mut **tx).await?;
    if tasks.len() != chunks.len() {
        return Err(DbError::Corrupt("a batch's chunks and its job's tasks differ in number"));
    }
    for (task, chunk) in tasks.iter().zip(chunks) {
        sqlx::query(
            "INSERT INTO ai_batch_chunks (task_id, batch_id, first_line, lines, input_key) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(task)
        .bind(&batch.id)
        .bind(chunk.first_line)
        .bind(chunk.lines)
        .bind(&chunk.input_key)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Records what an attempt's results hold (lines answered and failed); the accepted attempt's figures count.
pub async fn set_chunk_counts(tx: &mut Tx<'_>, task: TaskId, ok_lines: i64, failed_lines: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE ai_batch_chunks SET ok_lines = $1, failed_lines = $2 WHERE task_id = $3")
        .bind(ok_lines)
        .bind(failed_lines)
        .bind(task)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A batch line's answer kept for a checker to replay, as a request row of kind `batch` and status `batch_line`
/// (billed with its chunk: it costs nothing here, and usage, which counts settled API requests, leaves it out).
#[allow(clippy::too_many_arguments)] // the row's columns, named
pub async fn insert_line_request(
    tx: &mut Tx<'_>,
    id: &str,
    user: UserId,
    model: &str,
    node: NodeId,
    tokens: (i64, i64),
    replay: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ai_requests (id, user_id, model_id, kind, node_id, status, reserved_micro, prompt_tokens,
                                  completion_tokens, cost_micro, outcome, replay, created_at_ms, settled_at_ms)
         VALUES ($1, $2, $3, 'batch', $4, 'batch_line', 0, $5, $6, 0, 'ok', $7, $8, $8)",
    )
    .bind(id)
    .bind(user)
    .bind(model)
    .bind(node)
    .bind(tokens.0)
    .bind(tokens.1)
    .bind(replay)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a batch as past its completion window (once); true when this call did.
pub async fn mark_expired(tx: &mut Tx<'_>, id: &str, now_ms: i64) -> Result<bool, DbError> {
    let done = sqlx::query("UPDATE ai_batches SET expired_at_ms = $1 WHERE id = $2 AND expired_at_ms IS NULL")
        .bind(now_ms)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

impl Db {
    /// One of `user`'s batches.
    pub async fn ai_batch(&self, user: UserId, id: &str) -> Result<Option<Batch>, DbError> {
        let row = sqlx::query(&format!("{BATCH_SELECT} WHERE b.id = $1 AND b.user_id = $2"))
            .bind(id)
            .bind(user)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.as_ref().map(batch_of).transpose()?)
    }

    /// `user`'s batches, newest first, at most `limit`, those created before `before` (an id) when given.
    pub async fn ai_batches(&self, user: UserId, before: Option<&str>, limit: i64) -> Result<Vec<Batch>, DbError> {
        let rows = sqlx::query(&format!(
            "{BATCH_SELECT} WHERE b.user_id = $1
               AND ($2 IS NULL OR b.created_at_ms < (SELECT created_at_ms FROM ai_batches WHERE id = $2)
                    OR (b.created_at_ms = (SELECT created_at_ms FROM ai_batches WHERE id = $2) AND b.id < $2))
             ORDER BY b.created_at_ms DESC, b.id DESC LIMIT $3"
        ))
        .bind(user)
        .bind(before)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.iter().map(batch_of).collect::<Result<_, _>>()?)
    }

    /// The batch chunk a task is, if it is one.
    pub async fn batch_chunk(&self, task: TaskId) -> Result<Option<Chunk>, DbError> {
        let row = sqlx::query(
            "SELECT c.task_id, c.batch_id, b.job_id, b.user_id, c.first_line, c.lines, c.input_key, b.model_id,
                    b.endpoint, b.input_price_micro_per_m, b.output_price_micro_per_m
             FROM ai_batch_chunks c JOIN ai_batches b ON b.id = c.batch_id WHERE c.task_id = $1",
        )
        .bind(task)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Chunk {
            task: row.try_get("task_id")?,
            batch: row.try_get("batch_id")?,
            job: row.try_get("job_id")?,
            user: row.try_get("user_id")?,
            first_line: row.try_get("first_line")?,
            lines: row.try_get("lines")?,
            input_key: row.try_get("input_key")?,
            model: row.try_get("model_id")?,
            endpoint: row.try_get("endpoint")?,
            input_price_micro_per_m: row.try_get("input_price_micro_per_m")?,
            output_price_micro_per_m: row.try_get("output_price_micro_per_m")?,
        }))
    }

    /// How each chunk of a batch ended, in line order.
    pub async fn batch_chunk_ends(&self, batch: &str) -> Result<Vec<ChunkEnd>, DbError> {
        let rows = sqlx::query(
            "SELECT c.task_id, c.first_line, c.lines, c.input_key, t.state, t.last_error,
                    (SELECT o.object_key FROM task_outputs o
                     WHERE o.task_id = t.id AND o.attempt = t.attempt AND o.frame = 0) AS output_key
             FROM ai_batch_chunks c JOIN tasks t ON t.id = c.task_id
             WHERE c.batch_id = $1 ORDER BY c.first_line",
        )
        .bind(batch)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ChunkEnd {
                    task: row.try_get("task_id")?,
                    first_line: row.try_get("first_line")?,
                    lines: row.try_get("lines")?,
                    input_key: row.try_get("input_key")?,
                    task_state: row.try_get("state")?,
                    output_key: row.try_get("output_key")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Whether `node` holds the lease of a chunk of a batch on `model` (so it may fetch the model's files).
    pub async fn node_runs_batch_of(&self, node: NodeId, model: &str) -> Result<bool, DbError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM tasks t JOIN ai_batch_chunks c ON c.task_id = t.id JOIN ai_batches b ON b.id = c.batch_id
             WHERE t.node_id = $1 AND t.state = 'leased' AND b.model_id = $2 LIMIT 1",
        )
        .bind(node)
        .bind(model)
        .fetch_optional(self.reader())
        .await?;
        Ok(found.is_some())
    }

    /// Batches whose job has ended and whose output files are not written yet: (batch, owner).
    pub async fn batches_to_close(&self) -> Result<Vec<(String, UserId)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT b.id, b.user_id FROM ai_batches b JOIN jobs j ON j.id = b.job_id
             WHERE b.finalized_at_ms IS NULL AND j.state IN ('completed', 'failed', 'cancelled')",
        )
        .fetch_all(self.reader())
        .await?)
    }

    /// Batches still running past their completion window.
    pub async fn overdue_batches(&self, now_ms: i64) -> Result<Vec<(String, JobId, UserId)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT b.id, b.job_id, b.user_id FROM ai_batches b JOIN jobs j ON j.id = b.job_id
             WHERE b.expires_at_ms < $1 AND b.expired_at_ms IS NULL AND j.state IN ('queued', 'active', 'paused')",
        )
        .bind(now_ms)
        .fetch_all(self.reader())
        .await?)
    }

    /// Records a finished batch's output files (once: `false` when it was closed before, and nothing is added).
    pub async fn finalize_batch(
        &self,
        id: &str,
        output: Option<&AiFile>,
        errors: Option<&AiFile>,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE ai_batches SET output_file_id = $1, error_file_id = $2, finalized_at_ms = $3
             WHERE id = $4 AND finalized_at_ms IS NULL",
        )
        .bind(output.map(|file| file.id.as_str()))
        .bind(errors.map(|file| file.id.as_str()))
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for file in output.into_iter().chain(errors) {
            super::ai_files::insert_file(&mut tx, file).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::job_lifecycle::NewJob;
    use crate::engine::Engine;
    use pictor_core::workloads::WorkloadKind;

    fn new_batch(user: UserId) -> NewBatch {
        NewBatch {
            id: "batch_t".into(),
            user,
            input_file_id: "file-in".into(),
            endpoint: "/v1/embeddings".into(),
            model: "m".into(),
            completion_window: "24h".into(),
            metadata: None,
            lines: 5,
            input_price_micro_per_m: 3,
            output_price_micro_per_m: 4,
            created_at_ms: 10,
            expires_at_ms: 100,
        }
    }

    fn file(id: &str, user: UserId) -> AiFile {
        AiFile {
            id: id.into(),
            user,
            purpose: "batch_output".into(),
            filename: "out.jsonl".into(),
            bytes: 1,
            lines: 1,
            endpoint: "/v1/embeddings".into(),
            model: "m".into(),
            created_at_ms: 1,
        }
    }

    async fn a_batch_keeps_its_chunks_counts_and_closes_once(db: Db) {
        let user = db.create_user("Ada", 0).await.expect("user");
        let other = db.create_user("Bob", 0).await.expect("user");
        let job = NewJob { kind: WorkloadKind::AiBatch, engine: "ai".into(), ..NewJob::sample(user, 2) };
        let chunks = [
            NewChunk { first_line: 0, lines: 3, input_key: "batches/batch_t/chunk-0.json".into() },
            NewChunk { first_line: 3, lines: 2, input_key: "batches/batch_t/chunk-1.json".into() },
        ];
        let engine = Engine::new(db.clone());
        let job_id = engine.create_batch(&job, &new_batch(user), &chunks, 10).await.expect("created");
        let too_few = NewJob { kind: WorkloadKind::AiBatch, ..NewJob::sample(user, 1) };
        let again = NewBatch { id: "batch_u".into(), ..new_batch(user) };
        assert!(engine.create_batch(&too_few, &again, &chunks, 10).await.is_err(), "chunks and tasks must pair up");
        assert_eq!(db.ai_batch(user, "batch_u").await.expect("read"), None, "and nothing was kept");

        let batch = db.ai_batch(user, "batch_t").await.expect("read").expect("found");
        assert_eq!((batch.job, batch.lines, batch.completed, batch.failed), (job_id, 5, 0, 0));
        assert_eq!(batch.job_state, "queued");
        assert_eq!(db.ai_batch(other, "batch_t").await.expect("read"), None, "its owner's only");
        let ends = db.batch_chunk_ends("batch_t").await.expect("ends");
        assert_eq!(ends.iter().map(|e| (e.first_line, e.lines)).collect::<Vec<_>>(), vec![(0, 3), (3, 2)]);
        let chunk = db.batch_chunk(ends[1].task).await.expect("chunk").expect("a chunk");
        assert_eq!((chunk.first_line, chunk.lines, chunk.model.as_str()), (3, 2, "m"));
        assert_eq!((chunk.input_price_micro_per_m, chunk.output_price_micro_per_m), (3, 4));

        // A chunk accepted with one failed line; the other ran out of attempts: every line is counted once.
        let mut tx = db.begin_write().await.expect("tx");
        set_chunk_counts(&mut tx, ends[0].task, 2, 1).await.expect("counts");
        tx.commit().await.expect("commit");
        for (task, state) in [(ends[0].task, "verified"), (ends[1].task, "failed")] {
            sqlx::query("UPDATE tasks SET state = $1 WHERE id = $2")
                .bind(state)
                .bind(task)
                .execute(db.writer())
                .await
                .expect("state");
        }
        sqlx::query("UPDATE jobs SET state = 'failed' WHERE id = $1")
            .bind(job_id)
            .execute(db.writer())
            .await
            .expect("job");
        let batch = db.ai_batch(user, "batch_t").await.expect("read").expect("found");
        assert_eq!((batch.completed, batch.failed), (2, 3));
        assert_eq!(db.batches_to_close().await.expect("to close"), vec![("batch_t".to_string(), user)]);
        assert_eq!(db.overdue_batches(1_000).await.expect("overdue"), vec![], "an ended batch does not expire");

        // Closed once: a second close adds nothing.
        assert!(db.finalize_batch("batch_t", Some(&file("file-out", user)), None, 50).await.expect("closed"));
        assert!(!db.finalize_batch("batch_t", Some(&file("file-out2", user)), None, 60).await.expect("once"));
        assert!(db.ai_file(user, "file-out2").await.expect("read").is_none());
        let batch = db.ai_batch(user, "batch_t").await.expect("read").expect("found");
        assert_eq!((batch.output_file_id.as_deref(), batch.finalized_at_ms), (Some("file-out"), Some(50)));
        assert!(db.batches_to_close().await.expect("to close").is_empty());
        assert_eq!(db.ai_batches(user, None, 10).await.expect("list").len(), 1);
        assert!(db.ai_batches(user, Some("batch_t"), 10).await.expect("after").is_empty());
    }

    async fn an_overdue_batch_expires_once_keeping_what_finished(db: Db) {
        let user = db.create_user("Ada", 0).await.expect("user");
        let job = NewJob { kind: WorkloadKind::AiBatch, engine: "ai".into(), ..NewJob::sample(user, 1) };
        let chunks = [NewChunk { first_line: 0, lines: 5, input_key: "k".into() }];
        let engine = Engine::new(db.clone());
        let job_id = engine.create_batch(&job, &new_batch(user), &chunks, 10).await.expect("created");
        assert!(db.overdue_batches(100).await.expect("overdue").is_empty(), "not before its window ends");
        assert_eq!(db.overdue_batches(101).await.expect("overdue"), vec![("batch_t".to_string(), job_id, user)]);
        assert!(engine.expire_batch("batch_t", user, job_id, 101).await.expect("expired"));
        assert!(!engine.expire_batch("batch_t", user, job_id, 102).await.expect("once"));
        let batch = db.ai_batch(user, "batch_t").await.expect("read").expect("found");
        assert_eq!((batch.job_state.as_str(), batch.expired_at_ms), ("cancelled", Some(101)));
        assert!(db.overdue_batches(200).await.expect("overdue").is_empty());
        assert_eq!(db.batches_to_close().await.expect("to close").len(), 1, "its files are written next");
    }

    crate::both_backends!(a_batch_keeps_its_chunks_counts_and_closes_once);
    crate::both_backends!(an_overdue_batch_expires_once_keeping_what_finished);
}
