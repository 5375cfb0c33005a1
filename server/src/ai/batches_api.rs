//! OpenAI's Batch API: `POST /v1/batches`, `GET /v1/batches` (paged with `after` and `limit`), `GET
//! /v1/batches/{id}`, `POST /v1/batches/{id}/cancel`; and the agent's `GET /api/agent/v1/tasks/{task}/input`, the
//! lines of a chunk it holds the lease of. A closer writes each ended batch's output files and expires overdue ones.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use object_store::path::Path as ObjectPath;
use pictor_core::ai::ModelKind;
use serde::Deserialize;
use serde_json::{json, Value};

use super::batches::{self, batch_json, CreateBatch};
use super::openai_api::SessionCaller;
use super::openai_wire::{self as wire, ApiError};
use super::service::Caller;
use crate::api::agent_tasks::{AttemptQuery, TaskApiError};
use crate::clock::now_ms;
use crate::db::ai_batches::Batch;
use crate::db::tasks::LeasedAttempt;
use crate::db::TaskId;
use crate::nodes::agent_auth::AgentNode;
use crate::state::AppState;

/// How often the closer looks for ended and overdue batches.
const CLOSE_EVERY: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/batches", post(create).get(list))
        .route("/v1/batches/{id}", get(retrieve))
        .route("/v1/batches/{id}/cancel", post(cancel))
        .route("/api/agent/v1/tasks/{task}/input", get(chunk_input))
        // The dashboard's own, with the session instead of a key.
        .route(
            "/api/ai/batches",
            post(|state: State<AppState>, SessionCaller(caller): SessionCaller, body: Bytes| {
                create(state, caller, body)
            })
            .get(|state: State<AppState>, SessionCaller(caller): SessionCaller, page: Query<Page>| {
                list(state, caller, page)
            }),
        )
        .route(
            "/api/ai/batches/{id}/cancel",
            post(|state: State<AppState>, SessionCaller(caller): SessionCaller, id: Path<String>| {
                cancel(state, caller, id)
            }),
        )
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "a batch request failed");
    ApiError::unavailable("the coordinator cannot handle batches right now; try again")
}

async fn create(State(state): State<AppState>, caller: Caller, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: CreateBatch = wire::parse(&body)?;
    let file = state
        .db
        .ai_file(caller.user, &request.input_file_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found("file", &request.input_file_id))?;
    if file.purpose != "batch" {
        return Err(ApiError::invalid(Some("input_file_id"), "the file was not uploaded with purpose \"batch\""));
    }
    let kind = if file.endpoint == "/v1/embeddings" { ModelKind::Embedding } else { ModelKind::Chat };
    let service = &state.services.ai;
    let model = service.model(&caller, &file.model, kind).await?;
    let batch = batches::create(
        &state.db,
        &state.engine,
        &state.store,
        caller.user,
        &model,
        &request,
        &file,
        &service.config,
        service.checker_share_percent,
        now_ms(),
    )
    .await?;
    tracing::info!(batch = %batch.id, lines = batch.lines, user = caller.user, "batch created");
    Ok(Json(batch_json(&batch)))
}

/// A batch of the caller's, its files written first if its job has ended.
async fn current(state: &AppState, caller: &Caller, id: &str) -> Result<Batch, ApiError> {
    let batch = state.db.ai_batch(caller.user, id).await.map_err(internal)?;
    let batch = batch.ok_or_else(|| ApiError::not_found("batch", id))?;
    if batch.finalized_at_ms.is_none() {
        batches::finalize(&state.db, &state.store, &batch, now_ms()).await.map_err(internal)?;
        return state.db.ai_batch(caller.user, id).await.map_err(internal)?.ok_or_else(ApiError::internal);
    }
    Ok(batch)
}

async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(batch_json(&current(&state, &caller, &id).await?)))
}

#[derive(Debug, Deserialize)]
struct Page {
    after: Option<String>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(Some("limit"), "limit must be between 1 and 100"));
    }
    let mut found = state.db.ai_batches(caller.user, page.after.as_deref(), limit + 1).await.map_err(internal)?;
    let has_more = found.len() as i64 > limit;
    found.truncate(limit as usize);
    let data: Vec<Value> = found.iter().map(batch_json).collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "first_id": found.first().map(|b| b.id.clone()),
        "last_id": found.last().map(|b| b.id.clone()),
        "has_more": has_more,
    })))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let batch = current(&state, &caller, &id).await?;
    if batches::status(&batch) != "in_progress" {
        return Err(ApiError::invalid(
            None,
            format!("a batch with status '{}' cannot be cancelled", batches::status(&batch)),
        ));
    }
    match state.engine.cancel_job(caller.user, batch.job, now_ms()).await {
        Ok(()) => tracing::info!(batch = %batch.id, "batch cancelled"),
        // It ended in between: it is answered as it is now.
        Err(crate::db::DbError::Conflict(_) | crate::db::DbError::NotFound(_)) => {}
        Err(error) => return Err(internal(error)),
    }
    Ok(Json(batch_json(&current(&state, &caller, &id).await?)))
}

/// The lines of a chunk, for the worker holding its lease.
async fn chunk_input(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path(task): Path<TaskId>,
    Query(query): Query<AttemptQuery>,
) -> Result<Response, TaskApiError> {
    let held = LeasedAttempt { task, attempt: query.attempt, node: node.id };
    if !state.db.holds_lease(held).await? {
        return Err(TaskApiError::LeaseLost);
    }
    let chunk = state.db.batch_chunk(task).await?.ok_or(TaskApiError::NotFound)?;
    let object = state
        .store
        .get(&ObjectPath::from(chunk.input_key.as_str()))
        .await
        .map_err(|error| TaskApiError::Internal(error.to_string()))?;
    let bytes = object.bytes().await.map_err(|error| TaskApiError::Internal(error.to_string()))?;
    Ok(([(CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Closes batches for ever: each ended one gets its output files, each overdue one is expired (its unfinished chunks
/// cancelled, what finished kept).
pub async fn close_batches(state: AppState) {
    loop {
        if let Err(error) = close_once(&state).await {
            tracing::warn!(%error, "closing batches failed; trying again");
        }
        tokio::select! {
            _ = tokio::time::sleep(CLOSE_EVERY) => {}
            _ = state.shutdown.cancelled() => return,
        }
    }
}

async fn close_once(state: &AppState) -> Result<(), String> {
    let (db, now) = (&state.db, now_ms());
    for (batch, job, owner) in db.overdue_batches(now).await.map_err(|e| e.to_string())? {
        if state.engine.expire_batch(&batch, owner, job, now).await.map_err(|e| e.to_string())? {
            tracing::info!(%batch, "batch expired: its completion window passed");
        }
    }
    for (id, user) in db.batches_to_close().await.map_err(|e| e.to_string())? {
        if let Some(batch) = db.ai_batch(user, &id).await.map_err(|e| e.to_string())? {
            batches::finalize(db, &state.store, &batch, now_ms()).await?;
        }
    }
    Ok(())
}
