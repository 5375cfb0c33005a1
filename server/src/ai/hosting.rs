//! Hosted models over HTTP: files uploaded under their SHA-256, a model made of them once validated (headers,
//! architecture, no pickle), its deployment (prices, warm workers, requirements), and the workers' download of it.

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Extension, Json, Router};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use pictor_app::AppError;
use pictor_core::accounts::Viewer;
use pictor_core::ai::{
    model_file_names, valid_model_id, Deployment, HostedModel, ModelFile, ModelKind, NewHostedModel, UploadedModelFile,
    NETWORK_MODELS,
};
use tokio::io::AsyncWriteExt;

use crate::api::workers::RestError;
use crate::clock::now_ms;
use crate::config::AiConfig;
use crate::db::ai::NewModel;
use crate::nodes::agent_auth::AgentNode;
use crate::render::blobs::{self, UploadError};
use crate::state::AppState;

pub const MODEL_FILES_PATH: &str = "/api/v1/ai/files";

pub fn router() -> Router<AppState> {
    Router::new()
        // Model files are large: the body is bounded by `[ai] max_model_bytes` while it streams, not up front.
        .route(MODEL_FILES_PATH, put(upload_file).layer(DefaultBodyLimit::disable()))
        .route("/api/v1/ai/models", get(list).post(create))
        .route("/api/v1/ai/models/{id}", delete(remove))
        .route("/api/v1/ai/models/{id}/deployment", put(deploy))
        .route("/api/agent/ai/models/{id}/files/{name}", get(worker_download))
}

/// Where an uploaded file lives in the object store.
pub fn file_key(sha256: &str) -> String {
    format!("models/files/{sha256}")
}

fn db_error(error: crate::db::DbError) -> RestError {
    crate::api::errors::app_error("hosted model", error).into()
}

/// `PUT /api/v1/ai/files` with one file of a model as the body: streamed into the store under its SHA-256.
async fn upload_file(
    State(state): State<AppState>,
    Extension(_viewer): Extension<Viewer>,
    body: Body,
) -> Result<(StatusCode, Json<UploadedModelFile>), RestError> {
    let staging = format!("uploads/{}", uuid::Uuid::new_v4().simple());
    let limit = state.services.ai.config.max_model_bytes;
    let stored =
        blobs::store(state.store.as_ref(), &staging, body, limit, None, file_key).await.map_err(
            |error| match error {
                UploadError::Store(store) => {
                    tracing::error!(error = %store, "storing a model file failed");
                    RestError::from(AppError::Unavailable)
                }
                too_large @ UploadError::TooLarge { .. } => RestError::from(AppError::TooLarge(too_large.to_string())),
                refused => RestError::from(AppError::BadRequest(refused.to_string())),
            },
        )?;
    // Refused at once when it is plainly a pickle; everything else is checked when a model is made of it.
    let path = ObjectPath::from(stored.key.as_str());
    let head = state.store.get_range(&path, 0..8.min(stored.bytes)).await.map_err(|_| AppError::Unavailable)?;
    if let Err(refused) = pictor_inference::validate::refuse_pickle(&head) {
        forget_file(&state, &stored.sha256).await;
        return Err(AppError::BadRequest(refused.to_string()).into());
    }
    Ok((StatusCode::CREATED, Json(UploadedModelFile { sha256: stored.sha256, bytes: stored.bytes })))
}

/// Deletes an uploaded file unless a model is made of it.
async fn forget_file(state: &AppState, sha256: &str) {
    if state.db.model_file_in_use(sha256).await.unwrap_or(true) {
        return;
    }
    let _ = state.store.delete(&ObjectPath::from(file_key(sha256).as_str())).await;
}

/// `GET /api/v1/ai/models`: the caller's uploaded models, their deployments and the workers holding them.
async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Json<Vec<HostedModel>>, RestError> {
    Ok(Json(state.services.ai.hosted_models(viewer.user_id).await.map_err(db_error)?))
}

/// What validation found in a model's files.
struct Checked {
    context_length: i64,
}

