//! Real renders: jobs submitted over the API are rendered by real `pictor-agent` processes running real Blender on
//! our sample scene; outputs decode as PNGs of the requested size; a killed agent's frame is re-leased and finished
//! by the other; cancel stops Blender.

use std::process::Command;
use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::agent_process::Agent;
use crate::agents::create_worker;
use crate::helpers::{spawn_app_with, TestApp};
use crate::render_api::upload;

/// Our sample scene, made fresh by our Blender script.
pub fn sample_scene(dir: &std::path::Path) -> Vec<u8> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/make_sample_scene.py");
    let path = dir.join("spinning-cube.blend");
    let status = Command::new("blender")
        .args(["-b", "--factory-startup", "--python-exit-code", "1", "--python", script, "--"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("blender runs (install it with scripts/setup)");
    assert!(status.success(), "making the sample scene failed");
    std::fs::read(path).expect("scene")
}

/// Width and height from a PNG's IHDR chunk.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Some((word(16), word(20)))
}

/// An agent for a fresh worker of `cookie`'s account, with its own work directory.
pub async fn start_agent(app: &TestApp, cookie: &str, name: &str, work: &std::path::Path) -> (i64, Agent) {
    let (id, _, config) = create_worker(app, cookie, name).await;
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).expect("work dir");
    let config = format!("{config}work_dir = {:?}\n", dir.display().to_string());
    (id, Agent::start(&config, &["--no-benchmark"]))
}

pub async fn submit(app: &TestApp, cookie: &str, scene: Vec<u8>, frames: &str, size: (u32, u32), samples: u32) -> i64 {
    submit_split(app, cookie, scene, frames, "", size, samples).await
}

pub async fn submit_split(
    app: &TestApp,
    cookie: &str,
    scene: Vec<u8>,
    frames: &str,
    tiles: &str,
    size: (u32, u32),
    samples: u32,
) -> i64 {
    let uploaded: Value = upload(app, cookie, scene).await.json().await.expect("json");
    let form = json!({
        "name": "cube", "frames": frames, "chunk_size": "1", "tiles": tiles, "resolution_x": size.0.to_string(),
        "resolution_y": size.1.to_string(), "resolution_percent": "100", "samples": samples.to_string(),
        "engine": "Cycles", "format": "PNG", "tier": "Standard", "min_vram_gib": "", "gpu_model": "", "tags": ""
    });
    let submitted =
        app.post_json("/api/v1/jobs", &json!({ "scene_key": uploaded["scene_key"], "form": form }), Some(cookie)).await;
    assert_eq!(submitted.status(), 201);
    submitted.json::<Value>().await.expect("json")["job_id"].as_i64().expect("id")
}

pub async fn job(app: &TestApp, cookie: &str, id: i64) -> Value {
    app.get_with_cookie(&format!("/api/v1/jobs/{id}"), cookie).await.json().await.expect("json")
}

