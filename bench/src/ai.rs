//! `pictor-bench ai`: the AI API through a real coordinator and a real agent against the bare engine in this
//! process, all on the same model files: decode tokens/s, time to first token added by the gateway, many
//! concurrent streams, embeddings per second.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use pictor_core::ai::NETWORK_MODELS;
use pictor_inference::{device, ChatMessage, ChatModel, EmbeddingModel, GenerationParams, ModelCache};
use pictor_server::auth::tokens::{hash_secret, random_token};
use pictor_server::db::ledger::{Account, Transfer};
use pictor_server::db::nodes::NodeKind;
use pictor_server::db::Backend;
use pictor_server::testing::TestDb;
use serde_json::{json, Value};

use crate::coordinator::{millis, percentile, Coordinator};

#[derive(clap::Args)]
pub struct Args {
    /// Tokens generated per request in the throughput runs.
    #[arg(long, default_value_t = 64)]
    tokens: u32,
    /// Repetitions of each sequential measurement.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Concurrent streams in the load run.
    #[arg(long, default_value_t = 64)]
    streams: usize,
    /// Texts per embeddings request.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value = "target/release/pictor")]
    coordinator: PathBuf,
    #[arg(long, default_value = "target/release/pictor-agent")]
    agent: PathBuf,
    #[arg(long, default_value_t = 3293)]
    port: u16,
}

const CHAT: &str = "smollm2-135m-instruct";
const EMBEDDING: &str = "all-minilm-l6-v2";

fn messages() -> Vec<ChatMessage> {
    vec![
        ChatMessage { role: "system".into(), content: "You are a helpful assistant.".into() },
        ChatMessage { role: "user".into(), content: "Write a long story about a dragon who learns to paint.".into() },
    ]
}

fn texts(batch: usize) -> Vec<String> {
    (0..batch).map(|i| format!("Sentence number {i} is about rendering frames on a network of GPUs.")).collect()
}

/// One generation's timings: to the first token, and the decode rate after it.
struct Timing {
    first_token: Duration,
    tokens_per_second: f64,
    /// Through Pictor: the worker's own time to its first token, as it reported it (the rest is the gateway's).
    worker_first_token: Option<Duration>,
}

fn rate(tokens: usize, first: Instant, last: Instant) -> f64 {
    (tokens.saturating_sub(1)) as f64 / (last - first).as_secs_f64().max(1e-9)
}

fn bare_generation(model: &ChatModel, tokens: u32) -> Timing {
    let started = Instant::now();
    let prompt = model.template().render(&messages()).expect("prompt");
    let ids = model.encode(&prompt).expect("tokens");
    let params = GenerationParams { max_tokens: tokens as usize, temperature: 0.0, top_p: None, seed: 1 };
    let (mut first, mut last, mut count) = (None, started, 0);
    model
        .generate(&ids, &params, |_| {
            let now = Instant::now();
            first.get_or_insert(now);
            last = now;
            count += 1;
            ControlFlow::Continue(())
        })
        .expect("generation");
    let first = first.expect("a token");
    Timing { first_token: first - started, tokens_per_second: rate(count, first, last), worker_first_token: None }
}

async fn pictor_generation(client: &reqwest::Client, base: &str, key: &str, tokens: u32) -> Result<Timing, String> {
    let body = json!({
        "model": CHAT, "messages": messages(), "max_tokens": tokens, "temperature": 0, "stream": true,
        "stream_options": { "include_usage": true },
    });
    let started = Instant::now();
    let response = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut stream = response.bytes_stream();
    let (mut first, mut last, mut count, mut buffer, mut done) = (None, started, 0, String::new(), false);
    let mut worker_first_token = None;
    while let Some(bytes) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&bytes.map_err(|e| e.to_string())?));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let data = event.trim().trim_start_matches("data:").trim();
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Value = serde_json::from_str(data).map_err(|e| format!("{e}: {data}"))?;
            if chunk.get("error").is_some() {
                return Err(chunk.to_string());
            }
            if let Some(ms) = chunk["usage"]["worker_first_token_ms"].as_u64() {
                worker_first_token = Some(Duration::from_millis(ms));
            }
            if chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()) {
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
                count += 1;
            }
        }
    }
    if !done {
        return Err("the stream ended without [DONE]".into());
    }
    let first = first.ok_or("no token")?;
    Ok(Timing { first_token: first - started, tokens_per_second: rate(count, first, last), worker_first_token })
}

struct Agent(Child, PathBuf);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