/// Copies the model's files from the store into a scratch folder under their model names and checks them there.
async fn check_files(state: &AppState, kind: ModelKind, files: &[ModelFile]) -> Result<Checked, RestError> {
    let scratch = tempfile::tempdir().map_err(|_| AppError::Unavailable)?;
    for file in files {
        let object = state.store.get(&ObjectPath::from(file_key(&file.sha256).as_str())).await.map_err(|_| {
            AppError::BadRequest(format!(
                "{} ({}) was not uploaded: PUT it to {MODEL_FILES_PATH} first",
                file.name, file.sha256
            ))
        })?;
        let mut out =
            tokio::fs::File::create(scratch.path().join(&file.name)).await.map_err(|_| AppError::Unavailable)?;
        let mut stream = object.into_stream();
        while let Some(chunk) = stream.try_next().await.map_err(|_| AppError::Unavailable)? {
            out.write_all(&chunk).await.map_err(|_| AppError::Unavailable)?;
        }
        out.flush().await.map_err(|_| AppError::Unavailable)?;
    }
    let folder = scratch.path().to_path_buf();
    let checked = tokio::task::spawn_blocking(move || match kind {
        ModelKind::Chat => pictor_inference::validate::gguf_chat_model(&folder.join("model.gguf"))
            .map(|summary| Checked { context_length: i64::from(summary.context_length) }),
        ModelKind::Embedding => pictor_inference::validate::bert_embedding_model(&folder)
            .map(|summary| Checked { context_length: summary.max_input_tokens as i64 }),
        // A pixel classifier's "context" is its number of pixels; a text classifier's the tokens it reads.
        ModelKind::Classifier => {
            pictor_inference::validate::trained_classifier(&folder.join("model.safetensors")).map(|summary| Checked {
                context_length: match summary.template {
                    pictor_core::ai_training::TrainingTemplate::PixelClassifier => summary.inputs as i64,
                    pictor_core::ai_training::TrainingTemplate::TextClassifier => {
                        pictor_inference::training::MAX_TEXT_TOKENS as i64
                    }
                },
            })
        }
    })
    .await
    .map_err(|_| AppError::Unavailable)?;
    drop(scratch);
    checked.map_err(|refused| AppError::BadRequest(format!("the model was refused: {refused}")).into())
}

/// `POST /api/v1/ai/models`: a model made of files uploaded before, accepted once they pass validation.
async fn create(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<NewHostedModel>, JsonRejection>,
) -> Result<(StatusCode, Json<HostedModel>), RestError> {
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(register(&state, viewer.user_id, &request).await?)))
}

/// Makes a model of files uploaded before (or put in place by a training run), once they pass validation.
pub async fn register(
    state: &AppState,
    owner: crate::db::users::UserId,
    request: &NewHostedModel,
) -> Result<HostedModel, RestError> {
    valid_model_id(&request.id).map_err(AppError::BadRequest)?;
    if NETWORK_MODELS.iter().any(|model| model.id == request.id) {
        return Err(AppError::BadRequest(format!("'{}' is one of the network's own models", request.id)).into());
    }
    let names = model_file_names(request.kind);
    let given: Vec<&str> = request.files.keys().map(String::as_str).collect();
    let mut wanted: Vec<&str> = names.to_vec();
    wanted.sort_unstable();
    if given != wanted {
        return Err(AppError::BadRequest(format!(
            "a {} model is made of exactly these files: {}",
            request.kind.as_str(),
            names.join(", ")
        ))
        .into());
    }
    let mut files = Vec::new();
    for name in names {
        let sha256 = request.files.get(*name).map(|sha| sha.to_ascii_lowercase()).unwrap_or_default();
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(
                AppError::BadRequest(format!("{name}: expected the SHA-256 {MODEL_FILES_PATH} answered")).into()
            );
        }
        let meta = state.store.head(&ObjectPath::from(file_key(&sha256).as_str())).await;
        let bytes = match meta {
            Ok(meta) => meta.size,
            Err(_) => {
                return Err(AppError::BadRequest(format!(
                    "{name} ({sha256}) was not uploaded: PUT it to {MODEL_FILES_PATH} first"
                ))
                .into())
            }
        };
        files.push(ModelFile { name: (*name).to_string(), sha256, bytes });
    }
    let checked = check_files(state, request.kind, &files).await?;
    let config = &state.services.ai.config;
    let (input, output) = match request.kind {
        ModelKind::Chat => {
            (AiConfig::price_micro(&config.chat_input_price), AiConfig::price_micro(&config.chat_output_price))
        }
        ModelKind::Embedding | ModelKind::Classifier => (AiConfig::price_micro(&config.embedding_price), 0),
    };
    let weights = &files[0];
    let model = NewModel {
        id: request.id.clone(),
        kind: request.kind,
        owner: Some(owner),
        public: request.public,
        sha256: weights.sha256.clone(),
        bytes: files.iter().map(|f| f.bytes as i64).sum(),
        context_length: checked.context_length,
        input_price_micro_per_m: input,
        output_price_micro_per_m: output,
    };
    if !state.db.add_hosted_model(&model, &files, now_ms()).await.map_err(db_error)? {
        return Err(AppError::BadRequest(format!("the name '{}' is taken; choose another", request.id)).into());
    }
    let owned = state.services.ai.hosted_models(owner).await.map_err(db_error)?;
    Ok(owned.into_iter().find(|hosted| hosted.model.id == request.id).ok_or(AppError::NotFound)?)
}

