//! Reading render jobs (lists, details, what an agent needs) and recording uploaded frames.

use pictor_core::jobs::{AttemptView, CheckStanding, JobCost, JobDetails, JobSpec, JobSummary, TaskView};
use pictor_core::states::{AttemptOutcome, JobState, TaskState};
use pictor_core::workloads::WorkloadKind;
use sqlx::Row;

use super::nodes::{Capabilities, NodeId};
use super::tasks::{LeasedAttempt, WorkerOffer};
use super::users::UserId;
use super::{Db, DbError};
use super::{JobId, TaskError, TaskId};

/// A task's job as its agent's uploads and reports need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskJob {
    pub job: JobId,
    pub kind: WorkloadKind,
    /// The file extension of its outputs.
    pub extension: String,
}

/// What an agent needs to render a job's task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRenderInfo {
    pub kind: WorkloadKind,
    pub spec_json: String,
    pub scene_key: String,
    pub scene_sha256: String,
}

const SUMMARY: &str = "SELECT j.id, j.name, j.state, j.created_at_ms,
        (SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id) AS tasks_total,
        (SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id AND t.state IN ('uploaded', 'verified')) AS tasks_done,
        (SELECT COUNT(*) FROM tasks t WHERE t.job_id = j.id AND t.state = 'failed') AS tasks_failed
    FROM jobs j";

fn summary(row: &sqlx::any::AnyRow) -> Result<JobSummary, sqlx::Error> {
    Ok(JobSummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        state: super::state_in(row, "state", JobState::parse)?,
        created_at_ms: row.try_get("created_at_ms")?,
        tasks_total: row.try_get("tasks_total")?,
        tasks_done: row.try_get("tasks_done")?,
        tasks_failed: row.try_get("tasks_failed")?,
    })
}

impl Db {
    /// The owner's render jobs, newest first (AI batches are listed with the AI section's own).
    pub async fn jobs_of(&self, owner: UserId) -> Result<Vec<JobSummary>, DbError> {
        let rows =
            sqlx::query(&format!("{SUMMARY} WHERE j.owner_id = $1 AND j.kind = 'render' ORDER BY j.id DESC LIMIT 200"))
                .bind(owner)
                .fetch_all(self.reader())
                .await?;
        Ok(rows.iter().map(summary).collect::<Result<_, _>>()?)
    }

    /// One of the owner's jobs with its tasks.
    pub async fn job_of(&self, owner: UserId, job: JobId) -> Result<Option<JobDetails>, DbError> {
        let Some(row) = sqlx::query(&format!("{SUMMARY} WHERE j.id = $1 AND j.owner_id = $2 AND j.kind = 'render'"))
            .bind(job)
            .bind(owner)
            .fetch_optional(self.reader())
            .await?
        else {
            return Ok(None);
        };
        let spec_json: String =
            sqlx::query_scalar("SELECT spec_json FROM jobs WHERE id = $1").bind(job).fetch_one(self.reader()).await?;
        let spec: JobSpec = serde_json::from_str(&spec_json).map_err(|_| DbError::Conflict("unreadable job spec"))?;
        let tasks = sqlx::query(
            "SELECT id, frames, tile_index, state, attempt, progress_percent, node_id, last_error
             FROM tasks WHERE job_id = $1 ORDER BY id",
        )
        .bind(job)
        .fetch_all(self.reader())
        .await?
        .iter()
        .map(|row| {
            Ok(TaskView {
                id: row.try_get("id")?,
                frames: row.try_get("frames")?,
                tile_index: row.try_get("tile_index")?,
                state: super::state_in(row, "state", TaskState::parse)?,
                attempt: row.try_get("attempt")?,
                progress_percent: row.try_get("progress_percent")?,
                node_id: row.try_get("node_id")?,
                last_error: row.try_get("last_error")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let avg_task_ms: Option<f64> = sqlx::query_scalar(
            "SELECT CAST(AVG(a.ended_at_ms - a.started_at_ms) AS DOUBLE PRECISION) FROM task_attempts a
               JOIN tasks t ON t.id = a.task_id
             WHERE t.job_id = $1 AND a.outcome IN ('uploaded', 'verified', 'rejected')",
        )
        .bind(job)
        .fetch_one(self.reader())
        .await?;
        let (estimate_micro, estimate_source, budget_micro): (i64, String, Option<i64>) =
            sqlx::query_as("SELECT estimate_micro, estimate_source, budget_micro FROM jobs WHERE id = $1")
                .bind(job)
                .fetch_one(self.reader())
                .await?;
        let spent_micro: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'clawback' THEN -amount_micro ELSE amount_micro END), 0) AS BIGINT)
             FROM ledger_transfers WHERE job_id = $1 AND kind IN ('pay_worker', 'pay_pool', 'clawback')",
        )
        .bind(job)
        .fetch_one(self.reader())
        .await?;
        let cost = JobCost {
            estimate_micro,
            estimate_source,
            budget_micro,
            spent_micro,
            escrow_micro: self.balance(super::ledger::Account::Escrow(job)).await?,
        };
        let checks = self.check_standing(job, crate::clock::now_ms()).await?;
        Ok(Some(JobDetails {
            summary: summary(&row)?,
            spec,
            tasks,
            avg_task_ms: avg_task_ms.map(|ms| ms as i64),
            cost,
            checks,
        }))
    }

