//! all-MiniLM-L6-v2 fine-tuned on the sample topics by a real worker on the task engine: bit-exact with a run in
//! this process, replayed by a checker, deployed, answering texts by class name and with its encoder's embeddings.

use std::time::{Duration, Instant};

use pictor_core::ai_training::TrainingTemplate;
use pictor_inference::training::model_distance;
use pictor_server::db::Backend;

use crate::ai_api::caller;
use crate::ai_hosting::answer;
use crate::ai_training::{create, model, task_state, template_query, topics, uninterrupted_run, wait_for};
use crate::helpers::spawn_app_with;
use crate::render_blender::start_agent;
use crate::verification_blender::{start_checker, wait_online};

async fn a_fine_tuned_text_classifier_is_checked_deployed_and_answers_by_name(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.ai.dispatch_wait_ms = 2_000).await;
    let work = tempfile::tempdir().unwrap();
    let (_, alice, _) = caller(&app, "Alice", 0).await;
    let (_, carol, _) = caller(&app, "Carol", 0).await;
    let (_, _, key) = caller(&app, "Ada", 5).await;
    // Trained by a plain worker while a checker is online (as the digits runs are); a worker on the AI link joins
    // afterwards to serve the deployed model.
    let (checker_id, checker) = start_checker(&app, &carol, "checker", work.path(), &[]).await;
    let (worker_id, worker) = start_agent(&app, &alice, "trainer", work.path()).await;
    wait_online(&app, &[checker_id, worker_id], &[&checker, &worker]).await;

    let hyper = TrainingTemplate::TextClassifier.default_hyperparameters();
    let query = template_query(TrainingTemplate::TextClassifier, "topics", &hyper, "1");
    let (status, created) = create(&app, &key, &query, topics()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!((created["dataset_rows"].as_i64(), created["total_steps"].as_i64()), (Some(120), Some(24)));
    let id = created["id"].as_i64().unwrap();
    let sha256 = created["dataset_sha256"].as_str().unwrap().to_string();
    let done = wait_for(&app, &key, id, "completed", &[&worker], |run| run["state"] == "completed").await;
    let accuracy = done["accuracy"].as_f64().unwrap();
    eprintln!("topics fine-tuned on a worker: held-out accuracy {accuracy}");
    assert!(accuracy >= 0.8, "{done}");

    // The worker's weights are those of the same run in this process, bit for bit.
    let trained = model(&app, &key, id).await;
    let expected = uninterrupted_run(TrainingTemplate::TextClassifier, &topics(), hyper, &sha256);
    assert_eq!(model_distance(&trained, &expected).unwrap(), 0.0, "bit-exact with a run here");
    // A checker replayed a segment of it (fetching MiniLM's frozen layers from its own cache) and passed it.
    let task = done["task_id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while task_state(&app, task).await != "verified" {
        let state = task_state(&app, task).await;
        if Instant::now() >= deadline {
            #[allow(clippy::type_complexity)]
            let nodes: Vec<(i64, String, i64, String, Option<i64>, Option<i64>, Option<i64>, i64)> = sqlx::query_as(
                "SELECT id, kind, owner_id, engines, signed_off_at_ms, suspended_at_ms, disabled_at_ms,
                            valid_streak FROM nodes ORDER BY id",
            )
            .fetch_all(app.db.reader())
            .await
            .unwrap();
            let checks: Vec<(i64, String)> =
                sqlx::query_as("SELECT id, state FROM verifications").fetch_all(app.db.reader()).await.unwrap();
            let (checker_log, worker_log) = (checker.log(), worker.log());
            panic!(
                "never verified ({state}; nodes {nodes:?}; checks {checks:?}; {done})\nchecker log:\n{checker_log}\n\
                 worker log:\n{worker_log}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(checker.log().contains("training segment"), "{}", checker.log());

    // Deployed in one call, it answers texts with the classes' names.
    let worker = crate::ai_api::serving_agent(&app, &alice, "server", &[crate::ai_api::EMBEDDING_MODEL], &[]).await;
    let (status, deployed) =
        answer(app.client.post(app.url(&format!("/v1/trainings/{id}/deploy"))).bearer_auth(&key)).await;
    assert_eq!(status, 200, "{deployed}");
    let model_id = deployed["model"].as_str().unwrap().to_string();
    let texts = ["Whisk the cream with sugar and bake the tart", "Heavy snow and strong winds are expected tonight"];
    let body = serde_json::json!({ "model": model_id, "input": texts });
    let deadline = Instant::now() + Duration::from_secs(60);
    let classified = loop {
        let (status, classified) =
            answer(app.client.post(app.url("/v1/classifications")).bearer_auth(&key).json(&body)).await;
        if status == 200 {
            break classified;
        }
        assert!(Instant::now() < deadline, "never answered: {classified}\n{}", worker.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let names: Vec<&str> =
        classified["data"].as_array().unwrap().iter().map(|a| a["label_name"].as_str().unwrap_or("?")).collect();
    assert_eq!(names, ["cooking", "weather"], "{classified}");
    assert_eq!(classified["data"][0]["label_names"], serde_json::json!(["computers", "cooking", "sports", "weather"]));
    // Its fine-tuned encoder answers /v1/embeddings too: unit vectors, texts of one topic closer together.
    let body = serde_json::json!({ "model": model_id, "input": ["Bake the bread slowly", "Roast the potatoes", "Snow is coming tonight"] });
    let (status, embedded) = answer(app.client.post(app.url("/v1/embeddings")).bearer_auth(&key).json(&body)).await;
    assert_eq!(status, 200, "{embedded}");
    let vectors: Vec<Vec<f64>> = embedded["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
        .collect();
    assert_eq!((vectors.len(), vectors[0].len()), (3, 384));
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    assert!((dot(&vectors[0], &vectors[0]) - 1.0).abs() < 1e-4, "unit length");
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]), "cooking is closer to cooking");
    assert!(embedded["usage"]["prompt_tokens"].as_i64() > Some(3), "billed by tokens: {embedded}");
    // An empty text is the caller's error and is not billed.
    let body = serde_json::json!({ "model": model_id, "input": ["Bake it", "  "] });
    let (status, refused) = answer(app.client.post(app.url("/v1/classifications")).bearer_auth(&key).json(&body)).await;
    assert_eq!(status, 400, "{refused}");
    assert!(app.db.check_ledger().await.unwrap().is_empty());
}

crate::on_both_backends!(a_fine_tuned_text_classifier_is_checked_deployed_and_answers_by_name);
