//! The checker's side of the agent protocol: lease a check (long poll), download the worker's output it compares
//! against, and submit the verdict.

use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use pictor_core::agent_protocol::AgentError;
use pictor_core::verification::{VerdictReport, VerificationLeaseRequest, VERIFY_LEASE_PATH};

use super::service::{Verifier, VerifyError};
use crate::clock::now_ms;
use crate::db::nodes::NodeKind;
use crate::db::VerificationId;
use crate::nodes::agent_auth::AgentNode;
use crate::state::AppState;

/// The longest a checker's lease request is held open.
const MAX_WAIT: Duration = Duration::from_secs(25);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(VERIFY_LEASE_PATH, post(lease))
        .route("/api/agent/v1/verifications/{id}/frames/{frame}", get(output))
        .route("/api/agent/v1/verifications/{id}/verdict", post(verdict))
}

/// The verification service, built once at start-up.
pub fn verifier(state: &AppState) -> &Verifier {
    &state.services.verifier
}

/// Why a checker's request failed, as it should read it.
#[derive(Debug, thiserror::Error)]
pub enum CheckApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("only checker nodes verify results")]
    NotAChecker,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Verify(VerifyError),
}

impl From<VerifyError> for CheckApiError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::BadReport(why) => CheckApiError::BadRequest(why),
            VerifyError::NotFound => CheckApiError::NotFound,
            other => CheckApiError::Verify(other),
        }
    }
}

impl From<crate::db::DbError> for CheckApiError {
    fn from(error: crate::db::DbError) -> Self {
        CheckApiError::Verify(VerifyError::Db(error))
    }
}

impl From<JsonRejection> for CheckApiError {
    fn from(rejection: JsonRejection) -> Self {
        CheckApiError::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for CheckApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            CheckApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            CheckApiError::NotAChecker => (StatusCode::FORBIDDEN, self.to_string()),
            CheckApiError::NotFound => (StatusCode::NOT_FOUND, self.to_string()),
            CheckApiError::Verify(VerifyError::LeaseLost) => (StatusCode::CONFLICT, self.to_string()),
            CheckApiError::Verify(VerifyError::Db(error)) => crate::api::errors::internal("checker", error),
            CheckApiError::Verify(error) => {
                tracing::error!(%error, "checker request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_string())
            }
        };
        (status, Json(AgentError { error: message })).into_response()
    }
}

async fn lease(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    body: Result<Json<VerificationLeaseRequest>, JsonRejection>,
) -> Result<Response, CheckApiError> {
    let Json(request) = body?;
    if node.kind != NodeKind::Checker {
        return Err(CheckApiError::NotAChecker);
    }
    let verifier = verifier(&state);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(request.wait_ms).min(MAX_WAIT);
    loop {
        // Register interest before looking, so a result finished in between still wakes this request.
        let woken = state.publisher.checks_available().notified();
        if let Some(assignment) = verifier.lease(&node, request.own_jobs_only, now_ms()).await? {
            tracing::info!(verification = %assignment.verification_id, checker = %node.id, "verification leased");
            return Ok(Json(assignment).into_response());
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(StatusCode::NO_CONTENT.into_response()),
            _ = state.shutdown.cancelled() => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    }
}

async fn output(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path((id, frame)): Path<(VerificationId, i64)>,
) -> Result<Response, CheckApiError> {
    let found = state.db.verification_output(id, node.id, frame).await?.ok_or(CheckApiError::NotFound)?;
    let object = state.store.get(&ObjectPath::from(found.object_key.as_str())).await.map_err(VerifyError::Store)?;
    let stream = object.into_stream().map_err(std::io::Error::other);
    Ok(Body::from_stream(stream).into_response())
}

async fn verdict(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(id): Path<VerificationId>,
    body: Result<Json<VerdictReport>, JsonRejection>,
) -> Result<StatusCode, CheckApiError> {
    let Json(report) = body?;
    if node.kind != NodeKind::Checker {
        return Err(CheckApiError::NotAChecker);
    }
    verifier(&state).submit(&node, id, &report, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}
