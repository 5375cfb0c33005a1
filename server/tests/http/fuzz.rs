//! Property-based fuzzing of every JSON and streamed endpoint (REST, server functions, the agent protocol, sign-in)
//! through `pictor-fuzz`: whatever arrives gets an answer below 500 — never a panic or a server error — and a refusal
//! changes nothing. `PICTOR_FUZZ_CASES` sets the inputs per endpoint (a short run here; `pictor-bench fuzz` runs a
//! long one), and each endpoint's count is printed.

use pictor_fuzz::{fuzz, targets, WATCHED_TABLES};
use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

/// Inputs per endpoint in the ordinary test run.
const DEFAULT_CASES: usize = 48;

fn cases() -> usize {
    std::env::var("PICTOR_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_CASES)
}

/// What the database holds that a refused request must leave alone.
async fn fingerprint(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in WATCHED_TABLES {
        let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.db.reader())
            .await
            .unwrap_or_else(|error| panic!("count {table}: {error}"));
        counts.push(count);
    }
    counts
}

async fn every_endpoint_answers_any_input_below_500_and_a_refusal_changes_nothing(backend: Backend) {
    // Limits off (they would answer most sign-in inputs 429), the payment webhook on (else it is a plain 404).
    let app = spawn_app_with(backend, |config| {
        config.limits.sign_in_per_minute = 0;
        config.limits.api_per_minute = 0;
        config.ledger.payment_webhook_secret = Some("a payment secret for fuzzing".into());
    })
    .await;
    let (_, cookie) = app.sign_in_as("Fuzz").await;
    let created = app.post_json("/api/v1/workers", &json!({ "name": "fuzz-box" }), Some(&cookie)).await;
    let issued: Value = created.json().await.expect("issued");
    let toml = issued["config_toml"].as_str().expect("config");
    let token = toml.lines().find_map(|line| line.strip_prefix("token = \"")).expect("token").trim_end_matches('"');
    let worker = issued["node_id"].as_i64().expect("id");
    // Every server function the dashboard registered, as the signed-in user.
    let server_functions = pictor_server::api::dashboard::server_function_paths();
    assert!(!server_functions.is_empty(), "the dashboard's server functions are registered");
    let targets = targets(&cookie, token, worker, &server_functions);
    let report = fuzz(&app.client, &app.origin(), &targets, cases(), || fingerprint(&app)).await;
    let total: usize = report.values().map(|tried| tried.inputs).sum();
    for (target, tried) in &report {
        eprintln!("fuzz: {target}: {} inputs ({})", tried.inputs, tried.statuses);
    }
    eprintln!("fuzz: {} endpoints, {total} inputs on {}", report.len(), backend.name());
    assert_eq!(app.get("/healthz").await.status(), 200, "still serving");
}

crate::on_both_backends!(every_endpoint_answers_any_input_below_500_and_a_refusal_changes_nothing);
