//! Runs Pictor's AI models on candle: chat models from GGUF files and BERT-family embedding models from safetensors.
//!
//! Shared by the agent's worker mode (serving requests) and checker mode (replaying them): both must produce the
//! same token ids for the same model, prompt, parameters and seed, so everything that decides a token lives here.

mod chat;
mod chat_template;
mod classifier;
mod embeddings;
mod error;
mod gguf_tokenizer;
mod model_files;
mod text_stream;
pub mod training;
pub mod validate;

pub use chat::{ChatModel, FinishReason, Generation, GenerationParams, Step};
pub use chat_template::{ChatMessage, ChatTemplate};
pub use classifier::{
    best_class, summarize as summarize_classifier, Classifier, ClassifierSummary, PixelClassifier, TextClassifier,
};
pub use embeddings::{cosine_similarity, Embedded, EmbeddingModel};
pub use error::InferenceError;
pub use model_files::{sha256_file, ModelCache, NetworkModel, NETWORK_MODELS};

/// The device inference runs on: the first CUDA GPU when built with `cuda` and one is present, else the CPU.
pub fn device() -> candle_core::Device {
    #[cfg(feature = "cuda")]
    if let Ok(gpu) = candle_core::Device::new_cuda(0) {
        return gpu;
    }
    candle_core::Device::Cpu
}

/// Names the engine build, so a checker only compares token ids exactly with a worker running the same engine.
pub const ENGINE: &str = concat!("candle-0.11.1/pictor-inference-", env!("CARGO_PKG_VERSION"));
