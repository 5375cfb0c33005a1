//! Money over HTTP: the payment provider's signed webhook credits once and refuses forgeries; only operators grant,
//! and bad amounts are refused; payouts above the earnings are refused; a job beyond the credit is refused; the
//! ledger exports as CSV; notifications reach the user's webhook, signed, with retries — each refusal changing
//! nothing.

use std::sync::{Arc, Mutex};

use pictor_server::db::ledger::{Account, Transfer};
use pictor_server::db::Backend;
use pictor_server::money::signature::{sign, verify, SIGNATURE_HEADER};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::render_api::upload;

const SECRET: &str = "a webhook secret for the tests";

async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.ledger.payment_webhook_secret = Some(SECRET.to_string());
        config.ledger.welcome_credits = "0".into();
        // The tests' webhook receiver listens on this machine: allowed by name, as an operator would.
        config.ledger.webhook_allowed_hosts = vec!["127.0.0.1".into()];
    })
    .await
}

async fn credit_of(app: &TestApp, cookie: &str) -> i64 {
    let view: Value = app.get_with_cookie("/api/v1/ledger", cookie).await.json().await.expect("json");
    view["overview"]["credit_micro"].as_i64().expect("credit")
}

async fn deliver_payment(app: &TestApp, body: &str, signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/payments/webhook"))
        .header(SIGNATURE_HEADER, signature)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("webhook")
}

async fn the_payment_webhook_credits_once_and_refuses_forgeries(backend: Backend) {
    let app = app(backend).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    let body = json!({ "payment_id": "pi_42", "user_id": user, "amount_micro": 25_000_000 }).to_string();
    let paid = deliver_payment(&app, &body, &sign(SECRET, body.as_bytes())).await;
    assert_eq!(paid.status(), 200);
    assert_eq!(paid.json::<Value>().await.expect("json")["credited"], true);
    let replay = deliver_payment(&app, &body, &sign(SECRET, body.as_bytes())).await;
    assert_eq!(
        (replay.status(), replay.json::<Value>().await.expect("json")["credited"].clone()),
        (reqwest::StatusCode::OK, json!(false))
    );
    // Forged: signed with another secret, or the body changed after signing.
    let forged = deliver_payment(&app, &body, &sign("not the provider's secret", body.as_bytes())).await;
    assert_eq!(forged.status(), 401);
    let tampered = body.replace("25000000", "99000000").replace("pi_42", "pi_43");
    assert_eq!(deliver_payment(&app, &tampered, &sign(SECRET, body.as_bytes())).await.status(), 401);
    assert_eq!(deliver_payment(&app, &body, "").await.status(), 401);
    // Signed but absurd: negative, zero, beyond a billion credits, no such user.
    for (amount, who, status) in [(-5_i64, user, 400), (0, user, 400), (i64::MAX, user, 400), (5, 999_999, 404)] {
        let odd =
            json!({ "payment_id": format!("pi_{amount}_{who}"), "user_id": who, "amount_micro": amount }).to_string();
        assert_eq!(deliver_payment(&app, &odd, &sign(SECRET, odd.as_bytes())).await.status(), status, "{odd}");
    }
    assert_eq!(credit_of(&app, &cookie).await, 25_000_000, "credited exactly once");
    assert_eq!(app.db.check_ledger().await.expect("check"), Vec::<String>::new());
}