pub async fn wait_for_job(
    app: &TestApp,
    cookie: &str,
    id: i64,
    agents: &[&Agent],
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let current = job(app, cookie, id).await;
        if done(&current) {
            return current;
        }
        let logs: Vec<String> = agents.iter().map(|agent| agent.log()).collect();
        assert!(Instant::now() < deadline, "job: {current}\nagent logs:\n{}", logs.join("\n----\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn two_real_agents_render_a_ten_frame_job(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.heartbeat_interval_ms = 500).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    let (_, one) = start_agent(&app, &cookie, "one", work.path()).await;
    let (_, two) = start_agent(&app, &cookie, "two", work.path()).await;
    let id = submit(&app, &cookie, sample_scene(work.path()), "1-10", (64, 36), 4).await;
    let finished = wait_for_job(&app, &cookie, id, &[&one, &two], |job| job["summary"]["state"] == "completed").await;
    assert_eq!(finished["summary"]["tasks_done"], 10);
    for frame in 1..=10 {
        let image = app.get_with_cookie(&format!("/api/v1/jobs/{id}/frames/{frame}"), &cookie).await;
        assert_eq!(image.status(), 200, "frame {frame}");
        assert_eq!(image.headers()["content-type"], "image/png");
        let bytes = image.bytes().await.expect("bytes");
        assert_eq!(png_size(&bytes), Some((64, 36)), "frame {frame} decodes at the requested size");
    }
    assert_eq!(app.get_with_cookie(&format!("/api/v1/jobs/{id}/frames/11"), &cookie).await.status(), 404);
    assert!(one.log().contains("done") || two.log().contains("done"), "{}\n{}", one.log(), two.log());
}

async fn a_killed_agents_frame_is_re_leased_and_finished_by_the_other(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.heartbeat_interval_ms = 500;
        config.task_lease_ms = 3_000;
    })
    .await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    let scene = sample_scene(work.path());
    let (victim_node, mut victim) = start_agent(&app, &cookie, "victim", work.path()).await;
    // Frames heavy enough (a few seconds each here) to be killed in the middle of one.
    let id = submit(&app, &cookie, scene, "1-3", (320, 180), 64).await;
    wait_for_job(&app, &cookie, id, &[&victim], |job| {
        job["tasks"].as_array().is_some_and(|tasks| tasks.iter().any(|t| t["node_id"].as_i64() == Some(victim_node)))
    })
    .await;
    victim.child.kill().expect("kill -9");
    let killed_task = job(&app, &cookie, id).await["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["node_id"].as_i64() == Some(victim_node)).cloned())
        .expect("the victim's task");
    let (_, rescuer) = start_agent(&app, &cookie, "rescuer", work.path()).await;
    let finished = wait_for_job(&app, &cookie, id, &[&rescuer], |job| job["summary"]["state"] == "completed").await;
    let retried = finished["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["id"] == killed_task["id"]).cloned())
        .expect("task");
    assert_eq!(retried["attempt"], 2, "re-leased once after the lease expired: {finished}");
    for frame in 1..=3 {
        let bytes = app
            .get_with_cookie(&format!("/api/v1/jobs/{id}/frames/{frame}"), &cookie)
            .await
            .bytes()
            .await
            .expect("png");
        assert_eq!(png_size(&bytes), Some((320, 180)), "frame {frame}");
    }
}

async fn cancelling_a_job_stops_blender_on_the_agent(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.task_lease_ms = 3_000).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    let scene = sample_scene(work.path());
    let (node, agent) = start_agent(&app, &cookie, "busy", work.path()).await;
    let id = submit(&app, &cookie, scene, "1", (640, 360), 4_000).await;
    wait_for_job(&app, &cookie, id, &[&agent], |job| {
        job["tasks"][0]["node_id"].as_i64() == Some(node) && job["tasks"][0]["progress_percent"].as_i64().is_some()
    })
    .await;
    let children = || {
        let output = Command::new("pgrep").args(["-P", &agent.child.id().to_string()]).output().expect("pgrep");
        String::from_utf8_lossy(&output.stdout).lines().count()
    };
    let started = Instant::now();
    while children() == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "Blender never started:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancelled = app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &json!({}), Some(&cookie)).await;
    assert_eq!(cancelled.status(), 204);
    let cancelled_at = Instant::now();
    while children() > 0 {
        assert!(cancelled_at.elapsed() < Duration::from_secs(10), "Blender still running:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(job(&app, &cookie, id).await["summary"]["state"], "cancelled");
}

/// A render past its task's time limit (a hung or far too heavy scene) is stopped on the worker, reported failed
/// with the reason, and the task goes to another attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_past_its_time_limit_is_stopped_and_tried_again() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.max_task_ms = 2_000).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    let scene = sample_scene(work.path());
    let (_, agent) = start_agent(&app, &cookie, "slow", work.path()).await;
    // Minutes of Cycles on these machines: far past a 2 s limit.
    let id = submit(&app, &cookie, scene, "1", (640, 360), 4_000).await;
    let retried =
        wait_for_job(&app, &cookie, id, &[&agent], |job| job["tasks"][0]["attempt"].as_i64() >= Some(2)).await;
    let task = retried["tasks"][0]["id"].as_i64().expect("task");
    let attempts = app.get_json(&format!("/api/v1/jobs/{id}/tasks/{task}/attempts"), &cookie).await;
    let first = attempts.as_array().and_then(|all| all.iter().find(|a| a["attempt"] == 1)).expect("attempt 1");
    assert_eq!(first["outcome"], "failed", "{attempts}");
    let error = first["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("longer than its limit of 2 s"),
        "{error}
{}",
        agent.log()
    );
    let cancelled = app.post_json(&format!("/api/v1/jobs/{id}/cancel"), &json!({}), Some(&cookie)).await;
    assert_eq!(cancelled.status(), 204);
}

async fn a_tiled_frame_is_stitched_into_the_image_a_whole_render_gives(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    let scene = sample_scene(work.path());
    let (_, agent) = start_agent(&app, &cookie, "tiler", work.path()).await;
    let tiled = submit_split(&app, &cookie, scene.clone(), "5", "4", (96, 54), 8).await;
    let whole = submit_split(&app, &cookie, scene, "5", "", (96, 54), 8).await;
    for id in [tiled, whole] {
        wait_for_job(&app, &cookie, id, &[&agent], |job| job["summary"]["state"] == "completed").await;
    }
    let image = |id: i64| {
        let (app, cookie) = (&app, &cookie);
        async move {
            let response = app.get_with_cookie(&format!("/api/v1/jobs/{id}/frames/5"), cookie).await;
            assert_eq!(response.status(), 200);
            let bytes = response.bytes().await.expect("png");
            image::load_from_memory(&bytes).expect("decodes").to_rgba8()
        }
    };
    let (stitched, reference) = (image(tiled).await, image(whole).await);
    assert_eq!(stitched.dimensions(), (96, 54));
    // Cycles seeds each pixel's samples the same way in a border render: the tiles add up to the whole frame.
    let worst = stitched
        .pixels()
        .zip(reference.pixels())
        .flat_map(|(a, b)| a.0.iter().zip(b.0.iter()).map(|(x, y)| x.abs_diff(*y)))
        .max()
        .unwrap_or(0);
    assert!(worst <= 2, "largest channel difference {worst}");
}

crate::on_both_backends!(
    a_tiled_frame_is_stitched_into_the_image_a_whole_render_gives,
    two_real_agents_render_a_ten_frame_job,
    a_killed_agents_frame_is_re_leased_and_finished_by_the_other,
    cancelling_a_job_stops_blender_on_the_agent,
);
