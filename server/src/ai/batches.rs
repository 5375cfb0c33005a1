//! AI batches (OpenAI's Batch API) on the task engine: a batch is a job of kind `ai_batch`, its input lines checked
//! and turned into work at creation, split into chunks (one task each) paid for from the job's escrow per token;
//! when the job ends — done, failed, cancelled or expired — the lines finished so far become the output and error
//! files, so nothing already paid for is lost.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use pictor_core::ai::{cost_micro, CatalogueModel, ModelKind};
use pictor_core::ai_batch::{BatchItem, BatchLineResult, BatchOutcome, BatchWork, AI_ENGINE};
use pictor_core::workloads::WorkloadKind;
use serde_json::{json, Value};

use super::file_store::file_key;
use super::openai_wire::{self as wire, ApiError};
use super::requests::{self, request_id};
use super::service::Work;
use crate::db::ai_batches::{Batch, ChunkEnd, NewBatch, NewChunk};
use crate::db::ai_files::AiFile;
use crate::db::job_lifecycle::{NewJob, NewTask};
use crate::db::users::UserId;
use crate::db::{Db, DbError};
use crate::engine::Engine;

/// The one completion window offered (OpenAI's).
pub const COMPLETION_WINDOW: &str = "24h";
const WINDOW_MS: i64 = 24 * 3_600_000;
/// Bad lines named at most in one refusal.
const MAX_REPORTED: usize = 20;

/// What `POST /v1/batches` asks for.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CreateBatch {
    pub input_file_id: String,
    /// OpenAI requires it; when left out (the dashboard), the file's own endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub completion_window: String,
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// The chunk file of a task's lines in the object store.
fn chunk_key(batch: &str, index: usize) -> String {
    format!("batches/{batch}/chunk-{index}.json")
}

/// Checks the request's fields (before any file is read).
fn check_request(request: &CreateBatch, file: &AiFile) -> Result<(), ApiError> {
    if request.completion_window != COMPLETION_WINDOW {
        return Err(ApiError::invalid(Some("completion_window"), "completion_window must be \"24h\""));
    }
    if let Some(endpoint) = request.endpoint.as_deref().filter(|endpoint| *endpoint != file.endpoint) {
        return Err(ApiError::invalid(
            Some("endpoint"),
            format!("the file's requests call {}, not {endpoint}", file.endpoint),
        ));
    }
    match &request.metadata {
        None | Some(Value::Null) => {}
        Some(Value::Object(map))
            if map.len() <= 16
                && map.iter().all(|(k, v)| k.len() <= 64 && v.as_str().is_some_and(|v| v.len() <= 512)) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                Some("metadata"),
                "metadata must be an object of at most 16 string values (keys up to 64, values up to 512 characters)",
            ))
        }
    }
    Ok(())
}

/// One request line turned into work, with the most tokens it may take; the error names what is wrong.
fn line_work(
    text: &str,
    endpoint: &str,
    model: &CatalogueModel,
    default_max_tokens: u32,
) -> Result<(String, BatchWork, (u64, u64)), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    let custom_id = value.get("custom_id").and_then(Value::as_str).ok_or("custom_id is missing")?.to_string();
    let body = value.get("body").cloned().ok_or("body is missing")?;
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let (work, most) = match endpoint {
        "/v1/chat/completions" => {
            let request: wire::ChatRequest = wire::parse(&body).map_err(|e| e.message)?;
            let messages = requests::chat_messages(&request).map_err(|e| e.message)?;
            match requests::chat_work(&request, messages, model, default_max_tokens).map_err(|e| e.message)? {
                (Work::Generate { prompt, sampling, .. }, most) => (BatchWork::Generate { prompt, sampling }, most),
                (Work::Embed { .. }, _) => return Err("not a chat request".into()),
            }
        }
        _ => {
            let request: wire::EmbeddingRequest = wire::parse(&body).map_err(|e| e.message)?;
            let (inputs, base64) = requests::embedding_inputs(&request).map_err(|e| e.message)?;
            let most = requests::embedding_bound(&inputs);
            (BatchWork::Embed { inputs, base64 }, most)
        }
    };
    Ok((custom_id, work, most))
}

