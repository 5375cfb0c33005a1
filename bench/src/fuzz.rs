//! `pictor-bench fuzz`: the long fuzzing run — every JSON and streamed endpoint of a real coordinator binary (REST,
//! server functions, agent protocol, sign-in) with `--cases` generated inputs each (the tests run 48); prints each
//! target's count and statuses, and fails on any answer of 500 or more or a refusal that changed the database.

use std::path::PathBuf;
use std::time::Instant;

use pictor_server::db::Backend;
use pictor_server::testing::TestDb;
use serde_json::{json, Value};

use crate::coordinator::Coordinator;

#[derive(clap::Args)]
pub struct Args {
    /// Inputs per endpoint.
    #[arg(long, default_value_t = 2000)]
    cases: usize,
    /// Run against PostgreSQL (TEST_POSTGRES_URL) instead of SQLite.
    #[arg(long)]
    postgres: bool,
    #[arg(long, default_value = "target/release/pictor")]
    coordinator: PathBuf,
    #[arg(long, default_value_t = 3293)]
    port: u16,
}

pub async fn run(args: Args) {
    let test_db = TestDb::new(if args.postgres { Backend::Postgres } else { Backend::Sqlite }).await;
    let db = test_db.db.clone();
    let settings = [
        ("PICTOR_LIMITS__SIGN_IN_PER_MINUTE", "0".to_string()),
        ("PICTOR_LIMITS__API_PER_MINUTE", "0".to_string()),
        ("PICTOR_LEDGER__PAYMENT_WEBHOOK_SECRET", "a payment secret for fuzzing".to_string()),
    ];
    let coordinator = Coordinator::start(&args.coordinator, &test_db.url, args.port, &settings).await;
    let base = coordinator.base.clone();
    let now = pictor_server::clock::now_ms();
    let user = db.create_user("fuzz", now).await.expect("user");
    let token = pictor_server::auth::tokens::random_token(32);
    let hash = pictor_server::auth::tokens::hash_secret(&token);
    db.create_session(&hash, user, now, now + 24 * 3_600_000).await.expect("session");
    let cookie = format!("pictor_session={token}");
    let client = reqwest::Client::new();
    let issued: Value = client
        .post(format!("{base}/api/v1/workers"))
        .header("Cookie", &cookie)
        .header("Origin", &base)
        .json(&json!({ "name": "fuzz-box" }))
        .send()
        .await
        .expect("a worker")
        .json()
        .await
        .expect("its config");
    let config = issued["config_toml"].as_str().expect("config");
    let agent = config.lines().find_map(|line| line.strip_prefix("token = \"")).expect("token").trim_end_matches('"');
    let worker = issued["node_id"].as_i64().expect("node id");
    let server_functions = pictor_server::api::dashboard::server_function_paths();
    let targets = pictor_fuzz::targets(&cookie, agent, worker, &server_functions);
    let fingerprint = || async {
        let mut counts = Vec::new();
        for table in pictor_fuzz::WATCHED_TABLES {
            let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(db.reader())
                .await
                .expect("a count");
            counts.push(count);
        }
        counts
    };
    let started = Instant::now();
    let report = pictor_fuzz::fuzz(&client, &base, &targets, args.cases, fingerprint).await;
    for (target, tried) in &report {
        println!("{target:<60} {:>7} inputs  {}", tried.inputs, tried.statuses);
    }
    let total: usize = report.values().map(|tried| tried.inputs).sum();
    println!(
        "fuzzed {} endpoints, {total} inputs in {:.0} s on {}: no answer of 500 or more, no refusal changed data",
        report.len(),
        started.elapsed().as_secs_f64(),
        db.backend().name()
    );
}
