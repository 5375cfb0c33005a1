//! Render jobs over HTTP: upload a scene, submit a job, and walk its tasks through the agent protocol — lease,
//! scene download, progress, frame upload, done — with lost leases and bad uploads refused.

use pictor_core::agent_protocol::{done_path, output_path, progress_path, scene_path, TaskAssignment, LEASE_PATH};
use pictor_server::db::Backend;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agents::create_worker;
use crate::helpers::{spawn_app_with, test_png, TestApp};

/// Bytes that pass the `.blend` check (the API stores scenes; agents are what open them).
pub fn fake_blend() -> Vec<u8> {
    let mut bytes = b"BLENDER-v304RENDTEST".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 4096));
    bytes
}

pub async fn upload(app: &TestApp, cookie: &str, body: Vec<u8>) -> reqwest::Response {
    app.client
        .put(app.url("/api/v1/scenes"))
        .header("Cookie", cookie)
        .header("Origin", app.origin())
        .body(body)
        .send()
        .await
        .expect("upload")
}

pub fn form(frames: &str, chunk: &str) -> Value {
    json!({
        "name": "cube", "frames": frames, "chunk_size": chunk, "tiles": "", "resolution_x": "64",
        "resolution_y": "36", "resolution_percent": "100", "samples": "4", "engine": "Cycles", "format": "PNG",
        "tier": "Standard", "min_vram_gib": "", "gpu_model": "", "tags": ""
    })
}

pub async fn registered_worker(app: &TestApp, cookie: &str, name: &str) -> String {
    let (_, token, _) = create_worker(app, cookie, name).await;
    register_with_blender(app, &token, name, "3.4.1").await;
    token
}