/// Every line of an input file as work (numbered from 0), and the most the batch may cost; or every bad line.
pub fn read_lines(
    content: &[u8],
    endpoint: &str,
    model: &CatalogueModel,
    default_max_tokens: u32,
) -> Result<(Vec<BatchItem>, i64), Vec<String>> {
    let mut items = Vec::new();
    let mut most_micro: i64 = 0;
    let mut errors = Vec::new();
    for (number, raw) in content.split(|b| *b == b'\n').enumerate() {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match line_work(text, endpoint, model, default_max_tokens) {
            Ok((custom_id, work, (prompt, completion))) => {
                let cost =
                    cost_micro(prompt, completion, model.input_price_micro_per_m, model.output_price_micro_per_m);
                most_micro = most_micro.saturating_add(cost);
                items.push(BatchItem { line: items.len() as u32, custom_id, work });
            }
            Err(message) if errors.len() < MAX_REPORTED => errors.push(format!("line {}: {message}", number + 1)),
            Err(_) => {}
        }
    }
    if errors.is_empty() && items.is_empty() {
        errors.push("the file has no requests".into());
    }
    if errors.is_empty() {
        Ok((items, most_micro))
    } else {
        Err(errors)
    }
}

/// Creates a batch of `user`'s input file: every line checked (bad ones refused with their numbers and nothing
/// created), split into chunks kept in the store, and a job whose escrow holds the most the lines may cost.
#[allow(clippy::too_many_arguments)] // the handler's parts, named
pub async fn create(
    db: &Db,
    engine: &Engine,
    store: &Arc<dyn ObjectStore>,
    user: UserId,
    model: &CatalogueModel,
    request: &CreateBatch,
    file: &AiFile,
    config: &crate::config::AiConfig,
    checker_share_percent: i64,
    now_ms: i64,
) -> Result<Batch, ApiError> {
    check_request(request, file)?;
    let content = store.get(&file_key(&file.id)).await.map_err(internal)?.bytes().await.map_err(internal)?;
    let (items, most_micro) = read_lines(&content, &file.endpoint, model, config.default_max_tokens)
        .map_err(|errors| ApiError::invalid(Some("input_file_id"), errors.join("; ")))?;
    let id = format!("batch_{}", uuid::Uuid::new_v4().simple());
    let per_chunk = config.batch_chunk_lines.max(1) as usize;
    let mut chunks = Vec::new();
    for (index, lines) in items.chunks(per_chunk).enumerate() {
        let key = chunk_key(&id, index);
        let body = serde_json::to_vec(lines).map_err(internal)?;
        store.put(&ObjectPath::from(key.as_str()), PutPayload::from(body)).await.map_err(internal)?;
        chunks.push(NewChunk { first_line: i64::from(lines[0].line), lines: lines.len() as i64, input_key: key });
    }
    let kind = if file.endpoint == "/v1/embeddings" { ModelKind::Embedding } else { ModelKind::Chat };
    // A hosted model travels with what a worker needs to fetch it; the network's own come from workers' caches.
    let load = db.load_spec(&model.id).await.map_err(internal)?.filter(|spec| !spec.files.is_empty());
    let spec = json!({
        "batch": id, "model": model.id, "kind": kind,
        "sha256": load.as_ref().map(|l| l.sha256.clone()).unwrap_or_default(),
        "bytes": load.as_ref().map_or(0, |l| l.bytes),
        "files": load.as_ref().map(|l| l.files.clone()).unwrap_or_default(),
    });
    let job = NewJob {
        owner: user,
        kind: WorkloadKind::AiBatch,
        name: format!("Batch {id}"),
        spec_json: spec.to_string(),
        scene_key: file_key(&file.id).to_string(),
        scene_sha256: String::new(),
        tier_rank: 1,
        engine: AI_ENGINE.into(),
        // Billed per token at the model's prices: any worker's price per minute is acceptable.
        max_price_micro_per_minute: i64::MAX,
        min_vram_bytes: 0,
        gpu_model: None,
        tags: Vec::new(),
        max_attempts: crate::engine::jobs::DEFAULT_ATTEMPTS,
        max_task_ms: None,
        tasks: chunks.iter().map(|_| NewTask { frames: "0".into(), tile_index: None }).collect(),
        escrow_micro: most_micro,
        estimate_micro: most_micro,
        estimate_source: "tokens".into(),
        budget_micro: None,
        checker_share_percent,
    };
    let batch = NewBatch {
        id: id.clone(),
        user,
        input_file_id: file.id.clone(),
        endpoint: file.endpoint.clone(),
        model: model.id.clone(),
        completion_window: request.completion_window.clone(),
        metadata: request.metadata.as_ref().filter(|m| !m.is_null()).map(Value::to_string),
        lines: items.len() as i64,
        input_price_micro_per_m: model.input_price_micro_per_m,
        output_price_micro_per_m: model.output_price_micro_per_m,
        created_at_ms: now_ms,
        expires_at_ms: now_ms + WINDOW_MS,
    };
    match engine.create_batch(&job, &batch, &chunks, now_ms).await {
        Ok(_) => {}
        Err(DbError::InsufficientCredit { available, needed }) => {
            forget_chunks(store, &chunks).await;
            return Err(ApiError::no_credit(format!(
                "not enough credit for this batch: up to {needed} micro-credits may be needed, {available} available"
            )));
        }
        Err(error) => {
            forget_chunks(store, &chunks).await;
            return Err(internal(error));
        }
    }
    db.ai_batch(user, &id).await.map_err(internal)?.ok_or_else(ApiError::internal)
}