/// `DELETE /api/v1/ai/models/{id}`: removes one of the caller's models; workers drop it and its files go.
async fn remove(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
) -> Result<StatusCode, RestError> {
    let files = state.db.delete_hosted_model(viewer.user_id, &id).await.map_err(db_error)?;
    state.services.ai.gateway.unload_surplus(&id, 0);
    for file in files {
        forget_file(&state, &file.sha256).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/ai/models/{id}/deployment`: prices, warm minimum, maximum and requirements of the caller's model.
async fn deploy(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<String>,
    body: Result<Json<Deployment>, JsonRejection>,
) -> Result<Json<Deployment>, RestError> {
    let Json(mut deployment) = body?;
    deployment.model = id;
    Ok(Json(set_deployment(&state, viewer.user_id, deployment).await?))
}

/// Stores an owner's deployment of a model and places it on workers at once.
pub async fn set_deployment(
    state: &AppState,
    owner: crate::db::users::UserId,
    deployment: Deployment,
) -> Result<Deployment, RestError> {
    deployment.validate().map_err(AppError::BadRequest)?;
    state.db.set_deployment(owner, &deployment, now_ms()).await.map_err(db_error)?;
    // Placed now rather than at the next round, so the owner sees workers loading it straight away.
    if let Err(error) = super::placement::place(&state.db, &state.services.ai.gateway, &deployment).await {
        tracing::warn!(%error, model = %deployment.model, "placing a new deployment failed; the loop will retry");
    }
    Ok(deployment)
}

/// `GET /api/agent/ai/models/{id}/files/{name}`: a file of a model this worker was asked to load (or holds).
async fn worker_download(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, RestError> {
    // A private model's files go only to the workers the coordinator chose for it, to checkers replaying it, and to
    // workers running a chunk of a batch on it.
    let chosen = state.services.ai.gateway.was_asked_to_hold(node.id, &id)
        || state.db.checker_leases_model(node.id, &id, now_ms()).await.map_err(db_error)?
        || state.db.node_runs_batch_of(node.id, &id).await.map_err(db_error)?;
    if !chosen {
        return Err(AppError::NotFound.into());
    }
    let spec = state.db.load_spec(&id).await.map_err(db_error)?.ok_or(AppError::NotFound)?;
    let file = spec.files.iter().find(|file| file.name == name).ok_or(AppError::NotFound)?;
    let object =
        state.store.get(&ObjectPath::from(file_key(&file.sha256).as_str())).await.map_err(|_| AppError::Unavailable)?;
    let mut headers = HeaderMap::new();
    if let Ok(value) = file.sha256.parse() {
        headers.insert("x-pictor-sha256", value);
    }
    if let Ok(value) = object.meta.size.to_string().parse() {
        headers.insert(axum::http::header::CONTENT_LENGTH, value);
    }
    let stream = object.into_stream().map_err(std::io::Error::other);
    Ok((headers, Body::from_stream(stream)).into_response())
}
