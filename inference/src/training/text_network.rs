//! The text classifier fine-tuned from a BERT-family sentence encoder (all-MiniLM-L6-v2): every layer but the last
//! stays frozen as shipped, the last encoder layer and a linear head over the mean of its token states are trained.
//! Only those are checkpointed (about 1.8 M weights for MiniLM), and the frozen part carries no gradient graph.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertEncoder, BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use super::rng::SplitMix64;
use crate::InferenceError;

/// Longest text, in tokens, the classifier reads (longer texts are cut): short texts keep CPU training fast.
pub const MAX_TEXT_TOKENS: usize = 64;

/// Names of the trained parameters: the top layer's under this prefix, then the head.
const TOP: &str = "top.";
pub const HEAD_WEIGHT: &str = "head.weight";
pub const HEAD_BIAS: &str = "head.bias";

const HEAD_STREAM: u64 = 4;

/// The frozen part of the base model (embeddings and every layer but the last), its tokenizer, and the last layer
/// as shipped.
pub struct TextEncoder {
    frozen: BertModel,
    tokenizer: Tokenizer,
    config: Config,
    /// The shipped last layer, by name relative to the layer (`attention.self.query.weight`…), sorted.
    base_top: Vec<(String, Tensor)>,
}

impl TextEncoder {
    /// Loads from a folder with `model.safetensors`, `config.json` and `tokenizer.json`.
    pub fn load(folder: &Path, device: &Device) -> std::result::Result<Self, InferenceError> {
        let mut config: Config = serde_json::from_slice(&std::fs::read(folder.join("config.json"))?)
            .map_err(|e| InferenceError::invalid(format!("config.json is not a BERT configuration: {e}")))?;
        if config.num_hidden_layers < 2 {
            return Err(InferenceError::invalid("the base model needs at least two encoder layers"));
        }
        let mut tokenizer = Tokenizer::from_file(folder.join("tokenizer.json"))?;
        tokenizer.with_padding(None);
        tokenizer.with_truncation(Some(TruncationParams {
            max_length: MAX_TEXT_TOKENS.min(config.max_position_embeddings),
            ..Default::default()
        }))?;
        let weights = folder.join("model.safetensors");
        let last = config.num_hidden_layers - 1;
        let all = candle_core::safetensors::load(&weights, device)?;
        let base_top: Vec<(String, Tensor)> = {
            let prefix = ["encoder", "bert.encoder"]
                .iter()
                .map(|root| format!("{root}.layer.{last}."))
                .find(|prefix| all.keys().any(|name| name.starts_with(prefix.as_str())))
                .ok_or_else(|| InferenceError::invalid(format!("the base model has no encoder layer {last}")))?;
            let mut top: Vec<(String, Tensor)> = all
                .iter()
                .filter_map(|(name, tensor)| Some((name.strip_prefix(prefix.as_str())?.to_string(), tensor.clone())))
                .collect();
            top.sort_by(|a, b| a.0.cmp(&b.0));
            top
        };
        config.num_hidden_layers = last;
        let frozen = BertModel::load(VarBuilder::from_tensors(all, DType::F32, device), &config)?;
        config.num_hidden_layers = last + 1;
        Ok(Self { frozen, tokenizer, config, base_top })
    }

    /// The width of a token state (the head's input).
    pub fn hidden(&self) -> usize {
        self.config.hidden_size
    }

    /// Token ids of each text ([CLS] … [SEP], cut at [`MAX_TEXT_TOKENS`]).
    pub fn tokenize(&self, texts: &[String]) -> std::result::Result<Vec<Vec<u32>>, InferenceError> {
        let encodings = self.tokenizer.encode_batch(texts.to_vec(), true)?;
        Ok(encodings.iter().map(|encoding| encoding.get_ids().to_vec()).collect())
    }

    /// The frozen layers' token states for a batch (ids padded with 0 to the longest) and the batch's mask.
    fn frozen_states(&self, batch: &[&[u32]], device: &Device) -> Result<(Tensor, Tensor)> {
        let longest = batch.iter().map(|ids| ids.len()).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        for row in batch {
            ids.extend(row.iter().copied().chain(std::iter::repeat_n(0, longest - row.len())));
            mask.extend((0..longest).map(|position| u32::from(position < row.len())));
        }
        let ids = Tensor::from_vec(ids, (batch.len(), longest), device)?;
        let mask = Tensor::from_vec(mask, (batch.len(), longest), device)?;
        let states = self.frozen.forward(&ids, &ids.zeros_like()?, Some(&mask))?.detach();
        Ok((states, mask))
    }
}

/// The trained part over a frozen encoder: the last layer (from variables) and the head.
pub struct TextNetwork {
    encoder: TextEncoder,
    top: BertEncoder,
    pub vars: Vec<Var>,
    pub names: Vec<String>,
    device: Device,
}

