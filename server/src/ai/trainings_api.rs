//! Training runs over HTTP: `POST /v1/trainings` (the dataset as the body, the rest as query parameters), `GET
//! /v1/trainings`, `GET /v1/trainings/{id}`, `POST /v1/trainings/{id}/cancel`, `POST /v1/trainings/{id}/deploy`,
//! downloads of checkpoints and of the trained model (the same under `/api/ai/trainings` with the dashboard's
//! session); and the agent's routes: the dataset, where to resume, and checkpoints up and down.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use object_store::path::Path as ObjectPath;
use object_store::PutPayload;
use pictor_core::ai_training::{CheckpointRef, Hyperparameters, TrainingTemplate};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::openai_api::SessionCaller;
use super::openai_wire::ApiError;
use super::service::Caller;
use super::trainings::{self, training_json, CreateTraining, MAX_DATASET_BYTES};
use crate::api::agent_tasks::{AttemptQuery, TaskApiError};
use crate::clock::now_ms;
use crate::db::ai_trainings::{StoredCheckpoint, Training};
use crate::db::tasks::LeasedAttempt;
use crate::db::{JobId, TaskId};
use crate::engine::changes::Changes;
use crate::nodes::agent_auth::AgentNode;
use crate::state::AppState;

/// The largest checkpoint a worker may upload.
const MAX_CHECKPOINT_BYTES: usize = 256 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        // Datasets and checkpoints are larger than axum's default body limit of 2 MB.
        .route("/v1/trainings", post(create).get(list).layer(DefaultBodyLimit::max(MAX_DATASET_BYTES + 1)))
        .route("/v1/trainings/{id}", get(retrieve))
        .route("/v1/trainings/{id}/cancel", post(cancel))
        .route("/v1/trainings/{id}/resume", post(resume))
        .route("/v1/trainings/{id}/checkpoints/{step}", get(download_checkpoint))
        .route("/v1/trainings/{id}/model", get(download_model))
        .route("/v1/trainings/{id}/deploy", post(deploy))
        .route("/api/agent/v1/tasks/{task}/dataset", get(agent_dataset))
        .route("/api/agent/v1/tasks/{task}/resume", get(agent_resume))
        .route(
            "/api/agent/v1/tasks/{task}/checkpoints/{step}",
            get(agent_checkpoint).put(agent_upload).layer(DefaultBodyLimit::max(MAX_CHECKPOINT_BYTES)),
        )
        // The dashboard's own, with the session instead of a key.
        .route(
            "/api/ai/trainings",
            post(|s: State<AppState>, SessionCaller(c): SessionCaller, q: Query<CreateQuery>, b: Bytes| {
                create(s, c, q, b)
            })
            .get(|s: State<AppState>, SessionCaller(c): SessionCaller| list(s, c))
            .layer(DefaultBodyLimit::max(MAX_DATASET_BYTES + 1)),
        )
        .route(
            "/api/ai/trainings/{id}",
            get(|s: State<AppState>, SessionCaller(c): SessionCaller, id: Path<JobId>| retrieve(s, c, id)),
        )
        .route(
            "/api/ai/trainings/{id}/cancel",
            post(|s: State<AppState>, SessionCaller(c): SessionCaller, id: Path<JobId>| cancel(s, c, id)),
        )
        .route(
            "/api/ai/trainings/{id}/resume",
            post(|s: State<AppState>, SessionCaller(c): SessionCaller, id: Path<JobId>, q: Query<ResumeQuery>| {
                resume(s, c, id, q)
            }),
        )
        .route(
            "/api/ai/trainings/{id}/checkpoints/{step}",
            get(
                |s: State<AppState>, SessionCaller(c): SessionCaller, p: Path<(JobId, i64)>, q: Query<AttemptQuery>| {
                    download_checkpoint(s, c, p, q)
                },
            ),
        )
        .route(
            "/api/ai/trainings/{id}/deploy",
            post(|s: State<AppState>, SessionCaller(c): SessionCaller, id: Path<JobId>| deploy(s, c, id)),
        )
        .route(
            "/api/ai/trainings/{id}/model",
            get(|s: State<AppState>, SessionCaller(c): SessionCaller, id: Path<JobId>| download_model(s, c, id)),
        )
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "a training request failed");
    ApiError::unavailable("the coordinator cannot handle training runs right now; try again")
}

