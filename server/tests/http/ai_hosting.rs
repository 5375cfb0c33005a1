//! Hosted models end to end: real model files uploaded and validated (bad ones refused, nothing kept), a private
//! model deployed, a real worker told to fetch and load it, answers equal to the network model's, the deployment's
//! prices charged; a model nobody holds loaded on demand; a deleted model unloaded.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pictor_server::db::ledger::Account;
use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::ai_api::{ai_app, caller, post, serving_agent, CHAT_MODEL, EMBEDDING_MODEL};
use crate::helpers::TestApp;

pub fn model_folder(name: &str) -> PathBuf {
    pictor_inference::ModelCache::default_location().folder(name)
}

/// `PUT /api/v1/ai/files` with `bytes`; the status and the answer.
/// Sends a request (120 s at most: model files are large) and reads its status and JSON answer.
pub async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.timeout(Duration::from_secs(120)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn upload(app: &TestApp, key: &str, bytes: Vec<u8>) -> (u16, Value) {
    answer(app.client.put(app.url("/api/v1/ai/files")).bearer_auth(key).body(bytes)).await
}

pub async fn create(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    answer(app.client.post(app.url("/api/v1/ai/models")).bearer_auth(key).json(&body)).await
}

async fn mine(app: &TestApp, key: &str) -> Vec<Value> {
    let listed: Value =
        app.client.get(app.url("/api/v1/ai/models")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    listed.as_array().cloned().unwrap_or_default()
}

/// Whether the store still holds the uploaded file with this hash (a model made of a missing file is refused as
/// "not uploaded"; the test coordinator's store is in memory).
async fn file_is_stored(app: &TestApp, key: &str, sha256: &str) -> bool {
    let (status, answer) =
        create(app, key, json!({"id": "probe", "kind": "chat", "files": {"model.gguf": sha256}})).await;
    assert_eq!(status, 400, "a probe never becomes a model: {answer}");
    !answer["error"].as_str().unwrap_or_default().contains("was not uploaded")
}

/// `PUT …/deployment` with (input, output) prices per million tokens and (min_warm, max_workers); the status.
async fn deploy(app: &TestApp, key: &str, model: &str, prices: (i64, i64), workers: (u32, u32)) -> u16 {
    let body = json!({
        "model": "", "input_price_micro_per_m": prices.0, "output_price_micro_per_m": prices.1,
        "min_warm": workers.0, "max_workers": workers.1,
    });
    let url = app.url(&format!("/api/v1/ai/models/{model}/deployment"));
    app.client.put(url).bearer_auth(key).json(&body).send().await.unwrap().status().as_u16()
}

fn chat(model: &str, content: &str) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": content}],
        "max_tokens": 10,
        "temperature": 0,
    })
}

