//! `pictor-bench verification`: a job rendered by an honest worker and a cheating one (the debug agent's test-only
//! `--cheat`), checked by a real checker; prints verification compute as a share of render compute and the share
//! of cheated frames caught, then the same policy simulated over many jobs for the per-job odds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use pictor_server::testing::TestDb;
use serde_json::json;

use crate::coordinator::Coordinator;
use crate::render_job::{send, submit, wait_until_completed, FrameShape};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    shape: FrameShape,
    #[arg(long, default_value_t = 100)]
    frames: u32,
    /// How the cheating worker fakes frames: blank, noise, wrong-frame or low-samples.
    #[arg(long, default_value = "low-samples")]
    cheat: String,
    /// The share of its frames it fakes.
    #[arg(long, default_value_t = 0.1)]
    cheat_rate: f64,
    /// Jobs simulated for the per-job odds.
    #[arg(long, default_value_t = 100_000)]
    simulated_jobs: u32,
    /// The coordinator; any build.
    #[arg(long, default_value = "target/debug/pictor")]
    coordinator: PathBuf,
    /// The agent: a debug build (only those accept `--cheat`).
    #[arg(long, default_value = "target/debug/pictor-agent")]
    agent: PathBuf,
    #[arg(long, default_value_t = 3293)]
    port: u16,
}

struct AgentProcess {
    child: Child,
    log: PathBuf,
}