/// A run's settings as query parameters (the body is the dataset).
#[derive(Debug, Deserialize)]
struct CreateQuery {
    #[serde(default)]
    name: String,
    template: String,
    /// The most the run may cost, in credits.
    budget: String,
    epochs: Option<u32>,
    learning_rate: Option<f64>,
    batch_size: Option<u32>,
    seed: Option<u64>,
    checkpoint_every: Option<u32>,
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<CreateQuery>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let template = TrainingTemplate::parse(&query.template).ok_or_else(|| {
        let known: Vec<&str> = TrainingTemplate::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::invalid(Some("template"), format!("unknown template; one of: {}", known.join(", ")))
    })?;
    let budget_micro = pictor_core::workers::parse_credits(&query.budget)
        .map_err(|why| ApiError::invalid(Some("budget"), format!("budget: {why}")))?;
    let defaults = template.default_hyperparameters();
    let hyper = Hyperparameters {
        epochs: query.epochs.unwrap_or(defaults.epochs),
        learning_rate: query.learning_rate.unwrap_or(defaults.learning_rate),
        batch_size: query.batch_size.unwrap_or(defaults.batch_size),
        seed: query.seed.unwrap_or(defaults.seed),
        checkpoint_every: query.checkpoint_every.unwrap_or(defaults.checkpoint_every),
    };
    if body.len() > MAX_DATASET_BYTES {
        return Err(ApiError::invalid(Some("dataset"), format!("datasets are limited to {MAX_DATASET_BYTES} bytes")));
    }
    let request = CreateTraining { name: query.name, template, hyper, budget_micro, starts_from: None };
    let share = state.services.ai.checker_share_percent;
    let job =
        trainings::create(&state.engine, &state.store, caller.user, &request, body.to_vec(), share, now_ms()).await?;
    tracing::info!(%job, user = %caller.user, "training run created");
    retrieve(State(state), caller, Path(job)).await
}

/// The caller's run `id`.
async fn owned(state: &AppState, caller: &Caller, id: JobId) -> Result<Training, ApiError> {
    state
        .db
        .training(id)
        .await
        .map_err(internal)?
        .filter(|training| training.user == caller.user)
        .ok_or_else(|| ApiError::not_found("training run", &id.to_string()))
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Json<Value>, ApiError> {
    let training = owned(&state, &caller, id).await?;
    let checkpoints = state.db.training_checkpoints(training.task).await.map_err(internal)?;
    Ok(Json(training_json(&training, &checkpoints)))
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let mut data = Vec::new();
    for training in state.db.trainings(caller.user, 50).await.map_err(internal)? {
        let checkpoints = state.db.training_checkpoints(training.task).await.map_err(internal)?;
        data.push(training_json(&training, &checkpoints));
    }
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// Cancels a run: the worker stops, its checkpoints are kept, the unspent budget comes back.
async fn cancel(State(state): State<AppState>, caller: Caller, Path(id): Path<JobId>) -> Result<Json<Value>, ApiError> {
    let training = owned(&state, &caller, id).await?;
    match state.engine.cancel_job(caller.user, training.job, now_ms()).await {
        Ok(()) => tracing::info!(job = %training.job, "training run cancelled"),
        Err(crate::db::DbError::Conflict(_) | crate::db::DbError::NotFound(_)) => {}
        Err(error) => return Err(internal(error)),
    }
    retrieve(State(state), caller, Path(id)).await
}

/// A resumed run's budget, in credits.
#[derive(Debug, Deserialize)]
struct ResumeQuery {
    budget: String,
}

/// Resumes a cancelled run: a new run with the same dataset, template and settings that goes on from the cancelled
/// run's last checkpoint (copied, so the two runs never share an object) with a budget of its own. Its final weights
/// are those an uninterrupted run would have reached. Nothing is created when anything is refused.
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JobId>,
    Query(query): Query<ResumeQuery>,
) -> Result<Json<Value>, ApiError> {
    let training = owned(&state, &caller, id).await?;
    if training.job_state != "cancelled" {
        return Err(ApiError::invalid(
            None,
            format!("only a cancelled run can be resumed; this one is {}", training.job_state),
        ));
    }
    let budget_micro = pictor_core::workers::parse_credits(&query.budget)
        .map_err(|why| ApiError::invalid(Some("budget"), format!("budget: {why}")))?;
    let point = state
        .db
        .resume_point(training.task)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::invalid(None, "the run has no checkpoint to resume from"))?;
    let template = TrainingTemplate::parse(&training.template).ok_or_else(|| internal("unknown template"))?;
    let hyper: Hyperparameters = serde_json::from_str(&training.hyper_json).map_err(internal)?;
    let dataset = object(&state, &training.dataset_key).await.map_err(internal)?;
    let copy = format!("checkpoints/resumed/{}/{}-{}.safetensors", id, point.step, uuid::Uuid::new_v4().simple());
    let copied = ObjectPath::from(copy.as_str());
    state.store.copy(&ObjectPath::from(point.object_key.as_str()), &copied).await.map_err(internal)?;
    let request = CreateTraining {
        name: training.name.clone(),
        template,
        hyper,
        budget_micro,
        starts_from: Some(StoredCheckpoint { object_key: copy, ..point.clone() }),
    };
    let share = state.services.ai.checker_share_percent;
    let created =
        trainings::create(&state.engine, &state.store, caller.user, &request, dataset.to_vec(), share, now_ms()).await;
    let job = match created {
        Ok(job) => job,
        Err(refused) => {
            let _ = state.store.delete(&copied).await;
            return Err(refused);
        }
    };
    tracing::info!(%job, from = %id, step = point.step, "training run resumed as a new run");
    let Json(mut answer) = retrieve(State(state), caller, Path(job)).await?;
    answer["resumed_from"] = json!({ "id": id, "step": point.step });
    Ok(Json(answer))
}

