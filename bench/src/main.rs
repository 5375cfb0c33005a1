//! `pictor-bench heartbeats`: N simulated agents register and heartbeat against a real coordinator process;
//! prints heartbeats per second, latency percentiles and the coordinator's memory per worker.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use pictor_core::agent_protocol::{Hardware, LiveMetrics, HEARTBEAT_PATH, REGISTER_PATH};
use pictor_server::auth::tokens::{hash_secret, random_token};
use pictor_server::db::nodes::NodeKind;
use pictor_server::db::Backend;
use pictor_server::testing::TestDb;
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(about = "Simulated agents heartbeating against a real coordinator")]
struct Args {
    /// How many agents to simulate.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// How long to measure, after every agent registered.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Each agent's heartbeat interval (the coordinator is told the same).
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// sqlite or postgres (a fresh database on TEST_POSTGRES_URL's server).
    #[arg(long, default_value = "sqlite")]
    database: String,
    /// The coordinator binary to run.
    #[arg(long, default_value = "target/release/pictor")]
    coordinator: PathBuf,
    #[arg(long, default_value_t = 3290)]
    port: u16,
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:").map(|rest| rest.trim().trim_end_matches(" kB").trim().to_string())
            })
        })
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

struct Coordinator(Child);

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let backend = match args.database.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => {
            eprintln!("pictor-bench: error: --database must be sqlite or postgres, not {other:?}");
            std::process::exit(2);
        }
    };
    if !args.coordinator.exists() {
        eprintln!(
            "pictor-bench: error: no coordinator at {} (cargo build --release -p pictor-server)",
            args.coordinator.display()
        );
        std::process::exit(2);
    }

    // The nodes and their tokens go straight into a fresh database; the agents then only speak HTTP.
    let test_db = TestDb::new(backend).await;
    let owner = test_db.db.create_user("bench", 0).await.expect("user");
    let mut tokens = Vec::with_capacity(args.agents);
    for index in 0..args.agents {
        let token = format!("pn_{}", random_token(32));
        test_db
            .db
            .issue_node(owner, NodeKind::Worker, &format!("sim-{index}"), Some(&hash_secret(&token)), 0)
            .await
            .expect("node");
        tokens.push(token);
    }
    let data_dir = std::env::temp_dir().join(format!("pictor-bench-{}", std::process::id()));
    let child = Command::new(&args.coordinator)
        .env("PICTOR_LISTEN", format!("127.0.0.1:{}", args.port))
        .env("PICTOR_DATA_DIR", &data_dir)
        .env("DATABASE_URL", &test_db.url)
        .env("PICTOR_HEARTBEAT_INTERVAL_MS", args.interval_ms.to_string())
        .env("PICTOR_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("coordinator starts");
    let coordinator = Coordinator(child);
    let base = format!("http://127.0.0.1:{}", args.port);
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.agents).build().expect("client");
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the coordinator did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline_kib = rss_kib(coordinator.0.id());

    // Register everyone (bounded concurrency), then heartbeat on the interval, staggered.
    let hardware = Hardware {
        hostname: "sim".into(),
        os: "Linux".into(),
        cpu_model: "sim".into(),
        cpu_cores: 8,
        ram_bytes: 1 << 34,
        ..Hardware::default()
    };
    let register_started = Instant::now();
    futures::stream::iter(tokens.iter())
        .for_each_concurrent(64, |token| {
            let (client, base, hardware) = (client.clone(), base.clone(), hardware.clone());
            async move {
                let response = client
                    .post(format!("{base}{REGISTER_PATH}"))
                    .bearer_auth(token)
                    .json(&json!({ "agent_version": "bench", "hardware": hardware }))
                    .send()
                    .await
                    .expect("register");
                assert!(response.status().is_success(), "register: {}", response.status());
            }
        })
        .await;
    let register_seconds = register_started.elapsed().as_secs_f64();

    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let interval = Duration::from_millis(args.interval_ms);
    let mut tasks = Vec::new();
    for (index, token) in tokens.into_iter().enumerate() {
        let (client, base, latencies, failures) = (client.clone(), base.clone(), latencies.clone(), failures.clone());
        let offset = interval.mul_f64(index as f64 / args.agents as f64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(offset).await;
            let mut ticker = tokio::time::interval(interval);
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                ticker.tick().await;
                let metrics = LiveMetrics {
                    cpu_percent: (index % 100) as f32,
                    ram_used_bytes: 1 << 30,
                    ram_total_bytes: 1 << 34,
                    gpus: vec![],
                };
                let sent = Instant::now();
                let result = client
                    .post(format!("{base}{HEARTBEAT_PATH}"))
                    .bearer_auth(&token)
                    .json(&json!({ "metrics": metrics }))
                    .send()
                    .await;
                match result {
                    Ok(response) if response.status().is_success() => mine.push(sent.elapsed()),
                    _ => {
                        failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    let measure_started = Instant::now();
    let mut peak_kib = 0;
    while Instant::now() < deadline {
        peak_kib = peak_kib.max(rss_kib(coordinator.0.id()));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = measure_started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().await.clone();
    latencies.sort();
    let per_worker_kib = peak_kib.saturating_sub(baseline_kib) as f64 / args.agents as f64;
    let failed = failures.load(std::sync::atomic::Ordering::Relaxed);
    println!("database            {}", backend.name());
    println!("agents              {}", args.agents);
    println!(
        "heartbeat interval  {} ms (offered load {:.0} heartbeats/s)",
        args.interval_ms,
        args.agents as f64 * 1000.0 / args.interval_ms as f64
    );
    println!("registration        {:.2} s for all agents", register_seconds);
    println!(
        "heartbeats          {} ok, {} failed in {:.1} s = {:.0} heartbeats/s",
        latencies.len(),
        failed,
        elapsed,
        latencies.len() as f64 / elapsed
    );
    println!(
        "latency             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "coordinator memory  {} MiB idle, {} MiB peak = {:.1} KiB per worker",
        baseline_kib / 1024,
        peak_kib / 1024,
        per_worker_kib
    );
    drop(coordinator);
    let _ = std::fs::remove_dir_all(&data_dir);
}
