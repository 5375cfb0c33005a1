//! Who is calling the agent API: the node whose token is in `Authorization: Bearer`, and nobody else.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pictor_core::agent_protocol::AgentError;

use crate::auth::tokens::{bearer, hash_secret};
use crate::db::nodes::TokenNode;
use crate::state::AppState;

/// The authenticated node of an agent request.
#[derive(Clone, Debug)]
pub struct AgentNode(pub TokenNode);

/// Why an agent request is refused (before the handler runs).
#[derive(Debug, thiserror::Error)]
pub enum AgentAuthError {
    #[error("missing Authorization: Bearer <node token>")]
    Missing,
    #[error("this node token is unknown: it was re-issued, or the node deleted — download a new config file")]
    Unknown,
    #[error("this node is disabled by its owner")]
    Disabled,
    #[error("the coordinator cannot check node tokens right now")]
    Unavailable,
}

impl IntoResponse for AgentAuthError {
    fn into_response(self) -> Response {
        let status = match self {
            AgentAuthError::Missing | AgentAuthError::Unknown => StatusCode::UNAUTHORIZED,
            AgentAuthError::Disabled => StatusCode::FORBIDDEN,
            AgentAuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, Json(AgentError { error: self.to_string() })).into_response()
    }
}

impl FromRequestParts<AppState> for AgentNode {
    type Rejection = AgentAuthError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or(AgentAuthError::Missing)?;
        let node = state.db.node_by_token(&hash_secret(token)).await.map_err(|error| {
            tracing::error!(%error, "node token lookup failed");
            AgentAuthError::Unavailable
        })?;
        let node = node.ok_or(AgentAuthError::Unknown)?;
        if node.disabled {
            return Err(AgentAuthError::Disabled);
        }
        Ok(AgentNode(node))
    }
}
