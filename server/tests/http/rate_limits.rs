//! Abuse bounds over HTTP: sign-in requests per client address, API requests per account (over the limit a 429
//! with Retry-After that changes nothing), and server functions' body size.

use pictor_server::db::Backend;
use serde_json::json;

use crate::helpers::{spawn_app_with, TestApp};

const ADDRESS: &str = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

async fn nonces(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM wallet_nonces").fetch_one(app.db.reader()).await.expect("count")
}

async fn sign_in_is_limited_per_client_address(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.limits.sign_in_per_minute = 3).await;
    for _ in 0..3 {
        let response = app.post_json("/auth/petra/challenge", &json!({ "address": ADDRESS }), None).await;
        assert_eq!(response.status(), 200);
    }
    let refused = app.post_json("/auth/petra/challenge", &json!({ "address": ADDRESS }), None).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().expect("text").parse().expect("seconds");
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(nonces(&app).await, 3, "the refused request made no nonce");
    // Another client address has its own allowance (127.0.0.2 is loopback too).
    let other = reqwest::Client::builder().local_address("127.0.0.2".parse().ok()).build().expect("client");
    let response = other
        .post(app.url("/auth/petra/challenge"))
        .header("Origin", app.origin())
        .json(&json!({ "address": ADDRESS }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(nonces(&app).await, 4);
}

async fn the_api_is_limited_per_account(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.limits.api_per_minute = 5).await;
    let (_, ada) = app.sign_in_as("Ada").await;
    let (_, bob) = app.sign_in_as("Bob").await;
    for _ in 0..5 {
        assert_eq!(app.get_with_cookie("/api/v1/me", &ada).await.status(), 200);
    }
    let refused = app.get_with_cookie("/api/v1/me", &ada).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(app.get_with_cookie("/api/v1/me", &bob).await.status(), 200, "another account is not slowed");
    assert_eq!(app.get("/healthz").await.status(), 200, "unlimited outside the API");
}

async fn a_server_function_body_over_a_mebibyte_is_refused(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let large = "x".repeat(2 << 20);
    let response = app
        .client
        .post(app.url("/api/account_overview"))
        .header("Origin", app.origin())
        .header("Cookie", &cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(large)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);
}

crate::on_both_backends!(
    sign_in_is_limited_per_client_address,
    the_api_is_limited_per_account,
    a_server_function_body_over_a_mebibyte_is_refused
);
