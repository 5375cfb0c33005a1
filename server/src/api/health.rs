//! `GET /healthz`: is the coordinator up and its database reachable?

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::db::Db;

pub async fn healthz(State(db): State<Db>) -> impl IntoResponse {
    match db.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok", "database": db.backend().name() }))),
        Err(error) => {
            tracing::error!(%error, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable" })))
        }
    }
}