    /// How `job`'s results stand with checkers at `now_ms`: open checks (not audits) and the oldest one's age,
    /// results accepted unchecked, and checkers heard from recently that run the job's engine.
    pub async fn check_standing(&self, job: JobId, now_ms: i64) -> Result<CheckStanding, DbError> {
        let (waiting, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(DISTINCT v.task_id), MIN(v.created_at_ms) FROM verifications v
               JOIN tasks t ON t.id = v.task_id
             WHERE t.job_id = $1 AND v.state = 'open' AND v.audit_node_id IS NULL AND t.state = 'verifying'",
        )
        .bind(job)
        .fetch_one(self.reader())
        .await?;
        let unchecked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state = 'uploaded'")
            .bind(job)
            .fetch_one(self.reader())
            .await?;
        let checkers_online: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM nodes n JOIN jobs j ON j.id = $1
             WHERE n.kind = 'checker' AND n.last_seen_at_ms >= $2 AND n.signed_off_at_ms IS NULL
               AND n.disabled_at_ms IS NULL AND n.deleted_at_ms IS NULL AND n.suspended_at_ms IS NULL
               AND (',' || n.engines || ',') LIKE ('%,' || j.engine || ',%')",
        )
        .bind(job)
        .bind(now_ms - super::verifications::CHECKER_RECENT_MS)
        .fetch_one(self.reader())
        .await?;
        Ok(CheckStanding {
            waiting,
            waiting_ms: oldest.filter(|_| waiting > 0).map(|oldest| (now_ms - oldest).max(0)),
            unchecked,
            checkers_online,
            // The coordinator's setting, filled in by the service that shows the job.
            accepted_unchecked_after_ms: 0,
        })
    }

    /// Every attempt at one task of the owner's job, oldest first; `None` if the task is not in their job.
    pub async fn task_attempts(
        &self,
        owner: UserId,
        job: JobId,
        task: TaskId,
    ) -> Result<Option<Vec<AttemptView>>, DbError> {
        let live_log: Option<String> = sqlx::query_scalar(
            "SELECT t.log_tail FROM tasks t JOIN jobs j ON j.id = t.job_id
             WHERE t.id = $1 AND t.job_id = $2 AND j.owner_id = $3",
        )
        .bind(task)
        .bind(job)
        .bind(owner)
        .fetch_optional(self.reader())
        .await?;
        let Some(live_log) = live_log else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT a.attempt, a.node_id, n.name, a.blender_version, a.started_at_ms, a.ended_at_ms, a.outcome, a.error,
                    a.log
             FROM task_attempts a JOIN nodes n ON n.id = a.node_id
             WHERE a.task_id = $1 ORDER BY a.attempt",
        )
        .bind(task)
        .fetch_all(self.reader())
        .await?;
        let attempts = rows
            .iter()
            .map(|row| {
                let outcome = super::state_in(row, "outcome", AttemptOutcome::parse)?;
                let log: String = row.try_get("log")?;
                Ok(AttemptView {
                    attempt: row.try_get("attempt")?,
                    node_id: row.try_get("node_id")?,
                    node_name: row.try_get("name")?,
                    blender_version: row.try_get("blender_version")?,
                    started_at_ms: row.try_get("started_at_ms")?,
                    ended_at_ms: row.try_get("ended_at_ms")?,
                    error: row.try_get("error")?,
                    log: if outcome == AttemptOutcome::Running { live_log.clone() } else { log },
                    outcome,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(attempts))
    }

    pub async fn job_render_info(&self, job: JobId) -> Result<Option<JobRenderInfo>, DbError> {
        let row: Option<(String, String, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT kind, spec_json, scene_key, scene_sha256 FROM jobs WHERE id = $1")
                .bind(job)
                .fetch_optional(self.reader())
                .await?;
        let Some((kind, spec_json, key, sha)) = row else { return Ok(None) };
        let kind = super::parse_state(&kind, "kind", WorkloadKind::parse)?;
        Ok(key.zip(sha).map(|(scene_key, scene_sha256)| JobRenderInfo { kind, spec_json, scene_key, scene_sha256 }))
    }

    /// Whether `node` holds (or held) a lease on a task of `job`, or on a check of one: only they may download its
    /// scene.
    pub async fn node_works_on_job(&self, node: NodeId, job: JobId) -> Result<bool, DbError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM task_attempts a JOIN tasks t ON t.id = a.task_id WHERE t.job_id = $1 AND a.node_id = $2
             UNION ALL
             SELECT 1 FROM verdicts d JOIN verifications v ON v.id = d.verification_id JOIN tasks t ON t.id = v.task_id
             WHERE t.job_id = $1 AND d.checker_node_id = $2
             LIMIT 1",
        )
        .bind(job)
        .bind(node)
        .fetch_optional(self.reader())
        .await?;
        Ok(found.is_some())
    }

    /// A task's job, tile and comma-separated frames.
    pub async fn task_frames(&self, task: TaskId) -> Result<Option<(JobId, Option<i64>, String)>, DbError> {
        Ok(sqlx::query_as("SELECT job_id, tile_index, frames FROM tasks WHERE id = $1")
            .bind(task)
            .fetch_optional(self.reader())
            .await?)
    }

    /// The frames an attempt uploaded and where each is stored.
    pub async fn attempt_outputs(&self, task: TaskId, attempt: i64) -> Result<Vec<(i64, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT frame, object_key FROM task_outputs WHERE task_id = $1 AND attempt = $2 ORDER BY frame",
        )
        .bind(task)
        .bind(attempt)
        .fetch_all(self.reader())
        .await?)
    }

    /// Records an uploaded frame of a leased attempt; `LeaseLost` unless `node` holds that attempt's lease and the
    /// frame belongs to the task. A frame uploaded again within the lease replaces the earlier upload, whose object
    /// key is returned for the caller to delete.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_output(
        &self,
        held: LeasedAttempt,
        frame: i64,
        object_key: &str,
        sha256: &str,
        bytes: i64,
        now_ms: i64,
    ) -> Result<Option<String>, TaskError> {
        let LeasedAttempt { task, attempt, node } = held;
        let mut tx = self.begin_write().await?;
        let earlier: Option<String> = sqlx::query_scalar(
            "SELECT object_key FROM task_outputs WHERE task_id = $1 AND attempt = $2 AND frame = $3",
        )
        .bind(task)
        .bind(attempt)
        .bind(frame)
        .fetch_optional(&mut *tx)
        .await?;
        let result = sqlx::query(
            "INSERT INTO task_outputs (task_id, attempt, frame, object_key, sha256, bytes, created_at_ms)
             SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (
                 SELECT 1 FROM tasks WHERE id = $1 AND attempt = $2 AND node_id = $8 AND state = 'leased'
                   AND (',' || frames || ',') LIKE ('%,' || $9 || ',%'))
             ON CONFLICT (task_id, attempt, frame) DO UPDATE
                 SET object_key = excluded.object_key, sha256 = excluded.sha256, bytes = excluded.bytes",
        )
        .bind(task)
        .bind(attempt)
        .bind(frame)
        .bind(object_key)
        .bind(sha256)
        .bind(bytes)
        .bind(now_ms)
        .bind(node)
        .bind(frame.to_string())
        .execute(&mut *tx)
        .await?;
        if result.rows_affected() == 0 {
            return Err(TaskError::LeaseLost);
        }
        tx.commit().await?;
        Ok(earlier.filter(|key| key != object_key))
    }

    /// The task's frames that have no uploaded output for `attempt` yet.
    pub async fn missing_outputs(&self, task: TaskId, attempt: i64) -> Result<Vec<i64>, DbError> {
        let frames: Option<String> = sqlx::query_scalar("SELECT frames FROM tasks WHERE id = $1")
            .bind(task)
            .fetch_optional(self.reader())
            .await?;
        let uploaded: Vec<i64> =
            sqlx::query_scalar("SELECT frame FROM task_outputs WHERE task_id = $1 AND attempt = $2")
                .bind(task)
                .bind(attempt)
                .fetch_all(self.reader())
                .await?;
        Ok(frames
            .unwrap_or_default()
            .split(',')
            .filter_map(|frame| frame.trim().parse::<i64>().ok())
            .filter(|frame| !uploaded.contains(frame))
            .collect())
    }

    /// The latest finished attempts at `engine` with their render time, job spec and frames (for estimates).
    pub async fn recent_renders(&self, engine: &str, limit: i64) -> Result<Vec<(i64, String, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT a.render_ms, j.spec_json, t.frames FROM task_attempts a
               JOIN tasks t ON t.id = a.task_id JOIN jobs j ON j.id = t.job_id
             WHERE j.engine = $1 AND a.render_ms > 0 AND a.outcome IN ('uploaded', 'verified')
             ORDER BY a.id DESC LIMIT $2",
        )
        .bind(engine)
        .bind(limit)
        .fetch_all(self.reader())
        .await?)
    }

    /// The prices of the network's enabled workers (micro-credits per render-minute).
    pub async fn worker_prices(&self) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT price_micro_per_minute FROM nodes
             WHERE kind = 'worker' AND disabled_at_ms IS NULL AND deleted_at_ms IS NULL AND last_seen_at_ms IS NOT NULL",
        )
        .fetch_all(self.reader())
        .await?)
    }

    /// Stores what a node can render (from its registration) for the lease queries.
    pub async fn set_node_capabilities(&self, node: NodeId, capabilities: &Capabilities) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE nodes SET engines = $1, vram_bytes = $2, gpu_models = $3, blender_version = $4, workloads = $6
             WHERE id = $5",
        )
        .bind(&capabilities.engines)
        .bind(capabilities.vram_bytes)
        .bind(&capabilities.gpu_models)
        .bind(&capabilities.blender_version)
        .bind(node)
        .bind(&capabilities.workloads)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// What `node` offers to the lease query: capabilities, tags and price.
    pub async fn worker_offer(&self, node: NodeId) -> Result<WorkerOffer, DbError> {
        let (engines, vram_bytes, gpu_models, tags, price, workloads): (String, i64, String, String, i64, String) =
            sqlx::query_as(
                "SELECT engines, vram_bytes, gpu_models, tags, price_micro_per_minute, workloads FROM nodes WHERE id = $1",
            )
        .bind(node)
        .fetch_optional(self.reader())
        .await?
        .ok_or(DbError::NotFound("node"))?;
        let price_micro_per_minute = price;
        Ok(WorkerOffer {
            node,
            workloads,
            engines,
            vram_bytes,
            gpu_models,
            tags,
            price_micro_per_minute,
            only_owner: None,
        })
    }
}

