//! The money of a whole run with real agents and real Blender: an operator tops a creator up, a job is rendered by a
//! priced worker and checked by a checker; the creator's, the worker owner's and (after the epoch) the checker
//! owner's balances on their pages equal the ledger's sums to the micro-credit; a job cancelled midway refunds the
//! rest.

use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};
use crate::render_blender::{sample_scene, start_agent, submit, wait_for_job};
use crate::verification_blender::{start_checker, wait_online};

async fn json_of(app: &TestApp, path: &str, cookie: &str) -> Value {
    app.get_with_cookie(path, cookie).await.json().await.expect("json")
}

/// The sum of the job's transfers of `kind` (pay_worker, pay_pool).
async fn paid(app: &TestApp, kind: &str, job: Option<i64>) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount_micro), 0) AS BIGINT) FROM ledger_transfers
         WHERE kind = $1 AND ($2 IS NULL OR job_id = $2)",
    )
    .bind(kind)
    .bind(job)
    .fetch_one(app.db.reader())
    .await
    .expect("sum")
}

async fn balances_on_the_pages_equal_the_ledger_and_a_cancel_refunds_the_rest(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.heartbeat_interval_ms = 500;
        config.verification.audit_rate = 0.0;
        config.ledger.welcome_credits = "0".into();
        config.ledger.epoch_ms = 4_000;
    })
    .await;
    let (creator_id, creator) = app.sign_in_as("Ada").await;
    let (_, lender) = app.sign_in_as("Grace").await;
    let (_, verifier) = app.sign_in_as("Linus").await;
    let (operator, operator_cookie) = app.sign_in_as("Olga").await;
    app.db.set_operator(operator, true).await.expect("operator");
    let grant = json!({ "user_id": creator_id, "amount": "100", "memo": "start" });
    assert_eq!(app.post_json("/api/v1/admin/grants", &grant, Some(&operator_cookie)).await.status(), 201);

    let work = tempfile::tempdir().expect("work");
    let (checker, checker_agent) = start_checker(&app, &verifier, "careful", work.path(), &[]).await;
    let (worker, worker_agent) = start_agent(&app, &lender, "priced", work.path()).await;
    // The most a Standard job pays: 1 credit a render-minute.
    sqlx::query("UPDATE nodes SET price_micro_per_minute = 1000000 WHERE id = $1")
        .bind(worker)
        .execute(app.db.writer())
        .await
        .expect("price");
    wait_online(&app, &[checker, worker], &[&checker_agent, &worker_agent]).await;
    let scene = sample_scene(work.path());

    let job = submit(&app, &creator, scene.clone(), "1-3", (96, 54), 8).await;
    wait_for_job(&app, &creator, job, &[&worker_agent, &checker_agent], |j| j["summary"]["state"] == "completed").await;
    let (to_worker, to_pool) = (paid(&app, "pay_worker", Some(job)).await, paid(&app, "pay_pool", Some(job)).await);
    assert!(to_worker > 0 && to_pool > 0, "the worker and the pool were paid: {to_worker} {to_pool}");
    // Each of the three payments gives the pool a tenth rounded down, so the sum may fall short of a tenth of the
    // total by less than one micro-credit a payment.
    let tenth = (to_worker + to_pool) / 10;
    assert!(to_pool <= tenth && tenth - to_pool < 3, "the pool's share is a tenth: {to_pool} of {to_worker}+{to_pool}");
    let ledger = json_of(&app, "/api/v1/ledger", &creator).await;
    assert_eq!(ledger["overview"]["credit_micro"].as_i64(), Some(100_000_000 - to_worker - to_pool), "{ledger}");
    assert_eq!(ledger["overview"]["reserved_micro"].as_i64(), Some(0), "the rest was refunded");
    let lender_rewards = json_of(&app, "/api/v1/rewards", &lender).await;
    assert_eq!(lender_rewards["earnings_micro"].as_i64(), Some(to_worker), "{lender_rewards}");
    assert_eq!(lender_rewards["by_node"][0][3].as_i64(), Some(to_worker), "attributed to the worker");

    // The epoch ends within seconds here: the checker pool goes to the only checker, whose verdicts all agreed. On a
    // busy machine the job's checks can straddle epochs, so the pool may be shared out over two or three of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (checker_rewards, shared) = loop {
        let rewards = json_of(&app, "/api/v1/rewards", &verifier).await;
        let shared = paid(&app, "epoch", None).await;
        if rewards["earnings_micro"].as_i64().unwrap_or(0) > 0 && to_pool - shared < 3 {
            break (rewards, shared);
        }
        assert!(Instant::now() < deadline, "the pool was not shared out ({shared} of {to_pool}): {rewards}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(checker_rewards["earnings_micro"].as_i64(), Some(shared));
    assert!(to_pool - shared < 3, "all but a rounding remainder was shared: {to_pool} {shared}");
    let epochs = checker_rewards["epochs"].as_array().expect("epochs");
    let mine: i64 = epochs.iter().filter_map(|epoch| epoch["mine_micro"].as_i64()).sum();
    assert_eq!(mine, shared, "{checker_rewards}");

    // A longer job, cancelled once a frame is in: what it did not spend comes back.
    let long = submit(&app, &creator, scene, "1-12", (96, 54), 8).await;
    wait_for_job(&app, &creator, long, &[&worker_agent, &checker_agent], |j| {
        j["summary"]["tasks_done"].as_i64() >= Some(1)
    })
    .await;
    assert_eq!(app.post_json(&format!("/api/v1/jobs/{long}/cancel"), &json!({}), Some(&creator)).await.status(), 204);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spent =
        paid(&app, "pay_worker", None).await + paid(&app, "pay_pool", None).await - paid(&app, "clawback", None).await;
    let ledger = json_of(&app, "/api/v1/ledger", &creator).await;
    assert_eq!(ledger["overview"]["credit_micro"].as_i64(), Some(100_000_000 - spent), "{ledger}");
    assert_eq!(ledger["overview"]["reserved_micro"].as_i64(), Some(0));
    assert!(ledger["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["kind"] == "refund" && e["job_id"] == long));
    assert_eq!(app.db.check_ledger().await.expect("check"), Vec::<String>::new());
}

crate::on_both_backends!(balances_on_the_pages_equal_the_ledger_and_a_cancel_refunds_the_rest);
