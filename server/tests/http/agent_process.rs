//! The real `pictor-agent` binary against a spawned coordinator: it registers with its hardware and benchmark,
//! heartbeats, signs off on SIGTERM, is marked offline when killed, and stops with one clear line on a bad token.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use serde_json::Value;

use crate::agents::create_worker;
use crate::helpers::{spawn_app_with, TestApp};

/// `target/debug/pictor-agent`, built first if this test run did not build it.
fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
    let binary = profile_dir.join("pictor-agent");
    if !binary.exists() {
        let status = Command::new(env!("CARGO")).args(["build", "-p", "pictor-agent"]).status().expect("cargo");
        assert!(status.success(), "building pictor-agent failed");
    }
    binary
}

pub struct Agent {
    pub child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start(config: &str, extra: &[&str]) -> Self {
        Self::start_as("worker", config, extra)
    }

    /// An agent in `mode` (`worker` or `checker`) with the config file `config`.
    pub fn start_as(mode: &str, config: &str, extra: &[&str]) -> Self {
        Self::start_with_env(mode, config, extra, &[])
    }

    /// Like [`Agent::start_as`], with extra environment variables (debug-only fault switches).
    pub fn start_with_env(mode: &str, config: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(format!("{mode}.toml"));
        std::fs::write(&path, config).expect("config");
        let log = dir.path().join("agent.log");
        let output = std::fs::File::create(&log).expect("log");
        let child = Command::new(agent_binary())
            .arg(mode)
            .arg("--config")
            .arg(&path)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(output.try_clone().expect("clone"))
            .stderr(output)
            .spawn()
            .expect("the agent starts");
        Agent { child, log, _dir: dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.expect("kill").success());
    }

    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn details(app: &TestApp, cookie: &str, id: i64) -> Value {
    app.get_with_cookie(&format!("/api/v1/workers/{id}"), cookie).await.json().await.expect("json")
}

/// Polls the worker's details until `done` holds; panics with the agent's log after `within`.
async fn wait_for(
    app: &TestApp,
    cookie: &str,
    id: i64,
    agent: &Agent,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + within;
    loop {
        let current = details(app, cookie, id).await;
        if done(&current) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out; worker: {current}\nagent log:\n{}", agent.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_real_agent_registers_heartbeats_and_goes_offline_when_killed(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.heartbeat_interval_ms = 300).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (id, _, config) = create_worker(&app, &cookie, "box").await;
    let mut agent = Agent::start(&config, &["--no-benchmark"]);
    wait_for(&app, &cookie, id, &agent, Duration::from_secs(30), |worker| {
        worker["summary"]["status"] == "online" && worker["recent"].as_array().is_some_and(|points| !points.is_empty())
    })
    .await;
    let worker = details(&app, &cookie, id).await;
    assert!(worker["hardware"]["cpu_cores"].as_u64().is_some_and(|cores| cores >= 1), "{worker}");
    assert!(worker["hardware"]["ram_bytes"].as_u64().is_some_and(|bytes| bytes > 0), "{worker}");

    // kill -9: no sign-off, so only the timeout checker can notice (3 × 300 ms).
    agent.child.kill().expect("kill -9");
    let killed_at = Instant::now();
    wait_for(&app, &cookie, id, &agent, Duration::from_secs(10), |worker| worker["summary"]["status"] == "offline")
        .await;
    assert!(killed_at.elapsed() >= Duration::from_millis(600), "offline only after missed heartbeats");
}

async fn a_real_agent_benchmarks_blender_and_signs_off_on_sigterm(backend: Backend) {
    // Default 5 s heartbeats: an offline status within a second or two can only come from the agent's sign-off.
    let app = spawn_app_with(backend, |_| {}).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (id, _, config) = create_worker(&app, &cookie, "box").await;
    let mut agent = Agent::start(&config, &[]);
    wait_for(&app, &cookie, id, &agent, Duration::from_secs(120), |worker| worker["summary"]["status"] == "online")
        .await;
    let worker = details(&app, &cookie, id).await;
    let blender = &worker["hardware"]["blenders"][0];
    assert!(blender["version"].as_str().is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit())), "{worker}");
    assert!(blender["benchmark"]["score"].as_u64().is_some_and(|score| score > 0), "a real benchmark ran: {worker}");
    assert_eq!(worker["summary"]["benchmark_score"], blender["benchmark"]["score"]);

    agent.signal("TERM");
    assert_eq!(agent.wait_exit(Duration::from_secs(10)), Some(0), "clean exit; log:\n{}", agent.log());
    let worker = details(&app, &cookie, id).await;
    assert_eq!(worker["summary"]["status"], "offline", "signed off at once; log:\n{}", agent.log());
}

async fn an_agent_with_a_revoked_token_stops_with_one_clear_line(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (id, _, config) = create_worker(&app, &cookie, "box").await;
    let reissued = app.post_json(&format!("/api/v1/workers/{id}/token"), &serde_json::json!({}), Some(&cookie)).await;
    assert_eq!(reissued.status(), 200);
    let mut agent = Agent::start(&config, &["--no-benchmark"]);
    assert_eq!(agent.wait_exit(Duration::from_secs(30)), Some(1), "log:\n{}", agent.log());
    let errors: Vec<String> =
        agent.log().lines().filter(|line| line.starts_with("pictor-agent: error:")).map(str::to_string).collect();
    assert_eq!(errors.len(), 1, "exactly one error line:\n{}", agent.log());
    assert!(errors[0].contains("token"), "{}", errors[0]);
    assert_eq!(details(&app, &cookie, id).await["summary"]["status"], "new", "the old token changed nothing");
}

crate::on_both_backends!(
    a_real_agent_registers_heartbeats_and_goes_offline_when_killed,
    a_real_agent_benchmarks_blender_and_signs_off_on_sigterm,
    an_agent_with_a_revoked_token_stops_with_one_clear_line,
);
