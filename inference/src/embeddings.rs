//! A BERT-family sentence embedding model (safetensors + config.json + tokenizer.json), mean-pooled and normalised.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::InferenceError;

/// Longest input, in tokens, an embedding model reads (sentence-transformers' default for MiniLM).
const MAX_INPUT_TOKENS: usize = 256;

/// Vectors for a batch of inputs, and how many tokens they took (for billing).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub prompt_tokens: usize,
}

/// A loaded embedding model.
pub struct EmbeddingModel {
    model: BertModel,
    tokenizer: Tokenizer,
    dimensions: usize,
    device: Device,
}

impl EmbeddingModel {
    /// Loads from a folder with `model.safetensors`, `config.json` and `tokenizer.json`.
    pub fn load(folder: &Path, device: &Device) -> Result<Self, InferenceError> {
        let config: Config = serde_json::from_slice(&std::fs::read(folder.join("config.json"))?)
            .map_err(|e| InferenceError::invalid(format!("config.json is not a BERT configuration: {e}")))?;
        let mut tokenizer = Tokenizer::from_file(folder.join("tokenizer.json"))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        tokenizer.with_truncation(Some(TruncationParams {
            max_length: MAX_INPUT_TOKENS.min(config.max_position_embeddings),
            ..Default::default()
        }))?;
        // SAFETY: the file is memory-mapped read-only; it was validated and is not modified while loaded.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[folder.join("model.safetensors")], DType::F32, device)? };
        let model = BertModel::load(vb, &config)?;
        Ok(Self { model, tokenizer, dimensions: config.hidden_size, device: device.clone() })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// How many tokens `inputs` take (what a request is billed for), without running the model.
    pub fn count_tokens(&self, inputs: &[String]) -> Result<usize, InferenceError> {
        let encodings = self.tokenizer.encode_batch(inputs.to_vec(), true)?;
        Ok(encodings.iter().map(|e| e.get_attention_mask().iter().filter(|m| **m == 1).count()).sum())
    }

    /// One unit-length vector per input: the mean of the token states under the attention mask.
    pub fn embed(&self, inputs: &[String]) -> Result<Embedded, InferenceError> {
        if inputs.is_empty() {
            return Err(InferenceError::invalid("'input' must hold at least one text"));
        }
        let encodings = self.tokenizer.encode_batch(inputs.to_vec(), true)?;
        let ids: Vec<Tensor> =
            encodings.iter().map(|e| Tensor::new(e.get_ids(), &self.device)).collect::<Result<_, _>>()?;
        let masks: Vec<Tensor> =
            encodings.iter().map(|e| Tensor::new(e.get_attention_mask(), &self.device)).collect::<Result<_, _>>()?;
        let ids = Tensor::stack(&ids, 0)?;
        let mask = Tensor::stack(&masks, 0)?;
        let token_types = ids.zeros_like()?;
        let states = self.model.forward(&ids, &token_types, Some(&mask))?;

        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = states.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
        let unit = mean.broadcast_div(&norms)?;
        let prompt_tokens = encodings.iter().map(|e| e.get_attention_mask().iter().filter(|m| **m == 1).count()).sum();
        Ok(Embedded { vectors: unit.to_vec2::<f32>()?, prompt_tokens })
    }
}

/// Cosine similarity of two vectors (1 for the same direction); 0 when either is all zeros.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm_a = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let norm_b = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    dot / (norm_a * norm_b)
}
