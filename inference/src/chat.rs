//! A chat model from a GGUF file (llama-architecture, quantized) and deterministic generation over it.

use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::LogitsProcessor;
use candle_transformers::models::quantized_llama::ModelWeights;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::chat_template::ChatTemplate;
use crate::gguf_tokenizer::{self, string};
use crate::text_stream::TextStream;
use crate::InferenceError;

/// How to pick tokens. The same parameters, seed and prompt give the same tokens on the same engine build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationParams {
    pub max_tokens: usize,
    /// 0 picks the most likely token every time (greedy).
    pub temperature: f64,
    pub top_p: Option<f64>,
    pub seed: u64,
}

/// Why generation ended, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    /// The caller went away or asked to stop: not an OpenAI reason, never sent to a caller.
    Cancelled,
}

/// One generated token, as it is handed to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub token_id: u32,
    /// The text this token completes; empty while a character spans several tokens.
    pub text: String,
}

/// What a finished generation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub prompt_tokens: usize,
    pub token_ids: Vec<u32>,
    pub text: String,
    pub finish_reason: FinishReason,
}

/// A loaded chat model. Cheap to share: each generation clones the weights' handles and has its own KV cache.
pub struct ChatModel {
    weights: ModelWeights,
    tokenizer: Tokenizer,
    stop_token_ids: Vec<u32>,
    template: ChatTemplate,
    context_length: usize,
    device: Device,
}

impl ChatModel {
    /// Loads a GGUF chat model: weights, tokenizer and chat template all come from the one file.
    pub fn load(path: &Path, device: &Device) -> Result<Self, InferenceError> {
        let mut reader = BufReader::new(File::open(path)?);
        let content = gguf_file::Content::read(&mut reader)?;
        let architecture = string(&content.metadata, "general.architecture")?.clone();
        if architecture != "llama" {
            return Err(InferenceError::invalid(format!(
                "architecture '{architecture}' is not supported; chat models must be llama-architecture GGUF"
            )));
        }
        let context_length = content
            .metadata
            .get("llama.context_length")
            .and_then(|v| v.to_u32().ok())
            .map(|n| n as usize)
            .unwrap_or(2048)
            .min(candle_transformers::models::quantized_llama::MAX_SEQ_LEN);
        let template = ChatTemplate::recognise(string(&content.metadata, "tokenizer.chat_template")?)?;
        let tokens = gguf_tokenizer::from_metadata(&content.metadata)?;
        let weights = ModelWeights::from_gguf(content, &mut reader, device)?;
        Ok(Self {
            weights,
            tokenizer: tokens.tokenizer,
            stop_token_ids: tokens.stop_token_ids,
            template,
            context_length,
            device: device.clone(),
        })
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The token ids of a prompt (special tokens such as `<|im_start|>` are recognised as one token).
    pub fn encode(&self, prompt: &str) -> Result<Vec<u32>, InferenceError> {
        Ok(self.tokenizer.encode(prompt, false)?.get_ids().to_vec())
    }

    pub fn decode(&self, token_ids: &[u32]) -> Result<String, InferenceError> {
        Ok(self.tokenizer.decode(token_ids, true)?)
    }

    /// Generates an answer to `prompt_ids`, calling `on_step` with each token as it is made.
    /// `on_step` returning `Break` stops generation at once (the caller disconnected).
    pub fn generate(
        &self,
        prompt_ids: &[u32],
        params: &GenerationParams,
        mut on_step: impl FnMut(Step) -> ControlFlow<()>,
    ) -> Result<Generation, InferenceError> {
        if prompt_ids.is_empty() {
            return Err(InferenceError::invalid("the prompt is empty"));
        }
        if prompt_ids.len() >= self.context_length {
            return Err(InferenceError::ContextTooLong { prompt: prompt_ids.len(), context: self.context_length });
        }
        let max_tokens = params.max_tokens.min(self.context_length - prompt_ids.len());
        let mut weights = self.weights.clone();
        let mut sampler = LogitsProcessor::new(params.seed, Some(params.temperature), params.top_p);
        let mut stream = TextStream::new(&self.tokenizer);
        let mut token_ids = Vec::new();
        let mut text = String::new();
        let mut finish_reason = FinishReason::Length;

        let mut input = Tensor::new(prompt_ids, &self.device)?.unsqueeze(0)?;
        let mut position = 0;
        while token_ids.len() < max_tokens {
            let logits = weights.forward(&input, position)?.squeeze(0)?;
            position += input.dim(1)?;
            let token = sampler.sample(&logits)?;
            if self.stop_token_ids.contains(&token) {
                finish_reason = FinishReason::Stop;
                break;
            }
            token_ids.push(token);
            let fresh = stream.push(token)?;
            text.push_str(&fresh);
            if on_step(Step { token_id: token, text: fresh }).is_break() {
                finish_reason = FinishReason::Cancelled;
                break;
            }
            input = Tensor::new(&[token], &self.device)?.unsqueeze(0)?;
        }
        Ok(Generation { prompt_tokens: prompt_ids.len(), token_ids, text, finish_reason })
    }
}
