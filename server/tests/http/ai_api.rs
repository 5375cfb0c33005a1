//! The AI API end to end: real agents serving the real models (SmolLM2 and MiniLM from the model cache) to callers of
//! the OpenAI-compatible endpoints; billing per token through the ledger; workers lost before and during a stream.

use std::time::{Duration, Instant};

use futures::StreamExt;
use pictor_server::db::ledger::{Account, Transfer};
use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::agent_process::Agent;
use crate::agents::create_worker;
use crate::helpers::{spawn_app_with, TestApp};

pub const CHAT_MODEL: &str = "smollm2-135m-instruct";
pub const EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// A coordinator where new accounts start with no credit (so 402 can be seen), with a short wait for workers.
pub async fn ai_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.ledger.welcome_credits = "0".into();
        config.ai.dispatch_wait_ms = 2_000;
    })
    .await
}

/// A signed-in user with `credits` on their account and an API key; returns (user, cookie, key).
pub async fn caller(app: &TestApp, name: &str, credits: i64) -> (i64, String, String) {
    let (user, cookie) = app.sign_in_as(name).await;
    let now = pictor_server::clock::now_ms();
    if credits > 0 {
        let top_up = Transfer::new(
            format!("test:{name}"),
            Account::External,
            Account::Credit(user),
            credits * 1_000_000,
            "top_up",
        );
        app.db.transfer(&top_up, now).await.expect("top up");
    }
    let key = pictor_server::auth::api_keys::create(&app.db, user, "ai", now).await.expect("key");
    (user, cookie, key.secret)
}

/// A worker agent serving `models`, started with `env`, once the coordinator lists it warm for all of them.
pub async fn serving_agent(app: &TestApp, cookie: &str, name: &str, models: &[&str], env: &[(&str, &str)]) -> Agent {
    let (_, _, config) = create_worker(app, cookie, name).await;
    let list = models.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ");
    let config = format!("{config}serve_models = [{list}]\n");
    let (_, _, key) = caller(app, &format!("{name}-probe"), 0).await;
    let before = warm_counts(app, &key, models).await;
    let agent = Agent::start_with_env("worker", &config, &["--no-benchmark"], env);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = warm_counts(app, &key, models).await;
        if now.iter().zip(&before).all(|(now, before)| now > before) {
            return agent;
        }
        assert!(Instant::now() < deadline, "the agent never served {models:?}; log:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn warm_counts(app: &TestApp, key: &str, models: &[&str]) -> Vec<i64> {
    let listed: Value =
        app.client.get(app.url("/v1/models")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    models
        .iter()
        .map(|id| {
            listed["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == *id)
                .map_or(0, |m| m["warm_workers"].as_i64().unwrap())
        })
        .collect()
}

pub async fn post(app: &TestApp, key: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(key).json(&body).timeout(Duration::from_secs(60)).send().await.unwrap()
}

fn question(content: &str, max_tokens: u32) -> Value {
    json!({
        "model": CHAT_MODEL,
        "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
    })
}

/// Reads a server-sent event stream to its end: the `data:` payloads, in order.
pub async fn read_events(response: reqwest::Response) -> Vec<String> {
    let mut events = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(Ok(bytes)) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data: ").or_else(|| line.strip_prefix("data:")) {
                    events.push(data.to_string());
                }
            }
        }
    }
    events
}

async fn request_row(app: &TestApp, id: &str) -> (String, i64, i64, i64, Option<String>, Option<i64>) {
    sqlx::query_as(
        "SELECT status, prompt_tokens, completion_tokens, cost_micro, outcome, node_id FROM ai_requests WHERE id = $1",
    )
    .bind(id)
    .fetch_one(app.db.reader())
    .await
    .expect("a request row")
}

