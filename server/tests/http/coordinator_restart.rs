//! The coordinator process killed with SIGKILL in the middle of a job and started again on the same database:
//! the real agents keep their finished frames in their outboxes, reconnect, and the job completes with every frame
//! accepted exactly once.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use pictor_server::testing::TestDb;
use serde_json::{json, Value};

use crate::agent_process::Agent;
use crate::render_blender::{png_size, sample_scene};

/// A `pictor` coordinator process on a fixed address, data directory and database.
struct Coordinator {
    child: Child,
    address: String,
}

impl Coordinator {
    fn start(listen: &str, data: &Path, database_url: &str) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pictor"));
        for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("PICTOR_") || key == "DATABASE_URL") {
            command.env_remove(key);
        }
        let child = command
            .env("PICTOR_LISTEN", listen)
            .env("PICTOR_DATA_DIR", data)
            .env("DATABASE_URL", database_url)
            .env("PICTOR_HEARTBEAT_INTERVAL_MS", "500")
            .env("PICTOR_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the coordinator starts");
        Coordinator { child, address: format!("http://{listen}") }
    }

    async fn wait_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/healthz", self.address)).send().await {
                if response.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the coordinator did not become ready");
    }

    fn kill_hard(&mut self) {
        let _ = self.child.kill(); // SIGKILL: no graceful shutdown, no flushing.
        let _ = self.child.wait();
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

fn api(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    client.request(method, format!("{base}{path}")).bearer_auth(key)
}

async fn job(client: &reqwest::Client, base: &str, key: &str, id: i64) -> Option<Value> {
    let response = api(client, base, key, reqwest::Method::GET, &format!("/api/v1/jobs/{id}")).send().await.ok()?;
    response.json().await.ok()
}

async fn a_killed_coordinator_restarts_and_the_job_completes_with_every_frame_once(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let data = tempfile::tempdir().expect("data");
    let listen = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address").to_string();
    let now = pictor_server::clock::now_ms();
    let user = test_db.db.create_user("Ada", now).await.expect("user");
    let key = pictor_server::auth::api_keys::create(&test_db.db, user, "test", now).await.expect("key").secret;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");

    let mut coordinator = Coordinator::start(&listen, data.path(), &test_db.url);
    coordinator.wait_ready(&client).await;
    let base = coordinator.address.clone();
    let mut agents = Vec::new();
    for name in ["left", "right"] {
        let issued: Value = api(&client, &base, &key, reqwest::Method::POST, "/api/v1/workers")
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("create worker")
            .json()
            .await
            .expect("json");
        let dir = data.path().join(name);
        std::fs::create_dir_all(&dir).expect("work dir");
        let config =
            format!("{}work_dir = {:?}\n", issued["config_toml"].as_str().expect("config"), dir.display().to_string());
        agents.push(Agent::start(&config, &["--no-benchmark"]));
    }
    let scene = sample_scene(data.path());
    let uploaded: Value = api(&client, &base, &key, reqwest::Method::PUT, "/api/v1/scenes")
        .body(scene)
        .send()
        .await
        .expect("upload")
        .json()
        .await
        .expect("json");
    let form = json!({
        "name": "survivor", "frames": "1-8", "chunk_size": "1", "tiles": "", "resolution_x": "96",
        "resolution_y": "54", "resolution_percent": "100", "samples": "16", "engine": "Cycles", "format": "PNG",
        "tier": "Standard", "min_vram_gib": "", "gpu_model": "", "tags": ""
    });
    let submitted: Value = api(&client, &base, &key, reqwest::Method::POST, "/api/v1/jobs")
        .json(&json!({ "scene_key": uploaded["scene_key"], "form": form }))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let id = submitted["job_id"].as_i64().expect("job id");

    // Kill it once a few frames are in and others are being rendered.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let current = job(&client, &base, &key, id).await.expect("job");
        if current["summary"]["tasks_done"].as_i64() >= Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {current}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    coordinator.kill_hard();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let coordinator = Coordinator::start(&listen, data.path(), &test_db.url);
    coordinator.wait_ready(&client).await;

    let deadline = Instant::now() + Duration::from_secs(240);
    let finished = loop {
        if let Some(current) = job(&client, &base, &key, id).await {
            if current["summary"]["state"] == "completed" {
                break current;
            }
            let logs: Vec<String> = agents.iter().map(Agent::log).collect();
            assert!(Instant::now() < deadline, "job: {current}\nagents:\n{}", logs.join("\n----\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(finished["summary"]["tasks_done"], 8);
    for frame in 1..=8 {
        let image = api(&client, &base, &key, reqwest::Method::GET, &format!("/api/v1/jobs/{id}/frames/{frame}"))
            .send()
            .await
            .expect("frame");
        assert_eq!(image.status(), 200, "frame {frame}");
        assert_eq!(png_size(&image.bytes().await.expect("bytes")), Some((96, 54)), "frame {frame}");
    }
    // Exactly one accepted output per frame, and no task finished twice.
    let accepted: Vec<i64> = sqlx::query_scalar(
        "SELECT o.frame FROM task_outputs o JOIN tasks t ON t.id = o.task_id AND o.attempt = t.attempt
         WHERE t.job_id = $1 ORDER BY o.frame",
    )
    .bind(id)
    .fetch_all(test_db.db.reader())
    .await
    .expect("outputs");
    assert_eq!(accepted, (1..=8).collect::<Vec<i64>>());
    let finished_twice: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT a.task_id FROM task_attempts a JOIN tasks t ON t.id = a.task_id
         WHERE t.job_id = $1 AND a.outcome = 'uploaded' GROUP BY a.task_id HAVING COUNT(*) > 1) twice",
    )
    .bind(id)
    .fetch_one(test_db.db.reader())
    .await
    .expect("count");
    assert_eq!(finished_twice, 0);
}

crate::on_both_backends!(a_killed_coordinator_restarts_and_the_job_completes_with_every_frame_once);
