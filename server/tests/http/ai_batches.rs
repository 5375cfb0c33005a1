//! AI batches end to end on the task engine, with real agents running the real models: a 1 000-line embeddings batch
//! split across two workers equals the API called line by line; a chat batch equals the API (greedy); bad lines and
//! too little credit create nothing; a cancelled batch returns the lines it finished and refunds the rest; a worker
//! answering other tokens is caught by a checker's replay and every chunk it was paid for is paid back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pictor_server::db::ledger::Account;
use pictor_server::db::{Backend, JobId};
use serde_json::{json, Value};

use crate::ai_api::{caller, post, serving_agent, CHAT_MODEL, EMBEDDING_MODEL};
use crate::ai_files::upload as upload_file;
use crate::ai_hosting::answer;
use crate::helpers::{spawn_app_with, TestApp};

/// A coordinator with batches cut into chunks of `lines` and no welcome credit.
async fn batch_app(backend: Backend, lines: u32) -> TestApp {
    spawn_app_with(backend, |config| {
        config.ledger.welcome_credits = "0".into();
        config.ai.dispatch_wait_ms = 2_000;
        config.ai.batch_chunk_lines = lines;
    })
    .await
}

fn embedding_line(id: &str, input: &str) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/v1/embeddings", "body": {"model": EMBEDDING_MODEL, "input": input}})
        .to_string()
}

fn chat_body(content: &str, max_tokens: u32) -> Value {
    json!({
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

fn chat_line(id: &str, content: &str, max_tokens: u32) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions", "body": chat_body(content, max_tokens)})
        .to_string()
}

/// Uploads `lines` as a batch file; its id.
async fn input_file(app: &TestApp, key: &str, lines: &[String]) -> String {
    let (status, file) = upload_file(app, key, "batch", &lines.join("\n")).await;
    assert_eq!(status, 200, "{file}");
    file["id"].as_str().unwrap().to_string()
}

async fn create_batch(app: &TestApp, key: &str, file: &str, endpoint: &str) -> (u16, Value) {
    let body =
        json!({"input_file_id": file, "endpoint": endpoint, "completion_window": "24h", "metadata": {"run": "test"}});
    answer(app.client.post(app.url("/v1/batches")).bearer_auth(key).json(&body)).await
}

async fn batch(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, batch) = answer(app.client.get(app.url(&format!("/v1/batches/{id}"))).bearer_auth(key)).await;
    assert_eq!(status, 200, "{batch}");
    batch
}

/// Polls the batch until `done` holds for it (3 minutes at most).
async fn wait_for(app: &TestApp, key: &str, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = batch(app, key, id).await;
        if done(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "the batch never got {what}: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A file's lines by custom id.
async fn lines_of(app: &TestApp, key: &str, file: &Value) -> HashMap<String, Value> {
    let Some(id) = file.as_str() else { return HashMap::new() };
    let response = app.client.get(app.url(&format!("/v1/files/{id}/content"))).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|line| (line["custom_id"].as_str().unwrap().to_string(), line))
        .collect()
}

/// The workers that ran the batch's chunks, and the job it is.
async fn batch_job(app: &TestApp, id: &str) -> (JobId, Vec<i64>) {
    let job: i64 = sqlx::query_scalar("SELECT job_id FROM ai_batches WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    let nodes: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT a.node_id FROM task_attempts a JOIN tasks t ON t.id = a.task_id
         WHERE t.job_id = $1 AND a.outcome = 'uploaded' ORDER BY a.node_id",
    )
    .bind(job)
    .fetch_all(app.db.reader())
    .await
    .unwrap();
    (JobId(job), nodes)
}

async fn an_embeddings_batch_runs_on_two_workers_and_equals_the_api(backend: Backend) {
    let app = batch_app(backend, 50).await;
    let (_, lender, _) = caller(&app, "Lender", 0).await;
    let first = serving_agent(&app, &lender, "box-a", &[EMBEDDING_MODEL], &[]).await;
    let second = serving_agent(&app, &lender, "box-b", &[EMBEDDING_MODEL], &[]).await;
    let (user, _, key) = caller(&app, "Analyst", 20).await;
    let (_, _, broke) = caller(&app, "Broke", 0).await;

    // Lines the Files API takes but that no request may be: refused with their numbers, nothing created.
    let mut bad: Vec<String> = (0..3).map(|i| embedding_line(&format!("ok-{i}"), "fine")).collect();
    bad.insert(
        1,
        json!({"custom_id": "empty", "method": "POST", "url": "/v1/embeddings",
                         "body": {"model": EMBEDDING_MODEL, "input": ""}})
        .to_string(),
    );
    bad.push(
        json!({"custom_id": "fmt", "method": "POST", "url": "/v1/embeddings",
                    "body": {"model": EMBEDDING_MODEL, "input": "x", "encoding_format": "hex"}})
        .to_string(),
    );
    let bad_file = input_file(&app, &key, &bad).await;
    let credit_before = app.db.balance(Account::Credit(user)).await.unwrap();
    let (status, refused) = create_batch(&app, &key, &bad_file, "/v1/embeddings").await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 2:") && message.contains("line 5:") && !message.contains("line 1:"), "{message}");
    let (status, wrong) = create_batch(&app, &key, &bad_file, "/v1/chat/completions").await;
    assert_eq!(status, 400, "{wrong}");
    let (_, listed) = answer(app.client.get(app.url("/v1/batches")).bearer_auth(&key)).await;
    assert_eq!(listed["data"], json!([]), "nothing was created");
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), credit_before);

    // 1 000 lines, 20 chunks.
    let texts: Vec<String> = (0..1000).map(|i| format!("sentence number {i} about render farms and GPUs")).collect();
    let lines: Vec<String> = texts.iter().enumerate().map(|(i, t)| embedding_line(&format!("req-{i}"), t)).collect();
    let file = input_file(&app, &key, &lines).await;
    let broke_file = input_file(&app, &broke, &lines[..10]).await;
    let (status, poor) = create_batch(&app, &broke, &broke_file, "/v1/embeddings").await;
    assert_eq!(status, 402, "{poor}");
    let (status, created) = create_batch(&app, &key, &file, "/v1/embeddings").await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["object"], "batch");
    assert_eq!(created["status"], "in_progress");
    assert_eq!(created["request_counts"]["total"], 1000);
    assert_eq!(created["metadata"], json!({"run": "test"}));
    let id = created["id"].as_str().unwrap().to_string();
    let (status, _) = answer(app.client.get(app.url(&format!("/v1/batches/{id}"))).bearer_auth(&broke)).await;
    assert_eq!(status, 404, "a batch is its owner's only");

    let done = wait_for(&app, &key, &id, "completed", |b| b["status"] == "completed").await;
    assert_eq!(done["request_counts"], json!({"total": 1000, "completed": 1000, "failed": 0}), "{done}");
    assert!(done["error_file_id"].is_null(), "{done}");
    let (job, nodes) = batch_job(&app, &id).await;
    assert_eq!(nodes.len(), 2, "both workers ran chunks; logs:\n{}\n{}", first.log(), second.log());
    let output = lines_of(&app, &key, &done["output_file_id"]).await;
    assert_eq!(output.len(), 1000);

    // Line by line, the API gives the very same vectors.
    for (i, text) in texts.iter().enumerate() {
        let response = post(&app, &key, "/v1/embeddings", json!({"model": EMBEDDING_MODEL, "input": text})).await;
        assert_eq!(response.status(), 200);
        let direct: Value = response.json().await.unwrap();
        let line = &output[&format!("req-{i}")];
        assert_eq!(line["response"]["status_code"], 200, "{line}");
        let body = &line["response"]["body"];
        assert_eq!(body["data"], direct["data"], "line {i}");
        assert_eq!(body["usage"], direct["usage"], "line {i}");
    }

    // Paid per token from the job's escrow, the rest refunded: the escrow is empty, the workers' owner earned.
    let spent = done["cost_micro_credits"].as_i64().unwrap();
    assert!(spent > 0, "{done}");
    assert_eq!(app.db.balance(Account::Escrow(job)).await.unwrap(), 0);
    let lender_id: i64 = sqlx::query_scalar("SELECT owner_id FROM nodes WHERE id = $1")
        .bind(nodes[0])
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    assert!(app.db.balance(Account::Earnings(lender_id)).await.unwrap() > 0);
    let (_, listed) = answer(app.client.get(app.url("/v1/batches?limit=1")).bearer_auth(&key)).await;
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["has_more"], false);
}