impl Db {
    /// Whether `node` holds the lease of `task`'s attempt `attempt` right now.
    pub async fn holds_lease(&self, held: LeasedAttempt) -> Result<bool, DbError> {
        let LeasedAttempt { task, attempt, node } = held;
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM tasks WHERE id = $1 AND attempt = $2 AND node_id = $3 AND state = 'leased'",
        )
        .bind(task)
        .bind(attempt)
        .bind(node)
        .fetch_optional(self.reader())
        .await?;
        Ok(found.is_some())
    }

    /// The task's job, its kind of work and the file extension of its outputs.
    pub async fn task_job(&self, task: TaskId) -> Result<Option<TaskJob>, DbError> {
        let row: Option<(JobId, String, String)> = sqlx::query_as(
            "SELECT j.id, j.kind, j.spec_json FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.id = $1",
        )
        .bind(task)
        .fetch_optional(self.reader())
        .await?;
        let Some((job, kind, spec_json)) = row else { return Ok(None) };
        let kind = super::parse_state(&kind, "kind", WorkloadKind::parse)?;
        let extension = match kind {
            WorkloadKind::Render => {
                let Ok(spec) = serde_json::from_str::<JobSpec>(&spec_json) else { return Ok(None) };
                spec.format.extension().to_string()
            }
            // One JSON line per input line.
            WorkloadKind::AiBatch => "jsonl".to_string(),
            // The trained model's weights.
            WorkloadKind::AiTrain => "safetensors".to_string(),
        };
        Ok(Some(TaskJob { job, kind, extension }))
    }
}

