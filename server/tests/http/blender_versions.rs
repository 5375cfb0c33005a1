//! Checks go to checkers running the Blender that rendered the result, spoken through the agent protocol: with
//! only another version online a result is still checked (by it), and once a checker with the same version is
//! online the next result waits for that one alone.

use pictor_core::agent_protocol::{done_path, TaskAssignment};
use pictor_core::verification::{VerificationAssignment, VERIFY_LEASE_PATH};
use pictor_server::db::Backend;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agents::token_in;
use crate::helpers::{spawn_app_with, test_png, TestApp};
use crate::render_api::{fake_blend, form, lease, post, put_frame, register_with_blender, upload};

/// A node created through the REST API (`workers` or `checkers`) and registered with one Blender of `version`.
async fn node_with_blender(app: &TestApp, cookie: &str, kind: &str, name: &str, version: &str) -> String {
    let created = app.post_json(&format!("/api/v1/{kind}"), &json!({ "name": name }), Some(cookie)).await;
    assert_eq!(created.status(), 201);
    let issued: Value = created.json().await.expect("json");
    let token = token_in(issued["config_toml"].as_str().expect("config"));
    register_with_blender(app, &token, name, version).await;
    token
}

async fn lease_check(app: &TestApp, token: &str) -> Option<VerificationAssignment> {
    let response =
        app.client.post(app.url(VERIFY_LEASE_PATH)).bearer_auth(token).json(&json!({ "wait_ms": 0 })).send().await;
    let response = response.expect("lease");
    match response.status().as_u16() {
        204 => None,
        200 => Some(response.json().await.expect("assignment")),
        other => panic!("check lease answered {other}: {}", response.text().await.unwrap_or_default()),
    }
}

/// Renders the worker's next task (a made-up image passes the cheap checks) and reports it done.
async fn render_next(app: &TestApp, worker: &str) -> TaskAssignment {
    let task = lease(app, worker, 0).await.expect("a task");
    let png = test_png(64, 36, 3);
    let sha = hex::encode(Sha256::digest(&png));
    for frame in &task.frames {
        assert_eq!(put_frame(app, worker, &task, *frame, &png, &sha).await, 204);
    }
    let done = json!({ "attempt": task.attempt, "log_tail": "", "render_ms": 1_000 });
    assert_eq!(post(app, worker, &done_path(task.task_id), done).await, 204);
    task
}

async fn a_check_goes_to_a_checker_with_the_workers_blender_when_one_is_online(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.verification.audit_rate = 0.0).await;
    let (_, creator) = app.sign_in_as("Ada").await;
    let (_, lender) = app.sign_in_as("Grace").await;
    let (_, verifier) = app.sign_in_as("Linus").await;
    let worker = node_with_blender(&app, &lender, "workers", "new-blender", "4.2.3").await;
    let older = node_with_blender(&app, &verifier, "checkers", "old-blender", "3.6.0").await;

    let uploaded: Value = upload(&app, &creator, fake_blend()).await.json().await.expect("json");
    let job = json!({ "scene_key": uploaded["scene_key"], "form": form("1-2", "1") });
    assert_eq!(app.post_json("/api/v1/jobs", &job, Some(&creator)).await.status(), 201);

    // Only another Blender is online: the result is checked by it rather than not at all.
    let first = render_next(&app, &worker).await;
    let path = format!("/api/v1/jobs/{}/tasks/{}/attempts", first.job_id, first.task_id);
    let attempts: Value = app.get_with_cookie(&path, &creator).await.json().await.expect("json");
    assert_eq!(attempts[0]["blender_version"], "4.2.3", "the job page says which Blender rendered it: {attempts}");
    let check = lease_check(&app, &older).await.expect("checked by the only checker there is");
    assert_eq!(check.job_id, first.job_id);

    // A checker with the worker's Blender comes online: the next result is for it alone.
    let same = node_with_blender(&app, &verifier, "checkers", "same-blender", "4.2.3").await;
    let second = render_next(&app, &worker).await;
    assert_ne!(second.task_id, first.task_id);
    assert!(lease_check(&app, &older).await.is_none(), "another Blender may not reproduce the frame bit for bit");
    assert!(lease_check(&app, &same).await.is_some(), "the same Blender takes it");
}

crate::on_both_backends!(a_check_goes_to_a_checker_with_the_workers_blender_when_one_is_online);