async fn only_operators_grant_and_bad_amounts_change_nothing(backend: Backend) {
    let app = app(backend).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    let (operator, operator_cookie) = app.sign_in_as("Olga").await;
    let grant = |amount: &str| json!({ "user_id": user, "amount": amount, "memo": "test" });
    let refused = app.post_json("/api/v1/admin/grants", &grant("5"), Some(&cookie)).await;
    assert_eq!(refused.status(), 403, "a user cannot grant themselves credit");
    app.db.set_operator(operator, true).await.expect("operator");
    for bad in ["abc", "-5", "0", "1e3", "2000000000", "0.0000001"] {
        let answer = app.post_json("/api/v1/admin/grants", &grant(bad), Some(&operator_cookie)).await;
        assert_eq!(answer.status(), 400, "{bad}");
    }
    assert_eq!(credit_of(&app, &cookie).await, 0, "nothing was granted by the refusals");
    let granted = app.post_json("/api/v1/admin/grants", &grant("12.5"), Some(&operator_cookie)).await;
    assert_eq!(granted.status(), 201);
    assert_eq!(credit_of(&app, &cookie).await, 12_500_000);
    let csv = app.get_with_cookie("/api/v1/ledger.csv", &cookie).await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.expect("csv");
    assert!(text.starts_with("id,time_utc,kind,amount_credits"), "{text}");
    assert!(text.contains(",grant,12.5,12.5,external,credit:"), "{text}");
    let filtered: Value = app.get_with_cookie("/api/v1/ledger?kind=refund", &cookie).await.json().await.expect("json");
    assert_eq!(filtered["entries"], json!([]), "the filter keeps only refunds");
}

async fn payouts_above_the_earnings_or_to_bad_addresses_are_refused(backend: Backend) {
    let app = app(backend).await;
    let (user, cookie) = app.sign_in_as("Grace").await;
    let (operator, operator_cookie) = app.sign_in_as("Olga").await;
    app.db.set_operator(operator, true).await.expect("operator");
    let address = format!("0x{}", "c".repeat(64));
    let ask = |amount: &str, address: &str| json!({ "amount": amount, "address": address });
    let too_much = app.post_json("/api/v1/payouts", &ask("1", &address), Some(&cookie)).await;
    assert_eq!(too_much.status(), 400);
    assert!(too_much.text().await.expect("text").contains("not enough"));
    let earned = Transfer::new("test:earned", Account::External, Account::Earnings(user), 3_000_000, "pay_worker");
    app.db.transfer(&earned, 0).await.expect("earned");
    assert_eq!(app.post_json("/api/v1/payouts", &ask("1", "0xnothex"), Some(&cookie)).await.status(), 400);
    assert_eq!(app.post_json("/api/v1/payouts", &ask("-1", &address), Some(&cookie)).await.status(), 400);
    assert_eq!(app.post_json("/api/v1/payouts", &ask("2", &address), Some(&cookie)).await.status(), 201);
    let rewards: Value = app.get_with_cookie("/api/v1/rewards", &cookie).await.json().await.expect("json");
    assert_eq!(
        (rewards["earnings_micro"].as_i64(), rewards["payouts_pending_micro"].as_i64()),
        (Some(1_000_000), Some(2_000_000))
    );
    let waiting: Value =
        app.get_with_cookie("/api/v1/admin/payouts", &operator_cookie).await.json().await.expect("json");
    let id = waiting[0]["id"].as_i64().expect("a payout waits");
    assert_eq!(app.get_with_cookie("/api/v1/admin/payouts", &cookie).await.status(), 403);
    let decide = |paid: bool, reference: &str| json!({ "paid": paid, "reference": reference });
    let path = format!("/api/v1/admin/payouts/{id}");
    assert_eq!(app.post_json(&path, &decide(true, "0xtx"), Some(&cookie)).await.status(), 403, "not by the user");
    assert_eq!(app.post_json(&path, &decide(true, " "), Some(&operator_cookie)).await.status(), 400, "a reference");
    assert_eq!(app.post_json(&path, &decide(true, "0xtx"), Some(&operator_cookie)).await.status(), 204);
    assert_eq!(app.post_json(&path, &decide(true, "0xtx"), Some(&operator_cookie)).await.status(), 400, "paid once");
    let rewards: Value = app.get_with_cookie("/api/v1/rewards", &cookie).await.json().await.expect("json");
    assert_eq!(rewards["payouts"][0]["state"], "paid");
    assert_eq!(app.db.check_ledger().await.expect("check"), Vec::<String>::new());
}