/// Registers the node of `token` as an agent with one Blender of `version` would.
pub async fn register_with_blender(app: &TestApp, token: &str, name: &str, version: &str) {
    let hardware = json!({ "hostname": name, "os": "Linux", "cpu_model": "cpu", "cpu_cores": 2, "ram_bytes": 1,
        "gpus": [], "blenders": [{ "path": "/usr/bin/blender", "version": version,
        "engines": ["Cycles", "EEVEE", "Workbench"], "benchmark": null }] });
    let registered = app
        .client
        .post(app.url("/api/agent/v1/register"))
        .bearer_auth(token)
        .json(&json!({ "agent_version": "test", "hardware": hardware }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 200);
}

pub async fn lease(app: &TestApp, token: &str, wait_ms: u64) -> Option<TaskAssignment> {
    let response = app
        .client
        .post(app.url(LEASE_PATH))
        .bearer_auth(token)
        .json(&json!({ "wait_ms": wait_ms }))
        .send()
        .await
        .expect("lease");
    match response.status().as_u16() {
        204 => None,
        200 => Some(response.json().await.expect("assignment")),
        other => panic!("lease answered {other}: {}", response.text().await.unwrap_or_default()),
    }
}

pub async fn put_frame(app: &TestApp, token: &str, task: &TaskAssignment, frame: i64, body: &[u8], sha: &str) -> u16 {
    app.client
        .put(app.url(&output_path(task.task_id, frame, task.attempt)))
        .bearer_auth(token)
        .header("x-pictor-sha256", sha)
        .body(body.to_vec())
        .send()
        .await
        .expect("upload")
        .status()
        .as_u16()
}

pub async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> u16 {
    app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.expect("post").status().as_u16()
}

async fn a_job_goes_from_upload_to_completed_through_the_agent_protocol(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let scene = fake_blend();
    let uploaded: Value = upload(&app, &cookie, scene.clone()).await.json().await.expect("json");
    let scene_key = uploaded["scene_key"].as_str().expect("key").to_string();
    assert_eq!(uploaded["sha256"], hex::encode(Sha256::digest(&scene)));

    let token = registered_worker(&app, &cookie, "box").await;
    // A long-polling agent is answered as soon as the job arrives.
    let waiting = {
        let (client, url, token) = (app.client.clone(), app.url(LEASE_PATH), token.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let response =
                client.post(url).bearer_auth(token).json(&json!({ "wait_ms": 10_000 })).send().await.expect("lease");
            (response.status().as_u16(), started.elapsed(), response.json::<TaskAssignment>().await.ok())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let submitted = app
        .post_json("/api/v1/jobs", &json!({ "scene_key": scene_key, "form": form("1-3", "2") }), Some(&cookie))
        .await;
    assert_eq!(submitted.status(), 201);
    let job = submitted.json::<Value>().await.expect("json")["job_id"].as_i64().expect("id");
    let (status, waited, first) = waiting.await.expect("joined");
    assert_eq!(status, 200);
    assert!(waited < std::time::Duration::from_secs(5), "woken by the submission, not the timeout: {waited:?}");
    let first = first.expect("assignment");
    assert_eq!((first.job_id, first.frames.clone(), first.attempt), (job, vec![1, 2], 1));
    assert_eq!((first.settings.engine.as_str(), first.settings.file_format.as_str()), ("CYCLES", "PNG"));

    let downloaded = app.client.get(app.url(&scene_path(job))).bearer_auth(&token).send().await.expect("scene");
    assert_eq!(downloaded.headers()["x-pictor-sha256"], uploaded["sha256"].as_str().expect("sha"));
    assert_eq!(downloaded.bytes().await.expect("bytes").to_vec(), scene);

    let progress = json!({ "attempt": first.attempt, "percent": 50, "log_tail": "Sample 2/4" });
    assert_eq!(post(&app, &token, &progress_path(first.task_id), progress).await, 200);
    let png = test_png(64, 36, 1);
    let sha = hex::encode(Sha256::digest(&png));
    assert_eq!(put_frame(&app, &token, &first, 1, &png, &sha).await, 204);
    let early = post(&app, &token, &done_path(first.task_id), json!({ "attempt": 1, "log_tail": "" })).await;
    assert_eq!(early, 400, "frame 2 is missing");
    assert_eq!(put_frame(&app, &token, &first, 2, &png, &sha).await, 204);
    assert_eq!(put_frame(&app, &token, &first, 9, &png, &sha).await, 409, "frame 9 is not in this task");
    assert_eq!(post(&app, &token, &done_path(first.task_id), json!({ "attempt": 1, "log_tail": "" })).await, 204);

    let second = lease(&app, &token, 0).await.expect("the second chunk");
    assert_eq!(second.frames, vec![3]);
    assert_eq!(put_frame(&app, &token, &second, 3, &png, &sha).await, 204);
    assert_eq!(post(&app, &token, &done_path(second.task_id), json!({ "attempt": 1, "log_tail": "" })).await, 204);
    assert!(lease(&app, &token, 0).await.is_none(), "nothing left");

    let details: Value = app.get_with_cookie(&format!("/api/v1/jobs/{job}"), &cookie).await.json().await.expect("json");
    assert_eq!(details["summary"]["state"], "completed");
    assert_eq!(details["summary"]["tasks_done"], 2);

    // My Workers counts them, per hour too, and the worker's history lists each attempt.
    let workers: Value = app.get_with_cookie("/api/v1/workers", &cookie).await.json().await.expect("json");
    assert_eq!((workers["tasks_done"].as_i64(), workers["workers"][0]["tasks_done"].as_i64()), (Some(2), Some(2)));
    let per_hour: i64 =
        workers["tasks_per_hour"].as_array().expect("hours").iter().map(|h| h[1].as_i64().unwrap_or(0)).sum();
    assert_eq!(per_hour, 2);
    let worker = workers["workers"][0]["id"].as_i64().expect("id");
    let history: Value = app
        .get_with_cookie(&format!("/api/v1/workers/{worker}/tasks?page=1"), &cookie)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!((history["total"].as_i64(), history["pages"].as_i64()), (Some(2), Some(1)));
    assert_eq!(history["rows"][0]["frames"], "3", "newest first");
    assert_eq!(history["rows"][1]["outcome"], "uploaded");
    let (_, stranger) = app.sign_in_as("Mallory").await;
    assert_eq!(app.get_with_cookie(&format!("/api/v1/workers/{worker}/tasks"), &stranger).await.status(), 404);

    // Every output in one zip, streamed.
    let archive = app.get_with_cookie(&format!("/api/v1/jobs/{job}/outputs.zip"), &cookie).await;
    assert_eq!(archive.status(), 200);
    assert_eq!(archive.headers()["content-type"], "application/zip");
    let bytes = archive.bytes().await.expect("zip");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a valid zip");
    let names: Vec<String> = (0..zip.len()).map(|i| zip.by_index(i).expect("entry").name().to_string()).collect();
    assert_eq!(names, vec!["frame_0001.png", "frame_0002.png", "frame_0003.png"]);
    let mut first = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_index(0).expect("entry"), &mut first).expect("read");
    assert_eq!(first, png);
    let (_, stranger) = app.sign_in_as("Mallory").await;
    assert_eq!(app.get_with_cookie(&format!("/api/v1/jobs/{job}/outputs.zip"), &stranger).await.status(), 404);
}

async fn lost_leases_bad_uploads_and_strangers_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.task_lease_ms = 1_000).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let uploaded: Value = upload(&app, &cookie, fake_blend()).await.json().await.expect("json");
    let scene_key = uploaded["scene_key"].as_str().expect("key").to_string();
    let slow = registered_worker(&app, &cookie, "slow").await;
    let fast = registered_worker(&app, &cookie, "fast").await;
    let stranger = registered_worker(&app, &cookie, "stranger").await;
    app.post_json("/api/v1/jobs", &json!({ "scene_key": scene_key, "form": form("1", "1") }), Some(&cookie)).await;
    let stale = lease(&app, &slow, 0).await.expect("task");

    // A node that never had a task of the job cannot fetch its scene.
    let peek = app.client.get(app.url(&scene_path(stale.job_id))).bearer_auth(&stranger).send().await.expect("get");
    assert_eq!(peek.status(), 404);
    // A body that does not match its announced hash is refused.
    assert_eq!(put_frame(&app, &slow, &stale, 1, b"frame", &"0".repeat(64)).await, 400);

    // The lease lapses (1 s, no progress); the liveness sweep requeues it and the fast worker takes it over.
    let taken = loop {
        if let Some(task) = lease(&app, &fast, 3_000).await {
            break task;
        }
    };
    assert_eq!((taken.task_id, taken.attempt), (stale.task_id, 2));
    let png = b"late".to_vec();
    let sha = hex::encode(Sha256::digest(&png));
    assert_eq!(put_frame(&app, &slow, &stale, 1, &png, &sha).await, 409, "the old attempt cannot upload");
    let progress = json!({ "attempt": stale.attempt, "percent": 90, "log_tail": "" });
    assert_eq!(post(&app, &slow, &progress_path(stale.task_id), progress).await, 409);
    assert_eq!(post(&app, &slow, &done_path(stale.task_id), json!({ "attempt": 1, "log_tail": "" })).await, 409);

    // Bad submissions: a made-up scene key, a bad frame list, a non-.blend upload.
    let made_up = json!({ "scene_key": "../../etc/passwd", "form": form("1", "1") });
    assert_eq!(app.post_json("/api/v1/jobs", &made_up, Some(&cookie)).await.status(), 400);
    let bad_frames = app
        .post_json("/api/v1/jobs", &json!({ "scene_key": scene_key, "form": form("5-1", "1") }), Some(&cookie))
        .await;
    assert_eq!(bad_frames.status(), 400);
    assert!(bad_frames.text().await.expect("text").contains("frames"));
    assert_eq!(upload(&app, &cookie, b"<html>not a scene</html>".to_vec()).await.status(), 400);
    let jobs: Value = app.get_with_cookie("/api/v1/jobs", &cookie).await.json().await.expect("json");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "refused submissions created nothing");
}

