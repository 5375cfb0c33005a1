//! The agent protocol (`/api/agent/v1/…`): what worker and checker agents and the coordinator say to each other,
//! and the node config file (`worker.toml`) the dashboard hands out.
//!
//! Every agent request carries `Authorization: Bearer <node token>`; a token works for its own node only.
//! Errors are `{"error": "<sentence>"}` with 400 (bad request), 401 (unknown token), 403 (node disabled).

use serde::{Deserialize, Serialize};

/// Prefix of every agent endpoint.
pub const AGENT_API: &str = "/api/agent/v1";
/// `POST` [`RegisterRequest`] → [`RegisterResponse`]: once at start, and again after reconnecting.
pub const REGISTER_PATH: &str = "/api/agent/v1/register";
/// `POST` [`HeartbeatRequest`] → [`HeartbeatResponse`]: every `heartbeat_interval_ms`.
pub const HEARTBEAT_PATH: &str = "/api/agent/v1/heartbeat";
/// `POST` (empty body) → 204: the agent is shutting down cleanly.
pub const OFFLINE_PATH: &str = "/api/agent/v1/offline";

/// `POST` [`LeaseRequest`] → 200 [`TaskAssignment`], or 204 when no task fits within `wait_ms` (long poll).
pub const LEASE_PATH: &str = "/api/agent/v1/lease";

/// `GET` → the job's `.blend`, streamed, with its SHA-256 in the `x-pictor-sha256` header (agents cache by it).
pub fn scene_path(job_id: i64) -> String {
    format!("/api/agent/v1/jobs/{job_id}/scene")
}

/// `POST` [`ProgressReport`] → 200 [`ProgressAnswer`]; keeps the lease alive. 409 when the lease was lost
/// (expired and taken over, or the job cancelled): stop rendering and drop the work.
pub fn progress_path(task_id: i64) -> String {
    format!("/api/agent/v1/tasks/{task_id}/progress")
}

/// `PUT` the rendered image of one frame of the task (raw body, `x-pictor-sha256` header, `?attempt=N`) → 204;
/// 409 when the lease was lost, 400 when the hash does not match the body.
pub fn output_path(task_id: i64, frame: i64, attempt: i64) -> String {
    format!("/api/agent/v1/tasks/{task_id}/frames/{frame}?attempt={attempt}")
}

/// `POST` [`DoneReport`] → 204 once every frame's output is uploaded; 409 when the lease was lost.
pub fn done_path(task_id: i64) -> String {
    format!("/api/agent/v1/tasks/{task_id}/done")
}

/// `POST` [`FailureReport`] → 204: the attempt failed (Blender error); the task is retried elsewhere.
pub fn fail_path(task_id: i64) -> String {
    format!("/api/agent/v1/tasks/{task_id}/fail")
}

/// A node is offline after this many heartbeat intervals without one.
pub const MISSED_HEARTBEATS_OFFLINE: u64 = 3;
/// The heartbeat interval the coordinator asks for unless configured otherwise.
pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 5_000;

/// The config file of one node, downloaded once from the dashboard (it holds the node's secret token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfigFile {
    /// The coordinator's public URL, e.g. `https://pictor.example.org`.
    pub coordinator_url: String,
    pub node_id: i64,
    /// Secret; the coordinator keeps only its hash.
    pub token: String,
    /// Extra Blender executables to use besides the one on `PATH`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blender_paths: Vec<String>,
    /// Where scenes, outputs and the outbox are kept; default: a `pictor-agent` directory in the OS cache dir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    /// Take other accounts' work even where bubblewrap is missing and Blender cannot be boxed (the owner's own risk:
    /// a scene could then read and write this machine's files). Off by default: without the sandbox only the
    /// owner's own jobs are taken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unsandboxed: bool,
    /// The AI models this worker serves (network model ids, loaded from the local model cache); none by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serve_models: Vec<String>,
}

impl NodeConfigFile {
    /// The file as the dashboard offers it: TOML with comments (written by hand so `core` needs no TOML crate;
    /// the values are plain strings and numbers, escaped as TOML basic strings).
    pub fn to_toml(&self, kind: &str) -> String {
        format!(
            "# Pictor {kind} node — keep this file private: the token lets its holder act as this node.\n\
             # Start it with: pictor-agent {kind} --config {kind}.toml\n\
             coordinator_url = {}\n\
             node_id = {}\n\
             token = {}\n\
             # blender_paths = [\"/opt/blender-4.2/blender\"]   # more Blender versions besides the one on PATH\n\
             # work_dir = \"/var/lib/pictor-agent\"              # scenes, outputs, outbox\n\
             # serve_models = [\"smollm2-135m-instruct\", \"all-minilm-l6-v2\"]   # AI models to serve (scripts/setup fetches them)\n\
             # allow_unsandboxed = true   # others' jobs even without bubblewrap (scenes could reach your files)\n",
            toml_string(&self.coordinator_url),
            self.node_id,
            toml_string(&self.token),
        )
    }
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the machine is, reported at registration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    pub hostname: String,
    /// e.g. "Debian GNU/Linux 12 (bookworm)".
    pub os: String,
    pub cpu_model: String,
    pub cpu_cores: u32,
    pub ram_bytes: u64,
    /// From `nvidia-smi` when present; empty on CPU-only machines.
    pub gpus: Vec<GpuInfo>,
    /// Every Blender found, with its render engines and benchmark.
    pub blenders: Vec<BlenderInstall>,
    /// What Blender runs in: `bubblewrap`, or `none` (then the worker takes only its owner's jobs unless the owner
    /// set `allow_unsandboxed`). Empty from agents that predate it.
    #[serde(default)]
    pub sandbox: String,
    /// Runs AI batch chunks on its inference engine (a worker that serves models).
    #[serde(default)]
    pub ai_batch: bool,
    /// The agent trains models (every agent built with the training engine).
    #[serde(default)]
    pub ai_train: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub model: String,
    pub vram_bytes: u64,
    pub driver: Option<String>,
    pub cuda: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlenderInstall {
    pub path: String,
    /// e.g. "4.2.3" or "3.4.1".
    pub version: String,
    /// e.g. ["Cycles", "EEVEE", "Workbench"].
    pub engines: Vec<String>,
    /// The standard benchmark render, when it ran.
    pub benchmark: Option<BenchmarkResult>,
}

/// The agent's standard benchmark: a small Cycles frame rendered once per Blender version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResult {
    pub seconds: f64,
    /// Higher is faster: 1000 / seconds, rounded.
    pub score: u32,
}

