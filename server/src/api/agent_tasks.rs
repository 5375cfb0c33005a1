//! The agent's side of tasks, for every kind of work: lease (long poll), scene download, progress, output uploads,
//! done and fail. What a lease asks of the agent and how a finished attempt is judged come from the job's kind.

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use pictor_core::agent_protocol::{
    AgentError, DoneReport, FailureReport, LeaseRequest, ProgressAnswer, ProgressReport, LEASE_PATH,
};
use serde::Deserialize;

use crate::clock::now_ms;
use crate::db::jobs::TaskJob;
use crate::db::nodes::NodeKind;
use crate::db::tasks::{Finished, LeasedAttempt, Progress, TaskError};
use crate::db::{DbError, JobId, TaskId};
use crate::engine::workload::{Intake, LeaseLimits, OutputSlot, WorkloadError};
use crate::nodes::agent_auth::AgentNode;
use crate::render::blobs::{self, UploadError};
use crate::state::AppState;

/// The longest an agent's lease request is held open.
const MAX_WAIT: Duration = Duration::from_secs(25);
/// Largest single rendered frame accepted.
const MAX_OUTPUT_BYTES: u64 = 1 << 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LEASE_PATH, post(lease))
        .route("/api/agent/v1/jobs/{job}/scene", get(scene))
        .route("/api/agent/v1/tasks/{task}/progress", post(progress))
        .route("/api/agent/v1/tasks/{task}/frames/{frame}", put(upload_frame))
        .route("/api/agent/v1/tasks/{task}/done", post(done))
        .route("/api/agent/v1/tasks/{task}/fail", post(fail))
}

/// Why a task request failed, as the agent should read it.
#[derive(Debug, thiserror::Error)]
pub enum TaskApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("only worker nodes render tasks")]
    NotAWorker,
    #[error("not found")]
    NotFound,
    #[error("this task's lease was lost (expired, taken over or cancelled): drop the work")]
    LeaseLost,
    #[error(transparent)]
    Db(DbError),
    #[error("internal error")]
    Internal(String),
}

impl From<TaskError> for TaskApiError {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::LeaseLost => TaskApiError::LeaseLost,
            TaskError::Db(db) => db.into(),
        }
    }
}

impl From<DbError> for TaskApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound(_) => TaskApiError::NotFound,
            other => TaskApiError::Db(other),
        }
    }
}

impl From<WorkloadError> for TaskApiError {
    fn from(error: WorkloadError) -> Self {
        match error {
            WorkloadError::Db(error) => error.into(),
            other => TaskApiError::Internal(other.to_string()),
        }
    }
}