pub async fn run(args: Args) {
    let cache = ModelCache::default_location();
    let chat_folder = cache.network_model(&NETWORK_MODELS[0]).expect("run scripts/setup to fetch the models");
    let embedding_folder = cache.network_model(&NETWORK_MODELS[1]).expect("run scripts/setup to fetch the models");

    // The bare engine, in this process.
    let chat = ChatModel::load(&chat_folder.join(NETWORK_MODELS[0].weights_file), &device()).expect("chat model");
    let embedder = EmbeddingModel::load(&embedding_folder, &device()).expect("embedding model");
    bare_generation(&chat, 4); // warm-up
    let bare: Vec<Timing> = (0..args.runs).map(|_| bare_generation(&chat, args.tokens)).collect();
    let batch = texts(args.batch);
    embedder.embed(&batch).expect("warm-up");
    let started = Instant::now();
    for _ in 0..args.runs {
        embedder.embed(&batch).expect("embeddings");
    }
    let bare_embeddings = (args.runs * args.batch) as f64 / started.elapsed().as_secs_f64();
    drop((chat, embedder));

    // Pictor: a coordinator, a worker serving both models, a caller with credit and a key.
    let test_db = TestDb::new(Backend::Sqlite).await;
    let db = &test_db.db;
    let owner = db.create_user("worker-owner", 0).await.expect("user");
    let caller = db.create_user("caller", 0).await.expect("user");
    db.transfer(&Transfer::new("bench", Account::External, Account::Credit(caller), 1_000_000_000_000, "top_up"), 0)
        .await
        .expect("credit");
    let key = pictor_server::auth::api_keys::create(db, caller, "bench", 0).await.expect("key").secret;
    let token = format!("pn_{}", random_token(32));
    let node = db.issue_node(owner, NodeKind::Worker, "ai-bench", Some(&hash_secret(&token)), 0).await.expect("node");
    let coordinator = Coordinator::start(&args.coordinator, &test_db.url, args.port, &[]).await;
    let dir = std::env::temp_dir().join(format!("pictor-bench-ai-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = format!(
        "coordinator_url = \"{}\"\nnode_id = {node}\ntoken = \"{token}\"\nwork_dir = \"{}\"\nserve_models = [\"{CHAT}\", \"{EMBEDDING}\"]\n",
        coordinator.base,
        dir.join("work").display()
    );
    std::fs::write(dir.join("worker.toml"), config).expect("config");
    let child = Command::new(&args.agent)
        .args(["worker", "--no-benchmark", "--config"])
        .arg(dir.join("worker.toml"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the agent starts");
    let _agent = Agent(child, dir);
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("client");
    let base = coordinator.base.clone();
    let started = Instant::now();
    loop {
        let models: Value = client
            .get(format!("{base}/v1/models"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("models")
            .json()
            .await
            .expect("json");
        let warm =
            models["data"].as_array().is_some_and(|all| all.iter().all(|m| m["warm_workers"].as_i64() == Some(1)));
        if warm {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the agent never served the models");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pictor_generation(&client, &base, &key, 4).await.expect("warm-up");
    let mut through = Vec::new();
    for _ in 0..args.runs {
        through.push(pictor_generation(&client, &base, &key, args.tokens).await.expect("a streamed answer"));
    }

    // Many streams at once.
    let started = Instant::now();
    let results =
        futures::future::join_all((0..args.streams).map(|_| pictor_generation(&client, &base, &key, 8))).await;
    let concurrent_wall = started.elapsed();
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();

    // Embeddings through the API.
    // base64, as the official OpenAI SDK asks by default.
    let body = json!({ "model": EMBEDDING, "input": batch, "encoding_format": "base64" });
    let embed = || client.post(format!("{base}/v1/embeddings")).bearer_auth(&key).json(&body).send();
    embed().await.expect("warm-up");
    let started = Instant::now();
    for _ in 0..args.runs {
        let response = embed().await.expect("embeddings");
        assert!(response.status().is_success(), "embeddings failed: {}", response.status());
        let _: Value = response.json().await.expect("json");
    }
    let pictor_embeddings = (args.runs * args.batch) as f64 / started.elapsed().as_secs_f64();

    let bare_rate = median(bare.iter().map(|t| t.tokens_per_second).collect());
    let pictor_rate = median(through.iter().map(|t| t.tokens_per_second).collect());
    let mut bare_ttft: Vec<Duration> = bare.iter().map(|t| t.first_token).collect();
    let mut pictor_ttft: Vec<Duration> = through.iter().map(|t| t.first_token).collect();
    bare_ttft.sort();
    pictor_ttft.sort();
    let added = millis(percentile(&pictor_ttft, 0.5)) - millis(percentile(&bare_ttft, 0.5));
    // Per request: what the caller waited beyond the worker's own time to its first token (the same request, so
    // the worker's CPU share on these shared cores does not count as the gateway's).
    let mut gateway: Vec<Duration> =
        through.iter().filter_map(|t| t.worker_first_token.map(|w| t.first_token.saturating_sub(w))).collect();
    gateway.sort();
    println!(
        "pictor-bench ai: {} runs of {} tokens, SmolLM2-135M Q4_1 greedy, {} CPU threads",
        args.runs,
        args.tokens,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  decode tokens/s      bare {bare_rate:.1}   through Pictor {pictor_rate:.1}   ratio {:.3} (goal >= 0.97)",
        pictor_rate / bare_rate
    );
    println!(
        "  first token p50      bare {:.1} ms   through Pictor {:.1} ms   difference {added:.1} ms",
        millis(percentile(&bare_ttft, 0.5)),
        millis(percentile(&pictor_ttft, 0.5))
    );
    println!(
        "  gateway time to first token per request (caller's wait minus the worker's own)   p50 {:.1} ms   p95 {:.1} ms (goal p50 <= 15)",
        millis(percentile(&gateway, 0.5)),
        millis(percentile(&gateway, 0.95))
    );
    println!(
        "  {} concurrent streams of 8 tokens: {} errors, all done in {:.1} s",
        args.streams,
        errors.len(),
        concurrent_wall.as_secs_f64()
    );
    for error in errors.iter().take(3) {
        println!("    error: {error}");
    }
    println!(
        "  embeddings/s ({} texts a request)   bare {bare_embeddings:.1}   through Pictor {pictor_embeddings:.1}   ratio {:.3} (goal >= 0.9)",
        args.batch,
        pictor_embeddings / bare_embeddings
    );
    drop(coordinator);
}