impl BenchmarkResult {
    pub fn from_seconds(seconds: f64) -> Self {
        let score = if seconds > 0.0 { (1000.0 / seconds).round().min(f64::from(u32::MAX)) as u32 } else { 0 };
        Self { seconds, score }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub agent_version: String,
    pub hardware: Hardware,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub node_id: i64,
    pub name: String,
    pub heartbeat_interval_ms: u64,
}

/// Live figures sent with every heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveMetrics {
    /// Whole machine, 0–100.
    pub cpu_percent: f32,
    pub ram_used_bytes: u64,
    pub ram_total_bytes: u64,
    /// One entry per GPU, in the order of [`Hardware::gpus`].
    pub gpus: Vec<GpuLive>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuLive {
    pub utilisation_percent: f32,
    pub temperature_c: f32,
    pub vram_used_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub metrics: LiveMetrics,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// Inside the worker's sleep schedule: take no work.
    pub asleep: bool,
    pub heartbeat_interval_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// How long the coordinator may hold the request open waiting for work (capped by the coordinator).
    pub wait_ms: u64,
    /// Only the node owner's own jobs: its Blender runs unboxed.
    #[serde(default)]
    pub own_jobs_only: bool,
}

/// How to render: the job's settings, applied by the agent's settings script before rendering.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderSettings {
    /// `CYCLES`, `BLENDER_EEVEE` / `BLENDER_EEVEE_NEXT` (the agent picks for its Blender), `BLENDER_WORKBENCH`.
    pub engine: String,
    /// Blender's `image_settings.file_format`: `PNG`, `OPEN_EXR`, `JPEG`.
    pub file_format: String,
    /// File extension of the outputs: `png`, `exr`, `jpg`.
    pub extension: String,
    pub resolution_x: u32,
    pub resolution_y: u32,
    pub resolution_percent: u32,
    pub samples: u32,
}

/// A border region (pixels from the bottom left, `max` exclusive) for a tile of a single image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileRegion {
    pub min_x: u32,
    pub max_x: u32,
    pub min_y: u32,
    pub max_y: u32,
}

/// A leased task: what to render, how, and until when the lease holds without progress reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskAssignment {
    pub task_id: i64,
    pub job_id: i64,
    pub attempt: i64,
    pub frames: Vec<i64>,
    pub tile: Option<TileRegion>,
    /// Empty for work other than rendering.
    #[serde(default)]
    pub settings: RenderSettings,
    #[serde(default)]
    pub scene_sha256: String,
    /// Report progress at least this often to keep the lease.
    pub lease_ms: u64,
    /// Stop rendering (and report the task failed) after this long; 0: no limit (coordinators before the limit).
    #[serde(default)]
    pub max_render_ms: u64,
    /// A chunk of an AI batch instead of a render: its lines come from [`crate::ai_batch::batch_input_path`] and
    /// their results go up as the task's one output (index 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_batch: Option<crate::ai_batch::BatchTask>,
    /// A training run instead of a render: checkpoints go up as it trains, the trained weights as output 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_train: Option<crate::ai_training::TrainingTask>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub attempt: i64,
    /// 0–100 over the whole task.
    pub percent: u8,
    /// The last lines of Blender's output, for the job page.
    pub log_tail: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressAnswer {
    pub lease_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoneReport {
    pub attempt: i64,
    pub log_tail: String,
    /// Seconds Blender spent rendering the task's frames (render compute; older agents leave it out).
    #[serde(default)]
    pub render_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    pub attempt: i64,
    pub error: String,
    pub log_tail: String,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_escapes_its_strings() {
        let file = NodeConfigFile {
            coordinator_url: "http://127.0.0.1:3000".into(),
            node_id: 7,
            token: "a\"b\\c".into(),
            blender_paths: vec![],
            work_dir: None,
            allow_unsandboxed: false,
            serve_models: Vec::new(),
        };
        let text = file.to_toml("worker");
        assert!(text.contains("node_id = 7\n"), "{text}");
        assert!(text.contains(r#"token = "a\"b\\c""#), "{text}");
        assert!(text.contains("pictor-agent worker --config worker.toml"), "{text}");
    }

    #[test]
    fn faster_benchmarks_score_higher() {
        assert_eq!(BenchmarkResult::from_seconds(2.0).score, 500);
        assert!(BenchmarkResult::from_seconds(1.0).score > BenchmarkResult::from_seconds(4.0).score);
        assert_eq!(BenchmarkResult::from_seconds(0.0).score, 0);
    }
}
