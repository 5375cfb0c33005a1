//! `/api/v1/scenes` and `/api/v1/jobs`: upload a scene, submit a job, list, inspect and cancel jobs (session or API
//! key; the same rules the pages follow).

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::jobs::{AttemptView, JobDetails, JobForm, JobSpec, JobSummary, Split};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::blobs::{self, UploadError};
use crate::api::workers::RestError;
use crate::clock::now_ms;
use crate::db::job_lifecycle::{NewJob, NewTask};
use crate::db::{DbError, JobId, TaskId};
use crate::state::AppState;
use pictor_core::workloads::WorkloadKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/scenes", put(upload_scene))
        .route("/api/v1/jobs", get(list).post(submit))
        .route("/api/v1/jobs/{id}", get(details))
        .route("/api/v1/jobs/{id}/cancel", post(cancel))
        .route("/api/v1/jobs/{id}/frames/{frame}", get(frame_output))
        .route("/api/v1/jobs/{id}/rerender", post(rerender))
        .route("/api/v1/jobs/{id}/tasks/{task}/attempts", get(attempts))
        .route("/api/v1/jobs/{id}/outputs.zip", get(super::archive::outputs_zip))
}

fn db_error(error: DbError) -> RestError {
    crate::api::errors::app_error("job", error).into()
}

#[derive(Debug, Serialize, Deserialize)]
pub struct UploadedScene {
    pub scene_key: String,
    pub sha256: String,
    pub bytes: u64,
}

/// A `.blend` starts with `BLENDER`, or is gzip- (older) or zstd-compressed (Blender 3.0+).
fn looks_like_blend(head: &[u8]) -> bool {
    head.starts_with(b"BLENDER") || head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
}

/// `PUT /api/v1/scenes` with the `.blend` as the body: streamed into the store under its SHA-256.
async fn upload_scene(
    State(state): State<AppState>,
    Extension(_viewer): Extension<Viewer>,
    body: Body,
) -> Result<(StatusCode, Json<UploadedScene>), RestError> {
    let staging = format!("uploads/{}", uuid::Uuid::new_v4().simple());
    let stored = blobs::store(state.store.as_ref(), &staging, body, state.max_scene_bytes, None, |sha| {
        format!("scenes/{sha}.blend")
    })
    .await
    .map_err(|error| match error {
        UploadError::Store(store) => {
            tracing::error!(error = %store, "storing a scene failed");
            RestError::from(AppError::Unavailable)
        }
        too_large @ UploadError::TooLarge { .. } => RestError::from(AppError::TooLarge(too_large.to_string())),
        refused => RestError::from(AppError::BadRequest(refused.to_string())),
    })?;
    let path = ObjectPath::from(stored.key.as_str());
    let head = state.store.get_range(&path, 0..12.min(stored.bytes)).await.map_err(|_| AppError::Unavailable)?;
    if !looks_like_blend(&head) {
        let _ = state.store.delete(&path).await;
        return Err(AppError::BadRequest("this is not a .blend file".into()).into());
    }
    Ok((StatusCode::CREATED, Json(UploadedScene { scene_key: stored.key, sha256: stored.sha256, bytes: stored.bytes })))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SubmitJob {
    pub scene_key: String,
    pub form: JobForm,
}

/// The tasks a validated job splits into: frame chunks, or tiles of one frame.
pub fn tasks_of(spec: &JobSpec) -> Vec<NewTask> {
    match &spec.split {
        Split::Frames { frames, chunk_size } => frames
            .chunks(*chunk_size as usize)
            .map(|chunk| NewTask {
                frames: chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(","),
                tile_index: None,
            })
            .collect(),
        Split::Tiles { frame, tiles } => {
            (0..i64::from(*tiles)).map(|index| NewTask { frames: frame.to_string(), tile_index: Some(index) }).collect()
        }
    }
}

async fn submit(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<SubmitJob>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), RestError> {
    let Json(request) = body?;
    let spec = match request.form.validate() {
        Ok(spec) => spec,
        Err(errors) => {
            let text = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
            return Err(AppError::BadRequest(text).into());
        }
    };
    // Only scenes uploaded here, by their content address: no path of the caller's choosing reaches the store.
    let sha = request.scene_key.strip_prefix("scenes/").and_then(|rest| rest.strip_suffix(".blend")).unwrap_or("");
    if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(AppError::BadRequest("scene_key must be a key returned by PUT /api/v1/scenes".into()).into());
    }
    if state.store.head(&ObjectPath::from(request.scene_key.as_str())).await.is_err() {
        return Err(AppError::BadRequest("no such scene: upload it first".into()).into());
    }
    let estimate = super::estimate::estimate(&state.db, &spec).await.map_err(db_error)?;
    let job = NewJob {
        owner: viewer.user_id,
        kind: WorkloadKind::Render,
        name: spec.name.clone(),
        spec_json: serde_json::to_string(&spec).map_err(|_| AppError::Unavailable)?,
        scene_key: request.scene_key.clone(),
        scene_sha256: sha.to_ascii_lowercase(),
        tier_rank: spec.tier as i64,
        engine: spec.engine.label().to_ascii_lowercase(),
        max_price_micro_per_minute: spec.tier.max_price_micro_per_minute(),
        min_vram_bytes: i64::from(spec.min_vram_gib) << 30,
        gpu_model: spec.gpu_model.clone(),
        tags: spec.tags.clone(),
        max_attempts: 3,
        max_task_ms: spec.max_task_minutes.map(|minutes| i64::from(minutes) * 60_000),
        tasks: tasks_of(&spec),
        // The creator's cap if set (the job never spends more), else the estimate; topped up from credit as needed.
        escrow_micro: spec.budget_micro.unwrap_or(estimate.total_micro),
        estimate_micro: estimate.total_micro,
        estimate_source: estimate.source.clone(),
        budget_micro: spec.budget_micro,
        checker_share_percent: i64::from(state.ledger.checker_share_percent),
    };
    let id = state.engine.create_job(&job, now_ms()).await.map_err(db_error)?;
    tracing::info!(job = %id, tasks = job.tasks.len(), "job submitted");
    Ok((StatusCode::CREATED, Json(json!({ "job_id": id, "tasks": job.tasks.len() }))))
}

