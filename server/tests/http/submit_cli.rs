//! `pictor submit` run as a user runs it: the real binary against a spawned coordinator, with an agent simulated
//! over HTTP when a job has to finish.

use std::path::Path;
use std::process::Output;

use pictor_core::agent_protocol::{done_path, output_path, TaskAssignment, LEASE_PATH};
use pictor_server::db::Backend;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agents::create_worker;
use crate::helpers::{spawn_app, test_png, TestApp};

// The CLI is only an HTTP client, so one backend is enough here: the API behind it is tested on both elsewhere.

/// Runs `pictor submit` with `args`, and `envs` as its only PICTOR_* environment.
async fn pictor_submit(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pictor"));
    command.arg("submit").args(args);
    // The test runner's own environment must not leak settings into the child.
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("PICTOR_")) {
        command.env_remove(key);
    }
    command.envs(envs.iter().copied());
    command.output().await.expect("pictor runs")
}

async fn api_key(app: &TestApp, user: i64) -> String {
    let now = pictor_server::clock::now_ms();
    pictor_server::auth::api_keys::create(&app.db, user, "cli", now).await.expect("key").secret
}

/// A small scene that passes the coordinator's `.blend` check (only the magic is looked at).
fn write_scene(dir: &Path) -> String {
    let path = dir.join("cube.blend");
    let mut bytes = b"BLENDER-v304SUBMIT".to_vec();
    bytes.extend(std::iter::repeat_n(3u8, 2048));
    std::fs::write(&path, bytes).expect("write scene");
    path.to_str().expect("utf-8 path").to_string()
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> Value {
    let response = app.client.get(app.url(path)).bearer_auth(key).send().await.expect("get");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_one_clear_error(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "exit 1: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].starts_with("pictor: error: ") && lines[0].contains(expected), "mentions {expected:?}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_uploads_the_scene_and_creates_a_chunked_job() {
    let app = spawn_app(Backend::Sqlite).await;
    let (user, _) = app.sign_in_as("Ada").await;
    let key = api_key(&app, user).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = write_scene(dir.path());

    let args = ["--url", &app.address, "--api-key", &key, &scene, "--frames", "1-4", "--chunk-size", "2"];
    let output = pictor_submit(&args, &[]).await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let jobs = get_json(&app, &key, "/api/v1/jobs").await;
    let id = jobs[0]["id"].as_i64().expect("one job");
    let out = stdout(&output);
    assert!(out.contains("uploaded ") && out.contains("(2066 bytes, sha256 "), "{out}");
    assert!(out.contains(&format!("job {id} submitted: 2 tasks")), "{out}");
    assert!(out.contains(&format!("{}/rendering/{id}", app.address)), "{out}");
    let details = get_json(&app, &key, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(details["summary"]["name"], "cube", "named after the file");
    let frames: Vec<&str> =
        details["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["frames"].as_str()).collect();
    assert_eq!(frames, vec!["1,2", "3,4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_frame_list_is_refused_before_anything_is_uploaded() {
    let app = spawn_app(Backend::Sqlite).await;
    let (user, _) = app.sign_in_as("Ada").await;
    let key = api_key(&app, user).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = write_scene(dir.path());

    let output = pictor_submit(&["--url", &app.address, "--api-key", &key, &scene, "--frames", "5-1"], &[]).await;
    assert_one_clear_error(&output, "frames");
    assert!(!stdout(&output).contains("uploaded"), "{}", stdout(&output));
    assert_eq!(get_json(&app, &key, "/api/v1/jobs").await, json!([]), "no job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_a_missing_scene_and_a_dead_coordinator_are_one_clear_line_each() {
    let app = spawn_app(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = write_scene(dir.path());

    let refused = pictor_submit(&["--url", &app.address, "--api-key", "pk_made_up", &scene], &[]).await;
    assert_one_clear_error(&refused, "the API key was refused");

    let missing = dir.path().join("nowhere.blend");
    let missing = missing.to_str().expect("utf-8 path");
    let output = pictor_submit(&["--url", &app.address, "--api-key", "pk_x", missing], &[]).await;
    assert_one_clear_error(&output, &format!("cannot read the scene {missing}"));

    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let url = format!("http://{closed}");
    let output = pictor_submit(&["--url", &url, "--api-key", "pk_x", &scene], &[]).await;
    assert_one_clear_error(&output, &format!("cannot reach the coordinator at {url}"));
}

/// A worker of the signed-in account, registered like an agent with Blender would be; returns its token.
async fn registered_worker(app: &TestApp, cookie: &str) -> String {
    let (_, token, _) = create_worker(app, cookie, "box").await;
    let hardware = json!({ "hostname": "box", "os": "Linux", "cpu_model": "cpu", "cpu_cores": 2, "ram_bytes": 1,
        "gpus": [], "blenders": [{ "path": "/usr/bin/blender", "version": "3.4.1",
        "engines": ["Cycles", "EEVEE", "Workbench"], "benchmark": null }] });
    let registered = app
        .client
        .post(app.url("/api/agent/v1/register"))
        .bearer_auth(&token)
        .json(&json!({ "agent_version": "test", "hardware": hardware }))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 200);
    token
}

/// Long-polls until the CLI's job arrives (the lease answers as soon as it is submitted).
async fn lease(app: &TestApp, token: &str) -> TaskAssignment {
    for _ in 0..10 {
        let response = app
            .client
            .post(app.url(LEASE_PATH))
            .bearer_auth(token)
            .json(&json!({ "wait_ms": 5_000 }))
            .send()
            .await
            .expect("lease");
        if response.status() == 200 {
            return response.json().await.expect("assignment");
        }
    }
    panic!("the submitted job never reached the worker");
}

/// Renders the task as an agent reports it: each frame uploaded with its SHA-256, then done.
async fn complete(app: &TestApp, token: &str, task: &TaskAssignment, frames: &[(i64, &[u8])]) {
    for (frame, body) in frames {
        let uploaded = app
            .client
            .put(app.url(&output_path(task.task_id, *frame, task.attempt)))
            .bearer_auth(token)
            .header("x-pictor-sha256", hex::encode(Sha256::digest(body)))
            .body(body.to_vec())
            .send()
            .await
            .expect("upload");
        assert_eq!(uploaded.status(), 204);
    }
    let body = json!({ "attempt": task.attempt, "log_tail": "" });
    let done = app.client.post(app.url(&done_path(task.task_id))).bearer_auth(token).json(&body).send().await;
    assert_eq!(done.expect("done").status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_waits_for_the_render_and_download_saves_every_frame() {
    let app = spawn_app(Backend::Sqlite).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    let key = api_key(&app, user).await;
    let token = registered_worker(&app, &cookie).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scene = write_scene(dir.path());
    let out_dir = dir.path().join("frames");

    // URL and key from the environment, as a script would set them.
    let args = [scene.as_str(), "--frames", "1-2", "--chunk-size", "2", "--follow", "--download"];
    let args: Vec<&str> = args.into_iter().chain([out_dir.to_str().expect("utf-8 path")]).collect();
    let envs = [("PICTOR_URL", app.address.as_str()), ("PICTOR_API_KEY", key.as_str())];
    let cli = pictor_submit(&args, &envs);
    // Frames at the CLI's default resolution, as the coordinator checks them.
    let (frame_one, frame_two) = (test_png(1920, 1080, 1), test_png(1920, 1080, 2));
    let agent = async {
        let task = lease(&app, &token).await;
        assert_eq!(task.frames, vec![1, 2]);
        // Let the CLI see the job active first, so the state lines have something to show.
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        complete(&app, &token, &task, &[(1, &frame_one), (2, &frame_two)]).await;
        task.job_id
    };
    let (output, job) = tokio::join!(cli, agent);

    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = stdout(&output);
    assert!(out.contains(&format!("job {job} active")) && out.contains(&format!("job {job} completed")), "{out}");
    assert_eq!(std::fs::read(out_dir.join("frame_0001.png")).expect("frame 1"), frame_one);
    assert_eq!(std::fs::read(out_dir.join("frame_0002.png")).expect("frame 2"), frame_two);
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["frame_0001.png", "frame_0002.png"], "no partial files left behind");
}
