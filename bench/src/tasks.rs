//! `pictor-bench tasks`: N simulated agents run task cycles (lease → upload a frame with its hash → done) against a
//! real coordinator process, next to the raw commit rate of SQLite on this machine measured in the same run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pictor_core::agent_protocol::{done_path, output_path, BlenderInstall, TaskAssignment, LEASE_PATH};
use pictor_core::jobs::JobForm;
use pictor_server::db::job_lifecycle::NewJob;
use pictor_server::db::Db;
use pictor_server::render::jobs_api::tasks_of;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::coordinator::{backend, database_with_workers, millis, percentile, Coordinator};
use crate::heartbeats::{register_all, simulated_hardware};

#[derive(clap::Args)]
pub struct Args {
    /// How many agents to simulate.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// How long to measure.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Tasks in the job the agents work through (more than they can finish in the time).
    #[arg(long, default_value_t = 40_000)]
    tasks: u32,
    /// sqlite or postgres (a fresh database on TEST_POSTGRES_URL's server).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// The coordinator binary to run.
    #[arg(long, default_value = "target/release/pictor")]
    coordinator: PathBuf,
    #[arg(long, default_value_t = 3291)]
    port: u16,
}

/// One job of `tasks` single-frame tasks, stored directly (the agents then only speak HTTP).
async fn create_job(db: &Db, owner: i64, tasks: u32) -> i64 {
    let form = JobForm::cycles_png("bench", &format!("1-{tasks}"), 64, 36, 1);
    let spec = form.validate().expect("a valid job");
    let job = NewJob {
        owner,
        kind: pictor_core::workloads::WorkloadKind::Render,
        name: spec.name.clone(),
        spec_json: serde_json::to_string(&spec).expect("json"),
        scene_key: format!("scenes/{}.blend", "0".repeat(64)),
        scene_sha256: "0".repeat(64),
        tier_rank: spec.tier as i64,
        engine: "cycles".into(),
        max_price_micro_per_minute: spec.tier.max_price_micro_per_minute(),
        min_vram_bytes: 0,
        gpu_model: None,
        tags: vec![],
        max_attempts: 3,
        max_task_ms: None,
        tasks: tasks_of(&spec),
        escrow_micro: 0,
        estimate_micro: 0,
        estimate_source: String::new(),
        budget_micro: None,
        checker_share_percent: 10,
    };
    pictor_server::engine::Engine::new(db.clone()).create_job(&job, 0).await.expect("job").0
}

/// Single-row autocommit inserts into a fresh SQLite file with the coordinator's own settings, for `seconds`.
async fn sqlite_commits_per_second(seconds: f64) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("commits.db").display());
    let db = Db::connect(&url).await.expect("sqlite");
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").execute(db.writer()).await.expect("table");
    let started = Instant::now();
    let mut commits = 0_u64;
    while started.elapsed().as_secs_f64() < seconds {
        sqlx::query("INSERT INTO t (v) VALUES ($1)").bind("x").execute(db.writer()).await.expect("insert");
        commits += 1;
    }
    let rate = commits as f64 / started.elapsed().as_secs_f64();
    db.close().await;
    rate
}