impl AgentProcess {
    fn start(binary: &Path, mode: &str, config: &Path, extra: &[&str], log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary)
            .arg(mode)
            .arg("--config")
            .arg(config)
            .arg("--no-benchmark")
            .args(extra)
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("the agent starts");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node of `key`'s account (`workers` or `checkers`) with its config written to `dir/<name>.toml`.
async fn node(client: &reqwest::Client, base: &str, key: &str, kind: &str, name: &str, dir: &Path) -> PathBuf {
    let issued =
        send(client.post(format!("{base}/api/v1/{kind}")).bearer_auth(key).json(&json!({ "name": name }))).await;
    let work = dir.join(name);
    std::fs::create_dir_all(&work).expect("dir");
    let path = dir.join(format!("{name}.toml"));
    let config = format!("{}work_dir = {:?}\n", issued["config_toml"].as_str().expect("config"), work);
    std::fs::write(&path, config).expect("config");
    path
}

pub async fn run(args: Args) {
    let test_db = TestDb::new(Backend::Sqlite).await;
    let mut keys = Vec::new();
    for name in ["creator", "lender", "cheat", "checker"] {
        let user = test_db.db.create_user(name, 0).await.expect("user");
        keys.push(pictor_server::auth::api_keys::create(&test_db.db, user, "bench", 0).await.expect("key").secret);
    }
    let settings = [("PICTOR_HEARTBEAT_INTERVAL_MS", "1000".to_string())];
    let coordinator = Coordinator::start(&args.coordinator, &test_db.url, args.port, &settings).await;
    let base = coordinator.base.clone();
    let client = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let checker_config = node(&client, &base, &keys[3], "checkers", "checker", dir.path()).await;
    let honest_config = node(&client, &base, &keys[1], "workers", "honest", dir.path()).await;
    let cheat_config = node(&client, &base, &keys[2], "workers", "cheater", dir.path()).await;
    let rate = args.cheat_rate.to_string();
    let cheat_flags = ["--cheat", args.cheat.as_str(), "--cheat-rate", rate.as_str()];
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let checker = AgentProcess::start(&args.agent, "checker", &checker_config, &[], log("checker"));
    let honest = AgentProcess::start(&args.agent, "worker", &honest_config, &[], log("honest"));
    let cheater = AgentProcess::start(&args.agent, "worker", &cheat_config, &cheat_flags, log("cheater"));
    // Everyone registered before the job, so every result finds the checker online.
    for agent in [&checker, &honest, &cheater] {
        let started = Instant::now();
        while !agent.log().contains("registered as node") {
            assert!(started.elapsed() < Duration::from_secs(60), "an agent did not register:\n{}", agent.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let job = submit(&client, &base, &keys[0], "verification bench", args.frames, &args.shape).await;
    let started = Instant::now();
    wait_until_completed(&client, &base, &keys[0], job, Duration::from_millis(500)).await;
    let wall = started.elapsed();
    drop((checker, honest));
    let cheater_log = cheater.log();
    drop(cheater);
    drop(coordinator);

    let db = &test_db.db;
    let render_ms: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(render_ms), 0) FROM task_attempts")
        .fetch_one(db.reader())
        .await
        .expect("sum");
    let check_ms: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(render_ms), 0) FROM verdicts WHERE state = 'submitted'")
            .fetch_one(db.reader())
            .await
            .expect("sum");
    let checks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM verifications").fetch_one(db.reader()).await.expect("n");
    let results: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM task_attempts WHERE outcome IN ('verified', 'uploaded', 'rejected')")
            .fetch_one(db.reader())
            .await
            .expect("n");
    // The cheater says which frames it faked; each is caught if that attempt was rejected.
    let cheated: Vec<i64> = cheater_log
        .lines()
        .filter_map(|line| line.split("cheating on frame ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    let mut caught = 0;
    for frame in &cheated {
        let outcome: Option<String> = sqlx::query_scalar(
            "SELECT a.outcome FROM task_attempts a JOIN tasks t ON t.id = a.task_id JOIN nodes n ON n.id = a.node_id
             WHERE t.frames = $1 AND n.name = 'cheater' ORDER BY a.attempt DESC LIMIT 1",
        )
        .bind(frame.to_string())
        .fetch_optional(db.reader())
        .await
        .expect("attempt");
        caught += usize::from(outcome.as_deref() == Some("rejected"));
    }
    println!(
        "job                 {} frames at {}×{}, {} samples; one worker cheats ({}) on {:.0} % of its frames",
        args.frames,
        args.shape.width,
        args.shape.height,
        args.shape.samples,
        args.cheat,
        args.cheat_rate * 100.0
    );
    println!("wall time           {:.0} s", wall.as_secs_f64());
    println!("results             {results} (checked: {checks})");
    println!(
        "compute             render {:.1} s, verification {:.1} s = {:.2} % of render",
        render_ms as f64 / 1000.0,
        check_ms as f64 / 1000.0,
        100.0 * check_ms as f64 / render_ms.max(1) as f64
    );
    println!(
        "cheated frames      {} faked, {caught} caught ({:.1} %)",
        cheated.len(),
        100.0 * caught as f64 / cheated.len().max(1) as f64
    );
    simulate(&args);
}

/// The policy over many jobs: a fresh cheater renders half of the job's frames, faking each with `cheat_rate`;
/// results are checked per the planner; a check catches a fake with the calibrated probability; a rejection
/// resets the streak, re-renders the cheater's unchecked results of the job, and after two the cheater is
/// blocklisted for the job.
fn simulate(args: &Args) {
    use pictor_server::verify::planner::{MIN_CHECK_RATE, TRUST_AFTER};
    // From `pictor-bench calibrate`: the worst tamper (a quarter of the samples) passes 3 guided 1 % crops in
    // 0.04 % of checks.
    const DETECTION: f64 = 0.9996;
    let mut state = 2026_u64;
    let mut random = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1_u64 << 53) as f64
    };
    let results = args.frames / 2;
    let (mut faked, mut caught, mut jobs_missed) = (0_u64, 0_u64, 0_u64);
    for _ in 0..args.simulated_jobs {
        let (mut streak, mut rejections, mut unchecked_fakes, mut job_caught, mut job_faked) = (0_i64, 0, 0, 0, 0);
        for _ in 0..results {
            if rejections >= 2 {
                break;
            }
            let fake = random() < args.cheat_rate;
            job_faked += u64::from(fake);
            let probability =
                if streak < TRUST_AFTER { 1.0 } else { (TRUST_AFTER as f64 / streak as f64).max(MIN_CHECK_RATE) };
            if random() < probability {
                if fake && random() < DETECTION {
                    job_caught += 1 + unchecked_fakes;
                    unchecked_fakes = 0;
                    streak = 0;
                    rejections += 1;
                } else {
                    unchecked_fakes += u64::from(fake);
                    streak += 1;
                }
            } else {
                unchecked_fakes += u64::from(fake);
            }
        }
        faked += job_faked;
        caught += job_caught;
        jobs_missed += u64::from(job_caught < job_faked);
    }
    println!(
        "simulated           {} jobs: {:.3} % of faked frames caught; {:.3} % of jobs kept a faked frame",
        args.simulated_jobs,
        100.0 * caught as f64 / faked.max(1) as f64,
        100.0 * jobs_missed as f64 / f64::from(args.simulated_jobs)
    );
}