impl From<JsonRejection> for TaskApiError {
    fn from(rejection: JsonRejection) -> Self {
        TaskApiError::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for TaskApiError {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            TaskApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            TaskApiError::NotAWorker => (StatusCode::FORBIDDEN, self.to_string()),
            TaskApiError::NotFound => (StatusCode::NOT_FOUND, self.to_string()),
            TaskApiError::LeaseLost => (StatusCode::CONFLICT, self.to_string()),
            TaskApiError::Db(error) => crate::api::errors::internal("agent task", error),
            TaskApiError::Internal(error) => {
                tracing::error!(%error, "agent task request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, self.to_string())
            }
        };
        (status, Json(AgentError { error })).into_response()
    }
}

async fn lease(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    body: Result<Json<LeaseRequest>, JsonRejection>,
) -> Result<Response, TaskApiError> {
    let Json(request) = body?;
    if node.kind != NodeKind::Worker {
        return Err(TaskApiError::NotAWorker);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.wait_ms).min(MAX_WAIT);
    loop {
        // Register interest before looking, so a job submitted in between still wakes this request.
        let woken = state.publisher.work_available().notified();
        if !node.sleep.is_asleep(now_ms()) {
            let mut offer = state.db.worker_offer(node.id).await?;
            if request.own_jobs_only {
                offer.only_owner = Some(node.owner);
            }
            let lease_ms = i64::try_from(state.task_lease_ms).unwrap_or(60_000);
            if let Some(lease) = state.engine.lease_task(&offer, now_ms(), lease_ms).await? {
                let info = state.db.job_render_info(lease.job).await?.ok_or(TaskApiError::NotFound)?;
                let limits = LeaseLimits { lease_ms: state.task_lease_ms, default_max_ms: state.max_task_ms };
                let assigned = state.services.workloads.of(info.kind)?.assignment(&lease, &info, limits)?;
                tracing::info!(
                    task = %lease.task,
                    job = %lease.job,
                    attempt = lease.attempt,
                    node = %node.id,
                    "task leased"
                );
                return Ok(Json(assigned).into_response());
            }
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(StatusCode::NO_CONTENT.into_response()),
            _ = state.shutdown.cancelled() => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

async fn scene(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(job): Path<JobId>,
) -> Result<Response, TaskApiError> {
    // Scenes are the creators' property: only a node that was given a task of the job may fetch it.
    if !state.db.node_works_on_job(node.id, job).await? {
        return Err(TaskApiError::NotFound);
    }
    let info = state.db.job_render_info(job).await?.ok_or(TaskApiError::NotFound)?;
    let object = state
        .store
        .get(&ObjectPath::from(info.scene_key.as_str()))
        .await
        .map_err(|error| TaskApiError::Internal(error.to_string()))?;
    let size = object.meta.size;
    let stream = object.into_stream().map_err(std::io::Error::other);
    let mut headers = HeaderMap::new();
    if let Ok(value) = info.scene_sha256.parse() {
        headers.insert("x-pictor-sha256", value);
    }
    if let Ok(value) = size.to_string().parse() {
        headers.insert(axum::http::header::CONTENT_LENGTH, value);
    }
    Ok((headers, Body::from_stream(stream)).into_response())
}

async fn progress(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(task): Path<TaskId>,
    body: Result<Json<ProgressReport>, JsonRejection>,
) -> Result<Json<ProgressAnswer>, TaskApiError> {
    let Json(report) = body?;
    let held = LeasedAttempt { task, attempt: report.attempt, node: node.id };
    let expires = now_ms() + i64::try_from(state.task_lease_ms).unwrap_or(60_000);
    let progress = Progress { percent: i64::from(report.percent.min(100)), log_tail: &report.log_tail };
    state.engine.extend_lease(held, &progress, expires).await?;
    Ok(Json(ProgressAnswer { lease_ms: state.task_lease_ms }))
}

#[derive(Debug, Deserialize)]
pub struct AttemptQuery {
    pub attempt: i64,
}

async fn upload_frame(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path((task, frame)): Path<(TaskId, i64)>,
    Query(query): Query<AttemptQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, TaskApiError> {
    let announced = headers
        .get("x-pictor-sha256")
        .and_then(|value| value.to_str().ok())
        .filter(|sha| sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| {
            TaskApiError::BadRequest("the x-pictor-sha256 header (hex SHA-256 of the body) is required".into())
        })?
        .to_ascii_lowercase();
    let TaskJob { job, kind, extension } = state.db.task_job(task).await?.ok_or(TaskApiError::NotFound)?;
    // Refuse early (before storing anything) if this attempt is not the node's any more.
    let held = LeasedAttempt { task, attempt: query.attempt, node: node.id };
    if !state.db.holds_lease(held).await? {
        return Err(TaskApiError::LeaseLost);
    }
    let workload = state.services.workloads.of(kind)?;
    let upload = uuid::Uuid::new_v4().simple().to_string();
    let staging = format!("uploads/{upload}");
    let slot =
        OutputSlot { job, task, attempt: query.attempt, index: frame, upload: &upload[..12], extension: &extension };
    let key = workload.output_key(&slot);
    let stored =
        blobs::store(state.store.as_ref(), &staging, body, MAX_OUTPUT_BYTES, Some(&announced), |_| key.clone())
            .await
            .map_err(|error| match error {
            UploadError::Store(error) => TaskApiError::Internal(error.to_string()),
            refused => TaskApiError::BadRequest(refused.to_string()),
        })?;
    let bytes = i64::try_from(stored.bytes).unwrap_or(i64::MAX);
    match state.db.record_output(held, frame, &stored.key, &stored.sha256, bytes, now_ms()).await {
        Ok(replaced) => {
            // The frame was uploaded before in this attempt: the newer upload wins and the older object goes.
            if let Some(replaced) = replaced {
                let _ = state.store.delete(&ObjectPath::from(replaced.as_str())).await;
            }
            Ok(StatusCode::NO_CONTENT)
        }
        Err(error) => {
            // Lost the lease while uploading: the file is nobody's, drop it.
            let _ = state.store.delete(&ObjectPath::from(stored.key.as_str())).await;
            Err(error.into())
        }
    }
}

async fn done(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(task): Path<TaskId>,
    body: Result<Json<DoneReport>, JsonRejection>,
) -> Result<StatusCode, TaskApiError> {
    let Json(report) = body?;
    let held = LeasedAttempt { task, attempt: report.attempt, node: node.id };
    if !state.db.holds_lease(held).await? {
        return Err(TaskApiError::LeaseLost);
    }
    let missing = state.db.missing_outputs(task, report.attempt).await?;
    if !missing.is_empty() {
        return Err(TaskApiError::BadRequest(format!("frames {missing:?} have no uploaded output yet")));
    }
    let kind = state.db.task_job(task).await?.ok_or(TaskApiError::NotFound)?.kind;
    let plan = match state.services.workloads.of(kind)?.intake(task, report.attempt, node.id).await? {
        Intake::Accept(plan) => plan,
        Intake::Refuse(why) => {
            // Not a valid output: the attempt fails like a render error and the task goes to another try.
            let error = format!("the output was refused: {why}");
            state.engine.fail_task(held, &error, &report.log_tail, now_ms()).await?;
            tracing::warn!(%task, attempt = report.attempt, node = %node.id, %error, "output refused");
            return Err(TaskApiError::BadRequest(error));
        }
    };
    let render_ms = report.render_seconds.filter(|s| s.is_finite() && *s >= 0.0).map(|s| (s * 1000.0) as i64);
    let finished = Finished { log: &report.log_tail, render_ms };
    let checked = plan.is_some();
    state.engine.finish_task(held, &finished, plan.as_ref(), now_ms()).await?;
    tracing::info!(%task, attempt = report.attempt, node = %node.id, checked, "task done");
    // The worker's owner sees its task count and earnings move on My Workers.
    state.bus.publish(pictor_core::events::Event::Worker(pictor_core::workers::WorkerLive {
        node_id: node.id.into(),
        owner_id: node.owner,
        status: pictor_core::workers::NodeStatus::Online,
        metrics: None,
    }));
    Ok(StatusCode::NO_CONTENT)
}

async fn fail(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(task): Path<TaskId>,
    body: Result<Json<FailureReport>, JsonRejection>,
) -> Result<StatusCode, TaskApiError> {
    let Json(report) = body?;
    let error: String = report.error.chars().take(2_000).collect();
    let held = LeasedAttempt { task, attempt: report.attempt, node: node.id };
    state.engine.fail_task(held, &error, &report.log_tail, now_ms()).await?;
    tracing::warn!(%task, attempt = report.attempt, node = %node.id, %error, "task attempt failed");
    Ok(StatusCode::NO_CONTENT)
}