impl TextNetwork {
    /// A fresh run: the last layer as shipped, the head drawn from the seed (±1/√hidden, as PyTorch's Linear).
    pub fn init(encoder: TextEncoder, classes: usize, seed: u64, device: &Device) -> Result<Self> {
        let hidden = encoder.hidden();
        let mut rng = SplitMix64::new(seed, HEAD_STREAM);
        let bound = 1.0 / (hidden as f32).sqrt();
        let mut uniform = |count: usize| -> Vec<f32> {
            (0..count).map(|_| (rng.next_f32() * 2.0 - 1.0) * bound).collect::<Vec<f32>>()
        };
        let head_weight = Tensor::from_vec(uniform(classes * hidden), (classes, hidden), device)?;
        let head_bias = Tensor::from_vec(uniform(classes), classes, device)?;
        let mut tensors: Vec<Tensor> =
            encoder.base_top.iter().map(|(_, tensor)| tensor.copy()).collect::<Result<_>>()?;
        tensors.extend([head_weight, head_bias]);
        let names = Self::param_names(&encoder);
        Self::assemble(encoder, names, tensors, device)
    }

    /// The trained parameters' names, in the order the optimizer and checkpoints keep them.
    pub fn param_names(encoder: &TextEncoder) -> Vec<String> {
        let mut names: Vec<String> = encoder.base_top.iter().map(|(name, _)| format!("{TOP}{name}")).collect();
        names.extend([HEAD_WEIGHT.to_string(), HEAD_BIAS.to_string()]);
        names
    }

    /// The network from saved tensors named `names`, which must be exactly this encoder's, shaped alike.
    pub fn from_tensors(
        encoder: TextEncoder,
        names: &[String],
        tensors: Vec<Tensor>,
        device: &Device,
    ) -> std::result::Result<Self, InferenceError> {
        let expected = Self::param_names(&encoder);
        if names != expected.as_slice() || tensors.len() != names.len() {
            return Err(InferenceError::invalid("the saved weights are not this base model's last layer and a head"));
        }
        for ((name, base), tensor) in encoder.base_top.iter().zip(&tensors) {
            if base.dims() != tensor.dims() {
                return Err(InferenceError::invalid(format!("{TOP}{name} is shaped {:?}", tensor.dims())));
            }
        }
        let head = &tensors[tensors.len() - 2];
        if head.dims().len() != 2 || head.dims()[1] != encoder.hidden() || tensors[tensors.len() - 1].dims().len() != 1
        {
            return Err(InferenceError::invalid("the head does not fit the base model"));
        }
        Ok(Self::assemble(encoder, expected, tensors, device)?)
    }

    fn assemble(encoder: TextEncoder, names: Vec<String>, tensors: Vec<Tensor>, device: &Device) -> Result<Self> {
        let vars: Vec<Var> = tensors.iter().map(Var::from_tensor).collect::<Result<_>>()?;
        // The last layer reads its weights straight from the variables (same tensors, so gradients reach them).
        let layer: HashMap<String, Tensor> = names
            .iter()
            .zip(&vars)
            .filter_map(|(name, var)| Some((format!("layer.0.{}", name.strip_prefix(TOP)?), var.as_tensor().clone())))
            .collect();
        let one_layer = Config { num_hidden_layers: 1, ..encoder.config.clone() };
        let top = BertEncoder::load(VarBuilder::from_tensors(layer, DType::F32, device), &one_layer)?;
        Ok(Self { encoder, top, vars, names, device: device.clone() })
    }

    pub fn encoder(&self) -> &TextEncoder {
        &self.encoder
    }

    /// The mean of the last layer's token states under the mask, one row per text: `[batch, hidden]`.
    pub fn pooled(&self, batch: &[&[u32]]) -> Result<Tensor> {
        let (states, mask) = self.encoder.frozen_states(batch, &self.device)?;
        let mask = mask.to_dtype(DType::F32)?;
        // BERT's additive mask: 0 where a token is, the lowest float where padding is.
        let additive = ((mask.ones_like()? - &mask)? * f64::from(f32::MIN))?.unsqueeze(1)?.unsqueeze(1)?;
        let states = self.top.forward(&states, &additive)?;
        let weights = mask.unsqueeze(2)?;
        states.broadcast_mul(&weights)?.sum(1)?.broadcast_div(&weights.sum(1)?)
    }

    /// The head's logits: `[batch, classes]`.
    pub fn logits(&self, batch: &[&[u32]]) -> Result<Tensor> {
        let (weight, bias) = (self.vars[self.vars.len() - 2].as_tensor(), self.vars[self.vars.len() - 1].as_tensor());
        self.pooled(batch)?.matmul(&weight.t()?)?.broadcast_add(bias)
    }

    /// Unit-length sentence vectors from the fine-tuned encoder.
    pub fn embed(&self, batch: &[&[u32]]) -> Result<Tensor> {
        let pooled = self.pooled(batch)?;
        pooled.broadcast_div(&pooled.sqr()?.sum_keepdim(1)?.sqrt()?)
    }
}
