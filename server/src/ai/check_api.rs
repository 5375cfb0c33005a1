//! The checkers' AI endpoints: lease an answer to replay (a model the checker holds, the same engine build, another
//! owner's worker), and report what the replay found.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use pictor_core::agent_protocol::AgentError;
use pictor_core::ai::{AiCheck, AiCheckLease, AiCheckVerdict, ModelLoad, AI_CHECK_LEASE_PATH};

use super::checks::{record_verdict, Verdict};
use crate::clock::now_ms;
use crate::db::nodes::NodeKind;
use crate::nodes::agent_auth::AgentNode;
use crate::state::AppState;

/// How long a checker holds a check before another may take it.
const CHECK_LEASE_MS: i64 = 5 * 60_000;

pub fn router() -> Router<AppState> {
    Router::new().route(AI_CHECK_LEASE_PATH, post(lease)).route("/api/agent/ai/checks/{id}", post(verdict))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(AgentError { error: message.to_string() })).into_response()
}

async fn lease(State(state): State<AppState>, AgentNode(node): AgentNode, Json(lease): Json<AiCheckLease>) -> Response {
    if node.kind != NodeKind::Checker {
        return refuse(StatusCode::FORBIDDEN, "only checker nodes replay AI requests");
    }
    let leased = state.db.lease_ai_check(node.id, node.owner, &lease, CHECK_LEASE_MS, now_ms()).await;
    match leased {
        Ok(Some(check)) => {
            // A model the checker does not hold comes with what it takes to fetch and load it.
            let load = if lease.models.contains(&check.model) {
                None
            } else {
                match state.db.load_spec(&check.model).await {
                    Ok(spec) => spec.map(|spec| ModelLoad {
                        kind: spec.kind,
                        sha256: spec.sha256,
                        bytes: spec.bytes.max(0) as u64,
                        files: spec.files,
                    }),
                    Err(error) => {
                        tracing::error!(%error, "reading a model to check failed");
                        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the coordinator cannot hand out checks now");
                    }
                }
            };
            Json(AiCheck { id: check.id, model: check.model, replay: check.replay, load }).into_response()
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => {
            tracing::error!(%error, "leasing an AI check failed");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "the coordinator cannot hand out checks right now")
        }
    }
}

async fn verdict(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(id): Path<i64>,
    Json(verdict): Json<AiCheckVerdict>,
) -> Response {
    match record_verdict(&state.db, id, node.id, &verdict, now_ms()).await {
        Ok(Some(outcome)) => {
            if let Verdict::Rejected { flagged: true } = outcome {
                tracing::warn!(check = id, "a worker was flagged after repeated rejected AI answers; it stops serving");
            }
            if let Verdict::Rejected { .. } = outcome {
                state.services.ai.gateway.disconnect_flagged(&state.db).await;
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(None) => refuse(StatusCode::CONFLICT, "this check is not leased to this checker (its lease ran out?)"),
        Err(error) => {
            tracing::error!(%error, "recording an AI check failed");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "the coordinator cannot record verdicts right now")
        }
    }
}