/// A worker of `owner` that registered (so its price counts in estimates) at `price` micro-credits a minute.
async fn priced_worker(app: &TestApp, owner: i64, price: i64) {
    let node = app.db.create_node(owner, pictor_server::db::nodes::NodeKind::Worker, "priced", 0).await.expect("node");
    sqlx::query("UPDATE nodes SET price_micro_per_minute = $1, last_seen_at_ms = 1 WHERE id = $2")
        .bind(price)
        .bind(node)
        .execute(app.db.writer())
        .await
        .expect("price");
}

async fn a_job_beyond_the_credit_is_refused_clearly_and_one_within_it_takes_its_estimate(backend: Backend) {
    let app = app(backend).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    let (lender, _) = app.sign_in_as("Grace").await;
    priced_worker(&app, lender, 1_000_000).await;
    let mut scene = b"BLENDER-v304".to_vec();
    scene.extend(std::iter::repeat_n(5u8, 1024));
    let uploaded: Value = upload(&app, &cookie, scene).await.json().await.expect("json");
    // 10 frames of 1920×1080 at 64 samples: about 22 minutes at the default throughput, about 22 credits.
    let form = json!({
        "name": "costly", "frames": "1-10", "chunk_size": "1", "tiles": "", "resolution_x": "1920",
        "resolution_y": "1080", "resolution_percent": "100", "samples": "64", "engine": "Cycles", "format": "PNG",
        "tier": "Standard", "min_vram_gib": "", "gpu_model": "", "tags": ""
    });
    let estimate: Value =
        app.post_json("/api/v1/jobs/estimate", &form, Some(&cookie)).await.json().await.expect("json");
    assert_eq!(estimate["source"], "default");
    assert_eq!(estimate["price_micro_per_minute"], 1_000_000);
    let total = estimate["total_micro"].as_i64().expect("total");
    assert!((20_000_000..25_000_000).contains(&total), "{estimate}");
    let submit = |form: &Value| json!({ "scene_key": uploaded["scene_key"], "form": form });
    let refused = app.post_json("/api/v1/jobs", &submit(&form), Some(&cookie)).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.expect("text").contains("not enough credit"));
    let jobs: Value = app.get_with_cookie("/api/v1/jobs", &cookie).await.json().await.expect("json");
    assert_eq!(jobs, json!([]), "nothing was created");

    pictor_server::engine::Engine::new(app.db.clone())
        .top_up(user, 30_000_000, "grant:t", "grant", "", 0)
        .await
        .expect("top up");
    assert_eq!(app.post_json("/api/v1/jobs", &submit(&form), Some(&cookie)).await.status(), 201);
    assert_eq!(credit_of(&app, &cookie).await, 30_000_000 - total, "the estimate moved into escrow");
    // With a budget cap, the cap is what moves.
    let mut capped = form.clone();
    capped["budget"] = json!("2.5");
    assert_eq!(app.post_json("/api/v1/jobs", &submit(&capped), Some(&cookie)).await.status(), 201);
    assert_eq!(credit_of(&app, &cookie).await, 30_000_000 - total - 2_500_000);
    capped["budget"] = json!("-1");
    let bad = app.post_json("/api/v1/jobs", &submit(&capped), Some(&cookie)).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.expect("text").contains("budget"));
    assert_eq!(app.db.check_ledger().await.expect("check"), Vec::<String>::new());
}