async fn object(state: &AppState, key: &str) -> Result<Bytes, String> {
    let found = state.store.get(&ObjectPath::from(key)).await.map_err(|error| error.to_string())?;
    found.bytes().await.map_err(|error| error.to_string())
}

fn attachment(bytes: Bytes, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    ([(CONTENT_TYPE, "application/octet-stream".to_string()), (CONTENT_DISPOSITION, disposition)], bytes)
        .into_response()
}

async fn download_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, step)): Path<(JobId, i64)>,
    Query(query): Query<AttemptQuery>,
) -> Result<Response, ApiError> {
    let training = owned(&state, &caller, id).await?;
    let checkpoint = state
        .db
        .stored_checkpoint(training.task, query.attempt, step)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("checkpoint", &step.to_string()))?;
    let bytes = object(&state, &checkpoint.object_key).await.map_err(internal)?;
    Ok(attachment(bytes, &format!("training-{id}-step-{step}.safetensors")))
}

/// The trained weights (safetensors), once the run completed.
async fn download_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<JobId>,
) -> Result<Response, ApiError> {
    let training = owned(&state, &caller, id).await?;
    let key = state
        .db
        .frame_output(caller.user, training.job, 0)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::invalid(None, "the run has not finished: no trained model yet"))?;
    let bytes = object(&state, &key).await.map_err(internal)?;
    Ok(attachment(bytes, &format!("training-{id}.safetensors")))
}

/// The model id a run's weights are deployed under: its name in lower case (letters and digits kept, the rest as
/// `-`), then the run's id.
pub fn deployed_model_id(name: &str, job: JobId) -> String {
    let slug: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let slug: String = slug.chars().take(40).collect();
    if slug.is_empty() {
        format!("trained-{job}")
    } else {
        format!("{slug}-{job}")
    }
}

fn rest_error(error: crate::api::workers::RestError) -> ApiError {
    match error.into_inner() {
        pictor_app::AppError::BadRequest(message) => ApiError::invalid(None, message),
        other => internal(other),
    }
}

/// Deploys a completed run in one step: its weights become the owner's classifier (validated as an upload is) and
/// an endpoint kept warm on one worker, answering `/v1/classifications` and the Playground. Deploying again
/// answers the same model.
async fn deploy(State(state): State<AppState>, caller: Caller, Path(id): Path<JobId>) -> Result<Json<Value>, ApiError> {
    let training = owned(&state, &caller, id).await?;
    let key = state
        .db
        .frame_output(caller.user, training.job, 0)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::invalid(None, "the run has not finished: there is nothing to deploy yet"))?;
    let model = deployed_model_id(&training.name, training.job);
    if state.db.ai_model_for(caller.user, &model).await.map_err(internal)?.is_none() {
        let weights = object(&state, &key).await.map_err(internal)?;
        let sha256 = hex::encode(Sha256::digest(&weights));
        let stored = ObjectPath::from(super::hosting::file_key(&sha256).as_str());
        state.store.put(&stored, PutPayload::from(weights)).await.map_err(internal)?;
        let request = pictor_core::ai::NewHostedModel {
            id: model.clone(),
            kind: pictor_core::ai::ModelKind::Classifier,
            public: false,
            files: [("model.safetensors".to_string(), sha256)].into_iter().collect(),
        };
        super::hosting::register(&state, caller.user, &request).await.map_err(rest_error)?;
    }
    let price = crate::config::AiConfig::price_micro(&state.services.ai.config.embedding_price);
    let deployment = pictor_core::ai::Deployment {
        model: model.clone(),
        input_price_micro_per_m: price,
        output_price_micro_per_m: 0,
        min_warm: 1,
        max_workers: 1,
        requirements: Default::default(),
    };
    let deployment = super::hosting::set_deployment(&state, caller.user, deployment).await.map_err(rest_error)?;
    tracing::info!(job = %training.job, %model, "training run deployed");
    Ok(Json(json!({ "model": model, "deployment": deployment })))
}

