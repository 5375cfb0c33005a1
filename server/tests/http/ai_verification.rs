//! Checkers keeping AI workers honest, with real agents and models: an honest worker's answers replay to the same
//! tokens and vectors; a worker answering other tokens or perturbed vectors is caught, its payments are clawed
//! back, and after repeated rejections it is flagged and stops serving.

use std::time::{Duration, Instant};

use pictor_server::db::ledger::Account;
use pictor_server::db::{Backend, NodeId};
use serde_json::{json, Value};

use crate::agent_process::Agent;
use crate::ai_api::{ai_app, caller, post, serving_agent, CHAT_MODEL, EMBEDDING_MODEL};
use crate::helpers::TestApp;

async fn checker(app: &TestApp, cookie: &str, name: &str, models: &[&str]) -> Agent {
    let created = app.post_json("/api/v1/checkers", &json!({ "name": name }), Some(cookie)).await;
    assert_eq!(created.status(), 201);
    let issued: Value = created.json().await.expect("json");
    let list = models.iter().map(|m| format!("\"{m}\"")).collect::<Vec<_>>().join(", ");
    let config = format!("{}serve_models = [{list}]\n", issued["config_toml"].as_str().expect("config"));
    Agent::start_as("checker", &config, &["--no-benchmark"])
}

