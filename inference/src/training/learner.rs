//! A template's model together with the dataset it learns from: what the trainer asks of either template (the
//! trained variables and their names, a batch's logits, the rows' classes).

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor, Var};
use pictor_core::ai_training::TrainingTemplate;

use super::text_network::{TextEncoder, TextNetwork};
use super::{Dataset, Mlp, PixelTable, TextTable, PARAMS};
use crate::InferenceError;

/// Where templates find the models they build on.
#[derive(Clone, Debug, Default)]
pub struct BaseModels {
    /// The folder of all-MiniLM-L6-v2 (`model.safetensors`, `config.json`, `tokenizer.json`): the text template's.
    pub text_encoder: Option<PathBuf>,
}

impl BaseModels {
    /// The base models present in `cache` (a missing one fails only the runs that need it).
    pub fn from_cache(cache: &crate::ModelCache) -> Self {
        let minilm = crate::NETWORK_MODELS.iter().find(|model| model.id == super::TEXT_BASE_MODEL);
        Self { text_encoder: minilm.and_then(|model| cache.network_model(model).ok()) }
    }

    /// The text encoder, loaded (an error that says where it was looked for when it is missing).
    pub fn load_text_encoder(&self, device: &Device) -> Result<TextEncoder, InferenceError> {
        let folder = self.text_encoder.as_ref().ok_or_else(|| {
            InferenceError::invalid("the text template needs all-MiniLM-L6-v2 in the model cache (scripts/setup)")
        })?;
        TextEncoder::load(folder, device)
    }
}

/// The model being trained and its data.
pub enum Learner {
    Pixels { table: PixelTable, model: Mlp },
    Texts { table: TextTable, tokens: Vec<Vec<u32>>, network: Box<TextNetwork> },
}

impl Learner {
    /// Fresh weights for `dataset` (drawn from `seed`; the text template's last layer as shipped).
    pub fn init(dataset: Dataset, seed: u64, bases: &BaseModels, device: &Device) -> Result<Self, InferenceError> {
        match dataset {
            Dataset::Pixels(table) => {
                let model = Mlp::init(table.inputs, table.classes, seed, device)?;
                Ok(Self::Pixels { table, model })
            }
            Dataset::Texts(table) => {
                let encoder = bases.load_text_encoder(device)?;
                let tokens = encoder.tokenize(&table.texts)?;
                let network = Box::new(TextNetwork::init(encoder, table.class_names.len(), seed, device)?);
                Ok(Self::Texts { table, tokens, network })
            }
        }
    }

    /// Saved weights named `names` for `dataset`.
    pub fn restore(
        dataset: Dataset,
        names: &[String],
        weights: Vec<Tensor>,
        bases: &BaseModels,
        device: &Device,
    ) -> Result<Self, InferenceError> {
        match dataset {
            Dataset::Pixels(table) => {
                if names.iter().map(String::as_str).ne(PARAMS) {
                    return Err(InferenceError::invalid("the checkpoint's weights are not the pixel classifier's"));
                }
                Ok(Self::Pixels { table, model: Mlp::from_tensors(weights)? })
            }
            Dataset::Texts(table) => {
                let encoder = bases.load_text_encoder(device)?;
                let tokens = encoder.tokenize(&table.texts)?;
                let network = Box::new(TextNetwork::from_tensors(encoder, names, weights, device)?);
                Ok(Self::Texts { table, tokens, network })
            }
        }
    }

    pub fn template(&self) -> TrainingTemplate {
        match self {
            Self::Pixels { .. } => TrainingTemplate::PixelClassifier,
            Self::Texts { .. } => TrainingTemplate::TextClassifier,
        }
    }

    pub fn vars(&self) -> &[Var] {
        match self {
            Self::Pixels { model, .. } => &model.vars,
            Self::Texts { network, .. } => &network.vars,
        }
    }

    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Pixels { .. } => PARAMS.iter().map(|name| name.to_string()).collect(),
            Self::Texts { network, .. } => network.names.clone(),
        }
    }

    fn labels(&self) -> &[u32] {
        match self {
            Self::Pixels { table, .. } => &table.labels,
            Self::Texts { table, .. } => &table.labels,
        }
    }

    pub fn classes(&self) -> usize {
        match self {
            Self::Pixels { table, .. } => table.classes,
            Self::Texts { table, .. } => table.class_names.len(),
        }
    }

    /// What one input is: the number of pixels, or the width of the encoder's states.
    pub fn inputs(&self) -> usize {
        match self {
            Self::Pixels { table, .. } => table.inputs,
            Self::Texts { network, .. } => network.encoder().hidden(),
        }
    }

    /// What pixels are divided by (1 for texts).
    pub fn scale(&self) -> f32 {
        match self {
            Self::Pixels { table, .. } => table.scale,
            Self::Texts { .. } => 1.0,
        }
    }

    /// The classes' names (empty for pixels, whose classes are their numbers).
    pub fn class_names(&self) -> Vec<String> {
        match self {
            Self::Pixels { .. } => Vec::new(),
            Self::Texts { table, .. } => table.class_names.clone(),
        }
    }

    /// The classes of `rows`.
    pub fn targets(&self, rows: &[u32], device: &Device) -> Result<Tensor, InferenceError> {
        let labels: Vec<u32> = rows.iter().map(|row| self.labels()[*row as usize]).collect();
        Ok(Tensor::from_vec(labels, rows.len(), device)?)
    }

    /// The logits of `rows`: `[rows, classes]`.
    pub fn logits(&self, rows: &[u32], device: &Device) -> Result<Tensor, InferenceError> {
        match self {
            Self::Pixels { table, model } => {
                let (pixels, _) = table.gather(rows);
                let batch = Tensor::from_vec(pixels, (rows.len(), table.inputs), device)?;
                Ok(model.forward(&batch)?)
            }
            Self::Texts { tokens, network, .. } => {
                let batch: Vec<&[u32]> = rows.iter().map(|row| tokens[*row as usize].as_slice()).collect();
                Ok(network.logits(&batch)?)
            }
        }
    }

    /// The share of `rows` classified right (in batches, so a large held-out split needs little memory).
    pub fn accuracy(&self, rows: &[u32], device: &Device) -> Result<f64, InferenceError> {
        let mut right = 0usize;
        for chunk in rows.chunks(64) {
            let predicted: Vec<u32> = self.logits(chunk, device)?.argmax(1)?.to_dtype(DType::U32)?.to_vec1()?;
            right += predicted.iter().zip(chunk).filter(|(p, row)| **p == self.labels()[**row as usize]).count();
        }
        Ok(right as f64 / rows.len().max(1) as f64)
    }
}
