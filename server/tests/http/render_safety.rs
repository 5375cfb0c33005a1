//! Bad scenes meet real Blender on a real agent: a script set to run on load never runs, and a corrupt `.blend`
//! fails its job with Blender's own message after a bounded number of attempts (no retry storm).
//!
//! On SQLite only: what is tested here is the agent and Blender; the database side of failures and retries runs on
//! both backends in `db::tasks` and `render_api`.

use std::process::Command;

use pictor_server::db::Backend;
use serde_json::Value;

use crate::helpers::spawn_app_with;
use crate::render_blender::{start_agent, submit, wait_for_job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scene_script_set_to_run_on_load_never_runs_on_an_agent() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.heartbeat_interval_ms = 500).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    let marker = work.path().join("a-script-ran.txt");
    let scene = work.path().join("autorun.blend");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/scene_with_autorun_script.py");
    let made = Command::new("blender")
        .args(["-b", "--factory-startup", "--python-exit-code", "1", "--python", script, "--"])
        .args([&scene, &marker])
        .output()
        .expect("blender runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));

    // The trap is real: Blender runs the script on load when auto-execution is allowed.
    let trusting = Command::new("blender").args(["-b", "-y"]).arg(&scene).args(["--python-expr", "pass"]).output();
    assert!(trusting.expect("blender runs").status.success());
    assert!(marker.exists(), "with auto-execution Blender runs the scene's script");
    std::fs::remove_file(&marker).expect("reset the marker");

    let (_, agent) = start_agent(&app, &cookie, "careful", work.path()).await;
    let bytes = std::fs::read(&scene).expect("scene");
    let id = submit(&app, &cookie, bytes, "1-2", (32, 18), 1).await;
    wait_for_job(&app, &cookie, id, &[&agent], |job| job["summary"]["state"] == "completed").await;
    assert!(!marker.exists(), "the agent rendered the scene without running its script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_blend_fails_its_job_with_blenders_message_after_three_attempts() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.heartbeat_interval_ms = 500).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let work = tempfile::tempdir().expect("work");
    // The right magic (so the upload check passes), then noise where Blender expects its file blocks.
    let mut corrupt = b"BLENDER-v304".to_vec();
    let mut seed: u32 = 0x2545_f491;
    corrupt.extend((0..65_536).map(|_| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as u8
    }));
    let (_, agent) = start_agent(&app, &cookie, "victim", work.path()).await;
    let id = submit(&app, &cookie, corrupt, "1-6", (32, 18), 1).await;
    let failed = wait_for_job(&app, &cookie, id, &[&agent], |job| job["summary"]["state"] == "failed").await;

    let tasks = failed["tasks"].as_array().expect("tasks");
    let broken: Vec<&Value> = tasks.iter().filter(|task| task["state"] == "failed").collect();
    assert_eq!(broken.len(), 1, "the job stops at the first task that runs out of attempts: {failed}");
    let error = broken[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("Failed to read blend file"), "Blender's own words reach the creator: {error}");
    let attempts: Value = app
        .get_with_cookie(&format!("/api/v1/jobs/{id}/tasks/{}/attempts", broken[0]["id"]), &cookie)
        .await
        .json()
        .await
        .expect("json");
    let attempts = attempts.as_array().expect("attempts");
    assert_eq!(attempts.len(), 3, "three attempts, then the task fails: {attempts:?}");
    assert!(attempts
        .iter()
        .all(|a| a["outcome"] == "failed" && a["error"].as_str().is_some_and(|e| e.contains("blend"))));
    // No retry storm: nothing but those three attempts ran, and the other tasks were never handed out.
    let untouched = tasks.iter().filter(|task| task["attempt"] == 0 && task["state"] == "queued").count();
    assert_eq!(untouched, tasks.len() - 1, "{failed}");
}
