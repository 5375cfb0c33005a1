//! Runs one request on a loaded model, on a blocking thread: tokens are sent as they are made, and a cancel flag
//! (the caller went away) stops generation after the current token.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pictor_core::ai::{FromWorker, Prompt, Sampling};
use pictor_inference::{ChatModel, Classifier, EmbeddingModel, FinishReason, GenerationParams, InferenceError};
use tokio::sync::mpsc::UnboundedSender;

/// Generates an answer, sending `Started`, each `Token`, then `Finished` (or `Failed`).
pub fn generate(
    model: &ChatModel,
    request: &str,
    prompt: &Prompt,
    sampling: &Sampling,
    cancel: &AtomicBool,
    out: &UnboundedSender<FromWorker>,
) {
    let taken = std::time::Instant::now();
    let mut first_token_ms = None;
    let result = (|| {
        let text = match prompt {
            Prompt::Chat(messages) => model.template().render(messages)?,
            Prompt::Text(text) => text.clone(),
        };
        let ids = model.encode(&text)?;
        let _ = out.send(FromWorker::Started { request: request.into(), prompt_tokens: ids.len() as u32 });
        let mut params = GenerationParams {
            max_tokens: sampling.max_tokens as usize,
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            seed: sampling.seed,
        };
        if fault() == Some(Fault::WrongTokens) {
            // A worker answering with other tokens than the model's (another model, or made-up text).
            params.temperature = 1.5;
            params.seed = sampling.seed.wrapping_add(1);
        }
        model.generate(&ids, &params, |step| {
            if cancel.load(Ordering::Relaxed) {
                return ControlFlow::Break(());
            }
            first_token_ms.get_or_insert(taken.elapsed().as_millis() as u64);
            let token = FromWorker::Token { request: request.into(), id: step.token_id, text: step.text };
            if out.send(token).is_err() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
    })();
    let message = match result {
        Ok(generation) if generation.finish_reason == FinishReason::Cancelled => {
            tracing::info!(request, tokens = generation.token_ids.len(), "request cancelled: generation stopped");
            return;
        }
        Ok(generation) => FromWorker::Finished {
            request: request.into(),
            finish_reason: match generation.finish_reason {
                FinishReason::Stop => "stop".into(),
                _ => "length".into(),
            },
            completion_tokens: generation.token_ids.len() as u32,
            first_token_ms,
        },
        Err(error) => failed(request, error),
    };
    let _ = out.send(message);
}

/// Embeds the inputs and sends the vectors (or why not).
pub fn embed(model: &EmbeddingModel, request: &str, inputs: &[String], out: &UnboundedSender<FromWorker>) {
    let message = match model.embed(inputs) {
        Ok(mut embedded) => {
            if fault() == Some(Fault::PerturbedEmbeddings) {
                // A worker faking vectors close to the real ones.
                for vector in &mut embedded.vectors {
                    for x in vector.iter_mut() {
                        *x += (rand::random::<f32>() - 0.5) * 0.05;
                    }
                }
            }
            FromWorker::Embedded {
                request: request.into(),
                vectors: embedded.vectors,
                prompt_tokens: embedded.prompt_tokens as u32,
            }
        }
        Err(error) => failed(request, error),
    };
    let _ = out.send(message);
}

/// Classifies the inputs (rows of pixels, or texts) and sends each one's class probabilities as its vector (one
/// input is counted as one token).
pub fn classify(model: &Classifier, request: &str, inputs: &[String], out: &UnboundedSender<FromWorker>) {
    let message = match model.classify(inputs) {
        Ok(vectors) => FromWorker::Embedded { request: request.into(), vectors, prompt_tokens: inputs.len() as u32 },
        Err(InferenceError::Invalid(message)) => {
            FromWorker::Failed { request: request.into(), message, caller_error: true }
        }
        Err(error) => failed(request, error),
    };
    let _ = out.send(message);
}

/// A fine-tuned text classifier's encoder vectors for the inputs (billed by their tokens, as embeddings).
pub fn sentence_vectors(model: &Classifier, request: &str, inputs: &[String], out: &UnboundedSender<FromWorker>) {
    let message = match model.embed(inputs) {
        Ok(embedded) => FromWorker::Embedded {
            request: request.into(),
            vectors: embedded.vectors,
            prompt_tokens: embedded.prompt_tokens as u32,
        },
        Err(error) => failed(request, error),
    };
    let _ = out.send(message);
}

/// Debug-only misbehaviour for the verification tests and the calibration (`PICTOR_AGENT_AI_FAULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    WrongTokens,
    PerturbedEmbeddings,
}

pub fn fault() -> Option<Fault> {
    if !cfg!(debug_assertions) {
        return None;
    }
    match std::env::var("PICTOR_AGENT_AI_FAULT").ok()?.as_str() {
        "wrong-tokens" => Some(Fault::WrongTokens),
        "perturbed-embeddings" => Some(Fault::PerturbedEmbeddings),
        _ => None,
    }
}

fn failed(request: &str, error: InferenceError) -> FromWorker {
    // A prompt too long or malformed is the caller's to fix; anything else is this worker's failure, and the
    // coordinator tries another worker.
    let caller_error = matches!(error, InferenceError::ContextTooLong { .. } | InferenceError::Invalid(_));
    FromWorker::Failed { request: request.into(), message: error.to_string(), caller_error }
}

/// A request's cancel flag, set when the coordinator says the caller went away.
pub type CancelFlag = Arc<AtomicBool>;
