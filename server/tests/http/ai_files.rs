//! The Files API for batch input: a good JSONL file is kept and read back byte for byte; a bad one is refused with
//! every bad line's number and leaves nothing; files are their owner's only.

use pictor_server::db::Backend;
use serde_json::Value;

use crate::ai_api::{ai_app, caller};
use crate::ai_hosting::answer;
use crate::helpers::TestApp;

/// A multipart form as the OpenAI SDKs send it: `purpose`, then `file`.
fn form(purpose: &str, name: &str, content: &str) -> (String, Vec<u8>) {
    let boundary = "pictor-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/jsonl\r\n\r\n{content}\r\n--{boundary}--\r\n"
    );
    (format!("multipart/form-data; boundary={boundary}"), body.into_bytes())
}

pub async fn upload(app: &TestApp, key: &str, purpose: &str, content: &str) -> (u16, Value) {
    let (content_type, body) = form(purpose, "input.jsonl", content);
    answer(app.client.post(app.url("/v1/files")).bearer_auth(key).header("content-type", content_type).body(body)).await
}

fn request(id: &str, input: &str) -> String {
    format!(
        r#"{{"custom_id": "{id}", "method": "POST", "url": "/v1/embeddings", "body": {{"model": "all-minilm-l6-v2", "input": "{input}"}}}}"#
    )
}

async fn listed(app: &TestApp, key: &str) -> Vec<Value> {
    let list: Value = app.client.get(app.url("/v1/files")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn batch_files_are_checked_line_by_line_and_kept_for_their_owner(backend: Backend) {
    let app = ai_app(backend).await;
    let (_, _, key) = caller(&app, "Ada", 0).await;
    let (_, _, other) = caller(&app, "Bob", 0).await;

    // Bad lines: each named by its number, nothing kept.
    let bad = [request("a", "one"), "{oops".into(), request("a", "again"), r#"{"custom_id": "c"}"#.into()].join("\n");
    let (status, refused) = upload(&app, &key, "batch", &bad).await;
    assert_eq!(status, 400, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    for line in ["line 2:", "line 3:", "line 4:"] {
        assert!(message.contains(line), "{message}");
    }
    assert!(!message.contains("line 1:"), "{message}");
    let (status, _) = upload(&app, &key, "fine-tune", &request("a", "one")).await;
    assert_eq!(status, 400, "only batch files");
    assert!(listed(&app, &key).await.is_empty(), "nothing refused was kept");

    // A good file: described as OpenAI does, read back byte for byte, its owner's only.
    let good = format!("{}\n{}\n", request("a", "one"), request("b", "two"));
    let (status, file) = upload(&app, &key, "batch", &good).await;
    assert_eq!(status, 200, "{file}");
    assert_eq!(file["object"], "file");
    assert_eq!(file["purpose"], "batch");
    assert_eq!(file["filename"], "input.jsonl");
    assert_eq!(file["bytes"].as_u64(), Some(good.len() as u64));
    let id = file["id"].as_str().unwrap();
    assert!(id.starts_with("file-"));
    let (_, described) = answer(app.client.get(app.url(&format!("/v1/files/{id}"))).bearer_auth(&key)).await;
    assert_eq!(described, file);
    let content = app.client.get(app.url(&format!("/v1/files/{id}/content"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(content.text().await.unwrap(), good);
    assert_eq!(listed(&app, &key).await.len(), 1);
    let stranger =
        app.client.get(app.url(&format!("/v1/files/{id}/content"))).bearer_auth(&other).send().await.unwrap();
    assert_eq!(stranger.status(), 404);
    assert!(listed(&app, &other).await.is_empty());

    let (_, deleted) = answer(app.client.delete(app.url(&format!("/v1/files/{id}"))).bearer_auth(&key)).await;
    assert_eq!(deleted["deleted"], true);
    let gone = app.client.get(app.url(&format!("/v1/files/{id}/content"))).bearer_auth(&key).send().await.unwrap();
    assert_eq!(gone.status(), 404);
}

crate::on_both_backends!(batch_files_are_checked_line_by_line_and_kept_for_their_owner);
