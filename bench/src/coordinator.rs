//! A real coordinator process for a benchmark: started on a fresh database with simulated nodes, stopped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pictor_server::auth::tokens::{hash_secret, random_token};
use pictor_server::db::nodes::NodeKind;
use pictor_server::db::Backend;
use pictor_server::testing::TestDb;

/// `sqlite` or `postgres` (a fresh database on TEST_POSTGRES_URL's server).
pub fn backend(name: &str) -> Backend {
    match name {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => {
            eprintln!("pictor-bench: error: --database must be sqlite or postgres, not {other:?}");
            std::process::exit(2);
        }
    }
}

/// A fresh database with one owner and `count` worker nodes; returns it and the nodes' tokens.
pub async fn database_with_workers(backend: Backend, count: usize) -> (TestDb, i64, Vec<String>) {
    let test_db = TestDb::new(backend).await;
    let owner = test_db.db.create_user("bench", 0).await.expect("user");
    let mut tokens = Vec::with_capacity(count);
    for index in 0..count {
        let token = format!("pn_{}", random_token(32));
        test_db
            .db
            .issue_node(owner, NodeKind::Worker, &format!("sim-{index}"), Some(&hash_secret(&token)), 0)
            .await
            .expect("node");
        tokens.push(token);
    }
    (test_db, owner, tokens)
}

pub struct Coordinator {
    child: Child,
    pub base: String,
    data_dir: PathBuf,
}

impl Coordinator {
    /// Starts `binary` on `database_url` at 127.0.0.1:`port` with extra `PICTOR_*` settings; waits for /healthz.
    pub async fn start(binary: &Path, database_url: &str, port: u16, settings: &[(&str, String)]) -> Self {
        if !binary.exists() {
            eprintln!(
                "pictor-bench: error: no coordinator at {} (cargo build --release -p pictor-server)",
                binary.display()
            );
            std::process::exit(2);
        }
        let data_dir = std::env::temp_dir().join(format!("pictor-bench-{}-{port}", std::process::id()));
        let child = Command::new(binary)
            .env("PICTOR_LISTEN", format!("127.0.0.1:{port}"))
            .env("PICTOR_DATA_DIR", &data_dir)
            .env("DATABASE_URL", database_url)
            .env("PICTOR_LOG", "warn")
            .envs(settings.iter().map(|(key, value)| (*key, value.as_str())))
            .stdout(Stdio::null())
            .spawn()
            .expect("coordinator starts");
        let coordinator = Coordinator { child, base: format!("http://127.0.0.1:{port}"), data_dir };
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client.get(format!("{}/healthz", coordinator.base)).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "the coordinator did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        coordinator
    }

    /// The coordinator's resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status.lines().find_map(|line| {
                    line.strip_prefix("VmRSS:").map(|rest| rest.trim().trim_end_matches(" kB").trim().to_string())
                })
            })
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The value below which a share `p` of the sorted samples lie.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
