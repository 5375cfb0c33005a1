//! Training runs end to end on the task engine with real agents training scikit-learn's digits on candle: a worker
//! killed with SIGKILL mid-run is followed by another that resumes from the last checkpoint and ends with exactly
//! the weights of an uninterrupted run; a checker replays a segment and passes it; a trainer that skips steps is
//! caught by the replay, unpaid, and its run redone elsewhere; bad datasets and settings create nothing; a cancelled
//! run resumes. The text template's run is in `ai_training_text`.

use std::time::{Duration, Instant};

use pictor_core::ai_training::{Hyperparameters, TrainingTemplate};
use pictor_inference::training::{model_distance, BaseModels, Dataset, Device, Trainer};
use pictor_inference::ModelCache;
use pictor_server::db::ledger::Account;
use pictor_server::db::Backend;
use serde_json::Value;

use crate::agent_process::Agent;
use crate::ai_api::caller;
use crate::ai_hosting::answer;
use crate::helpers::{spawn_app_with, TestApp};
use crate::render_blender::start_agent;
use crate::verification_blender::{start_checker, wait_online};

/// scikit-learn's digits as set-up unpacked them.
fn digits() -> String {
    let models = std::env::var("PICTOR_MODELS").expect("PICTOR_MODELS (source scripts/lib.sh)");
    std::fs::read_to_string(std::path::Path::new(&models).join("datasets/digits.csv"))
        .expect("the digits (scripts/setup fetches them)")
}

fn query(hyper: &Hyperparameters, budget: &str) -> String {
    template_query(TrainingTemplate::PixelClassifier, "digits", hyper, budget)
}

pub(crate) fn template_query(template: TrainingTemplate, name: &str, hyper: &Hyperparameters, budget: &str) -> String {
    format!(
        "template={}&name={name}&budget={budget}&epochs={}&learning_rate={}&batch_size={}&seed={}\
         &checkpoint_every={}",
        template.as_str(),
        hyper.epochs,
        hyper.learning_rate,
        hyper.batch_size,
        hyper.seed,
        hyper.checkpoint_every
    )
}

/// The sample dataset of labelled texts (four topics).
pub(crate) fn topics() -> String {
    include_str!("../../../samples/datasets/topics.csv").to_string()
}

pub(crate) async fn create(app: &TestApp, key: &str, query: &str, dataset: String) -> (u16, Value) {
    answer(app.client.post(app.url(&format!("/v1/trainings?{query}"))).bearer_auth(key).body(dataset)).await
}

async fn training(app: &TestApp, key: &str, id: i64) -> Value {
    let (status, run) = answer(app.client.get(app.url(&format!("/v1/trainings/{id}"))).bearer_auth(key)).await;
    assert_eq!(status, 200, "{run}");
    run
}

