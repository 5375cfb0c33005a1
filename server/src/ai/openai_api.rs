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
use pictor_core::ai::{CatalogueModel, ModelKind, Prompt, Sampling};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::openai_wire::{self as wire, ApiError};
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

/// Sampling from the request's fields, checked as OpenAI checks them.
fn sampling(
    max_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<u64>,
    default_max_tokens: u32,
    context_length: i64,
) -> Result<Sampling, ApiError> {
    let max_tokens = max_tokens.unwrap_or(default_max_tokens);
    if max_tokens == 0 || i64::from(max_tokens) >= context_length {
        return Err(ApiError::invalid(
            Some("max_tokens"),
            format!("max_tokens must be between 1 and {}", context_length - 1),
        ));
    }
    let temperature = temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(Some("temperature"), "temperature must be between 0 and 2"));
    }
    if top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
        return Err(ApiError::invalid(Some("top_p"), "top_p must be above 0 and at most 1"));
    }
    // The seed is always recorded, so a checker can replay the very same draw.
    Ok(Sampling { max_tokens, temperature, top_p: top_p.filter(|p| *p < 1.0), seed: seed.unwrap_or_else(rand::random) })
}

fn request_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// An upper bound of a prompt's tokens (byte-level BPE makes at least one byte per token), for the reservation.
fn prompt_bound(texts: impl Iterator<Item = usize>, turns: usize) -> u64 {
    // The chat template's own tokens and a default system prompt.
    (texts.sum::<usize>() + turns * 8 + 64) as u64
}

async fn chat(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let answer = async {
        let request: wire::ChatRequest = wire::parse(&body)?;
        if request.n.is_some_and(|n| n != 1) {
            return Err(ApiError::invalid(Some("n"), "only n = 1 is supported"));
        }
        let messages = wire::chat_messages(&request.messages)?;
        let service = ai(&state);
        let model = service.model(&caller, &request.model, ModelKind::Chat).await?;
        let sampling = sampling(
            request.max_completion_tokens.or(request.max_tokens),
            request.temperature,
            request.top_p,
            request.seed,
            service.config.default_max_tokens,
            model.context_length,
        )?;
        let bound = prompt_bound(messages.iter().map(|m| m.content.len() + m.role.len()), messages.len());
        let most = (bound, u64::from(sampling.max_tokens));
        let work = Work::Generate { prompt: Prompt::Chat(messages), sampling, kind: "chat" };
        let ticket = service.begin(&caller, request_id("chatcmpl"), model, work, most).await?;
        let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
        Ok(respond(service, ticket, request.stream, include_usage, Shape::Chat).await)
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
        let sampling =
            sampling(request.max_tokens, request.temperature, request.top_p, request.seed, 16, model.context_length)?;
        let most = (prompt_bound(std::iter::once(prompt.len()), 0), u64::from(sampling.max_tokens));
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
        let inputs = wire::embedding_inputs(&request.input)?;
        let base64 = match request.encoding_format.as_deref() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(ApiError::invalid(
                    Some("encoding_format"),
                    format!("encoding_format '{other}' is not float or base64"),
                ))
            }
        };
        let service = ai(&state);
        let model = service.model(&caller, &request.model, ModelKind::Embedding).await?;
        if request.dimensions.is_some() {
            return Err(ApiError::invalid(Some("dimensions"), "this model's dimensions cannot be changed"));
        }
        let most = (prompt_bound(inputs.iter().map(String::len), inputs.len()), 0);
        let ticket = service.begin(&caller, request_id("emb"), model, Work::Embed { inputs }, most).await?;
        Ok(respond(service, ticket, false, false, Shape::Embedding { base64 }).await)
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
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
                    Shape::Chat => json!({
                        "id": id, "object": "chat.completion", "created": created, "model": model,
                        "system_fingerprint": pictor_fingerprint(),
                        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text },
                                      "logprobs": null, "finish_reason": finish_reason }],
                        "usage": usage,
                    }),
                    _ => json!({
                        "id": id, "object": "text_completion", "created": created, "model": model,
                        "system_fingerprint": pictor_fingerprint(),
                        "choices": [{ "index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason }],
                        "usage": usage,
                    }),
                };
                return Json(body).into_response();
            }
            Output::Embedded { vectors, prompt_tokens } => {
                let base64 = matches!(shape, Shape::Embedding { base64: true });
                let data: Vec<Value> = vectors
                    .iter()
                    .enumerate()
                    .map(|(index, vector)| {
                        json!({ "object": "embedding", "index": index, "embedding": wire::encode_vector(vector, base64) })
                    })
                    .collect();
                let usage = json!({ "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens });
                return Json(json!({ "object": "list", "data": data, "model": model, "usage": usage })).into_response();
            }
        }
    }
    ApiError::internal().into_response()
}

fn pictor_fingerprint() -> &'static str {
    "pictor-candle-0.11"
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
                "system_fingerprint": pictor_fingerprint(),
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason }],
            }),
            _ => json!({
                "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                "system_fingerprint": pictor_fingerprint(),
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
    fn sampling_checks_ranges_and_always_has_a_seed() {
        let ok = sampling(Some(10), Some(0.0), None, Some(5), 256, 8192).unwrap();
        assert_eq!((ok.max_tokens, ok.seed, ok.temperature), (10, 5, 0.0));
        assert!(sampling(None, None, None, None, 256, 8192).unwrap().max_tokens == 256);
        assert!(sampling(Some(0), None, None, None, 256, 8192).is_err());
        assert!(sampling(Some(9000), None, None, None, 256, 8192).is_err());
        assert!(sampling(None, Some(2.5), None, None, 256, 8192).is_err());
        assert!(sampling(None, None, Some(0.0), None, 256, 8192).is_err());
        assert_eq!(sampling(None, None, Some(1.0), None, 256, 8192).unwrap().top_p, None);
    }

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