async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Json<Vec<JobSummary>>, RestError> {
    Ok(Json(state.db.jobs_of(viewer.user_id).await.map_err(db_error)?))
}

async fn details(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<JobId>,
) -> Result<Json<JobDetails>, RestError> {
    let job = state.db.job_of(viewer.user_id, id).await.map_err(db_error)?;
    Ok(Json(job.ok_or(AppError::NotFound)?))
}

async fn cancel(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<JobId>,
) -> Result<StatusCode, RestError> {
    state.engine.cancel_job(viewer.user_id, id, now_ms()).await.map_err(db_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every attempt at one task: who, when, how it ended, the error and Blender's log.
async fn attempts(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path((id, task)): Path<(JobId, TaskId)>,
) -> Result<Json<Vec<AttemptView>>, RestError> {
    let attempts = state.db.task_attempts(viewer.user_id, id, task).await.map_err(db_error)?;
    Ok(Json(attempts.ok_or(AppError::NotFound)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rerender {
    /// The tasks to render again; absent: every failed task.
    #[serde(default)]
    pub tasks: Option<Vec<i64>>,
}

async fn rerender(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
    body: Result<Json<Rerender>, JsonRejection>,
) -> Result<Json<serde_json::Value>, RestError> {
    use pictor_app::ports::JobService;
    let Json(request) = body?;
    let service = &state.services.jobs;
    let requeued = service.rerender(&viewer, id, request.tasks).await?;
    Ok(Json(json!({ "requeued": requeued })))
}

/// The rendered image of one frame, streamed from the store.
async fn frame_output(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path((id, frame)): Path<(JobId, i64)>,
) -> Result<axum::response::Response, RestError> {
    use axum::response::IntoResponse;
    use futures::TryStreamExt;
    let job = state.db.job_of(viewer.user_id, id).await.map_err(db_error)?.ok_or(AppError::NotFound)?;
    if let Split::Tiles { tiles: count, .. } = job.spec.split {
        return stitched_frame(&state, viewer.user_id, id, frame, &job.spec, count).await;
    }
    let key = state.db.frame_output(viewer.user_id, id, frame).await.map_err(db_error)?.ok_or(AppError::NotFound)?;
    let object = state.store.get(&ObjectPath::from(key.as_str())).await.map_err(|error| {
        tracing::error!(%error, key, "reading an output failed");
        RestError::from(AppError::Unavailable)
    })?;
    let content_type = match key.rsplit('.').next() {
        Some("png") => "image/png",
        Some("jpg") => "image/jpeg",
        _ => "application/octet-stream",
    };
    let stream = object.into_stream().map_err(std::io::Error::other);
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], Body::from_stream(stream)).into_response())
}

/// A tiled frame, stitched from its tiles' renders (PNG or JPEG outputs; OpenEXR tiles are downloaded as they are).
async fn stitched_frame(
    state: &AppState,
    owner: i64,
    job: JobId,
    frame: i64,
    spec: &JobSpec,
    count: u32,
) -> Result<axum::response::Response, RestError> {
    use axum::response::IntoResponse;
    if spec.format == pictor_core::jobs::OutputFormat::OpenExr {
        return Err(AppError::BadRequest("OpenEXR tiles are not stitched: download them in the zip".into()).into());
    }
    let outputs = state.db.job_outputs(owner, job).await.map_err(db_error)?.ok_or(AppError::NotFound)?;
    let mut renders: Vec<Option<Vec<u8>>> = vec![None; count as usize];
    for output in outputs.iter().filter(|output| output.frame == frame) {
        let Some(slot) = output.tile_index.and_then(|tile| renders.get_mut(usize::try_from(tile).ok()?)) else {
            continue;
        };
        let path = ObjectPath::from(output.object_key.as_str());
        let bytes = async { state.store.get(&path).await?.bytes().await }.await.map_err(|error| {
            tracing::error!(%error, "reading a tile failed");
            RestError::from(AppError::Unavailable)
        })?;
        *slot = Some(bytes.to_vec());
    }
    if renders.iter().all(Option::is_none) {
        return Err(AppError::NotFound.into());
    }
    let (width, height) = spec.output_size();
    let grid = pictor_core::jobs::tiles(width, height, count);
    let png = tokio::task::spawn_blocking(move || {
        super::stitch::stitch(width, height, &grid, &renders).and_then(|frame| super::stitch::encode_png(&frame))
    })
    .await
    .map_err(|_| RestError::from(AppError::Unavailable))?
    .map_err(|error| RestError::from(AppError::BadRequest(error.to_string())))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blend_files_are_recognised_compressed_or_not() {
        assert!(looks_like_blend(b"BLENDER-v304"));
        assert!(looks_like_blend(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0]));
        assert!(!looks_like_blend(b"<html>"));
    }

    #[test]
    fn frame_jobs_split_into_chunks_and_tiled_jobs_into_tiles() {
        let form = JobForm {
            name: "cube".into(),
            frames: "1-5".into(),
            chunk_size: "2".into(),
            resolution_x: "64".into(),
            resolution_y: "64".into(),
            resolution_percent: "100".into(),
            samples: "4".into(),
            engine: "Cycles".into(),
            format: "PNG".into(),
            tier: "Standard".into(),
            ..JobForm::default()
        };
        let frames: Vec<String> = tasks_of(&form.validate().expect("valid")).into_iter().map(|t| t.frames).collect();
        assert_eq!(frames, vec!["1,2", "3,4", "5"]);
        let tiled = JobForm { frames: "3".into(), tiles: "4".into(), ..form };
        let tasks = tasks_of(&tiled.validate().expect("valid"));
        assert_eq!(tasks.len(), 4);
        assert!(tasks.iter().all(|task| task.frames == "3") && tasks[3].tile_index == Some(3));
    }
}