/// Every file below `dir`, as paths relative to it.
fn files_below(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).expect("below").display().to_string());
            }
        }
    }
    found.sort();
    found
}

async fn oversized_scenes_and_hostile_names_leave_nothing_on_disk(backend: Backend) {
    let store = tempfile::tempdir().expect("store");
    let store_path = store.path().to_path_buf();
    let app = spawn_app_with(backend, |config| {
        config.max_scene_bytes = 8 * 1024;
        config.object_store_url = Some(store_path.display().to_string());
    })
    .await;
    let (_, cookie) = app.sign_in_as("Ada").await;

    let mut huge = b"BLENDER-v304".to_vec();
    huge.extend(std::iter::repeat_n(1u8, 64 * 1024));
    // On its own connection: the coordinator answers 413 before the body ends and closes that connection.
    let refused = reqwest::Client::new()
        .put(app.url("/api/v1/scenes"))
        .header("Cookie", &cookie)
        .header("Origin", app.origin())
        .body(huge)
        .send()
        .await
        .expect("upload");
    assert_eq!(refused.status(), 413);
    assert!(refused.text().await.expect("text").contains("8192 bytes"), "the limit is named");
    assert_eq!(files_below(store.path()), Vec::<String>::new(), "no partial object is left behind");

    // A file name of the client's choosing (query, header) never becomes a path: scenes live at their hash.
    let accepted = app
        .client
        .put(app.url("/api/v1/scenes?name=../../escape.blend"))
        .header("Cookie", &cookie)
        .header("Origin", app.origin())
        .header("Content-Disposition", "attachment; filename*=UTF-8''..%2F..%2Fescape%00%FF.blend")
        .body(fake_blend())
        .send()
        .await
        .expect("upload");
    assert_eq!(accepted.status(), 201);
    let uploaded: Value = accepted.json().await.expect("json");
    let sha = uploaded["sha256"].as_str().expect("sha").to_string();
    let mut odd = form("1", "1");
    odd["name"] = json!("../../etc/passwd");
    let odd_name = json!({ "scene_key": uploaded["scene_key"], "form": odd });
    assert_eq!(app.post_json("/api/v1/jobs", &odd_name, Some(&cookie)).await.status(), 201);
    assert_eq!(files_below(store.path()), vec![format!("scenes/{sha}.blend")]);
    assert!(!store.path().parent().expect("parent").join("escape.blend").exists());
}

