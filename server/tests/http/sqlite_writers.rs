//! Several writers on one SQLite file — the coordinator serving agents, two more `Db` handles and `pictor admin
//! grant` processes — all succeed (they wait for the write lock); a second coordinator on the file is refused.

use std::process::Command;

use pictor_server::db::ledger::Account;
use pictor_server::db::{Backend, Db};

use crate::agents::{beat, create_worker, register};
use crate::helpers::spawn_app;

/// Rounds each writer makes; each round is a read-then-write transaction (the case SQLite used to refuse).
const ROUNDS: i64 = 40;
const ADMIN_GRANTS: i64 = 6;
const MICRO_PER_CREDIT: i64 = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_writers_wait_for_the_lock_instead_of_failing() {
    let app = spawn_app(Backend::Sqlite).await;
    let (user, cookie) = app.sign_in_as("Ada").await;
    let (_, token, _) = create_worker(&app, &cookie, "studio").await;
    assert_eq!(register(&app, &token).await.status(), 200);

    // The coordinator writes for an agent (heartbeats record metrics) the whole time.
    let heartbeats = async {
        let mut statuses = Vec::new();
        for round in 0..ROUNDS {
            statuses.push(beat(&app, &token, round as f32).await.status().as_u16());
        }
        statuses
    };
    // Two more handles on the same file, as a second process would have: top-ups read, then write.
    let handle_writes = |label: &'static str| {
        let url = app.database_url.clone();
        async move {
            let db = Db::connect(&url).await.expect("second handle opens");
            let mut failures = Vec::new();
            for round in 0..ROUNDS {
                let key = format!("{label}:{round}");
                if let Err(error) = pictor_server::engine::Engine::new(db.clone())
                    .top_up(user, MICRO_PER_CREDIT, &key, "grant", label, round)
                    .await
                {
                    failures.push(format!("{label} round {round}: {error}"));
                }
            }
            db.close().await;
            failures
        }
    };
    // `pictor admin grant` against the running coordinator's database, as an operator would run it.
    let admin_grants = {
        let url = app.database_url.clone();
        tokio::task::spawn_blocking(move || {
            let data_dir = tempfile::tempdir().expect("data dir");
            (0..ADMIN_GRANTS)
                .map(|_| {
                    Command::new(env!("CARGO_BIN_EXE_pictor"))
                        .args(["admin", "grant", "--user", &user.to_string(), "--credits", "1"])
                        .env("DATABASE_URL", &url)
                        .env("PICTOR_DATA_DIR", data_dir.path())
                        .output()
                        .expect("pictor admin runs")
                })
                .collect::<Vec<_>>()
        })
    };

    let (statuses, first, second, admin) =
        tokio::join!(heartbeats, handle_writes("handle-a"), handle_writes("handle-b"), admin_grants);
    assert!(statuses.iter().all(|status| *status == 200), "every heartbeat answered 200: {statuses:?}");
    assert!(first.is_empty() && second.is_empty(), "no write failed: {first:?} {second:?}");
    for output in admin.expect("admin grants ran") {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "pictor admin grant succeeded: {stderr}");
    }

    let balance = app.db.balance(Account::Credit(user)).await.expect("balance");
    assert_eq!(balance, (2 * ROUNDS + ADMIN_GRANTS) * MICRO_PER_CREDIT, "every grant landed, once");
    assert_eq!(app.db.check_ledger().await.expect("ledger check"), Vec::<String>::new());
}

#[tokio::test]
async fn a_second_coordinator_on_the_same_sqlite_file_is_refused_with_one_line() {
    let app = spawn_app(Backend::Sqlite).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let output = Command::new(env!("CARGO_BIN_EXE_pictor"))
        .env("DATABASE_URL", &app.database_url)
        .env("PICTOR_DATA_DIR", data_dir.path())
        .env("PICTOR_LISTEN", "127.0.0.1:0")
        .output()
        .expect("pictor runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("pictor: error: another coordinator is already running"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_busy_past_the_wait_is_a_503_with_retry_after_and_changes_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    // Another process holds the write lock longer than the coordinator waits for it (busy_timeout, 5 s).
    let other = Db::connect(&app.database_url).await.expect("second handle opens");
    let held = other.begin_write().await.expect("the write lock");
    let response = app.post_json("/api/v1/workers", &serde_json::json!({ "name": "studio" }), Some(&cookie)).await;
    held.rollback().await.expect("released");
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(body["error"].as_str().is_some_and(|error| error.contains("try again")), "{body}");
    let workers: serde_json::Value = app.get_json("/api/v1/workers", &cookie).await;
    assert_eq!(workers["workers"].as_array().map(Vec::len), Some(0), "nothing was created: {workers}");
    // Once the lock is free, the same request goes through.
    let retried = app.post_json("/api/v1/workers", &serde_json::json!({ "name": "studio" }), Some(&cookie)).await;
    assert_eq!(retried.status(), 201);
    other.close().await;
}