/// A 64×36 frame the coordinator's checks accept (decodes, right size, not flat).
fn frame_png() -> Vec<u8> {
    let image = image::RgbaImage::from_fn(64, 36, |x, y| image::Rgba([x as u8 * 4, y as u8 * 7, 90, 255]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).expect("png");
    bytes.into_inner()
}

/// One cycle of a simulated agent; `None` when no task was handed out.
async fn cycle(client: &reqwest::Client, base: &str, token: &str, body: &[u8]) -> Result<Option<()>, String> {
    let leased = client
        .post(format!("{base}{LEASE_PATH}"))
        .bearer_auth(token)
        .json(&json!({ "wait_ms": 1000 }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if leased.status() == 204 {
        return Ok(None);
    }
    if !leased.status().is_success() {
        return Err(format!("lease: {}", leased.status()));
    }
    let task: TaskAssignment = leased.json().await.map_err(|e| e.to_string())?;
    let frame = task.frames.first().copied().ok_or("a task without frames")?;
    let uploaded = client
        .put(format!("{base}{}", output_path(task.task_id, frame, task.attempt)))
        .bearer_auth(token)
        .header("x-pictor-sha256", hex::encode(Sha256::digest(body)))
        .body(body.to_vec())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !uploaded.status().is_success() {
        return Err(format!("upload: {}", uploaded.status()));
    }
    let done = client
        .post(format!("{base}{}", done_path(task.task_id)))
        .bearer_auth(token)
        .json(&json!({ "attempt": task.attempt, "log_tail": "" }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !done.status().is_success() {
        return Err(format!("done: {}", done.status()));
    }
    Ok(Some(()))
}

pub async fn run(args: Args) {
    let backend = backend(&args.database);
    let (test_db, owner, tokens) = database_with_workers(backend, args.agents).await;
    let job = create_job(&test_db.db, owner, args.tasks).await;
    let settings = [("PICTOR_HEARTBEAT_INTERVAL_MS", "5000".to_string())];
    let coordinator = Coordinator::start(&args.coordinator, &test_db.url, args.port, &settings).await;
    let base = coordinator.base.clone();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.agents).build().expect("client");
    let mut hardware = simulated_hardware();
    hardware.blenders = vec![BlenderInstall {
        path: "/usr/bin/blender".into(),
        version: "3.4.1".into(),
        engines: vec!["Cycles".into(), "EEVEE".into(), "Workbench".into()],
        benchmark: None,
    }];
    register_all(&client, &base, &tokens, &hardware).await;

    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let failures = Arc::new(AtomicU64::new(0));
    let first_failure = Arc::new(Mutex::new(None::<String>));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let body = Arc::new(frame_png());
    let mut agents = Vec::new();
    for token in tokens {
        let (client, base, body) = (client.clone(), base.clone(), body.clone());
        let (latencies, failures, first_failure) = (latencies.clone(), failures.clone(), first_failure.clone());
        agents.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                match cycle(&client, &base, &token, &body).await {
                    Ok(Some(())) => mine.push(started.elapsed()),
                    Ok(None) => {}
                    Err(error) => {
                        failures.fetch_add(1, Ordering::Relaxed);
                        first_failure.lock().await.get_or_insert(error);
                    }
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    let measured = Instant::now();
    for agent in agents {
        let _ = agent.await;
    }
    let elapsed = measured.elapsed().as_secs_f64();
    drop(coordinator);
    // Measured after the load, on the same machine and disk, so the two figures share their conditions.
    let commits = sqlite_commits_per_second(5.0).await;

    let mut latencies = latencies.lock().await.clone();
    latencies.sort();
    let cycles = latencies.len() as f64 / elapsed;
    let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE job_id = $1 AND state = 'uploaded'")
        .bind(job)
        .fetch_one(test_db.db.reader())
        .await
        .expect("count");
    println!("database            {}", backend.name());
    println!("agents              {}", args.agents);
    println!(
        "task cycles         {} in {elapsed:.1} s = {cycles:.0} cycles/s ({} failed{}), {done} tasks done in the db",
        latencies.len(),
        failures.load(Ordering::Relaxed),
        first_failure.lock().await.as_ref().map(|e| format!(", first: {e}")).unwrap_or_default()
    );
    println!(
        "cycle latency       p50 {:.1} ms, p99 {:.1} ms (lease + upload + done)",
        millis(percentile(&latencies, 0.50)),
        millis(percentile(&latencies, 0.99))
    );
    println!("raw SQLite commits  {commits:.0} commits/s (single-row inserts, WAL, synchronous=NORMAL)");
    println!("ratio               {:.3} task cycles per raw commit", cycles / commits);
}