async fn an_output_that_is_not_the_jobs_image_is_refused_and_the_task_retried(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let uploaded: Value = upload(&app, &cookie, fake_blend()).await.json().await.expect("json");
    let token = registered_worker(&app, &cookie, "box").await;
    let job = json!({ "scene_key": uploaded["scene_key"], "form": form("1", "1") });
    assert_eq!(app.post_json("/api/v1/jobs", &job, Some(&cookie)).await.status(), 201);
    for (attempt, body, why) in [
        (1, b"\x89PNG\r\n\x1a\nnot an image".to_vec(), "does not decode"),
        (2, test_png(32, 18, 1), "32×18, not 64×36"),
    ] {
        let task = lease(&app, &token, 0).await.expect("the task");
        assert_eq!(task.attempt, attempt);
        let sha = hex::encode(Sha256::digest(&body));
        assert_eq!(put_frame(&app, &token, &task, 1, &body, &sha).await, 204, "stored before it is judged");
        let done = app
            .client
            .post(app.url(&done_path(task.task_id)))
            .bearer_auth(&token)
            .json(&json!({ "attempt": attempt, "log_tail": "" }))
            .send()
            .await
            .expect("done");
        assert_eq!(done.status(), 400);
        let error = done.json::<Value>().await.expect("json")["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(why), "{error}");
    }
    let details: Value = app.get_with_cookie("/api/v1/jobs", &cookie).await.json().await.expect("json");
    assert_eq!(details[0]["state"], "active", "the task waits for a third attempt: {details}");
    let attempts: Value =
        app.get_with_cookie(&format!("/api/v1/jobs/{}", details[0]["id"]), &cookie).await.json().await.expect("json");
    assert_eq!(attempts["tasks"][0]["state"], "queued");
    assert!(attempts["tasks"][0]["last_error"].as_str().unwrap_or_default().contains("refused"));
}

crate::on_both_backends!(
    an_output_that_is_not_the_jobs_image_is_refused_and_the_task_retried,
    oversized_scenes_and_hostile_names_leave_nothing_on_disk,
    a_job_goes_from_upload_to_completed_through_the_agent_protocol,
    lost_leases_bad_uploads_and_strangers_are_refused,
);
