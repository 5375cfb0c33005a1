//! Uploads that arrive late: a frame uploaded again while its task is being accepted can neither overwrite nor
//! delete the output that was accepted (each upload is its own object).

use std::time::Duration;

use pictor_core::agent_protocol::{done_path, output_path};
use pictor_server::db::Backend;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{spawn_app, test_png};
use crate::render_api::{fake_blend, form, lease, post, put_frame, registered_worker, upload};

async fn a_late_upload_neither_overwrites_nor_deletes_the_accepted_output(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let uploaded: Value = upload(&app, &cookie, fake_blend()).await.json().await.expect("json");
    let token = registered_worker(&app, &cookie, "box").await;
    let submitted = app
        .post_json(
            "/api/v1/jobs",
            &json!({ "scene_key": uploaded["scene_key"], "form": form("1", "1") }),
            Some(&cookie),
        )
        .await;
    assert_eq!(submitted.status(), 201);
    let job = submitted.json::<Value>().await.expect("json")["job_id"].as_i64().expect("id");
    let task = lease(&app, &token, 0).await.expect("a task");

    let accepted = test_png(64, 36, 1);
    assert_eq!(put_frame(&app, &token, &task, 1, &accepted, &hex::encode(Sha256::digest(&accepted))).await, 204);

    // The agent uploads frame 1 again (a retry after a timeout, say), and that upload stalls mid-body...
    let late = test_png(64, 36, 2);
    let (sender, receiver) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    let request = app
        .client
        .put(app.url(&output_path(task.task_id, 1, task.attempt)))
        .bearer_auth(&token)
        .header("x-pictor-sha256", hex::encode(Sha256::digest(&late)))
        .body(reqwest::Body::wrap_stream(receiver));
    let late_upload = tokio::spawn(request.send());
    let (head, tail) = late.split_at(late.len() / 2);
    sender.unbounded_send(Ok(head.to_vec())).expect("first half");
    tokio::time::sleep(Duration::from_millis(300)).await;

    // ...while the task is reported done and accepted.
    let done = post(&app, &token, &done_path(task.task_id), json!({ "attempt": task.attempt, "log_tail": "" })).await;
    assert_eq!(done, 204);
    sender.unbounded_send(Ok(tail.to_vec())).expect("second half");
    drop(sender);
    let late_status = late_upload.await.expect("joined").expect("answered").status();
    assert_eq!(late_status, 409, "the lease ended with done");

    let frame = app.get_with_cookie(&format!("/api/v1/jobs/{job}/frames/1"), &cookie).await;
    assert_eq!(frame.status(), 200, "the accepted output is still there");
    assert_eq!(frame.bytes().await.expect("bytes").to_vec(), accepted, "and it is the accepted one");
}

crate::on_both_backends!(a_late_upload_neither_overwrites_nor_deletes_the_accepted_output);