async fn uploads_are_validated_and_a_deployed_model_is_loaded_and_served(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, lender_cookie, _) = caller(&app, "Lender", 0).await;
    // The worker serves embeddings only: the chat models below reach it by deployment and on demand.
    let agent = serving_agent(&app, &lender_cookie, "gpu-box", &[EMBEDDING_MODEL], &[]).await;
    let (maker, _, key) = caller(&app, "Maker", 5).await;
    let (_, _, stranger_key) = caller(&app, "Stranger", 5).await;

    // Refused: a pickle at upload; files that are no model; wrong names, unknown hashes, taken and bad names.
    let (status, answer) = upload(&app, &key, b"\x80\x04\x95pickled".to_vec()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("pickle"), "{answer}");
    let (status, garbage) = upload(&app, &key, b"not a model at all".to_vec()).await;
    assert_eq!(status, 201, "{garbage}");
    let garbage_sha = garbage["sha256"].as_str().unwrap().to_string();
    let (status, answer) =
        create(&app, &key, json!({"id": "junk", "kind": "chat", "files": {"model.gguf": garbage_sha}})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("not GGUF"), "{answer}");
    let (status, _) =
        create(&app, &key, json!({"id": "junk", "kind": "chat", "files": {"weights.bin": garbage_sha}})).await;
    assert_eq!(status, 400);
    let (status, _) =
        create(&app, &key, json!({"id": "junk", "kind": "chat", "files": {"model.gguf": "ab".repeat(32)}})).await;
    assert_eq!(status, 400);
    let (status, _) =
        create(&app, &key, json!({"id": CHAT_MODEL, "kind": "chat", "files": {"model.gguf": garbage_sha}})).await;
    assert_eq!(status, 400, "the network's names are taken");
    let (status, _) =
        create(&app, &key, json!({"id": "Bad Name!", "kind": "chat", "files": {"model.gguf": garbage_sha}})).await;
    assert_eq!(status, 400);
    assert!(mine(&app, &key).await.is_empty(), "nothing refused became a model");
    let pickle_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"\x80\x04\x95pickled"));
    assert!(!file_is_stored(&app, &key, &pickle_sha).await, "the pickle was not kept");
    assert!(file_is_stored(&app, &key, &garbage_sha).await, "an uploaded file is kept until a model is made of it");

    // The real SmolLM2 GGUF, uploaded as the maker's private model.
    let gguf = std::fs::read(model_folder("smollm2-135m-instruct").join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let (status, uploaded) = upload(&app, &key, gguf).await;
    assert_eq!(status, 201, "{uploaded}");
    let sha = uploaded["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha, pictor_core::ai::NETWORK_MODELS[0].sha256);
    let (status, created) =
        create(&app, &key, json!({"id": "maker-chat", "kind": "chat", "files": {"model.gguf": sha}})).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["model"]["context_length"], 8192);
    assert_eq!(created["model"]["public"], false);
    let (status, _) =
        create(&app, &key, json!({"id": "maker-chat", "kind": "chat", "files": {"model.gguf": sha}})).await;
    assert_eq!(status, 400, "a name is taken once");

    // Private: others neither see nor call it.
    let listed: Value =
        app.client.get(app.url("/v1/models")).bearer_auth(&stranger_key).send().await.unwrap().json().await.unwrap();
    assert!(!listed["data"].as_array().unwrap().iter().any(|m| m["id"] == "maker-chat"));
    assert_eq!(post(&app, &stranger_key, "/v1/chat/completions", chat("maker-chat", "hi")).await.status(), 404);

    // Deployed with its own prices and one warm worker: the worker fetches it, checks it and loads it.
    let bad = deploy(&app, &key, "maker-chat", (1, 1), (3, 1)).await;
    assert_eq!(bad, 400, "min_warm above max_workers");
    let stolen = deploy(&app, &stranger_key, "maker-chat", (0, 0), (1, 1)).await;
    assert_eq!(stolen, 404, "only the owner deploys");
    let deployed = deploy(&app, &key, "maker-chat", (100_000, 300_000), (1, 1)).await;
    assert_eq!(deployed, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let models = mine(&app, &key).await;
        if models[0]["warm_on"].as_array().is_some_and(|on| on == &[json!("gpu-box")]) {
            break;
        }
        assert!(Instant::now() < deadline, "the deployment never became warm: {models:?}\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Its answers are the network model's (the same weights), charged at the deployment's prices.
    let credit = app.db.balance(Account::Credit(maker)).await.unwrap();
    let hosted: Value = post(&app, &key, "/v1/chat/completions", chat("maker-chat", "What is the capital of France?"))
        .await
        .json()
        .await
        .unwrap();
    let text = hosted["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("Paris"), "{hosted}");
    let (prompt, completion) =
        (hosted["usage"]["prompt_tokens"].as_u64().unwrap(), hosted["usage"]["completion_tokens"].as_u64().unwrap());
    let cost = pictor_core::ai::cost_micro(prompt, completion, 100_000, 300_000);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.db.balance(Account::Credit(maker)).await.unwrap() != credit - cost {
        assert!(Instant::now() < deadline, "the deployment's prices were not charged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // My Workers shows the lender's worker holding it, the tokens it served and its AI earnings (90 %).
    let workers: Value = app.get_with_cookie("/api/v1/workers", &lender_cookie).await.json().await.unwrap();
    let worker = &workers["workers"][0];
    assert_eq!(worker["ai_models"], json!(["all-minilm-l6-v2", "maker-chat"]), "{workers}");
    assert_eq!(worker["ai_tokens"].as_u64(), Some(prompt + completion));
    assert_eq!(worker["ai_earned_micro"].as_i64(), Some(cost - cost * 10 / 100));
    assert_eq!(workers["earned_micro"], worker["ai_earned_micro"], "AI earnings count in the total");

    // The network model is not held by anyone: the request waits while the worker loads it from its cache.
    let network: Value = post(&app, &key, "/v1/chat/completions", chat(CHAT_MODEL, "What is the capital of France?"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(network["choices"][0]["message"]["content"], hosted["choices"][0]["message"]["content"], "{network}");

    // Deleted: the worker drops it, its file stays only while another model uses it, calls are 404.
    let deleted = app.client.delete(app.url("/api/v1/ai/models/maker-chat")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(post(&app, &key, "/v1/chat/completions", chat("maker-chat", "hi")).await.status(), 404);
    assert!(!file_is_stored(&app, &key, &sha).await, "the deleted model's file is gone");
    assert!(mine(&app, &key).await.is_empty());
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn an_uploaded_embedding_model_is_loaded_on_first_use(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, lender_cookie, _) = caller(&app, "Lender", 0).await;
    let _agent = serving_agent(&app, &lender_cookie, "gpu-box", &[EMBEDDING_MODEL], &[]).await;
    let (_, _, key) = caller(&app, "Maker", 5).await;
    let folder = model_folder("all-minilm-l6-v2");
    let mut files = serde_json::Map::new();
    for name in ["model.safetensors", "config.json", "tokenizer.json"] {
        let (status, uploaded) = upload(&app, &key, std::fs::read(folder.join(name)).unwrap()).await;
        assert_eq!(status, 201, "{name}: {uploaded}");
        files.insert(name.into(), uploaded["sha256"].clone());
    }
    // A configuration that is not BERT's is refused.
    let (status, not_bert) = upload(&app, &key, br#"{"model_type": "gpt2"}"#.to_vec()).await;
    assert_eq!(status, 201);
    let mut wrong = files.clone();
    wrong.insert("config.json".into(), not_bert["sha256"].clone());
    let (status, answer) = create(&app, &key, json!({"id": "my-vectors", "kind": "embedding", "files": wrong})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("BERT"), "{answer}");

    let (status, created) =
        create(&app, &key, json!({"id": "my-vectors", "kind": "embedding", "public": true, "files": files})).await;
    assert_eq!(status, 201, "{created}");
    // Not deployed and held by nobody: the first call has a worker fetch and load it, then answers.
    let input = json!({"input": ["A man is eating food."], "encoding_format": "float"});
    let mut hosted_request = input.clone();
    hosted_request["model"] = json!("my-vectors");
    let hosted: Value = post(&app, &key, "/v1/embeddings", hosted_request).await.json().await.unwrap();
    let mut network_request = input;
    network_request["model"] = json!(EMBEDDING_MODEL);
    let network: Value = post(&app, &key, "/v1/embeddings", network_request).await.json().await.unwrap();
    assert_eq!(hosted["data"][0]["embedding"].as_array().map(Vec::len), Some(384), "{hosted}");
    assert_eq!(hosted["data"][0]["embedding"], network["data"][0]["embedding"]);
    assert_eq!(mine(&app, &key).await[0]["warm_on"], json!(["gpu-box"]));
}

crate::on_both_backends!(
    uploads_are_validated_and_a_deployed_model_is_loaded_and_served,
    an_uploaded_embedding_model_is_loaded_on_first_use,
);
