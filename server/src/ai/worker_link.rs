//! `GET /api/agent/ai`: the WebSocket a worker holds open to serve models. Requests go down it as JSON messages;
//! tokens, embeddings and the worker's model list come back up it.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use pictor_core::ai::{FromWorker, ToWorker};
use tokio::sync::mpsc;

use super::gateway::Gateway;
use crate::db::ai_hosting::NodeTraits;
use crate::nodes::agent_auth::AgentNode;
use crate::state::AppState;

pub const WORKER_LINK_PATH: &str = "/api/agent/ai";

/// The longest message a worker may send (an embeddings batch of 2 048 vectors of 1 024 floats as JSON fits).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route(WORKER_LINK_PATH, get(connect))
}

async fn connect(State(state): State<AppState>, AgentNode(node): AgentNode, upgrade: WebSocketUpgrade) -> Response {
    // A worker flagged for wrong answers serves nobody until its owner sorts it out.
    match state.db.worker_trust(node.id).await {
        Ok(trust) if trust.flagged => {
            let message = "this worker is flagged: checkers rejected its answers repeatedly, so it serves no models";
            return (StatusCode::FORBIDDEN, message).into_response();
        }
        Ok(_) => {}
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
    // What deployments' requirements are matched against, read once per connection.
    let traits = match state.db.node_traits(node.id).await {
        Ok(traits) => traits,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let gateway = state.services.ai.gateway.clone();
    let shutdown = state.shutdown.clone();
    upgrade.max_message_size(MAX_MESSAGE_BYTES).on_upgrade(move |socket| async move {
        tokio::select! {
            () = serve(socket, gateway, node.id, node.owner, traits) => {}
            () = shutdown.cancelled() => {}
        }
    })
}

async fn serve(
    socket: WebSocket,
    gateway: Gateway,
    node: crate::db::NodeId,
    owner: crate::db::users::UserId,
    traits: NodeTraits,
) {
    let (mut sink, mut stream) = socket.split();
    let (to_worker, mut outgoing) = mpsc::unbounded_channel::<ToWorker>();
    let link = gateway.connect(node, owner, traits, to_worker);
    tracing::info!(node = %node, link, "worker connected to serve models");
    let writer = async {
        while let Some(message) = outgoing.recv().await {
            let Ok(text) = serde_json::to_string(&message) else { continue };
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    };
    let reader = async {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(text) => match serde_json::from_str::<FromWorker>(&text) {
                    Ok(message) => gateway.receive(link, message),
                    Err(error) => tracing::warn!(node = %node, %error, "unreadable message from a worker"),
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    gateway.disconnect(link);
    tracing::info!(node = %node, link, "worker stopped serving models");
}
