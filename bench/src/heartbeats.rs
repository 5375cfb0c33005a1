//! `pictor-bench heartbeats`: N simulated agents register and heartbeat against a real coordinator process;
//! prints heartbeats per second, latency percentiles and the coordinator's memory per worker.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use pictor_core::agent_protocol::{Hardware, LiveMetrics, HEARTBEAT_PATH, REGISTER_PATH};
use serde_json::json;
use tokio::sync::Mutex;

use crate::coordinator::{backend, database_with_workers, millis, percentile, Coordinator};

#[derive(clap::Args)]
pub struct Args {
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

/// What a simulated agent says it is: enough for the coordinator to store, no GPU.
pub fn simulated_hardware() -> Hardware {
    Hardware {
        hostname: "sim".into(),
        os: "Linux".into(),
        cpu_model: "sim".into(),
        cpu_cores: 8,
        ram_bytes: 1 << 34,
        ..Hardware::default()
    }
}

/// Registers every token's agent with `hardware` (64 at a time); returns how long it took.
pub async fn register_all(client: &reqwest::Client, base: &str, tokens: &[String], hardware: &Hardware) -> Duration {
    let started = Instant::now();
    futures::stream::iter(tokens.iter())
        .for_each_concurrent(64, |token| async move {
            let response = client
                .post(format!("{base}{REGISTER_PATH}"))
                .bearer_auth(token)
                .json(&json!({ "agent_version": "bench", "hardware": hardware }))
                .send()
                .await
                .expect("register");
            assert!(response.status().is_success(), "register: {}", response.status());
        })
        .await;
    started.elapsed()
}

pub async fn run(args: Args) {
    let backend = backend(&args.database);
    // The nodes and their tokens go straight into a fresh database; the agents then only speak HTTP.
    let (test_db, _, tokens) = database_with_workers(backend, args.agents).await;
    let settings = [("PICTOR_HEARTBEAT_INTERVAL_MS", args.interval_ms.to_string())];
    let coordinator = Coordinator::start(&args.coordinator, &test_db.url, args.port, &settings).await;
    let base = coordinator.base.clone();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.agents).build().expect("client");
    let baseline_kib = coordinator.rss_kib();

    // Register everyone, then heartbeat on the interval, staggered.
    let register_seconds = register_all(&client, &base, &tokens, &simulated_hardware()).await.as_secs_f64();
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let failures = Arc::new(AtomicU64::new(0));
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
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    let measure_started = Instant::now();
    let mut peak_kib = 0;
    while Instant::now() < deadline {
        peak_kib = peak_kib.max(coordinator.rss_kib());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = measure_started.elapsed().as_secs_f64();
    let mut latencies = latencies.lock().await.clone();
    latencies.sort();
    let per_worker_kib = peak_kib.saturating_sub(baseline_kib) as f64 / args.agents as f64;
    println!("database            {}", backend.name());
    println!("agents              {}", args.agents);
    println!(
        "heartbeat interval  {} ms (offered load {:.0} heartbeats/s)",
        args.interval_ms,
        args.agents as f64 * 1000.0 / args.interval_ms as f64
    );
    println!("registration        {register_seconds:.2} s for all agents");
    println!(
        "heartbeats          {} ok, {} failed in {elapsed:.1} s = {:.0} heartbeats/s",
        latencies.len(),
        failures.load(Ordering::Relaxed),
        latencies.len() as f64 / elapsed
    );
    println!(
        "latency             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        millis(percentile(&latencies, 0.50)),
        millis(percentile(&latencies, 0.99)),
        millis(latencies.last().copied().unwrap_or_default())
    );
    println!(
        "coordinator memory  {} MiB idle, {} MiB peak = {per_worker_kib:.1} KiB per worker",
        baseline_kib / 1024,
        peak_kib / 1024
    );
}