async fn a_chat_batch_equals_the_api_and_cancelling_keeps_finished_lines(backend: Backend) {
    let app = batch_app(backend, 3).await;
    let (_, lender, _) = caller(&app, "Lender", 0).await;
    let _worker = serving_agent(&app, &lender, "chat-box", &[CHAT_MODEL], &[]).await;
    let (user, _, key) = caller(&app, "Writer", 20).await;

    let prompts = ["Say hello.", "Name a colour.", "Count to three.", "What is 2+2?", "Name a fruit."];
    let lines: Vec<String> = prompts.iter().enumerate().map(|(i, p)| chat_line(&format!("q{i}"), p, 6)).collect();
    let file = input_file(&app, &key, &lines).await;
    let (status, created) = create_batch(&app, &key, &file, "/v1/chat/completions").await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let done = wait_for(&app, &key, &id, "completed", |b| b["status"] == "completed").await;
    assert_eq!(done["request_counts"]["completed"], 5, "{done}");
    let output = lines_of(&app, &key, &done["output_file_id"]).await;
    for (i, prompt) in prompts.iter().enumerate() {
        let direct: Value = post(&app, &key, "/v1/chat/completions", chat_body(prompt, 6)).await.json().await.unwrap();
        let body = &output[&format!("q{i}")]["response"]["body"];
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["choices"][0]["message"], direct["choices"][0]["message"], "line {i}");
        assert_eq!(body["choices"][0]["finish_reason"], direct["choices"][0]["finish_reason"]);
        assert_eq!(body["usage"]["prompt_tokens"], direct["usage"]["prompt_tokens"]);
        assert_eq!(body["usage"]["completion_tokens"], direct["usage"]["completion_tokens"]);
    }
    // Billed per token, line by line at the model's prices: the batch cost what its lines say.
    let lines_cost: i64 =
        output.values().map(|line| line["response"]["body"]["usage"]["cost_micro_credits"].as_i64().unwrap()).sum();
    assert!(lines_cost > 0);
    assert_eq!(done["cost_micro_credits"].as_i64(), Some(lines_cost), "{done}");

    // A long batch cancelled part-way: the finished lines come back, the rest of the escrow goes back.
    let lines: Vec<String> =
        (0..120).map(|i| chat_line(&format!("long-{i}"), &format!("Write about {i}."), 12)).collect();
    let file = input_file(&app, &key, &lines).await;
    let (_, created) = create_batch(&app, &key, &file, "/v1/chat/completions").await;
    let id = created["id"].as_str().unwrap().to_string();
    wait_for(&app, &key, &id, "6 lines done", |b| b["request_counts"]["completed"].as_i64() >= Some(6)).await;
    let (status, cancelling) =
        answer(app.client.post(app.url(&format!("/v1/batches/{id}/cancel"))).bearer_auth(&key)).await;
    assert_eq!(status, 200, "{cancelling}");
    let cancelled = wait_for(&app, &key, &id, "cancelled", |b| b["status"] == "cancelled").await;
    let kept = cancelled["request_counts"]["completed"].as_i64().unwrap();
    assert!((6..120).contains(&kept), "{cancelled}");
    let output = lines_of(&app, &key, &cancelled["output_file_id"]).await;
    assert_eq!(output.len() as i64, kept, "every finished line is returned");
    assert!(output.values().all(|line| line["response"]["status_code"] == 200));
    let (job, _) = batch_job(&app, &id).await;
    assert_eq!(app.db.balance(Account::Escrow(job)).await.unwrap(), 0, "the rest was refunded");
    let paid: i64 = cancelled["cost_micro_credits"].as_i64().unwrap();
    assert!(paid > 0);
    let (status, again) = answer(app.client.post(app.url(&format!("/v1/batches/{id}/cancel"))).bearer_auth(&key)).await;
    assert_eq!(status, 400, "a cancelled batch cannot be cancelled again: {again}");
    // Spent on both batches and the direct calls, never more than the user had.
    assert!(app.db.balance(Account::Credit(user)).await.unwrap() < 20_000_000);
}