impl Db {
    /// A task's current state as its owner's pages show it live.
    pub async fn task_live(&self, task: TaskId) -> Result<Option<pictor_core::jobs::TaskLive>, DbError> {
        let row: Option<(i64, i64, String, i64, i64)> = sqlx::query_as(
            "SELECT t.job_id, j.owner_id, t.state, t.attempt, t.progress_percent
             FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.id = $1",
        )
        .bind(task)
        .fetch_optional(self.reader())
        .await?;
        let Some((job_id, owner_id, state, attempt, progress_percent)) = row else { return Ok(None) };
        let state = super::parse_state(&state, "state", TaskState::parse)?;
        let task_id = task.into();
        Ok(Some(pictor_core::jobs::TaskLive { job_id, owner_id, task_id, state, attempt, progress_percent }))
    }
}

impl Db {
    /// The accepted output of `frame` in the owner's job (the finished attempt's upload), if any.
    pub async fn frame_output(&self, owner: UserId, job: JobId, frame: i64) -> Result<Option<String>, DbError> {
        let key: Option<String> = sqlx::query_scalar(
            "SELECT o.object_key FROM task_outputs o
               JOIN tasks t ON t.id = o.task_id AND o.attempt = t.attempt
               JOIN jobs j ON j.id = t.job_id
             WHERE j.id = $1 AND j.owner_id = $2 AND o.frame = $3 AND t.state IN ('uploaded', 'verified')
             ORDER BY t.tile_index, o.created_at_ms DESC LIMIT 1",
        )
        .bind(job)
        .bind(owner)
        .bind(frame)
        .fetch_optional(self.reader())
        .await?;
        Ok(key)
    }
}

