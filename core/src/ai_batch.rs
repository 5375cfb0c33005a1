//! AI batch chunks between coordinator and worker: the lines of one chunk as work, and each line's result. The
//! coordinator owns OpenAI's wire format; the worker only runs the model, exactly as it does for API requests.

use serde::{Deserialize, Serialize};

use crate::ai::{ModelFile, ModelKind, Prompt, Sampling};

/// The engine batch jobs ask for and workers serving models offer: their inference engine, whatever the model.
pub const AI_ENGINE: &str = "ai";

/// What a leased batch chunk asks of a worker (inside its task assignment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTask {
    pub model: String,
    pub kind: ModelKind,
    /// A hosted model's hash, size and files, fetched as for a load order (empty for the network's own models).
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub files: Vec<ModelFile>,
}

/// Where a worker holding a chunk's lease fetches its lines (`?attempt=N`).
pub fn batch_input_path(task: i64) -> String {
    format!("/api/agent/v1/tasks/{task}/input")
}

/// One line of a chunk: its number in the input file (from 0) and the work it asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    pub line: u32,
    /// The caller's id of the line (the coordinator's: workers ignore it).
    pub custom_id: String,
    pub work: BatchWork,
}

/// The work of one line, as the API would hand it to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BatchWork {
    Generate {
        prompt: Prompt,
        sampling: Sampling,
    },
    /// `base64`: how the caller wants the vectors back (the coordinator's: workers ignore it).
    Embed {
        inputs: Vec<String>,
        #[serde(default)]
        base64: bool,
    },
}

/// What one line gave (a chunk's output file holds one per line, as JSON lines, in order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchLineResult {
    pub line: u32,
    pub outcome: BatchOutcome,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BatchOutcome {
    Generated {
        text: String,
        token_ids: Vec<u32>,
        finish_reason: String,
        prompt_tokens: u32,
    },
    Embedded {
        vectors: Vec<Vec<f32>>,
        prompt_tokens: u32,
    },
    /// `caller_error`: the line itself is at fault (too long for the model, say); otherwise the worker failed.
    Failed {
        message: String,
        caller_error: bool,
    },
}

impl BatchOutcome {
    /// (prompt, completion) tokens the line is billed for.
    pub fn tokens(&self) -> (u64, u64) {
        match self {
            BatchOutcome::Generated { token_ids, prompt_tokens, .. } => {
                (u64::from(*prompt_tokens), token_ids.len() as u64)
            }
            BatchOutcome::Embedded { prompt_tokens, .. } => (u64::from(*prompt_tokens), 0),
            BatchOutcome::Failed { .. } => (0, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_travel_as_tagged_json_lines() {
        let result = BatchLineResult {
            line: 3,
            outcome: BatchOutcome::Generated {
                text: "Hi".into(),
                token_ids: vec![1, 2],
                finish_reason: "stop".into(),
                prompt_tokens: 9,
            },
        };
        let text = serde_json::to_string(&result).expect("json");
        assert!(!text.contains('\n'));
        assert_eq!(serde_json::from_str::<BatchLineResult>(&text).expect("back"), result);
        assert_eq!(result.outcome.tokens(), (9, 2));
        let vectors = BatchOutcome::Embedded { vectors: vec![vec![0.1, -3.5e-7]], prompt_tokens: 4 };
        let back: BatchOutcome = serde_json::from_str(&serde_json::to_string(&vectors).expect("json")).expect("back");
        assert_eq!(back, vectors, "f32 survive JSON exactly");
    }
}
