//! The agent API spoken like an agent: register, heartbeat, sign off; tokens scoped to one node; bad input refused.

use pictor_core::agent_protocol::{
    BenchmarkResult, BlenderInstall, Hardware, LiveMetrics, HEARTBEAT_PATH, OFFLINE_PATH, REGISTER_PATH,
};
use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// A worker created through the REST API as its owner would; returns (id, token, config text).
pub async fn create_worker(app: &TestApp, cookie: &str, name: &str) -> (i64, String, String) {
    let response = app.post_json("/api/v1/workers", &json!({ "name": name }), Some(cookie)).await;
    assert_eq!(response.status(), 201);
    let issued: Value = response.json().await.expect("json");
    let config = issued["config_toml"].as_str().expect("config").to_string();
    (issued["node_id"].as_i64().expect("id"), token_in(&config), config)
}

pub fn token_in(config: &str) -> String {
    config
        .lines()
        .find_map(|line| line.strip_prefix("token = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("token line")
        .to_string()
}

fn hardware() -> Hardware {
    Hardware {
        hostname: "studio-1".into(),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
        cpu_model: "AMD EPYC".into(),
        cpu_cores: 2,
        ram_bytes: 24 << 30,
        gpus: vec![],
        blenders: vec![BlenderInstall {
            path: "/usr/bin/blender".into(),
            version: "3.4.1".into(),
            engines: vec!["Cycles".into(), "EEVEE".into(), "Workbench".into()],
            benchmark: Some(BenchmarkResult::from_seconds(2.5)),
        }],
        sandbox: "bubblewrap".into(),
        ai_batch: false,
        ai_train: false,
    }
}

async fn agent_post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request reaches the coordinator")
}

pub async fn register(app: &TestApp, token: &str) -> reqwest::Response {
    agent_post(app, REGISTER_PATH, Some(token), json!({ "agent_version": "0.1.0", "hardware": hardware() })).await
}

pub async fn beat(app: &TestApp, token: &str, cpu_percent: f32) -> reqwest::Response {
    let metrics = LiveMetrics { cpu_percent, ram_used_bytes: 1 << 30, ram_total_bytes: 4 << 30, gpus: vec![] };
    agent_post(app, HEARTBEAT_PATH, Some(token), json!({ "metrics": metrics })).await
}

async fn worker_status(app: &TestApp, cookie: &str, id: i64) -> Value {
    let details: Value =
        app.get_with_cookie(&format!("/api/v1/workers/{id}"), cookie).await.json().await.expect("json");
    details
}

async fn a_worker_registers_heartbeats_and_signs_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (id, token, config) = create_worker(&app, &cookie, "studio").await;
    assert!(config.contains(&format!("coordinator_url = \"{}\"", app.address)), "{config}");
    assert_eq!(worker_status(&app, &cookie, id).await["summary"]["status"], "new");

    let registered: Value = register(&app, &token).await.json().await.expect("json");
    assert_eq!((registered["node_id"].as_i64(), registered["name"].as_str()), (Some(id), Some("studio")));
    let answer: Value = beat(&app, &token, 42.0).await.json().await.expect("json");
    assert_eq!(answer["asleep"], false);

    let details = worker_status(&app, &cookie, id).await;
    assert_eq!(details["summary"]["status"], "online");
    assert_eq!(details["summary"]["hardware_brief"], "AMD EPYC · 2 cores · CPU only");
    assert_eq!(details["summary"]["benchmark_score"], 400);
    assert_eq!(details["hardware"]["blenders"][0]["version"], "3.4.1");
    assert_eq!(details["recent"][0]["cpu_percent"], 42.0, "the heartbeat's metrics are in the history");
    let signin = app.get("/signin").await.text().await.expect("html");
    assert!(signin.contains("Blender 3.4<") && signin.contains("Blender 4.2 LTS"), "reported and built-in: {signin}");
    assert!(signin.contains(r#"class="engine online""#), "an engine with a worker online is marked: {signin}");

    assert_eq!(agent_post(&app, OFFLINE_PATH, Some(&token), json!(null)).await.status(), 204);
    assert_eq!(worker_status(&app, &cookie, id).await["summary"]["status"], "offline");
}

async fn a_node_token_acts_only_as_its_node_and_a_reissued_token_locks_out_the_old(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, ada) = app.sign_in_as("Ada").await;
    let (a, token_a, _) = create_worker(&app, &ada, "a").await;
    let (b, _, _) = create_worker(&app, &ada, "b").await;
    let registered: Value = register(&app, &token_a).await.json().await.expect("json");
    assert_eq!(registered["node_id"].as_i64(), Some(a), "the token decides the node, nothing else");
    assert_eq!(worker_status(&app, &ada, b).await["summary"]["status"], "new", "B untouched");

    // A node token is not a user credential.
    let me = app.client.get(app.url("/api/v1/me")).bearer_auth(&token_a).send().await.expect("me");
    assert_eq!(me.status(), 401);
    let list = app.client.get(app.url("/api/v1/workers")).bearer_auth(&token_a).send().await.expect("list");
    assert_eq!(list.status(), 401);
    // No token, or one we never issued.
    assert_eq!(agent_post(&app, HEARTBEAT_PATH, None, json!({})).await.status(), 401);
    let unknown = beat(&app, "pn_made_up", 1.0).await;
    assert_eq!(unknown.status(), 401);
    assert!(unknown.json::<Value>().await.expect("json")["error"].as_str().expect("text").contains("unknown"));

    // Re-issue: the old token stops at once, the new one works.
    let reissued: Value =
        app.post_json(&format!("/api/v1/workers/{a}/token"), &json!({}), Some(&ada)).await.json().await.expect("json");
    let new_token = token_in(reissued["config_toml"].as_str().expect("config"));
    assert_eq!(beat(&app, &token_a, 1.0).await.status(), 401);
    assert_eq!(beat(&app, &new_token, 1.0).await.status(), 200);

    // Another user cannot re-issue, read or delete Ada's worker.
    let (_, bob) = app.sign_in_as("Bob").await;
    assert_eq!(app.post_json(&format!("/api/v1/workers/{a}/token"), &json!({}), Some(&bob)).await.status(), 404);
    assert_eq!(app.get_with_cookie(&format!("/api/v1/workers/{a}"), &bob).await.status(), 404);
    let deleted = app.send_as(reqwest::Method::DELETE, &format!("/api/v1/workers/{a}"), None, &bob).await;
    assert_eq!(deleted.status(), 404);

    // Deleted by its owner: the token is gone.
    let deleted = app.send_as(reqwest::Method::DELETE, &format!("/api/v1/workers/{a}"), None, &ada).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(beat(&app, &new_token, 1.0).await.status(), 401);
}

async fn bad_agent_input_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (id, token, _) = create_worker(&app, &cookie, "box").await;
    assert_eq!(register(&app, &token).await.status(), 200);

    let too_hot = beat(&app, &token, 150.0).await;
    assert_eq!(too_hot.status(), 400);
    assert!(too_hot.json::<Value>().await.expect("json")["error"].as_str().expect("text").contains("cpu_percent"));
    let garbage = app
        .client
        .post(app.url(HEARTBEAT_PATH))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(garbage.status(), 400);
    let huge = "x".repeat(300 * 1024);
    let oversized = agent_post(&app, REGISTER_PATH, Some(&token), json!({ "agent_version": huge })).await;
    assert_eq!(oversized.status(), 413);
    let control = Hardware { hostname: "evil\u{7}".into(), ..hardware() };
    let refused =
        agent_post(&app, REGISTER_PATH, Some(&token), json!({ "agent_version": "1", "hardware": control })).await;
    assert_eq!(refused.status(), 400);
    let details = worker_status(&app, &cookie, id).await;
    assert_eq!(details["recent"], json!([]), "no metrics recorded from refused heartbeats");
    assert_eq!(details["hardware"]["hostname"], "studio-1", "the refused report did not replace the good one");

    // Names and settings through the REST API are validated too.
    let empty = app.post_json("/api/v1/workers", &json!({ "name": "   " }), Some(&cookie)).await;
    assert_eq!(empty.status(), 400);
    let mut settings = details["summary"]["settings"].clone();
    settings["price_micro_per_minute"] = json!(-5);
    let negative =
        app.send_as(reqwest::Method::PUT, &format!("/api/v1/workers/{id}/settings"), Some(&settings), &cookie).await;
    assert_eq!(negative.status(), 400);
    assert_eq!(worker_status(&app, &cookie, id).await["summary"]["settings"]["price_micro_per_minute"], 0);
}

