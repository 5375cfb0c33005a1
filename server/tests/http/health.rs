//! `/healthz`, `/metrics` and the OpenAPI document.

use pictor_server::db::Backend;

use crate::helpers::spawn_app;

async fn health_reports_ok_and_the_database_kind(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], backend.name());
}

async fn metrics_are_prometheus_text_with_live_gauges(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.db.create_user("Ada", 0).await.expect("user");
    let node = app.db.create_node(owner, pictor_server::db::nodes::NodeKind::Worker, "gpu", 0).await.expect("node");
    app.db.record_heartbeat(node, pictor_server::clock::now_ms()).await.expect("beat");
    let _ = app.get("/healthz").await;

    // The sampler runs every 100 ms; wait for it to see the new worker.
    let mut text = String::new();
    for _ in 0..50 {
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text"));
        text = response.text().await.expect("text");
        if text.contains("pictor_workers_online 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(text.contains("pictor_workers_online 1"), "{text}");
    assert!(text.contains("# TYPE pictor_http_requests counter"), "{text}");
    assert!(text.contains("pictor_http_requests_total{method=\"GET\",status=\"200\"}"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}

async fn the_openapi_document_lists_every_operation_to_anyone(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200, "public, no session");
    let document: serde_json::Value = response.json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    let operations: usize = paths.values().map(|item| item.as_object().map_or(0, |methods| methods.len())).sum();
    assert_eq!(operations, pictor_server::reference::operations::OPERATIONS.len());
    let chat = &paths["/v1/chat/completions"]["post"];
    assert_eq!(chat["tags"][0], "OpenAI-compatible API (/v1)", "{chat}");
    assert!(chat["security"][0].get("apiKey").is_some(), "{chat}");
    assert!(paths.contains_key(pictor_core::agent_protocol::LEASE_PATH), "the agent protocol is in it");
}

crate::on_both_backends!(
    health_reports_ok_and_the_database_kind,
    metrics_are_prometheus_text_with_live_gauges,
    the_openapi_document_lists_every_operation_to_anyone
);