async fn forget_chunks(store: &Arc<dyn ObjectStore>, chunks: &[NewChunk]) {
    for chunk in chunks {
        let _ = store.delete(&ObjectPath::from(chunk.input_key.as_str())).await;
    }
}

/// OpenAI's status of a batch.
pub fn status(batch: &Batch) -> &'static str {
    let ended = batch.finalized_at_ms.is_some();
    match (batch.job_state.as_str(), ended) {
        (_, true) if batch.expired_at_ms.is_some() => "expired",
        ("cancelled", true) => "cancelled",
        ("failed", true) => "failed",
        (_, true) => "completed",
        ("cancelled", false) => "cancelling",
        ("completed" | "failed", false) => "finalizing",
        _ => "in_progress",
    }
}

/// A batch as OpenAI's SDK reads it (with Pictor's `model` and `cost_micro_credits` beside).
pub fn batch_json(batch: &Batch) -> Value {
    let seconds = |ms: Option<i64>| ms.map(|ms| ms / 1000);
    let status = status(batch);
    let ended = seconds(batch.finalized_at_ms);
    let metadata = batch.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok());
    let failed_errors = (status == "failed").then(|| {
        json!({ "object": "list", "data": [{ "code": "batch_failed",
            "message": "a chunk of lines failed on every worker that tried it; the lines finished are in the output file",
            "param": null, "line": null }] })
    });
    json!({
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "model": batch.model,
        "errors": failed_errors,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": batch.created_at_ms / 1000,
        "in_progress_at": batch.created_at_ms / 1000,
        "expires_at": batch.expires_at_ms / 1000,
        "finalizing_at": seconds(batch.job_finished_at_ms),
        "completed_at": if status == "completed" { ended } else { None },
        "failed_at": if status == "failed" { ended } else { None },
        "expired_at": seconds(batch.expired_at_ms),
        "cancelling_at": if batch.job_state == "cancelled" { seconds(batch.job_finished_at_ms) } else { None },
        "cancelled_at": if status == "cancelled" { ended } else { None },
        "request_counts": { "total": batch.lines, "completed": batch.completed, "failed": batch.failed },
        "metadata": metadata,
        "cost_micro_credits": batch.spent_micro,
    })
}