/// A local receiver for webhooks: answers 500 to the first call, then 200; keeps what it got.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    use axum::http::{HeaderMap, StatusCode};
    let seen = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let kept = seen.clone();
    let route = axum::routing::post(move |headers: HeaderMap, body: String| {
        let kept = kept.clone();
        async move {
            let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            let mut seen = kept.lock().expect("lock");
            seen.push((signature, body));
            if seen.len() == 1 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/hook", route)).await });
    (format!("http://{address}/hook"), seen)
}

async fn notifications_reach_the_users_webhook_signed_and_retried(backend: Backend) {
    let app = app(backend).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    let (url, seen) = webhook_receiver().await;
    let secret = "the user's own secret";
    let bad = app
        .send_as(
            reqwest::Method::PUT,
            "/api/v1/account/webhook",
            Some(&json!({ "url": "ftp://x", "secret": secret })),
            &cookie,
        )
        .await;
    assert_eq!(bad.status(), 400);
    let short = app
        .send_as(
            reqwest::Method::PUT,
            "/api/v1/account/webhook",
            Some(&json!({ "url": url, "secret": "short" })),
            &cookie,
        )
        .await;
    assert_eq!(short.status(), 400);
    let set = app
        .send_as(
            reqwest::Method::PUT,
            "/api/v1/account/webhook",
            Some(&json!({ "url": url, "secret": secret })),
            &cookie,
        )
        .await;
    assert_eq!(set.status(), 204);
    app.db.notify(user, "job_finished", "Job “x” is complete", None, 0).await.expect("notify");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while seen.lock().expect("lock").len() < 2 {
        assert!(std::time::Instant::now() < deadline, "not retried: {:?}", seen.lock().expect("lock"));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[0].1, seen[1].1, "the same body, sent again after the failure");
    assert!(verify(secret, seen[1].1.as_bytes(), &seen[1].0), "signed with the user's secret");
    let body: Value = serde_json::from_str(&seen[1].1).expect("json");
    assert_eq!(body["kind"], "job_finished");
    let view: Value = app.get_with_cookie("/api/v1/ledger", &cookie).await.json().await.expect("json");
    assert_eq!(view["notifications"][0]["read"], false);
    assert_eq!(app.post_json("/api/v1/notifications/read", &json!({}), Some(&cookie)).await.status(), 204);
    let view: Value = app.get_with_cookie("/api/v1/ledger", &cookie).await.json().await.expect("json");
    assert_eq!(view["notifications"][0]["read"], true);
}

/// A webhook must reach the public internet: one pointing at the coordinator's own machine is refused when saved,
/// and one stored before (or whose name now resolves there) is never called.
async fn a_webhook_to_a_private_address_is_refused_and_never_called(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.ledger.welcome_credits = "0".into()).await;
    let (user, cookie) = app.sign_in_as("Mallory").await;
    let (url, seen) = webhook_receiver().await;
    let secret = "a secret long enough";
    for target in [url.as_str(), "http://169.254.169.254/latest/meta-data", "http://localhost:5432/"] {
        let refused = app
            .send_as(
                reqwest::Method::PUT,
                "/api/v1/account/webhook",
                Some(&json!({ "url": target, "secret": secret })),
                &cookie,
            )
            .await;
        assert_eq!(refused.status(), 400, "{target}");
        let message = refused.text().await.expect("text");
        assert!(message.contains("public internet"), "{target}: {message}");
    }
    assert_eq!(app.db.webhook_of(user).await.expect("read"), None, "nothing was saved");
    // Stored anyway (saved before this check, or its name resolved elsewhere then): the sender refuses it.
    app.db.set_webhook(user, Some((url.as_str(), secret))).await.expect("stored");
    app.db.notify(user, "job_finished", "Job “x” is complete", None, 0).await.expect("notify");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let error = loop {
        let error: Option<String> = sqlx::query_scalar("SELECT last_error FROM webhook_deliveries WHERE user_id = $1")
            .bind(user)
            .fetch_one(app.db.reader())
            .await
            .expect("delivery");
        if let Some(error) = error {
            break error;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery was tried");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(error.contains("public internet"), "{error}");
    assert!(seen.lock().expect("lock").is_empty(), "the private receiver was never called");
}

crate::on_both_backends!(
    a_webhook_to_a_private_address_is_refused_and_never_called,
    the_payment_webhook_credits_once_and_refuses_forgeries,
    only_operators_grant_and_bad_amounts_change_nothing,
    payouts_above_the_earnings_or_to_bad_addresses_are_refused,
    a_job_beyond_the_credit_is_refused_clearly_and_one_within_it_takes_its_estimate,
    notifications_reach_the_users_webhook_signed_and_retried,
);
