//! OpenAI request bodies turned into work for a worker, and results turned into OpenAI response bodies: one place
//! for the API and for batches, so a batch line is answered exactly as the same request sent to the API.

use pictor_core::ai::{CatalogueModel, ChatMessage, Prompt, Sampling};
use serde_json::{json, Value};

use super::openai_wire::{self as wire, ApiError};
use super::service::Work;

/// The `system_fingerprint` of every answer: the engine that made it.
pub const FINGERPRINT: &str = "pictor-candle-0.11";

/// A fresh id for a request or an answer (`chatcmpl-…`, `emb-…`, `batch_req-…`).
pub fn request_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Sampling from the request's fields, checked as OpenAI checks them.
pub fn sampling(
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

/// An upper bound of a prompt's tokens (byte-level BPE makes at least one byte per token), for the reservation.
pub fn prompt_bound(texts: impl Iterator<Item = usize>, turns: usize) -> u64 {
    // The chat template's own tokens and a default system prompt.
    (texts.sum::<usize>() + turns * 8 + 64) as u64
}

/// A chat request's messages (and the one choice Pictor makes).
pub fn chat_messages(request: &wire::ChatRequest) -> Result<Vec<ChatMessage>, ApiError> {
    if request.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid(Some("n"), "only n = 1 is supported"));
    }
    wire::chat_messages(&request.messages)
}

/// A chat request as work on `model`, with the most (prompt, completion) tokens it may take.
pub fn chat_work(
    request: &wire::ChatRequest,
    messages: Vec<ChatMessage>,
    model: &CatalogueModel,
    default_max_tokens: u32,
) -> Result<(Work, (u64, u64)), ApiError> {
    let sampling = sampling(
        request.max_completion_tokens.or(request.max_tokens),
        request.temperature,
        request.top_p,
        request.seed,
        default_max_tokens,
        model.context_length,
    )?;
    let bound = prompt_bound(messages.iter().map(|m| m.content.len() + m.role.len()), messages.len());
    let most = (bound, u64::from(sampling.max_tokens));
    Ok((Work::Generate { prompt: Prompt::Chat(messages), sampling, kind: "chat" }, most))
}

/// An embeddings request's texts and whether the vectors go back as base64.
pub fn embedding_inputs(request: &wire::EmbeddingRequest) -> Result<(Vec<String>, bool), ApiError> {
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
    if request.dimensions.is_some() {
        return Err(ApiError::invalid(Some("dimensions"), "this model's dimensions cannot be changed"));
    }
    Ok((inputs, base64))
}

/// The most (prompt, completion) tokens embedding `inputs` may take.
pub fn embedding_bound(inputs: &[String]) -> (u64, u64) {
    (prompt_bound(inputs.iter().map(String::len), inputs.len()), 0)
}

/// A whole chat completion.
pub fn chat_body(id: &str, model: &str, created: i64, text: &str, finish_reason: &str, usage: Value) -> Value {
    json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": text },
                      "logprobs": null, "finish_reason": finish_reason }],
        "usage": usage,
    })
}

/// An embeddings answer.
pub fn embedding_body(vectors: &[Vec<f32>], model: &str, prompt_tokens: u32, base64: bool) -> Value {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| json!({ "object": "embedding", "index": index, "embedding": wire::encode_vector(vector, base64) }))
        .collect();
    let usage = json!({ "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens });
    json!({ "object": "list", "data": data, "model": model, "usage": usage })
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
}