/// The run of `task`, for a worker holding its lease or a checker holding one of its checks.
async fn agent_may_read(state: &AppState, node: crate::db::NodeId, task: TaskId) -> Result<Training, TaskApiError> {
    let training = state.db.training_of_task(task).await?.ok_or(TaskApiError::NotFound)?;
    if state.db.node_leases_task(node, task).await? || state.db.checker_checks_task(node, task).await? {
        Ok(training)
    } else {
        Err(TaskApiError::LeaseLost)
    }
}

async fn agent_dataset(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(task): Path<TaskId>,
) -> Result<Response, TaskApiError> {
    let training = agent_may_read(&state, node.id, task).await?;
    let bytes = object(&state, &training.dataset_key).await.map_err(TaskApiError::Internal)?;
    Ok(([(CONTENT_TYPE, "text/csv")], bytes).into_response())
}

/// Where the lease holder goes on from: the run's latest checkpoint not rejected by a check, or `null`.
async fn agent_resume(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(task): Path<TaskId>,
    Query(query): Query<AttemptQuery>,
) -> Result<Json<Option<CheckpointRef>>, TaskApiError> {
    if !state.db.holds_lease(LeasedAttempt { task, attempt: query.attempt, node: node.id }).await? {
        return Err(TaskApiError::LeaseLost);
    }
    let point = state.db.resume_point(task).await?;
    Ok(Json(point.map(|checkpoint| CheckpointRef {
        step: u64::try_from(checkpoint.step).unwrap_or(0),
        attempt: checkpoint.attempt,
        sha256: checkpoint.sha256,
    })))
}

async fn agent_checkpoint(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path((task, step)): Path<(TaskId, i64)>,
    Query(query): Query<AttemptQuery>,
) -> Result<Response, TaskApiError> {
    agent_may_read(&state, node.id, task).await?;
    let checkpoint = state.db.stored_checkpoint(task, query.attempt, step).await?.ok_or(TaskApiError::NotFound)?;
    let bytes = object(&state, &checkpoint.object_key).await.map_err(TaskApiError::Internal)?;
    Ok(([(CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// A checkpoint upload: the attempt, and the curves' point at this step.
#[derive(Debug, Deserialize)]
struct UploadQuery {
    attempt: i64,
    loss: f64,
    accuracy: f64,
}

async fn agent_upload(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path((task, step)): Path<(TaskId, i64)>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, TaskApiError> {
    let held = LeasedAttempt { task, attempt: query.attempt, node: node.id };
    if !query.loss.is_finite() || !(0.0..=1.0).contains(&query.accuracy) || step < 0 {
        return Err(TaskApiError::BadRequest("loss must be finite, accuracy within 0..1, step not negative".into()));
    }
    if body.is_empty() || body.len() > MAX_CHECKPOINT_BYTES {
        return Err(TaskApiError::BadRequest(format!("a checkpoint holds 1 to {MAX_CHECKPOINT_BYTES} bytes")));
    }
    let training = state.db.training_of_task(task).await?.ok_or(TaskApiError::NotFound)?;
    if step > training.total_steps {
        return Err(TaskApiError::BadRequest(format!("the run has {} steps", training.total_steps)));
    }
    let sha256 = hex::encode(Sha256::digest(&body));
    if let Some(announced) = headers.get("x-pictor-sha256").and_then(|value| value.to_str().ok()) {
        if !announced.eq_ignore_ascii_case(&sha256) {
            return Err(TaskApiError::BadRequest("the checkpoint's sha256 does not match its bytes".into()));
        }
    }
    if !state.db.holds_lease(held).await? {
        return Err(TaskApiError::LeaseLost);
    }
    let key = format!("checkpoints/{task}/{}/{step}-{}.safetensors", query.attempt, uuid::Uuid::new_v4().simple());
    let bytes = body.len() as i64;
    state
        .store
        .put(&ObjectPath::from(key.as_str()), PutPayload::from(body))
        .await
        .map_err(|error| TaskApiError::Internal(error.to_string()))?;
    let stored = StoredCheckpoint {
        task,
        attempt: query.attempt,
        step,
        object_key: key.clone(),
        sha256,
        bytes,
        loss: query.loss,
        accuracy: query.accuracy,
        created_at_ms: now_ms(),
    };
    let (recorded, replaced) = state.db.record_checkpoint(held, &stored).await?;
    // An object that is not (or no longer) a row's is deleted: a late upload stores nothing.
    let orphan = if recorded { replaced } else { Some(key) };
    if let Some(orphan) = orphan {
        if let Err(error) = state.store.delete(&ObjectPath::from(orphan.as_str())).await {
            tracing::warn!(%error, "an unused checkpoint object could not be deleted");
        }
    }
    if !recorded {
        return Err(TaskApiError::LeaseLost);
    }
    state.engine.publish(Changes::task(task)).await;
    Ok(StatusCode::NO_CONTENT)
}
