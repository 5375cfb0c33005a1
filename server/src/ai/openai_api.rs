//! The OpenAI-compatible API: `/v1/models`, `/v1/chat/completions`, `/v1/completions` and `/v1/embeddings`, with
//! API keys as `Authorization: Bearer`, answers streamed as server-sent `data:` chunks ending with `[DONE]`.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::stream::{self, StreamExt};
use pictor_core::accounts::Viewer;
use pictor_core::ai::{CatalogueModel, ModelKind, Prompt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::openai_wire::{self as wire, ApiError};
use super::requests::{self, request_id};
use super::service::{AiService, Caller, Output, Work};
use crate::auth::tokens::{bearer, hash_secret};
use crate::clock::now_ms;
use crate::state::AppState;

/// Where the OpenAI API lives; the request guard leaves these paths to [`Caller`]'s own authentication.
pub const OPENAI_PREFIX: &str = "/v1/";

/// Outputs buffered between a worker and a slow caller.
const OUTPUT_BUFFER: usize = 32;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{id}", get(one_model))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .route(PLAYGROUND_PATH, post(playground))
}

/// The dashboard's Playground: a chat completion for the signed-in viewer (session cookie, same-origin), always
/// streamed, billed as an API request without a key.
pub const PLAYGROUND_PATH: &str = "/api/ai/playground";

async fn playground(State(state): State<AppState>, viewer: Option<Extension<Viewer>>, body: Bytes) -> Response {
    let Some(Extension(viewer)) = viewer else {
        return ApiError::unauthorized("please sign in first").into_response();
    };
    chat(State(state), Caller { user: viewer.user_id, key: None }, body).await
}

/// The signed-in dashboard viewer as a caller of the API (billed without a key): the dashboard's own routes under
/// `/api/ai/`, behind the session guard and its origin check.
pub struct SessionCaller(pub Caller);

impl FromRequestParts<AppState> for SessionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let viewer = parts.extensions.get::<Viewer>().ok_or_else(|| ApiError::unauthorized("please sign in first"))?;
        Ok(SessionCaller(Caller { user: viewer.user_id, key: None }))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let bearer = bearer(&parts.headers).ok_or_else(|| {
            ApiError::unauthorized("missing Authorization: Bearer <API key> (create one on the Account page)")
        })?;
        let key = ai(state).keys.key(&state.db, &hash_secret(bearer), now_ms()).await.map_err(|error| {
            tracing::error!(%error, "API key lookup failed");
            ApiError::unavailable("the coordinator cannot check API keys right now")
        })?;
        let key = key.ok_or_else(|| ApiError::unauthorized("incorrect or revoked API key"))?;
        Ok(Caller { user: key.user, key: Some(key) })
    }
}

fn ai(state: &AppState) -> &AiService {
    &state.services.ai
}

fn model_json(model: &CatalogueModel, warm_workers: usize) -> Value {
    json!({
        "id": model.id,
        "object": "model",
        "created": model.created_at_ms / 1000,
        "owned_by": model.owned_by,
        "kind": model.kind.as_str(),
        "context_length": model.context_length,
        "sha256": model.sha256,
        "pricing": {
            "input_micro_credits_per_million_tokens": model.input_price_micro_per_m,
            "output_micro_credits_per_million_tokens": model.output_price_micro_per_m,
        },
        "warm_workers": warm_workers,
    })
}

async fn list_models(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let models = state.db.ai_models_for(caller.user).await.map_err(|_| ApiError::internal())?;
    let gateway = &ai(&state).gateway;
    let data: Vec<Value> = models.iter().map(|m| model_json(m, gateway.warm_count(&m.id))).collect();
    Ok(Json(json!({ "object": "list", "data": data })))
}

async fn one_model(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let model = state.db.ai_model_for(caller.user, &id).await.map_err(|_| ApiError::internal())?;
    let model = model.ok_or_else(|| ApiError::unknown_model(&id))?;
    Ok(Json(model_json(&model, ai(&state).gateway.warm_count(&model.id))))
}