async fn settled_row(app: &TestApp, id: &str) -> (String, i64, i64, i64, Option<String>, Option<i64>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let row = request_row(app, id).await;
        if row.0 == "settled" {
            return row;
        }
        assert!(Instant::now() < deadline, "request {id} never settled: {row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn chat_streams_answers_bills_tokens_and_refuses_bad_requests(backend: Backend) {
    let app = ai_app(backend).await;
    let (owner, owner_cookie, _) = caller(&app, "Grace", 0).await;
    let _agent = serving_agent(&app, &owner_cookie, "gpu-box", &[CHAT_MODEL, EMBEDDING_MODEL], &[]).await;
    let (user, _, key) = caller(&app, "Ada", 5).await;

    // Models: both network models, priced, warm.
    let models: Value =
        app.client.get(app.url("/v1/models")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let chat = models["data"].as_array().unwrap().iter().find(|m| m["id"] == CHAT_MODEL).expect("chat model").clone();
    assert_eq!(chat["owned_by"], "pictor");
    assert_eq!(chat["context_length"], 8192);
    assert_eq!(chat["warm_workers"], 1);

    // Non-streaming: a real answer, usage, and the ledger moves exactly its cost.
    let credit_before = app.db.balance(Account::Credit(user)).await.unwrap();
    let response = post(&app, &key, "/v1/chat/completions", question("What is the capital of France?", 12)).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.contains("Paris"), "{answer}");
    let (prompt_tokens, completion_tokens) =
        (answer["usage"]["prompt_tokens"].as_i64().unwrap(), answer["usage"]["completion_tokens"].as_i64().unwrap());
    assert!(prompt_tokens > 10 && completion_tokens > 0 && completion_tokens <= 12, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let row = settled_row(&app, id).await;
    let cost = pictor_core::ai::cost_micro(prompt_tokens as u64, completion_tokens as u64, 200_000, 400_000);
    assert_eq!((row.1, row.2, row.3, row.4.as_deref()), (prompt_tokens, completion_tokens, cost, Some("ok")));
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), credit_before - cost);
    assert_eq!(app.db.balance(Account::AiHold(user)).await.unwrap(), 0, "the rest of the reservation is released");
    let pool = cost * 10 / 100;
    assert_eq!(app.db.balance(Account::Earnings(owner)).await.unwrap(), cost - pool);
    assert!(app.db.check_ledger().await.unwrap().is_empty());

    // The same greedy request twice gives the same answer (what checkers rely on).
    let again: Value = post(&app, &key, "/v1/chat/completions", question("What is the capital of France?", 12))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["choices"][0]["message"]["content"], answer["choices"][0]["message"]["content"]);

    // Streaming with usage: a role chunk, several content chunks, the finish, usage, then [DONE].
    let mut body = question("Write a long story about a dragon.", 16);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = post(&app, &key, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = read_events(response).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{events:?}");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let pieces: Vec<&str> =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).filter(|t| !t.is_empty()).collect();
    assert!(pieces.len() >= 3, "the answer arrives in pieces: {pieces:?}");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 16);
    assert_eq!(chunks[chunks.len() - 2]["choices"][0]["finish_reason"], "length");

    // Completions and embeddings.
    let completion: Value = post(
        &app,
        &key,
        "/v1/completions",
        json!({"model": CHAT_MODEL, "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(completion["object"], "text_completion");
    assert!(completion["choices"][0]["text"].as_str().unwrap().contains("Paris"), "{completion}");
    let embedded: Value = post(
        &app,
        &key,
        "/v1/embeddings",
        json!({"model": EMBEDDING_MODEL, "input": ["A man is eating food.", "A man eats bread."]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(embedded["data"].as_array().unwrap().len(), 2);
    assert_eq!(embedded["data"][0]["embedding"].as_array().unwrap().len(), 384);
    assert!(embedded["usage"]["prompt_tokens"].as_i64().unwrap() > 4);
    let base64: Value = post(
        &app,
        &key,
        "/v1/embeddings",
        json!({"model": EMBEDDING_MODEL, "input": "A man is eating food.", "encoding_format": "base64"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(base64["data"][0]["embedding"].as_str().unwrap().len(), (384 * 4usize).div_ceil(3) * 4);

    // Bad requests: clear OpenAI errors, nothing reserved or charged.
    let credit = app.db.balance(Account::Credit(user)).await.unwrap();
    let unknown = post(
        &app,
        &key,
        "/v1/chat/completions",
        json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(unknown.json::<Value>().await.unwrap()["error"]["code"], "model_not_found");
    let wrong_kind = post(&app, &key, "/v1/embeddings", json!({"model": CHAT_MODEL, "input": "x"})).await;
    assert_eq!(wrong_kind.status(), 400);
    let bad_json = app.client.post(app.url("/v1/chat/completions")).bearer_auth(&key).body("{").send().await.unwrap();
    assert_eq!(bad_json.status(), 400);
    assert_eq!(bad_json.json::<Value>().await.unwrap()["error"]["type"], "invalid_request_error");
    let too_hot = post(
        &app,
        &key,
        "/v1/chat/completions",
        json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 3}),
    )
    .await;
    assert_eq!(too_hot.status(), 400);
    let no_key = app.client.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(no_key.status(), 401);
    assert_eq!(no_key.json::<Value>().await.unwrap()["error"]["type"], "authentication_error");
    let bad_key = app.client.get(app.url("/v1/models")).bearer_auth("pk_nope").send().await.unwrap();
    assert_eq!(bad_key.status(), 401);
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), credit);

    // No credit: 402. A key's rate limit: 429.
    let (broke, _, broke_key) = caller(&app, "Broke", 0).await;
    let refused = post(&app, &broke_key, "/v1/chat/completions", question("hi", 4)).await;
    assert_eq!(refused.status(), 402);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "insufficient_quota");
    assert_eq!(app.db.balance(Account::Credit(broke)).await.unwrap(), 0);
    let limited = limited_key(&app, user, &key).await;
    assert_eq!(
        post(&app, &limited, "/v1/embeddings", json!({"model": EMBEDDING_MODEL, "input": "x"})).await.status(),
        200
    );
    let second = post(&app, &limited, "/v1/embeddings", json!({"model": EMBEDDING_MODEL, "input": "x"})).await;
    assert_eq!(second.status(), 429);
    assert_eq!(second.json::<Value>().await.unwrap()["error"]["code"], "rate_limit_exceeded");
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

/// A second key of `user` allowed one request per minute.
pub async fn limited_key(app: &TestApp, user: i64, _other: &str) -> String {
    let now = pictor_server::clock::now_ms();
    let created = pictor_server::auth::api_keys::create(&app.db, user, "limited", now).await.expect("key");
    let limits = pictor_server::db::ai::AiKey {
        id: created.key.id,
        user,
        requests_per_minute: Some(1),
        tokens_per_minute: None,
        max_concurrent: None,
        budget_micro: None,
    };
    app.db.set_ai_key_limits(user, &limits).await.expect("limits");
    created.secret
}

async fn no_worker_is_a_503_and_nothing_is_charged(backend: Backend) {
    let app = ai_app(backend).await;
    let (user, _, key) = caller(&app, "Ada", 1).await;
    let started = Instant::now();
    let response = post(&app, &key, "/v1/chat/completions", question("hi", 4)).await;
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() >= Duration::from_millis(1_900), "it waited for a worker first");
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), 1_000_000);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn a_worker_dying_before_the_first_token_is_replaced_unnoticed(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, owner_cookie, _) = caller(&app, "Grace", 0).await;
    let mut dying =
        serving_agent(&app, &owner_cookie, "flaky", &[CHAT_MODEL], &[("PICTOR_AGENT_AI_FAULT", "exit-on-request")])
            .await;
    let _healthy = serving_agent(&app, &owner_cookie, "steady", &[CHAT_MODEL], &[]).await;
    let (_, _, key) = caller(&app, "Ada", 1).await;
    let mut body = question("What is the capital of France?", 8);
    body["stream"] = json!(true);
    let response = post(&app, &key, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let events = read_events(response).await;
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{events:?}");
    assert!(events.iter().all(|e| !e.contains("\"error\"")), "{events:?}");
    let text: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_string))
        .collect();
    assert!(text.contains("Paris"), "{text}");
    assert!(dying.child.try_wait().unwrap().is_some(), "the flaky worker did die on the request");
}

async fn a_worker_dying_mid_stream_ends_it_with_an_error_and_bills_only_sent_tokens(backend: Backend) {
    let app = ai_app(backend).await;
    let (owner, owner_cookie, _) = caller(&app, "Grace", 0).await;
    let mut agent = serving_agent(&app, &owner_cookie, "gpu-box", &[CHAT_MODEL], &[]).await;
    let (user, _, key) = caller(&app, "Ada", 1).await;
    let mut body = question("Write a long story about a dragon.", 400);
    body["stream"] = json!(true);
    let response = post(&app, &key, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while text.matches("\"content\"").count() < 6 {
        text.push_str(&String::from_utf8_lossy(&stream.next().await.expect("more").expect("bytes")));
    }
    agent.child.kill().expect("kill");
    while let Some(Ok(bytes)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(text.contains("\"error\""), "the stream ends with an error event: {text}");
    assert!(!text.contains("[DONE]"));
    let id = text.split("\"id\":\"").nth(1).and_then(|rest| rest.split('"').next()).expect("an id").to_string();
    let row = settled_row(&app, &id).await;
    let sent = text.matches("\"content\":\"").count() as i64 - 1; // the role chunk carries an empty content
    assert!(row.2 > 0 && row.2 < 400, "{row:?}");
    assert!((row.2 - sent).abs() <= 2, "billed {} tokens, sent about {sent}", row.2);
    assert_eq!(row.3, pictor_core::ai::cost_micro(row.1 as u64, row.2 as u64, 200_000, 400_000));
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), 1_000_000 - row.3);
    assert!(app.db.balance(Account::Earnings(owner)).await.unwrap() > 0);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn a_caller_leaving_stops_generation_and_pays_only_what_it_got(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, owner_cookie, _) = caller(&app, "Grace", 0).await;
    let agent = serving_agent(&app, &owner_cookie, "gpu-box", &[CHAT_MODEL], &[]).await;
    let (_, _, key) = caller(&app, "Ada", 1).await;
    let mut body = question("Write a long story about a dragon.", 400);
    body["stream"] = json!(true);
    let response = post(&app, &key, "/v1/chat/completions", body).await;
    let mut stream = response.bytes_stream();
    let first = String::from_utf8_lossy(&stream.next().await.unwrap().unwrap()).to_string();
    let id = first.split("\"id\":\"").nth(1).and_then(|rest| rest.split('"').next()).expect("an id").to_string();
    drop(stream);
    let row = settled_row(&app, &id).await;
    assert_eq!(row.4.as_deref(), Some("cancelled"));
    assert!(row.2 < 400, "{row:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !agent.log().contains("request cancelled: generation stopped") {
        assert!(Instant::now() < deadline, "the worker kept generating; log:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

crate::on_both_backends!(
    chat_streams_answers_bills_tokens_and_refuses_bad_requests,
    no_worker_is_a_503_and_nothing_is_charged,
    a_worker_dying_before_the_first_token_is_replaced_unnoticed,
    a_worker_dying_mid_stream_ends_it_with_an_error_and_bills_only_sent_tokens,
    a_caller_leaving_stops_generation_and_pays_only_what_it_got,
);