/// The lines of a chunk as stored at creation.
pub async fn chunk_items(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Vec<BatchItem>, String> {
    let bytes = read(store, key).await?;
    serde_json::from_slice(&bytes).map_err(|e| format!("chunk {key}: {e}"))
}

/// The results a worker uploaded for a chunk, one JSON line each.
pub async fn chunk_results(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Vec<BatchLineResult>, String> {
    let bytes = read(store, key).await?;
    parse_results(&bytes)
}

pub fn parse_results(bytes: &[u8]) -> Result<Vec<BatchLineResult>, String> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .enumerate()
        .map(|(n, line)| serde_json::from_slice(line).map_err(|e| format!("result {}: {e}", n + 1)))
        .collect()
}

async fn read(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Bytes, String> {
    let object = store.get(&ObjectPath::from(key)).await.map_err(|e| e.to_string())?;
    object.bytes().await.map_err(|e| e.to_string())
}

/// The output and error lines of one chunk: answers of an accepted chunk, its failed lines, and every line of a
/// chunk that ran out of attempts or was stopped by the window's end; a chunk its owner cancelled gives none.
fn chunk_lines(
    end: &ChunkEnd,
    items: &[BatchItem],
    results: Option<&[BatchLineResult]>,
    batch: &Batch,
    created: i64,
    prices: (i64, i64),
) -> (Vec<Value>, Vec<Value>) {
    let (mut output, mut errors) = (Vec::new(), Vec::new());
    let line_id = || request_id("batch_req");
    match (end.task_state.as_str(), results) {
        ("uploaded" | "verifying" | "verified", Some(results)) => {
            for (item, result) in items.iter().zip(results) {
                let (prompt, completion) = result.outcome.tokens();
                let cost = cost_micro(prompt, completion, prices.0, prices.1);
                let body = match (&result.outcome, &item.work) {
                    (BatchOutcome::Generated { text, finish_reason, .. }, _) => {
                        let usage = wire::usage(prompt, completion, cost);
                        requests::chat_body(&request_id("chatcmpl"), &batch.model, created, text, finish_reason, usage)
                    }
                    (BatchOutcome::Embedded { vectors, prompt_tokens }, work) => {
                        let base64 = matches!(work, BatchWork::Embed { base64: true, .. });
                        requests::embedding_body(vectors, &batch.model, *prompt_tokens, base64)
                    }
                    (BatchOutcome::Failed { message, .. }, _) => {
                        let error = ApiError::invalid(None, message.clone());
                        errors.push(json!({
                            "id": line_id(), "custom_id": item.custom_id,
                            "response": { "status_code": 400, "request_id": request_id("req"), "body": error.body() },
                            "error": null,
                        }));
                        continue;
                    }
                };
                output.push(json!({
                    "id": line_id(), "custom_id": item.custom_id,
                    "response": { "status_code": 200, "request_id": request_id("req"), "body": body },
                    "error": null,
                }));
            }
        }
        (state, _) => {
            // Lines never answered: a chunk out of attempts, or one stopped when the window ran out (named in the
            // error file, as OpenAI does for expired requests); a batch cancelled by its owner just leaves them out.
            let (code, message) = if state == "failed" {
                let why = end.last_error.clone().unwrap_or_else(|| "every attempt at these lines failed".into());
                ("batch_chunk_failed", why)
            } else if batch.expired_at_ms.is_some() {
                ("batch_expired", "the batch's completion window ran out before this line was run".to_string())
            } else {
                return (output, errors);
            };
            for item in items {
                errors.push(json!({
                    "id": line_id(), "custom_id": item.custom_id, "response": null,
                    "error": { "code": code, "message": message },
                }));
            }
        }
    }
    (output, errors)
}

/// Writes a batch's output and error files once its job has ended (at most once; later calls change nothing).
pub async fn finalize(db: &Db, store: &Arc<dyn ObjectStore>, batch: &Batch, now_ms: i64) -> Result<(), String> {
    if batch.finalized_at_ms.is_some() || !matches!(batch.job_state.as_str(), "completed" | "failed" | "cancelled") {
        return Ok(());
    }
    let ends = db.batch_chunk_ends(&batch.id).await.map_err(|e| e.to_string())?;
    let prices = (batch.input_price_micro_per_m, batch.output_price_micro_per_m);
    let created = now_ms / 1000;
    let (mut output, mut errors) = (String::new(), String::new());
    let (mut output_lines, mut error_lines) = (0, 0);
    for end in &ends {
        let items = chunk_items(store, &end.input_key).await?;
        let results = match (&end.output_key, end.task_state.as_str()) {
            (Some(key), "uploaded" | "verifying" | "verified") => Some(chunk_results(store, key).await?),
            _ => None,
        };
        let (out, err) = chunk_lines(end, &items, results.as_deref(), batch, created, prices);
        for line in &out {
            output.push_str(&line.to_string());
            output.push('\n');
        }
        for line in &err {
            errors.push_str(&line.to_string());
            errors.push('\n');
        }
        output_lines += out.len() as i64;
        error_lines += err.len() as i64;
    }
    let file = |suffix: &str, bytes: usize, lines: i64| AiFile {
        id: format!("file-{}", uuid::Uuid::new_v4().simple()),
        user: batch.user,
        purpose: "batch_output".into(),
        filename: format!("{}_{suffix}.jsonl", batch.id),
        bytes: bytes as i64,
        lines,
        endpoint: batch.endpoint.clone(),
        model: batch.model.clone(),
        created_at_ms: now_ms,
    };
    let output_file = (output_lines > 0).then(|| file("output", output.len(), output_lines));
    let error_file = (error_lines > 0).then(|| file("error", errors.len(), error_lines));
    for (file, text) in [(&output_file, output), (&error_file, errors)] {
        if let Some(file) = file {
            store.put(&file_key(&file.id), PutPayload::from(text.into_bytes())).await.map_err(|e| e.to_string())?;
        }
    }
    let recorded = db
        .finalize_batch(&batch.id, output_file.as_ref(), error_file.as_ref(), now_ms)
        .await
        .map_err(|e| e.to_string())?;
    if !recorded {
        // Another closer was first: its files are the batch's; these copies go.
        for file in output_file.iter().chain(&error_file) {
            let _ = store.delete(&file_key(&file.id)).await;
        }
    }
    Ok(())
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "a batch request failed");
    ApiError::unavailable("the coordinator cannot handle batches right now; try again")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CatalogueModel {
        CatalogueModel {
            id: "m".into(),
            kind: ModelKind::Chat,
            owned_by: "pictor".into(),
            sha256: String::new(),
            bytes: 0,
            context_length: 2048,
            input_price_micro_per_m: 1_000_000,
            output_price_micro_per_m: 2_000_000,
            public: true,
            warm_workers: 0,
            created_at_ms: 0,
        }
    }

    fn line(id: &str, body: &str) -> String {
        format!(r#"{{"custom_id": "{id}", "method": "POST", "url": "/v1/chat/completions", "body": {body}}}"#)
    }

    #[test]
    fn lines_become_work_with_their_most_cost() {
        let text = [
            line(
                "a",
                r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}"#,
            ),
            String::new(),
            line("b", r#"{"model": "m", "messages": [{"role": "user", "content": "yo"}]}"#),
        ]
        .join("\n");
        let (items, most) = read_lines(text.as_bytes(), "/v1/chat/completions", &model(), 16).expect("valid");
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].line, items[1].line, items[1].custom_id.as_str()), (0, 1, "b"));
        match &items[0].work {
            BatchWork::Generate { sampling, .. } => assert_eq!((sampling.max_tokens, sampling.temperature), (4, 0.0)),
            other => panic!("{other:?}"),
        }
        // Each line: its prompt bound (2 + 4 bytes + 8 per turn + 64) at 1 micro-credit a token, plus its max tokens
        // at 2: 78 + 4 × 2 and 78 + 16 × 2 (the default).
        assert_eq!(most, 86 + 110);
    }

    #[test]
    fn bad_request_bodies_are_named_by_line_number() {
        let text = [
            line("a", r#"{"model": "m", "messages": []}"#),
            line("b", r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 7}"#),
            line("c", r#"{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}"#),
        ]
        .join("\n");
        let errors = read_lines(text.as_bytes(), "/v1/chat/completions", &model(), 16).expect_err("invalid");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("line 1: ") && errors[0].contains("messages"), "{errors:?}");
        assert!(errors[1].starts_with("line 2: ") && errors[1].contains("temperature"), "{errors:?}");
        assert!(errors[2].starts_with("line 3: ") && errors[2].contains("n = 1"), "{errors:?}");
    }

    fn batch(state: &str, finalized: bool, expired: bool) -> Batch {
        Batch {
            id: "batch_1".into(),
            user: 1,
            job: crate::db::JobId(1),
            input_file_id: "file-1".into(),
            endpoint: "/v1/chat/completions".into(),
            model: "m".into(),
            completion_window: "24h".into(),
            metadata: Some(r#"{"k":"v"}"#.into()),
            lines: 10,
            created_at_ms: 1_000,
            expires_at_ms: 2_000,
            expired_at_ms: expired.then_some(1_500),
            output_file_id: None,
            error_file_id: None,
            finalized_at_ms: finalized.then_some(1_600),
            job_state: state.into(),
            job_finished_at_ms: Some(1_400),
            completed: 4,
            failed: 1,
            spent_micro: 7,
            input_price_micro_per_m: 1,
            output_price_micro_per_m: 2,
        }
    }

    fn end(state: &str) -> ChunkEnd {
        ChunkEnd {
            task: crate::db::TaskId(1),
            first_line: 0,
            lines: 2,
            input_key: "k".into(),
            task_state: state.into(),
            output_key: Some("o".into()),
            last_error: Some("out of memory".into()),
        }
    }

    #[test]
    fn chunks_give_answers_refusals_and_unrun_lines_where_they_belong() {
        let text = [
            line("a", r#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}"#),
            line("b", r#"{"model": "m", "messages": [{"role": "user", "content": "yo"}], "max_tokens": 4}"#),
        ]
        .join("\n");
        let (items, _) = read_lines(text.as_bytes(), "/v1/chat/completions", &model(), 16).expect("valid");
        let results = [
            BatchLineResult {
                line: 0,
                outcome: BatchOutcome::Generated {
                    text: "Hello".into(),
                    token_ids: vec![1, 2],
                    finish_reason: "stop".into(),
                    prompt_tokens: 5,
                },
            },
            BatchLineResult {
                line: 1,
                outcome: BatchOutcome::Failed { message: "too long".into(), caller_error: true },
            },
        ];
        let running = batch("completed", false, false);
        let (output, errors) =
            chunk_lines(&end("verified"), &items, Some(&results), &running, 7, (1_000_000, 2_000_000));
        assert_eq!((output.len(), errors.len()), (1, 1));
        assert_eq!(output[0]["custom_id"], "a");
        let body = &output[0]["response"]["body"];
        assert_eq!(body["choices"][0]["message"]["content"], "Hello");
        assert_eq!(body["usage"]["cost_micro_credits"], 5 + 2 * 2, "5 prompt tokens at 1, 2 completion tokens at 2");
        assert_eq!(errors[0]["response"]["status_code"], 400);
        // A chunk out of attempts: every line in the error file with the reason.
        let (output, errors) = chunk_lines(&end("failed"), &items, None, &running, 7, (1, 1));
        assert!(output.is_empty() && errors.len() == 2);
        assert_eq!(errors[1]["error"]["code"], "batch_chunk_failed");
        assert_eq!(errors[1]["error"]["message"], "out of memory");
        // Stopped: named when the window ran out, left out when the owner cancelled.
        let (_, errors) = chunk_lines(&end("cancelled"), &items, None, &batch("cancelled", false, true), 7, (1, 1));
        assert_eq!((errors.len(), errors[0]["error"]["code"].as_str()), (2, Some("batch_expired")));
        let (output, errors) =
            chunk_lines(&end("cancelled"), &items, None, &batch("cancelled", false, false), 7, (1, 1));
        assert!(output.is_empty() && errors.is_empty());
    }

    #[test]
    fn statuses_follow_the_job_and_the_close() {
        assert_eq!(status(&batch("active", false, false)), "in_progress");
        assert_eq!(status(&batch("completed", false, false)), "finalizing");
        assert_eq!(status(&batch("completed", true, false)), "completed");
        assert_eq!(status(&batch("cancelled", false, false)), "cancelling");
        assert_eq!(status(&batch("cancelled", true, false)), "cancelled");
        assert_eq!(status(&batch("cancelled", true, true)), "expired");
        assert_eq!(status(&batch("failed", true, false)), "failed");
        let json = batch_json(&batch("completed", true, false));
        assert_eq!(json["request_counts"], json!({ "total": 10, "completed": 4, "failed": 1 }));
        assert_eq!(json["metadata"], json!({ "k": "v" }));
        assert_eq!(json["completed_at"], json!(1));
    }
}
