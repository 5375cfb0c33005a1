//! The API reference: an OpenAPI 3.1 document of every route, built from [`operations::OPERATIONS`] and served at
//! `GET /api/openapi.json` (the dashboard's Reference page reads it).

pub mod document;
pub mod operations;

#[cfg(test)]
mod coverage_tests;

use axum::routing::get;
use axum::{Json, Router};

use crate::state::AppState;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

pub fn router() -> Router<AppState> {
    Router::new().route(OPENAPI_PATH, get(|| async { Json(document::openapi(env!("CARGO_PKG_VERSION"))) }))
}
