//! A checker's replay of a worker's AI answer: the same prompt, sampling and seed on the same model give the same
//! token ids; the same inputs give (almost exactly) the same embedding vectors.

use std::ops::ControlFlow;

use pictor_core::ai::{AiCheckVerdict, Prompt, Sampling, EMBEDDING_MATCH};

/// A classifier's probabilities replayed on the CPU agree to rounding; a larger gap is another answer.
const CLASSIFIER_MATCH: f32 = 1e-4;
use pictor_inference::{cosine_similarity, GenerationParams, InferenceError};
use serde::Deserialize;

use super::models::Model;

#[derive(Deserialize)]
#[serde(untagged)]
enum Replay {
    Generation {
        prompt: Prompt,
        sampling: Sampling,
        token_ids: Vec<u32>,
    },
    Embedding {
        inputs: Vec<String>,
        #[serde(with = "pictor_core::ai::packed_vectors")]
        vectors: Vec<Vec<f32>>,
        /// A fine-tuned text classifier's encoder vectors (compared as embeddings), not its probabilities.
        #[serde(default)]
        sentence_vectors: bool,
    },
}

/// Replayed sentence vectors against the worker's: every pair must point the same way (cosine similarity).
fn compare_vectors(replayed: Result<Vec<Vec<f32>>, InferenceError>, sent: &[Vec<f32>]) -> AiCheckVerdict {
    let verdict = |passed: bool, detail: String| AiCheckVerdict { passed, detail };
    match replayed {
        Ok(replayed) if replayed.len() == sent.len() => {
            let least = replayed
                .iter()
                .zip(sent)
                .map(|(a, b)| if a.len() == b.len() { cosine_similarity(a, b) } else { 0.0 })
                .fold(1.0f32, f32::min);
            verdict(least >= EMBEDDING_MATCH, format!("least cosine similarity {least:.6} (needs {EMBEDDING_MATCH})"))
        }
        Ok(_) => verdict(false, "the worker sent a different number of vectors".into()),
        Err(error) => verdict(false, format!("the replay failed: {error}")),
    }
}

/// Replays `replay` (JSON as the coordinator recorded it) on `model` and compares (blocking: run it off the async
/// threads).
pub fn replay(model: &Model, replay: &str) -> AiCheckVerdict {
    let verdict = |passed: bool, detail: String| AiCheckVerdict { passed, detail };
    let Ok(recorded) = serde_json::from_str::<Replay>(replay) else {
        // Nothing to compare against: the worker's answer cannot be vouched for.
        return verdict(false, "the recorded answer is unreadable".into());
    };
    match (model, recorded) {
        (Model::Chat(model), Replay::Generation { prompt, sampling, token_ids }) => {
            let text = match &prompt {
                Prompt::Chat(messages) => model.template().render(messages),
                Prompt::Text(text) => Ok(text.clone()),
            };
            let ids = match text.and_then(|text| model.encode(&text)) {
                Ok(ids) => ids,
                Err(error) => return verdict(false, format!("the prompt cannot be replayed: {error}")),
            };
            // Only as many tokens as the worker sent: a stream cut short is compared on what it delivered.
            let params = GenerationParams {
                max_tokens: token_ids.len(),
                temperature: sampling.temperature,
                top_p: sampling.top_p,
                seed: sampling.seed,
            };
            match model.generate(&ids, &params, |_| ControlFlow::Continue(())) {
                Ok(generation) => match generation.token_ids.iter().zip(&token_ids).position(|(a, b)| a != b) {
                    None if generation.token_ids.len() == token_ids.len() => {
                        verdict(true, format!("{} tokens match", token_ids.len()))
                    }
                    None => verdict(
                        false,
                        format!(
                            "the worker sent {} tokens where the model stops at {}",
                            token_ids.len(),
                            generation.token_ids.len()
                        ),
                    ),
                    Some(at) => verdict(
                        false,
                        format!("token {at} differs ({} replayed, {} sent)", generation.token_ids[at], token_ids[at]),
                    ),
                },
                Err(error) => verdict(false, format!("the replay failed: {error}")),
            }
        }
        (Model::Embedding(model), Replay::Embedding { inputs, vectors, .. }) => {
            compare_vectors(model.embed(&inputs).map(|embedded| embedded.vectors), &vectors)
        }
        (Model::Classifier(model), Replay::Embedding { inputs, vectors, sentence_vectors: true }) => {
            compare_vectors(model.embed(&inputs).map(|embedded| embedded.vectors), &vectors)
        }
        (Model::Classifier(model), Replay::Embedding { inputs, vectors, .. }) => match model.classify(&inputs) {
            Ok(replayed) if replayed.len() == vectors.len() => {
                let largest = replayed
                    .iter()
                    .zip(&vectors)
                    .flat_map(|(a, b)| {
                        let same = a.len() == b.len();
                        a.iter().zip(b).map(move |(x, y)| if same { (x - y).abs() } else { f32::INFINITY })
                    })
                    .fold(0f32, f32::max);
                verdict(largest <= CLASSIFIER_MATCH, format!("largest probability difference {largest:e}"))
            }
            Ok(_) => verdict(false, "the worker sent a different number of answers".into()),
            Err(error) => verdict(false, format!("the replay failed: {error}")),
        },
        _ => verdict(false, "the recorded answer is not of this model's kind".into()),
    }
}