/// Polls the run until `done` holds for it.
pub(crate) async fn wait_for(
    app: &TestApp,
    key: &str,
    id: i64,
    what: &str,
    logs: &[&Agent],
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let now = training(app, key, id).await;
        if done(&now) {
            return now;
        }
        let logs: Vec<String> = logs.iter().map(|agent| agent.log()).collect();
        assert!(Instant::now() < deadline, "the run never got {what}: {now}\nlogs:\n{}", logs.join("\n---\n"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The weights an uninterrupted run of `hyper` on the digits ends with (this build, in this process).
fn uninterrupted(hyper: Hyperparameters, sha256: &str) -> Vec<u8> {
    uninterrupted_run(TrainingTemplate::PixelClassifier, &digits(), hyper, sha256)
}

pub(crate) fn uninterrupted_run(
    template: TrainingTemplate,
    dataset: &str,
    hyper: Hyperparameters,
    sha256: &str,
) -> Vec<u8> {
    let dataset = Dataset::parse(template, dataset).expect("dataset");
    let bases = BaseModels::from_cache(&ModelCache::default_location());
    let mut trainer = Trainer::start(dataset, sha256, hyper, &bases, &Device::Cpu).expect("start");
    while trainer.step() < trainer.total_steps() {
        trainer.train_step().expect("step");
    }
    trainer.checkpoint().and_then(|c| c.model_bytes()).expect("weights")
}

pub(crate) async fn model(app: &TestApp, key: &str, id: i64) -> Vec<u8> {
    let response = app.client.get(app.url(&format!("/v1/trainings/{id}/model"))).bearer_auth(key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

pub(crate) async fn task_state(app: &TestApp, task: i64) -> String {
    sqlx::query_scalar("SELECT state FROM tasks WHERE id = $1").bind(task).fetch_one(app.db.reader()).await.unwrap()
}

/// Starts a worker that charges `price` micro-credits a minute, priced before it can lease anything.
async fn start_priced_agent(
    app: &TestApp,
    cookie: &str,
    name: &str,
    work: &std::path::Path,
    price: i64,
) -> (i64, Agent) {
    let (id, _, config) = crate::agents::create_worker(app, cookie, name).await;
    sqlx::query("UPDATE nodes SET price_micro_per_minute = $1 WHERE id = $2")
        .bind(price)
        .bind(id)
        .execute(app.db.writer())
        .await
        .expect("price");
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).expect("work dir");
    let config = format!("{config}work_dir = {:?}\n", dir.display().to_string());
    (id, Agent::start(&config, &["--no-benchmark"]))
}

/// The run's worker payments: (attempt, step, amount) per paid checkpoint segment, in step order.
async fn segment_payments(app: &TestApp, task: i64) -> Vec<(i64, i64, i64)> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT idempotency_key, amount_micro FROM ledger_transfers WHERE kind = 'pay_worker' AND task_id = $1",
    )
    .bind(task)
    .fetch_all(app.db.reader())
    .await
    .unwrap();
    let mut paid: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|(key, amount)| {
            // task:{task}:attempt:{attempt}:segment:{step}:worker
            let parts: Vec<&str> = key.split(':').collect();
            assert_eq!((parts.len(), parts[4]), (7, "segment"), "a whole-attempt payment: {key}");
            (parts[3].parse().unwrap(), parts[5].parse().unwrap(), *amount)
        })
        .collect();
    paid.sort_by_key(|&(attempt, step, _)| (step, attempt));
    paid
}

async fn a_killed_trainer_is_resumed_elsewhere_and_ends_with_the_uninterrupted_weights(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.task_lease_ms = 3_000).await;
    let work = tempfile::tempdir().unwrap();
    let (alice_id, alice, _) = caller(&app, "Alice", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    let (user, _, key) = caller(&app, "Ada", 5).await;
    let (checker_id, checker) = start_checker(&app, &carol, "checker", work.path(), &[]).await;
    // A credit a minute: the run's few seconds of training cost well under its budget of 2.
    let (first_id, mut first) = start_priced_agent(&app, &alice, "first", work.path(), 1_000_000).await;
    wait_online(&app, &[checker_id, first_id], &[&checker, &first]).await;

    let hyper = Hyperparameters { epochs: 150, learning_rate: 0.01, batch_size: 32, seed: 7, checkpoint_every: 400 };
    let (status, created) = create(&app, &key, &query(&hyper, "2"), digits()).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    let total = created["total_steps"].as_i64().unwrap();
    assert_eq!(total, 45 * 150, "1 438 training rows in batches of 32, 150 epochs");
    let sha256 = created["dataset_sha256"].as_str().unwrap().to_string();

    // Killed once it has checkpointed past step 800, long before the end.
    let seen =
        wait_for(&app, &key, id, "a checkpoint past step 800", &[&first], |run| run["step"].as_i64() >= Some(800))
            .await;
    first.child.kill().expect("kill -9");
    let _ = first.child.wait();
    let at_kill = seen["step"].as_i64().unwrap();
    assert!(at_kill < total, "the run finished before the kill ({at_kill} of {total})");

    let (_, second) = start_priced_agent(&app, &alice, "second", work.path(), 1_000_000).await;
    let done = wait_for(&app, &key, id, "completed", &[&second, &checker], |run| run["state"] == "completed").await;
    let attempts: Vec<i64> =
        done["checkpoints"].as_array().unwrap().iter().map(|c| c["attempt"].as_i64().unwrap()).collect();
    assert_eq!(attempts.first(), Some(&1));
    assert_eq!(attempts.last(), Some(&2), "the second worker finished the run");
    let resumed_at =
        done["checkpoints"].as_array().unwrap().iter().find(|c| c["attempt"] == 2).unwrap()["step"].as_i64().unwrap();
    eprintln!("killed after checkpoint {at_kill}; the second worker resumed at step {resumed_at} of {total}");
    assert!(resumed_at > 0 && resumed_at <= at_kill + 2 * 400, "it resumed from a checkpoint, not from scratch");
    assert!(done["accuracy"].as_f64().unwrap() >= 0.9, "{done}");

    let trained = model(&app, &key, id).await;
    let expected = uninterrupted(hyper, &sha256);
    assert_eq!(model_distance(&trained, &expected).unwrap(), 0.0, "bit-exact with an uninterrupted run");

    // The checker replayed a segment of the second attempt and found it honest.
    let task = done["task_id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while task_state(&app, task).await != "verified" {
        assert!(Instant::now() < deadline, "never verified; checker log:\n{}", checker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(checker.log().contains("training segment"), "{}", checker.log());
    assert!(app.db.balance(Account::Credit(user)).await.unwrap() > 0);

    // Paid per checkpoint segment, each to the attempt that trained it: the killed worker too, for the segments
    // the second went on from; one payment per checkpoint of the run, none for the steps lost after the kill.
    let paid = segment_payments(&app, task).await;
    let chain: Vec<(i64, i64)> = done["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["attempt"].as_i64().unwrap(), c["step"].as_i64().unwrap()))
        .collect();
    let paid_steps: Vec<(i64, i64)> = paid.iter().map(|&(attempt, step, _)| (attempt, step)).collect();
    assert_eq!(paid_steps, chain, "one payment per checkpoint of the run");
    assert!(paid.iter().any(|&(attempt, step, amount)| attempt == 1 && step > 0 && amount > 0), "{paid:?}");
    assert!(paid.iter().any(|&(attempt, _, amount)| attempt == 2 && amount > 0), "{paid:?}");
    let earned: i64 = paid.iter().map(|&(_, _, amount)| amount).sum();
    assert_eq!(app.db.balance(Account::Earnings(alice_id)).await.unwrap(), earned);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn a_trainer_skipping_steps_is_caught_unpaid_and_its_run_redone(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.task_lease_ms = 3_000).await;
    let work = tempfile::tempdir().unwrap();
    let (mallory, mallory_cookie, _) = caller(&app, "Mallory", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    let (_, alice, _) = caller(&app, "Alice", 0).await;
    let (_, _, key) = caller(&app, "Ada", 5).await;
    let (checker_id, checker) = start_checker(&app, &carol, "checker", work.path(), &[]).await;
    let (cheat_node, config, _) = {
        let (id, _, config) = crate::agents::create_worker(&app, &mallory_cookie, "cheat").await;
        // Priced: "not paid" means something.
        sqlx::query("UPDATE nodes SET price_micro_per_minute = 1000000 WHERE id = $1")
            .bind(id)
            .execute(app.db.writer())
            .await
            .expect("price");
        (id, config, ())
    };
    let dir = work.path().join("cheat");
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!("{config}work_dir = {:?}\n", dir.display().to_string());
    let mut cheat = Agent::start(&config, &["--no-benchmark", "--cheat", "skip-steps", "--cheat-rate", "1"]);
    wait_online(&app, &[checker_id, cheat_node], &[&checker, &cheat]).await;

    let hyper = Hyperparameters { epochs: 8, learning_rate: 0.01, batch_size: 32, seed: 3, checkpoint_every: 60 };
    let (status, created) = create(&app, &key, &query(&hyper, "1"), digits()).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    let task = created["task_id"].as_i64().unwrap();
    let sha256 = created["dataset_sha256"].as_str().unwrap().to_string();

    // The cheat's attempt is taken in and its check opened; the cheat then leaves before it could try again.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let opened: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM verifications WHERE task_id = $1")
            .bind(task)
            .fetch_one(app.db.reader())
            .await
            .unwrap();
        if opened > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no check was opened; log:\n{}", cheat.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cheat.child.kill().expect("kill");
    let _ = cheat.child.wait();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let failed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM verifications WHERE task_id = $1 AND state = 'failed'")
                .bind(task)
                .fetch_one(app.db.reader())
                .await
                .unwrap();
        if failed > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the replay never failed the cheat; checker log:\n{}", checker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its checkpoints are dropped from the run: an honest worker starts over from the seed.
    let run = training(&app, &key, id).await;
    assert!(run["checkpoints"].as_array().unwrap().is_empty(), "{run}");
    let (_, honest) = start_priced_agent(&app, &alice, "honest", work.path(), 1_000_000).await;
    let done = wait_for(&app, &key, id, "completed", &[&honest, &checker], |run| run["state"] == "completed").await;
    assert!(done["checkpoints"].as_array().unwrap().iter().all(|c| c["attempt"] != 1), "{done}");
    let trained = model(&app, &key, id).await;
    assert_eq!(model_distance(&trained, &uninterrupted(hyper, &sha256)).unwrap(), 0.0);
    assert_eq!(app.db.balance(Account::Earnings(mallory)).await.unwrap(), 0, "the cheat is not paid");
    let paid = segment_payments(&app, task).await;
    assert!(!paid.is_empty() && paid.iter().all(|&(attempt, _, _)| attempt != 1), "only the honest run: {paid:?}");
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn bad_datasets_and_settings_create_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (user, _, key) = caller(&app, "Ada", 1).await;
    let credit = app.db.balance(Account::Credit(user)).await.unwrap();
    let hyper = Hyperparameters::default();
    let ragged = format!("{}\n1,2,3\n", digits().lines().take(30).collect::<Vec<_>>().join("\n"));
    let (status, refused) = create(&app, &key, &query(&hyper, "1"), ragged).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("line 31"), "{refused}");
    let (status, refused) = create(&app, &key, &query(&Hyperparameters { epochs: 0, ..hyper }, "1"), digits()).await;
    assert_eq!(status, 400);
    assert!(refused["error"]["message"].as_str().unwrap().contains("epochs"), "{refused}");
    let (status, refused) = create(&app, &key, &query(&hyper, "1").replace("pixel_classifier", "gpt5"), digits()).await;
    assert_eq!(status, 400);
    assert!(refused["error"]["message"].as_str().unwrap().contains("template"), "{refused}");
    let (status, refused) = create(&app, &key, &query(&hyper, "1000"), digits()).await;
    assert_eq!(status, 402, "{refused}");
    let listed: Value =
        app.client.get(app.url("/v1/trainings")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "nothing was created");
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), credit, "no credit moved");
}

async fn a_cancelled_run_keeps_its_checkpoints_and_refunds_the_rest(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.task_lease_ms = 3_000).await;
    let work = tempfile::tempdir().unwrap();
    let (_, alice, _) = caller(&app, "Alice", 0).await;
    let (user, _, key) = caller(&app, "Ada", 5).await;
    let before = app.db.balance(Account::Credit(user)).await.unwrap();
    let (worker_id, worker) = start_agent(&app, &alice, "worker", work.path()).await;
    wait_online(&app, &[worker_id], &[&worker]).await;
    let hyper = Hyperparameters { epochs: 1000, learning_rate: 0.01, batch_size: 32, seed: 2, checkpoint_every: 500 };
    let (status, created) = create(&app, &key, &query(&hyper, "2"), digits()).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    wait_for(&app, &key, id, "a checkpoint past step 1000", &[&worker], |run| run["step"].as_i64() >= Some(1000)).await;
    let (status, cancelled) =
        answer(app.client.post(app.url(&format!("/v1/trainings/{id}/cancel"))).bearer_auth(&key)).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    // The worker stops (its lease is gone) and no checkpoint is lost; the last one downloads.
    let kept = cancelled["checkpoints"].as_array().unwrap().clone();
    assert!(kept.len() >= 3, "{cancelled}");
    let last = kept.last().unwrap();
    let path = format!("/v1/trainings/{id}/checkpoints/{}?attempt={}", last["step"], last["attempt"]);
    let response = app.client.get(app.url(&path)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let checkpoint = pictor_inference::training::Checkpoint::from_bytes(&bytes, &Device::Cpu).expect("a checkpoint");
    assert_eq!(checkpoint.info.step, last["step"].as_u64().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !worker.log().contains("lease lost on task") {
        assert!(Instant::now() < deadline, "the worker never stopped:\n{}", worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = training(&app, &key, id).await;
    assert!(after["checkpoints"].as_array().unwrap().len() >= kept.len());
    // Nothing was paid for the cancelled attempt: the whole budget is back.
    assert_eq!(app.db.balance(Account::Credit(user)).await.unwrap(), before);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn a_cancelled_run_resumes_as_a_new_run_that_ends_with_the_uninterrupted_weights(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.task_lease_ms = 3_000).await;
    let work = tempfile::tempdir().unwrap();
    let (_, alice, _) = caller(&app, "Alice", 0).await;
    let (user, _, key) = caller(&app, "Ada", 5).await;
    let (worker_id, worker) = start_agent(&app, &alice, "worker", work.path()).await;
    wait_online(&app, &[worker_id], &[&worker]).await;
    let hyper = Hyperparameters { epochs: 300, learning_rate: 0.01, batch_size: 32, seed: 3, checkpoint_every: 300 };
    let (status, created) = create(&app, &key, &query(&hyper, "1"), digits()).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    let sha256 = created["dataset_sha256"].as_str().unwrap().to_string();
    let resume = |id: i64, budget: &str| {
        app.client.post(app.url(&format!("/v1/trainings/{id}/resume?budget={budget}"))).bearer_auth(&key)
    };
    // A run still going cannot be resumed.
    let (status, refused) = answer(resume(id, "1")).await;
    assert_eq!(status, 400, "{refused}");
    wait_for(&app, &key, id, "a checkpoint past step 600", &[&worker], |run| run["step"].as_i64() >= Some(600)).await;
    let (_, cancelled) =
        answer(app.client.post(app.url(&format!("/v1/trainings/{id}/cancel"))).bearer_auth(&key)).await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    let last = cancelled["checkpoints"].as_array().unwrap().last().unwrap()["step"].as_i64().unwrap();
    assert!(last < created["total_steps"].as_i64().unwrap(), "cancelled before the end");

    // A budget above the credit creates nothing.
    let runs = |app: &TestApp| {
        let key = key.clone();
        let client = app.client.clone();
        let url = app.url("/v1/trainings");
        async move { answer(client.get(url).bearer_auth(&key)).await.1["data"].as_array().unwrap().len() }
    };
    let before = runs(&app).await;
    let (status, refused) = answer(resume(id, "500")).await;
    assert_eq!(status, 402, "{refused}");
    assert_eq!(runs(&app).await, before, "nothing was created");

    let (status, resumed) = answer(resume(id, "1")).await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["resumed_from"]["step"].as_i64(), Some(last), "{resumed}");
    let new_id = resumed["id"].as_i64().unwrap();
    assert_ne!(new_id, id);
    let first = &resumed["checkpoints"][0];
    assert_eq!((first["step"].as_i64(), first["attempt"].as_i64()), (Some(last), Some(0)), "{resumed}");
    let done = wait_for(&app, &key, new_id, "completed", &[&worker], |run| run["state"] == "completed").await;
    let own = done["checkpoints"].as_array().unwrap().iter().filter(|c| c["attempt"] == 1).count();
    assert!(own >= 1, "the new run trained from the copied checkpoint: {done}");
    // Stopped and resumed, the run ends exactly where an uninterrupted one does.
    let trained = model(&app, &key, new_id).await;
    assert_eq!(model_distance(&trained, &uninterrupted(hyper, &sha256)).unwrap(), 0.0, "bit-exact");
    // A resumed run is not resumed twice: the first is still cancelled, the second completed.
    let (status, _) = answer(resume(new_id, "1")).await;
    assert_eq!(status, 400);
    assert!(app.db.balance(Account::Credit(user)).await.unwrap() > 0);
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

async fn a_deployed_run_classifies_digits_through_the_api(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.ai.dispatch_wait_ms = 2_000).await;
    let (_, alice, _) = caller(&app, "Alice", 0).await;
    let (_, _, key) = caller(&app, "Ada", 5).await;
    // A worker on the AI link (it serves the embedding model), so that a deployment can be placed on it.
    let worker = crate::ai_api::serving_agent(&app, &alice, "trainer", &[crate::ai_api::EMBEDDING_MODEL], &[]).await;
    let hyper = Hyperparameters { epochs: 20, learning_rate: 0.01, batch_size: 32, seed: 4, checkpoint_every: 300 };
    let (status, created) = create(&app, &key, &query(&hyper, "1"), digits()).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_i64().unwrap();
    let deploy = |id: i64| app.client.post(app.url(&format!("/v1/trainings/{id}/deploy"))).bearer_auth(&key);
    wait_for(&app, &key, id, "completed", &[&worker], |run| run["state"] == "completed").await;

    let (status, deployed) = answer(deploy(id)).await;
    assert_eq!(status, 200, "{deployed}");
    let model = deployed["model"].as_str().unwrap().to_string();
    assert_eq!(model, format!("digits-{id}"));
    assert_eq!(answer(deploy(id)).await.1["model"], model.as_str(), "deploying again answers the same model");
    // The model is listed as the owner's classifier and a worker loads it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, listed) = answer(app.client.get(app.url(&format!("/v1/models/{model}"))).bearer_auth(&key)).await;
        if listed["warm_workers"].as_i64() >= Some(1) {
            assert_eq!(listed["kind"], "classifier", "{listed}");
            break;
        }
        assert!(Instant::now() < deadline, "the model never got warm: {listed}\n{}", worker.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Rows of the dataset, classified through the API: nearly all right.
    let rows: Vec<Vec<f64>> =
        digits().lines().take(40).map(|line| line.split(',').map(|cell| cell.parse().unwrap()).collect()).collect();
    let pixels: Vec<Vec<f64>> = rows.iter().map(|row| row[..64].to_vec()).collect();
    let body = serde_json::json!({ "model": model, "input": pixels });
    let (status, classified) =
        answer(app.client.post(app.url("/v1/classifications")).bearer_auth(&key).json(&body)).await;
    assert_eq!(status, 200, "{classified}");
    let right = classified["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&rows)
        .filter(|(answer, row)| answer["label"].as_f64() == Some(row[64]))
        .count();
    assert!(right >= 36, "{right} of 40 right: {classified}");
    assert_eq!(classified["usage"]["prompt_tokens"], 40);
    // A row of the wrong size is the caller's error, named.
    let body = serde_json::json!({ "model": model, "input": [1, 2, 3] });
    let (status, refused) = answer(app.client.post(app.url("/v1/classifications")).bearer_auth(&key).json(&body)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("64"), "{refused}");
    // A pixel classifier has no sentence vectors.
    let body = serde_json::json!({ "model": model, "input": "0,1,2" });
    let (status, refused) = answer(app.client.post(app.url("/v1/embeddings")).bearer_auth(&key).json(&body)).await;
    assert_eq!(status, 400, "{refused}");
    // A run that has not finished has nothing to deploy.
    let (_, running) = create(&app, &key, &query(&Hyperparameters { epochs: 1000, ..hyper }, "1"), digits()).await;
    let (status, refused) = answer(deploy(running["id"].as_i64().unwrap())).await;
    assert_eq!(status, 400, "{refused}");
}

crate::on_both_backends!(a_deployed_run_classifies_digits_through_the_api);
crate::on_both_backends!(a_cancelled_run_resumes_as_a_new_run_that_ends_with_the_uninterrupted_weights);
crate::on_both_backends!(a_cancelled_run_keeps_its_checkpoints_and_refunds_the_rest);
crate::on_both_backends!(a_killed_trainer_is_resumed_elsewhere_and_ends_with_the_uninterrupted_weights);
crate::on_both_backends!(a_trainer_skipping_steps_is_caught_unpaid_and_its_run_redone);
crate::on_both_backends!(bad_datasets_and_settings_create_nothing);