/// One accepted output of a job: its frame, its tile (for tiled jobs) and where it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobOutput {
    pub frame: i64,
    pub tile_index: Option<i64>,
    pub object_key: String,
}

impl Db {
    /// Every accepted output of the owner's job, by frame then tile; `None` if the job is not theirs.
    pub async fn job_outputs(&self, owner: UserId, job: JobId) -> Result<Option<Vec<JobOutput>>, DbError> {
        let owned: Option<i64> = sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1 AND owner_id = $2")
            .bind(job)
            .bind(owner)
            .fetch_optional(self.reader())
            .await?;
        if owned.is_none() {
            return Ok(None);
        }
        let rows: Vec<(i64, Option<i64>, String)> = sqlx::query_as(
            "SELECT o.frame, t.tile_index, o.object_key FROM task_outputs o
               JOIN tasks t ON t.id = o.task_id AND o.attempt = t.attempt
             WHERE t.job_id = $1 AND t.state IN ('uploaded', 'verified')
             ORDER BY o.frame, t.tile_index",
        )
        .bind(job)
        .fetch_all(self.reader())
        .await?;
        Ok(Some(
            rows.into_iter()
                .map(|(frame, tile_index, object_key)| JobOutput { frame, tile_index, object_key })
                .collect(),
        ))
    }
}
