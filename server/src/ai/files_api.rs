//! OpenAI's Files API for batch input: `POST /v1/files` (multipart, purpose `batch`, JSONL checked line by line as it
//! streams into the object store — a bad file is refused with its line numbers and nothing is kept), then list,
//! describe, download and delete.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::TryStreamExt;
use object_store::WriteMultipart;
use serde_json::{json, Value};

use super::batch_lines::BatchLines;
use super::file_store::file_key;
use super::openai_api::SessionCaller;
use super::openai_wire::ApiError;
use super::service::Caller;
use crate::clock::now_ms;
use crate::db::ai_files::AiFile;
use crate::state::AppState;

/// The largest batch input file (OpenAI's limit).
pub const MAX_BATCH_FILE_BYTES: u64 = 200 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        // Multipart bodies are bounded by MAX_BATCH_FILE_BYTES as they stream, not by the default limit.
        .route("/v1/files", post(upload).get(list).layer(DefaultBodyLimit::disable()))
        .route("/v1/files/{id}", get(describe).delete(remove))
        .route("/v1/files/{id}/content", get(content))
        // The dashboard's own, with the session instead of a key.
        .route(
            "/api/ai/files",
            post(|state: State<AppState>, SessionCaller(caller): SessionCaller, form: Multipart| {
                upload(state, caller, form)
            })
            .layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/ai/files/{id}/content",
            get(|state: State<AppState>, SessionCaller(caller): SessionCaller, id: Path<String>| {
                content(state, caller, id)
            }),
        )
}

/// A file as OpenAI describes it.
fn file_json(file: &AiFile) -> Value {
    json!({
        "id": file.id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": file.created_at_ms / 1000,
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "status_details": null,
    })
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "the Files API failed");
    ApiError::unavailable("the coordinator cannot store files right now; try again")
}

/// `POST /v1/files` with `purpose` and `file` (multipart, in either order).
async fn upload(State(state): State<AppState>, caller: Caller, mut form: Multipart) -> Result<Json<Value>, ApiError> {
    let id = format!("file-{}", uuid::Uuid::new_v4().simple());
    let mut purpose = None;
    let mut stored: Option<(String, u64, Result<super::batch_lines::BatchSummary, Vec<String>>)> = None;
    while let Some(mut field) = form.next_field().await.map_err(|e| ApiError::invalid(None, e.body_text()))? {
        match field.name() {
            Some("purpose") => purpose = Some(field.text().await.map_err(|e| ApiError::invalid(None, e.body_text()))?),
            Some("file") => {
                let filename = field.file_name().unwrap_or("input.jsonl").chars().take(255).collect::<String>();
                let upload = state.store.put_multipart(&file_key(&id)).await.map_err(internal)?;
                let mut writer = WriteMultipart::new(upload);
                let (mut lines, mut bytes) = (BatchLines::default(), 0u64);
                let failure = loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) => {
                            bytes += chunk.len() as u64;
                            if bytes > MAX_BATCH_FILE_BYTES {
                                break Some(ApiError::invalid(
                                    Some("file"),
                                    format!("the file is larger than {MAX_BATCH_FILE_BYTES} bytes"),
                                ));
                            }
                            lines.push(&chunk);
                            writer.write(&chunk);
                        }
                        Ok(None) => break None,
                        Err(error) => break Some(ApiError::invalid(Some("file"), error.body_text())),
                    }
                };
                if let Some(error) = failure {
                    let _ = writer.abort().await;
                    return Err(error);
                }
                writer.finish().await.map_err(internal)?;
                stored = Some((filename, bytes, lines.finish()));
            }
            _ => {}
        }
    }
    let forget = || async { state.store.delete(&file_key(&id)).await.ok() };
    let Some((filename, bytes, checked)) = stored else {
        return Err(ApiError::invalid(Some("file"), "the form has no file"));
    };
    if purpose.as_deref() != Some("batch") {
        forget().await;
        return Err(ApiError::invalid(
            Some("purpose"),
            "purpose must be \"batch\" (the only kind of file Pictor keeps)",
        ));
    }
    let summary = match checked {
        Ok(summary) => summary,
        Err(errors) => {
            forget().await;
            return Err(ApiError::invalid(
                Some("file"),
                format!("the batch file has bad lines: {}", errors.join("; ")),
            ));
        }
    };
    let file = AiFile {
        id: id.clone(),
        user: caller.user,
        purpose: "batch".into(),
        filename,
        bytes: bytes as i64,
        lines: summary.lines as i64,
        endpoint: summary.endpoint,
        model: summary.model,
        created_at_ms: now_ms(),
    };
    if let Err(error) = state.db.add_ai_file(&file).await {
        forget().await;
        return Err(internal(error));
    }
    Ok(Json(file_json(&file)))
}

async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let files = state.db.ai_files(caller.user).await.map_err(internal)?;
    Ok(Json(json!({ "object": "list", "data": files.iter().map(file_json).collect::<Vec<_>>(), "has_more": false })))
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<AiFile, ApiError> {
    state.db.ai_file(caller.user, id).await.map_err(internal)?.ok_or_else(|| ApiError::not_found("file", id))
}

async fn describe(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(file_json(&owned(&state, &caller, &id).await?)))
}

/// The file's bytes as uploaded, streamed from the store.
async fn content(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let file = owned(&state, &caller, &id).await?;
    let object = state.store.get(&file_key(&file.id)).await.map_err(internal)?;
    let stream = object.into_stream().map_err(std::io::Error::other);
    Ok(([(CONTENT_TYPE, "application/jsonl")], Body::from_stream(stream)).into_response())
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let file = owned(&state, &caller, &id).await?;
    state.db.delete_ai_file(caller.user, &file.id).await.map_err(internal)?;
    let _ = state.store.delete(&file_key(&file.id)).await;
    Ok(Json(json!({ "id": file.id, "object": "file", "deleted": true })))
}
