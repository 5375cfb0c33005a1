//! `POST /v1/classifications` (and the dashboard's `/api/ai/classifications`): a hosted classifier — the weights of a
//! training run, deployed — answers each input (a row of pixels, or a text for a fine-tuned text classifier) with
//! its class, the class's name when it has one, and the classes' probabilities. It rides on the embeddings path: the
//! worker's answer is one probability vector per input, billed per input as one token at the model's input price,
//! and sampled for checkers' replays like an embedding.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use pictor_core::ai::ModelKind;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::openai_api::SessionCaller;
use super::openai_wire::{self as wire, ApiError};
use super::requests::request_id;
use super::service::{Caller, Output, Work};
use super::trained_header::trained_header;
use crate::state::AppState;

/// The most inputs one request may carry.
const MAX_INPUTS: usize = 256;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/classifications", post(classify)).route(
        "/api/ai/classifications",
        post(|state: State<AppState>, SessionCaller(caller): SessionCaller, body: Bytes| classify(state, caller, body)),
    )
}

#[derive(Debug, Deserialize)]
struct ClassificationRequest {
    model: String,
    input: Value,
}

/// The inputs as text (what the worker parses): one row of numbers, several rows, rows already written as text
/// (`"0,3,16,…"`), or texts for a text classifier.
fn inputs_of(input: &Value) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::invalid(
            Some("input"),
            "'input' must be a text, an array of texts, a row of pixels (numbers) or an array of rows",
        )
    };
    let row = |value: &Value| -> Result<String, ApiError> {
        match value {
            Value::String(text) if !text.trim().is_empty() => Ok(text.clone()),
            Value::Array(cells) if !cells.is_empty() => {
                let numbers: Option<Vec<String>> =
                    cells.iter().map(|cell| cell.as_f64().map(|number| number.to_string())).collect();
                numbers.map(|numbers| numbers.join(",")).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    };
    let rows = match input {
        Value::Array(items) if items.first().is_some_and(Value::is_number) => vec![row(input)?],
        Value::Array(items) if !items.is_empty() => items.iter().map(row).collect::<Result<_, _>>()?,
        Value::String(_) => vec![row(input)?],
        _ => return Err(bad()),
    };
    if rows.len() > MAX_INPUTS {
        return Err(ApiError::invalid(Some("input"), format!("at most {MAX_INPUTS} inputs per request")));
    }
    Ok(rows)
}

/// The answer: per input its most likely class (with its name when the model has names) and every class's
/// probability.
pub fn classification_body(probabilities: &[Vec<f32>], names: &[String], model: &str, id: &str, inputs: u32) -> Value {
    let data: Vec<Value> = probabilities
        .iter()
        .enumerate()
        .map(|(index, classes)| {
            let label = pictor_inference::best_class(classes);
            let mut answer = json!({ "object": "classification", "index": index, "label": label,
                    "probability": classes.get(label).copied().unwrap_or(0.0), "probabilities": classes });
            if let Some(name) = names.get(label) {
                answer["label_name"] = json!(name);
                answer["label_names"] = json!(names);
            }
            answer
        })
        .collect();
    json!({ "id": id, "object": "list", "data": data, "model": model,
            "usage": { "prompt_tokens": inputs, "total_tokens": inputs } })
}

async fn classify(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let answer = async {
        let request: ClassificationRequest = wire::parse(&body)?;
        let inputs = inputs_of(&request.input)?;
        let service = &state.services.ai;
        let model = service.model(&caller, &request.model, ModelKind::Classifier).await?;
        let header = trained_header(&state, &model.sha256).await;
        let most = (inputs.len() as u64, 0);
        let count = inputs.len() as u32;
        let work = Work::Embed { inputs, sentence_vectors: false };
        let ticket = service.begin(&caller, request_id("cls"), model, work, most).await?;
        let (id, model) = (ticket.id.clone(), ticket.model.id.clone());
        let (out, mut outputs) = mpsc::channel(4);
        let serving = service.clone();
        tokio::spawn(async move { serving.serve(ticket, out, true).await });
        while let Some(output) = outputs.recv().await {
            match output {
                Output::Embedded { vectors, .. } => {
                    let body = classification_body(&vectors, &header.labels, &model, &id, count);
                    return Ok::<_, ApiError>(Json(body).into_response());
                }
                Output::Failed(error) => return Err(error),
                _ => {}
            }
        }
        Err(ApiError::internal())
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_rows_of_numbers_or_text() {
        assert_eq!(inputs_of(&json!([0, 1.5, 16])).unwrap(), vec!["0,1.5,16"]);
        assert_eq!(inputs_of(&json!([[1, 2], [3, 4]])).unwrap(), vec!["1,2", "3,4"]);
        assert_eq!(inputs_of(&json!("1,2,3")).unwrap(), vec!["1,2,3"]);
        assert!(inputs_of(&json!([])).is_err());
        assert!(inputs_of(&json!([[1, "x"]])).is_err());
        assert!(inputs_of(&json!({"a": 1})).is_err());
        let body = classification_body(&[vec![0.1, 0.9]], &[], "m", "cls-1", 1);
        assert_eq!(body["data"][0]["label"], 1);
        assert!(body["data"][0].get("label_name").is_none(), "a pixel classifier's classes have no names");
        assert_eq!(inputs_of(&json!(["Rain tonight", "Bake it"])).unwrap(), vec!["Rain tonight", "Bake it"]);
        let names = ["cooking".to_string(), "weather".to_string()];
        let body = classification_body(&[vec![0.2, 0.8]], &names, "m", "cls-2", 1);
        assert_eq!(
            (body["data"][0]["label"].clone(), body["data"][0]["label_name"].clone()),
            (json!(1), json!("weather"))
        );
    }
}