async fn a_cheating_batch_worker_is_caught_and_every_chunk_paid_back(backend: Backend) {
    let app = batch_app(backend, 2).await;
    let (mallory, mallory_cookie, _) = caller(&app, "Mallory", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    let cheat = [("PICTOR_AGENT_AI_FAULT", "wrong-tokens")];
    let worker = serving_agent(&app, &mallory_cookie, "cheat", &[CHAT_MODEL], &cheat).await;
    let created = app.post_json("/api/v1/checkers", &json!({ "name": "checker" }), Some(&carol)).await;
    let issued: Value = created.json().await.unwrap();
    let config = format!("{}serve_models = [\"{CHAT_MODEL}\"]\n", issued["config_toml"].as_str().unwrap());
    let checker = crate::agent_process::Agent::start_as("checker", &config, &["--no-benchmark"]);
    let (user, _, key) = caller(&app, "Ada", 1).await;

    let lines: Vec<String> = ["the sea", "the sky", "a river", "a forest"]
        .iter()
        .enumerate()
        .map(|(i, t)| chat_line(&format!("c{i}"), &format!("Tell me about {t}."), 6))
        .collect();
    let file = input_file(&app, &key, &lines).await;
    let (_, created) = create_batch(&app, &key, &file, "/v1/chat/completions").await;
    let id = created["id"].as_str().unwrap().to_string();
    wait_for(&app, &key, &id, "completed", |b| b["status"] == "completed").await;
    let (_, nodes) = batch_job(&app, &id).await;
    let node = pictor_server::db::NodeId(nodes[0]);
    // A fresh worker's every chunk is checked: one line each, replayed by the checker, and none agrees.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let counts = app.db.ai_check_counts(node).await.unwrap();
        if counts == vec![("rejected".to_string(), 2)] {
            break;
        }
        assert!(Instant::now() < deadline, "checks are {counts:?}; logs:\n{}\n---\n{}", worker.log(), checker.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Every chunk's payment came back to the batch's owner; the cheat's owner keeps nothing.
    assert_eq!(app.db.balance(Account::Earnings(mallory)).await.unwrap(), 0);
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), 1_000_000);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

crate::on_both_backends!(an_embeddings_batch_runs_on_two_workers_and_equals_the_api);
crate::on_both_backends!(a_cheating_batch_worker_is_caught_and_every_chunk_paid_back);
crate::on_both_backends!(a_chat_batch_equals_the_api_and_cancelling_keeps_finished_lines);
