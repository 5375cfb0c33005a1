//! What the render benchmarks share: the frame they render (scene, size, samples) and a render job submitted to a
//! real coordinator through its REST API, then followed until it ends.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

/// The scene and frame size a render benchmark uses.
#[derive(clap::Args)]
pub struct FrameShape {
    /// The scene to render.
    #[arg(long, default_value = "samples/spinning-cube.blend")]
    pub scene: PathBuf,
    #[arg(long, default_value_t = 320)]
    pub width: u32,
    #[arg(long, default_value_t = 180)]
    pub height: u32,
    /// Cycles samples per pixel.
    #[arg(long, default_value_t = 32)]
    pub samples: u32,
}

/// Sends a request that must succeed; its JSON body (null when it has none).
pub async fn send(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

/// Uploads the scene and submits frames 1..=`frames`, one frame per task; the job's id.
pub async fn submit(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    name: &str,
    frames: u32,
    shape: &FrameShape,
) -> i64 {
    let scene = std::fs::read(&shape.scene).expect("scene (run scripts/setup)");
    let uploaded = send(client.put(format!("{base}/api/v1/scenes")).bearer_auth(key).body(scene)).await;
    let form = json!({
        "name": name, "frames": format!("1-{frames}"), "chunk_size": "1", "tiles": "",
        "resolution_x": shape.width.to_string(), "resolution_y": shape.height.to_string(), "resolution_percent": "100",
        "samples": shape.samples.to_string(), "engine": "Cycles", "format": "PNG", "tier": "Standard",
        "min_vram_gib": "", "gpu_model": "", "tags": ""
    });
    let submitted = send(
        client
            .post(format!("{base}/api/v1/jobs"))
            .bearer_auth(key)
            .json(&json!({ "scene_key": uploaded["scene_key"], "form": form })),
    )
    .await;
    submitted["job_id"].as_i64().expect("job id")
}

/// Polls the job every `poll` until it completes; panics if it fails or is cancelled.
pub async fn wait_until_completed(client: &reqwest::Client, base: &str, key: &str, job: i64, poll: Duration) {
    loop {
        let details = send(client.get(format!("{base}/api/v1/jobs/{job}")).bearer_auth(key)).await;
        match details["summary"]["state"].as_str() {
            Some("completed") => return,
            Some("failed" | "cancelled") => panic!("the job ended badly: {}", details["summary"]),
            _ => tokio::time::sleep(poll).await,
        }
    }
}
