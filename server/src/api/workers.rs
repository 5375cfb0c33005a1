//! `/api/v1/workers`: the public REST API for a user's workers (session or API key), same rules as the pages.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use pictor_app::ports::WorkerService;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::workers::{IssuedNodeConfig, WorkerDetails, WorkerSettings, WorkersOverview};
use serde::Deserialize;
use serde_json::json;

use crate::nodes::service::DbWorkers;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/workers", get(list).post(create))
        .route("/api/v1/workers/{id}", get(details))
        .route("/api/v1/workers/{id}", delete(remove))
        .route("/api/v1/workers/{id}/token", post(reissue))
        .route("/api/v1/workers/{id}/settings", put(settings))
        .route("/api/v1/workers/{id}/tasks", get(tasks))
}

/// [`AppError`] as a REST answer.
pub struct RestError(AppError);

impl RestError {
    /// The error inside, for handlers that answer in another format (the OpenAI-style API).
    pub fn into_inner(self) -> AppError {
        self.0
    }
}

impl From<AppError> for RestError {
    fn from(error: AppError) -> Self {
        RestError(error)
    }
}

impl From<JsonRejection> for RestError {
    fn from(rejection: JsonRejection) -> Self {
        RestError(AppError::BadRequest(rejection.body_text()))
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable | AppError::Transport(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(json!({ "error": self.0.to_string() }))).into_response()
    }
}

fn service(state: &AppState) -> &DbWorkers {
    &state.services.workers
}

async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Json<WorkersOverview>, RestError> {
    Ok(Json(service(&state).overview(&viewer).await?))
}

async fn details(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
) -> Result<Json<WorkerDetails>, RestError> {
    Ok(Json(service(&state).details(&viewer, id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWorker {
    pub name: String,
}

async fn create(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<CreateWorker>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedNodeConfig>), RestError> {
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(service(&state).create(&viewer, &request.name).await?)))
}

async fn reissue(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
) -> Result<Json<IssuedNodeConfig>, RestError> {
    Ok(Json(service(&state).reissue_token(&viewer, id).await?))
}

async fn remove(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
) -> Result<StatusCode, RestError> {
    service(&state).delete(&viewer, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default = "first_page")]
    pub page: i64,
}

fn first_page() -> i64 {
    1
}

/// A page of the worker's task history (20 attempts, newest first): `?page=2`.
async fn tasks(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> Result<Json<pictor_core::workers::WorkerTaskPage>, RestError> {
    Ok(Json(service(&state).task_history(&viewer, id, query.page).await?))
}

async fn settings(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
    body: Result<Json<WorkerSettings>, JsonRejection>,
) -> Result<StatusCode, RestError> {
    let Json(settings) = body?;
    service(&state).update_settings(&viewer, id, settings).await?;
    Ok(StatusCode::NO_CONTENT)
}