async fn chat(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let answer = async {
        let request: wire::ChatRequest = wire::parse(&body)?;
        let messages = requests::chat_messages(&request)?;
        let service = ai(&state);
        let model = service.model(&caller, &request.model, ModelKind::Chat).await?;
        let (work, most) = requests::chat_work(&request, messages, &model, service.config.default_max_tokens)?;
        let ticket = service.begin(&caller, request_id("chatcmpl"), model, work, most).await?;
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        Ok::<_, ApiError>(respond(service, ticket, request.stream, include_usage, Shape::Chat).await)
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

async fn completions(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let answer = async {
        let request: wire::CompletionRequest = wire::parse(&body)?;
        if request.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid(Some("n"), "only n = 1 is supported"));
        }
        let prompt = match &request.prompt {
            Value::String(text) => text.clone(),
            Value::Array(items) if items.len() == 1 && items[0].is_string() => {
                items[0].as_str().unwrap_or_default().to_string()
            }
            _ => return Err(ApiError::invalid(Some("prompt"), "'prompt' must be one string")),
        };
        if prompt.is_empty() {
            return Err(ApiError::invalid(Some("prompt"), "'prompt' is empty"));
        }
        let service = ai(&state);
        let model = service.model(&caller, &request.model, ModelKind::Chat).await?;
        // OpenAI's default for completions is 16 tokens.
        let sampling = requests::sampling(
            request.max_tokens,
            request.temperature,
            request.top_p,
            request.seed,
            16,
            model.context_length,
        )?;
        let most = (requests::prompt_bound(std::iter::once(prompt.len()), 0), u64::from(sampling.max_tokens));
        let work = Work::Generate { prompt: Prompt::Text(prompt), sampling, kind: "completion" };
        let ticket = service.begin(&caller, request_id("cmpl"), model, work, most).await?;
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        Ok(respond(service, ticket, request.stream, include_usage, Shape::Completion).await)
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

async fn embeddings(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let answer = async {
        let request: wire::EmbeddingRequest = wire::parse(&body)?;
        let (inputs, base64) = requests::embedding_inputs(&request)?;
        let service = ai(&state);
        let (model, sentence_vectors) = match service.model(&caller, &request.model, ModelKind::Embedding).await {
            Ok(model) => (model, false),
            // A text classifier fine-tuned here also answers its encoder's sentence vectors.
            Err(refused) => match service.model(&caller, &request.model, ModelKind::Classifier).await {
                Ok(model) if fine_tuned_text_encoder(&state, &model.sha256).await => (model, true),
                _ => return Err(refused),
            },
        };
        let most = requests::embedding_bound(&inputs);
        let work = Work::Embed { inputs, sentence_vectors };
        let ticket = service.begin(&caller, request_id("emb"), model, work, most).await?;
        Ok::<_, ApiError>(respond(service, ticket, false, false, Shape::Embedding { base64 }).await)
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

/// Whether a classifier's weights are a fine-tuned text encoder's (their header says the text template).
async fn fine_tuned_text_encoder(state: &AppState, sha256: &str) -> bool {
    let header = super::trained_header::trained_header(state, sha256).await;
    header.template == Some(pictor_core::ai_training::TrainingTemplate::TextClassifier)
}

/// Which response a request gets.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Chat,
    Completion,
    Embedding { base64: bool },
}

/// Serves the ticket and answers: one JSON body, or a stream of chunks.
async fn respond(
    service: &AiService,
    ticket: super::service::Ticket,
    stream: bool,
    usage: bool,
    shape: Shape,
) -> Response {
    let (id, model) = (ticket.id.clone(), ticket.model.id.clone());
    let (out, mut outputs) = mpsc::channel(OUTPUT_BUFFER);
    let serving = service.clone();
    tokio::spawn(async move { serving.serve(ticket, out, !stream).await });
    let created = now_ms() / 1000;
    if !stream {
        return whole_answer(&mut outputs, &id, &model, created, shape).await;
    }
    // The status is decided by the first output: a request no worker took is a plain error, not an empty stream.
    let first = match outputs.recv().await {
        Some(Output::Failed(error)) => return error.into_response(),
        Some(first) => first,
        None => return ApiError::internal().into_response(),
    };
    let chunks = Chunks { id, model, created, shape, usage };
    let events = stream::iter(chunks.of(first))
        .chain(ReceiverStream::new(outputs).flat_map(move |output| stream::iter(chunks.of(output))))
        .map(Ok::<Event, Infallible>);
    Sse::new(events).into_response()
}

/// Collects a request's outputs into one OpenAI response body.
async fn whole_answer(
    outputs: &mut mpsc::Receiver<Output>,
    id: &str,
    model: &str,
    created: i64,
    shape: Shape,
) -> Response {
    let mut text = String::new();
    while let Some(output) = outputs.recv().await {
        match output {
            Output::Started { .. } => text.clear(),
            Output::Token { text: piece } => text.push_str(&piece),
            Output::Failed(error) => return error.into_response(),
            Output::Finished { finish_reason, prompt_tokens, completion_tokens, cost_micro, .. } => {
                let usage = wire::usage(u64::from(prompt_tokens), u64::from(completion_tokens), cost_micro);
                let body = match shape {
                    Shape::Chat => requests::chat_body(id, model, created, &text, &finish_reason, usage),
                    _ => json!({
                        "id": id, "object": "text_completion", "created": created, "model": model,
                        "system_fingerprint": requests::FINGERPRINT,
                        "choices": [{ "index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason }],
                        "usage": usage,
                    }),
                };
                return Json(body).into_response();
            }
            Output::Embedded { vectors, prompt_tokens } => {
                let base64 = matches!(shape, Shape::Embedding { base64: true });
                return Json(requests::embedding_body(&vectors, model, prompt_tokens, base64)).into_response();
            }
        }
    }
    ApiError::internal().into_response()
}

/// Turns outputs into server-sent events in OpenAI's chunk format.
#[derive(Clone)]
struct Chunks {
    id: String,
    model: String,
    created: i64,
    shape: Shape,
    usage: bool,
}

impl Chunks {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        match self.shape {
            Shape::Chat => json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": requests::FINGERPRINT,
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
            }),
            _ => json!({
                "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "system_fingerprint": requests::FINGERPRINT,
                "choices": [{ "index": 0, "text": delta.get("content").cloned().unwrap_or(json!("")),
                              "logprobs": null, "finish_reason": finish_reason }],
            }),
        }
    }

    fn of(&self, output: Output) -> Vec<Event> {
        let data = |value: Value| Event::default().data(value.to_string());
        match output {
            Output::Started { .. } => match self.shape {
                Shape::Chat => vec![data(self.chunk(json!({ "role": "assistant", "content": "" }), None))],
                _ => Vec::new(),
            },
            Output::Token { text } if text.is_empty() => Vec::new(),
            Output::Token { text } => vec![data(self.chunk(json!({ "content": text }), None))],
            Output::Finished { finish_reason, prompt_tokens, completion_tokens, cost_micro, worker_first_token_ms } => {
                let mut events = vec![data(self.chunk(json!({}), Some(&finish_reason)))];
                if self.usage {
                    let object = match self.shape {
                        Shape::Chat => "chat.completion.chunk",
                        _ => "text_completion",
                    };
                    let mut usage = wire::usage(u64::from(prompt_tokens), u64::from(completion_tokens), cost_micro);
                    // Pictor's own addition beside cost: how long the worker itself took to its first token.
                    usage["worker_first_token_ms"] = json!(worker_first_token_ms);
                    events.push(data(json!({
                        "id": self.id, "object": object, "created": self.created, "model": self.model,
                        "choices": [],
                        "usage": usage,
                    })));
                }
                events.push(Event::default().data("[DONE]"));
                events
            }
            // After tokens were sent the status is 200 already: the error travels as the stream's last event.
            Output::Failed(error) => vec![data(error.body())],
            Output::Embedded { .. } => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_stream_ends_with_usage_then_done() {
        let chunks = Chunks { id: "c".into(), model: "m".into(), created: 1, shape: Shape::Chat, usage: true };
        let events = chunks.of(Output::Finished {
            finish_reason: "stop".into(),
            prompt_tokens: 3,
            completion_tokens: 2,
            cost_micro: 1,
            worker_first_token_ms: Some(40),
        });
        assert_eq!(events.len(), 3);
        assert!(format!("{:?}", events[1]).contains("worker_first_token_ms"), "{events:?}");
        let chunks = Chunks { usage: false, ..chunks };
        assert_eq!(chunks.of(Output::Token { text: String::new() }).len(), 0);
        assert_eq!(chunks.of(Output::Started { prompt_tokens: 1 }).len(), 1);
    }
}