async fn ask(app: &TestApp, key: &str, content: &str) -> Value {
    let body = json!({
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 6,
        "temperature": 0.7,
    });
    let response = post(app, key, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn node_of(app: &TestApp, request: &str) -> NodeId {
    sqlx::query_scalar("SELECT node_id FROM ai_requests WHERE id = $1")
        .bind(request)
        .fetch_one(app.db.reader())
        .await
        .expect("served")
}

/// Waits until `node`'s checks reach `expected` (state, count) pairs.
async fn wait_checks(app: &TestApp, node: NodeId, expected: &[(&str, i64)], agents: &[&Agent]) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts = app.db.ai_check_counts(node).await.expect("counts");
        let now: Vec<(&str, i64)> = counts.iter().map(|(state, n)| (state.as_str(), *n)).collect();
        if now == expected {
            return;
        }
        let logs: Vec<String> = agents.iter().map(|a| a.log()).collect();
        assert!(
            Instant::now() < deadline,
            "checks are {now:?}, expected {expected:?}; logs:\n{}",
            logs.join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn an_honest_workers_answers_replay_exactly(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, grace, _) = caller(&app, "Grace", 0).await;
    let (carol_id, carol, _) = caller(&app, "Carol", 0).await;
    let worker = serving_agent(&app, &grace, "honest", &[CHAT_MODEL, EMBEDDING_MODEL], &[]).await;
    let checker = checker(&app, &carol, "checker", &[CHAT_MODEL, EMBEDDING_MODEL]).await;
    let (_, _, key) = caller(&app, "Ada", 1).await;
    let first = ask(&app, &key, "Tell me about the sea.").await;
    ask(&app, &key, "Tell me about the mountains.").await;
    let embedded = post(&app, &key, "/v1/embeddings", json!({"model": EMBEDDING_MODEL, "input": ["one", "two"]})).await;
    assert_eq!(embedded.status(), 200);
    let node = node_of(&app, first["id"].as_str().unwrap()).await;
    wait_checks(&app, node, &[("passed", 3)], &[&worker, &checker]).await;
    assert_eq!(app.db.worker_trust(node).await.unwrap().valid_streak, 3);
    assert!(checker.log().contains("tokens match"), "{}", checker.log());

    // The pool the answers fed is shared out to the checker's owner at the end of the epoch, for its three checks.
    let pool = app.db.balance(Account::CheckerPool).await.unwrap();
    assert!(pool > 0);
    let hour = 3_600_000;
    let closed = app.db.close_epochs(hour, pictor_server::clock::now_ms() + hour).await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(app.db.balance(Account::Earnings(carol_id)).await.unwrap(), pool);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn a_worker_answering_other_tokens_is_caught_clawed_back_and_flagged(backend: Backend) {
    let app = ai_app(backend).await;
    let (mallory, mallory_cookie, _) = caller(&app, "Mallory", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    let worker =
        serving_agent(&app, &mallory_cookie, "cheat", &[CHAT_MODEL], &[("PICTOR_AGENT_AI_FAULT", "wrong-tokens")])
            .await;
    let checker = checker(&app, &carol, "checker", &[CHAT_MODEL]).await;
    let (user, _, key) = caller(&app, "Ada", 1).await;
    let mut node = None;
    for topic in ["the sea", "the mountains", "the sky"] {
        let answer = ask(&app, &key, &format!("Tell me about {topic}.")).await;
        node = Some(node_of(&app, answer["id"].as_str().unwrap()).await);
    }
    let node = node.unwrap();
    wait_checks(&app, node, &[("rejected", 3)], &[&worker, &checker]).await;
    assert!(checker.log().contains("differs"), "{}", checker.log());
    // Every payment came back: the caller has all their credit, the cheat's owner nothing.
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), 1_000_000);
    assert_eq!(app.db.balance(Account::Earnings(mallory)).await.unwrap(), 0);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
    // My Workers counts what it served but no AI earnings once clawed back.
    let workers: Value = app.get_with_cookie("/api/v1/workers", &mallory_cookie).await.json().await.unwrap();
    assert!(workers["workers"][0]["ai_tokens"].as_i64().unwrap() > 0, "{workers}");
    assert_eq!(workers["workers"][0]["ai_earned_micro"], 0, "{workers}");
    // Three rejections flag the worker: it is cut off and cannot serve again.
    assert!(app.db.worker_trust(node).await.unwrap().flagged);
    let refused = post(
        &app,
        &key,
        "/v1/chat/completions",
        json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
    )
    .await;
    assert_eq!(refused.status(), 503, "a flagged worker serves nobody");
}

async fn perturbed_embeddings_are_caught(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, mallory, _) = caller(&app, "Mallory", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    let worker = serving_agent(
        &app,
        &mallory,
        "cheat",
        &[EMBEDDING_MODEL],
        &[("PICTOR_AGENT_AI_FAULT", "perturbed-embeddings")],
    )
    .await;
    let checker = checker(&app, &carol, "checker", &[EMBEDDING_MODEL]).await;
    let (_, _, key) = caller(&app, "Ada", 1).await;
    let response =
        post(&app, &key, "/v1/embeddings", json!({"model": EMBEDDING_MODEL, "input": "A man is eating food."})).await;
    assert_eq!(response.status(), 200);
    let node: NodeId = sqlx::query_scalar("SELECT node_id FROM ai_requests WHERE kind = 'embedding'")
        .fetch_one(app.db.reader())
        .await
        .unwrap();
    wait_checks(&app, node, &[("rejected", 1)], &[&worker, &checker]).await;
    assert!(checker.log().contains("least cosine similarity"), "{}", checker.log());
}

async fn answers_of_an_uploaded_model_are_checked_by_a_checker_that_fetches_it(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, grace, _) = caller(&app, "Grace", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    // Neither holds the uploaded model: the worker loads it for the request, the checker for the check.
    let worker = serving_agent(&app, &grace, "worker", &[EMBEDDING_MODEL], &[]).await;
    let checker = checker(&app, &carol, "checker", &[EMBEDDING_MODEL]).await;
    let (_, _, key) = caller(&app, "Ada", 1).await;
    let gguf = crate::ai_hosting::model_folder("smollm2-135m-instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let (status, uploaded) = crate::ai_hosting::upload(&app, &key, std::fs::read(gguf).unwrap()).await;
    assert_eq!(status, 201, "{uploaded}");
    let files = json!({"model.gguf": uploaded["sha256"]});
    let (status, created) =
        crate::ai_hosting::create(&app, &key, json!({"id": "ada-chat", "kind": "chat", "files": files})).await;
    assert_eq!(status, 201, "{created}");
    let body = json!({
        "model": "ada-chat",
        "messages": [{"role": "user", "content": "Tell me about the sea."}],
        "max_tokens": 6,
        "temperature": 0.7,
    });
    let response = post(&app, &key, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let node = node_of(&app, answer["id"].as_str().unwrap()).await;
    wait_checks(&app, node, &[("passed", 1)], &[&worker, &checker]).await;
    assert!(checker.log().contains("model fetched and loaded to check"), "{}", checker.log());
}

crate::on_both_backends!(
    answers_of_an_uploaded_model_are_checked_by_a_checker_that_fetches_it,
    an_honest_workers_answers_replay_exactly,
    a_worker_answering_other_tokens_is_caught_clawed_back_and_flagged,
    perturbed_embeddings_are_caught,
);