async fn a_silent_worker_goes_offline_after_three_missed_heartbeats_and_disabled_ones_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.heartbeat_interval_ms = 200).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (id, token, _) = create_worker(&app, &cookie, "box").await;
    let registered: Value = register(&app, &token).await.json().await.expect("json");
    assert_eq!(registered["heartbeat_interval_ms"], 200);
    assert_eq!(worker_status(&app, &cookie, id).await["summary"]["status"], "online");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if worker_status(&app, &cookie, id).await["summary"]["status"] == "offline" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the worker never went offline");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(beat(&app, &token, 5.0).await.status(), 200, "a heartbeat brings it back");
    assert_eq!(worker_status(&app, &cookie, id).await["summary"]["status"], "online");

    let mut settings = worker_status(&app, &cookie, id).await["summary"]["settings"].clone();
    settings["enabled"] = json!(false);
    let put =
        app.send_as(reqwest::Method::PUT, &format!("/api/v1/workers/{id}/settings"), Some(&settings), &cookie).await;
    assert_eq!(put.status(), 204);
    let disabled = beat(&app, &token, 5.0).await;
    assert_eq!(disabled.status(), 403);
    assert!(disabled.json::<Value>().await.expect("json")["error"].as_str().expect("text").contains("disabled"));
}

crate::on_both_backends!(
    a_worker_registers_heartbeats_and_signs_off,
    a_node_token_acts_only_as_its_node_and_a_reissued_token_locks_out_the_old,
    bad_agent_input_is_refused_and_changes_nothing,
    a_silent_worker_goes_offline_after_three_missed_heartbeats_and_disabled_ones_are_refused,
);
