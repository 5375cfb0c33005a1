//! The OpenAI API's JSON: request bodies (parsed leniently where OpenAI is, strictly where it matters), responses,
//! stream chunks and the error body its SDKs turn into typed exceptions.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pictor_core::ai::ChatMessage;
use serde::Deserialize;
use serde_json::{json, Value};

/// An error as OpenAI sends it: `{"error": {"message", "type", "param", "code"}}` with a matching status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
    pub message: String,
}

impl ApiError {
    pub fn invalid(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            code: None,
            param,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            code: Some("invalid_api_key"),
            param: None,
            message: message.into(),
        }
    }

    pub fn no_credit(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYMENT_REQUIRED,
            kind: "insufficient_quota",
            code: Some("insufficient_quota"),
            param: None,
            message: message.into(),
        }
    }

    pub fn unknown_model(model: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: Some("model_not_found"),
            param: Some("model"),
            message: format!("The model '{model}' does not exist or you do not have access to it."),
        }
    }

    pub fn rate_limited(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_exceeded",
            code: Some("rate_limit_exceeded"),
            param: None,
            message: message.into(),
        }
    }

    /// 404 for something the caller does not have (a file, a batch): OpenAI's shape.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            code: None,
            param: None,
            message: format!("no {what} with id '{id}'"),
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "server_error",
            code: Some("no_worker_available"),
            param: None,
            message: message.into(),
        }
    }

    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            code: None,
            param: None,
            message: "the coordinator failed to handle this request; it was not charged".into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({ "error": { "message": self.message, "type": self.kind, "param": self.param, "code": self.code } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS || self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

/// Options shared by the streaming endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Value>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub model: String,
    pub prompt: Value,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Value,
    pub encoding_format: Option<String>,
    pub dimensions: Option<u32>,
}

/// Parses a body into `T`, with OpenAI's 400 for bad JSON or a missing field.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(None, format!("the request body is not valid: {e}")))
}

/// A chat message's text: a string, or an array of `{"type": "text", "text": ...}` parts.
pub fn chat_messages(messages: &[Value]) -> Result<Vec<ChatMessage>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(Some("messages"), "'messages' must hold at least one message"));
    }
    messages
        .iter()
        .map(|message| {
            let role = message
                .get("role")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid(Some("messages"), "every message needs a 'role'"))?;
            let content = match message.get("content") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(|part| match (part.get("type").and_then(Value::as_str), part.get("text")) {
                        (Some("text"), Some(Value::String(text))) => Ok(text.as_str()),
                        _ => Err(ApiError::invalid(Some("messages"), "only text content parts are supported")),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
                Some(Value::Null) | None => String::new(),
                Some(_) => return Err(ApiError::invalid(Some("messages"), "a message's 'content' must be text")),
            };
            Ok(ChatMessage { role: role.to_string(), content })
        })
        .collect()
}

/// The texts of an embeddings `input`: a string or an array of strings (token arrays are not accepted).
pub fn embedding_inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    let texts = match input {
        Value::String(text) => vec![text.clone()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::invalid(Some("input"), "'input' must be a string or an array of strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::invalid(Some("input"), "'input' must be a string or an array of strings")),
    };
    if texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(ApiError::invalid(Some("input"), format!("at most {MAX_EMBEDDING_INPUTS} inputs per request")));
    }
    if texts.iter().any(String::is_empty) {
        return Err(ApiError::invalid(Some("input"), "an input is empty"));
    }
    Ok(texts)
}

/// Most texts one embeddings request may carry (OpenAI's own limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// A vector as `float` (a JSON array) or `base64` (little-endian f32 bytes, as OpenAI's SDK asks by default).
pub fn encode_vector(vector: &[f32], base64: bool) -> Value {
    if base64 {
        Value::String(pictor_core::ai::packed_vectors::encode(vector))
    } else {
        json!(vector)
    }
}

/// OpenAI's usage object, with what Pictor charged for the request (an extra field clients may ignore).
pub fn usage(prompt_tokens: u64, completion_tokens: u64, cost_micro: i64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "cost_micro_credits": cost_micro,
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    #[test]
    fn messages_accept_text_parts_and_refuse_images() {
        let messages = vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}),
        ];
        let parsed = chat_messages(&messages).unwrap();
        assert_eq!(parsed[1].content, "Hi there");
        let image = vec![json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]})];
        assert_eq!(chat_messages(&image).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert!(chat_messages(&[]).is_err());
        assert!(chat_messages(&[json!({"content": "no role"})]).is_err());
    }

    #[test]
    fn embedding_inputs_are_strings_only() {
        assert_eq!(embedding_inputs(&json!("a")).unwrap(), vec!["a"]);
        assert_eq!(embedding_inputs(&json!(["a", "b"])).unwrap().len(), 2);
        assert!(embedding_inputs(&json!([1, 2, 3])).is_err());
        assert!(embedding_inputs(&json!([])).is_err());
        assert!(embedding_inputs(&json!([""])).is_err());
    }

    #[test]
    fn base64_vectors_are_little_endian_floats() {
        let encoded = encode_vector(&[1.0, -2.5], true);
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.as_str().unwrap()).unwrap();
        assert_eq!(bytes, [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat());
        assert_eq!(encode_vector(&[0.5], false), json!([0.5]));
    }

    #[test]
    fn errors_have_openai_shape() {
        let body = ApiError::unknown_model("nope").body();
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "model");
    }
}
