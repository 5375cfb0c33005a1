//! `/api/v1/checkers`: a user's checker nodes over the REST API (session or API key), same rules as the page.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use pictor_app::ports::CheckerService;
use pictor_core::accounts::Viewer;
use pictor_core::checkers::CheckersOverview;
use pictor_core::workers::IssuedNodeConfig;

use super::workers::{CreateWorker, RestError};
use crate::nodes::checkers::DbCheckers;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/checkers", get(list).post(create))
        .route("/api/v1/checkers/{id}", delete(remove))
        .route("/api/v1/checkers/{id}/token", post(reissue))
}

fn service(state: &AppState) -> &DbCheckers {
    &state.services.checkers
}

async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Json<CheckersOverview>, RestError> {
    Ok(Json(service(&state).overview(&viewer).await?))
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
