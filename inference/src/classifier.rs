//! Serving a trained classifier: the weights a training run produced (one safetensors file whose header names the
//! template, sizes, classes and, for texts, the base model). A pixel classifier takes rows of pixel values, a text
//! classifier texts (and also answers their fine-tuned embeddings); each answer is the classes' probabilities.

use std::path::Path;

use candle_core::{Device, Tensor};
use pictor_core::ai_training::TrainingTemplate;

use crate::training::{header_metadata, labels_of, names_of, BaseModels, Mlp, TextNetwork, PARAMS};
use crate::{Embedded, InferenceError};

/// A loaded classifier of either template.
pub enum Classifier {
    Pixels(PixelClassifier),
    Texts(Box<TextClassifier>),
}

impl Classifier {
    /// Loads `model.safetensors` (or the file at `path`); a text classifier also loads its base model from `bases`.
    pub fn load(path: &Path, bases: &BaseModels, device: &Device) -> Result<Self, InferenceError> {
        let file = if path.is_dir() { path.join("model.safetensors") } else { path.to_path_buf() };
        let bytes = std::fs::read(&file)?;
        let summary = summarize(&bytes)?;
        match summary.template {
            TrainingTemplate::PixelClassifier => Ok(Self::Pixels(PixelClassifier::from_bytes(&bytes, device)?)),
            TrainingTemplate::TextClassifier => {
                let encoder = bases.load_text_encoder(device)?;
                let mut tensors = candle_core::safetensors::load_buffer(&bytes, device)?;
                let weights: Vec<Tensor> = summary
                    .names
                    .iter()
                    .map(|name| tensors.remove(name).ok_or_else(|| not_trained(&format!("no {name}"))))
                    .collect::<Result<_, _>>()?;
                let network = TextNetwork::from_tensors(encoder, &summary.names, weights, device)?;
                Ok(Self::Texts(Box::new(TextClassifier { network, class_names: summary.labels })))
            }
        }
    }

    /// Each input's class probabilities.
    pub fn classify(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, InferenceError> {
        match self {
            Self::Pixels(model) => model.classify(inputs),
            Self::Texts(model) => model.classify(inputs),
        }
    }

    /// The fine-tuned encoder's sentence vectors (a text classifier only).
    pub fn embed(&self, inputs: &[String]) -> Result<Embedded, InferenceError> {
        match self {
            Self::Pixels(_) => {
                Err(InferenceError::invalid("a pixel classifier has no embeddings; use classifications"))
            }
            Self::Texts(model) => model.embed(inputs),
        }
    }
}

/// What a trained classifier's file declares, read from its header and checked against its tensors' shapes.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierSummary {
    pub template: TrainingTemplate,
    /// Pixels per input, or the width of the text encoder's states.
    pub inputs: usize,
    pub classes: usize,
    /// The classes' names (empty when classes are their numbers).
    pub labels: Vec<String>,
    names: Vec<String>,
}

fn not_trained(why: &str) -> InferenceError {
    InferenceError::invalid(format!("not a Pictor trained classifier: {why}"))
}

/// Reads and checks a trained classifier's header without loading a base model (what the coordinator can do).
pub fn summarize(bytes: &[u8]) -> Result<ClassifierSummary, InferenceError> {
    let metadata = header_metadata(bytes).map_err(|e| not_trained(&e.to_string()))?;
    let number = |key: &str| -> Result<usize, InferenceError> {
        metadata
            .get(&format!("pictor.{key}"))
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| not_trained(&format!("no {key} in its header")))
    };
    let template = match metadata.get("pictor.template") {
        None => TrainingTemplate::PixelClassifier,
        Some(name) => TrainingTemplate::parse(name).ok_or_else(|| not_trained("an unknown template"))?,
    };
    let (inputs, classes) = (number("inputs")?, number("classes")?);
    let labels = labels_of(&metadata).map_err(|why| not_trained(&why))?;
    if inputs == 0 || !(2..=4096).contains(&classes) || !(labels.is_empty() || labels.len() == classes) {
        return Err(not_trained("its header's sizes are out of range"));
    }
    let names = names_of(&metadata);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| not_trained(&e.to_string()))?;
    let shape = |name: &str| header.tensors().get(name).map(|info| info.shape.clone());
    if template == TrainingTemplate::TextClassifier {
        if metadata.get("pictor.base").map(String::as_str) != Some(crate::training::TEXT_BASE_MODEL) {
            return Err(not_trained("a text classifier must be fine-tuned from all-minilm-l6-v2"));
        }
        if shape(crate::training::HEAD_WEIGHT) != Some(vec![classes, inputs])
            || shape(crate::training::HEAD_BIAS) != Some(vec![classes])
        {
            return Err(not_trained("its head does not match its header's sizes"));
        }
        if let Some(missing) = names.iter().find(|name| shape(name).is_none()) {
            return Err(not_trained(&format!("no {missing}")));
        }
    }
    Ok(ClassifierSummary { template, inputs, classes, labels, names })
}

/// A fine-tuned text classifier.
pub struct TextClassifier {
    network: TextNetwork,
    pub class_names: Vec<String>,
}

/// Texts run through the encoder this many at a time.
const TEXT_BATCH: usize = 32;

impl TextClassifier {
    fn tokens(&self, inputs: &[String]) -> Result<Vec<Vec<u32>>, InferenceError> {
        if inputs.is_empty() {
            return Err(InferenceError::invalid("'input' must hold at least one text"));
        }
        if let Some(index) = inputs.iter().position(|text| text.trim().is_empty()) {
            return Err(InferenceError::invalid(format!("input {index}: the text is empty")));
        }
        self.network.encoder().tokenize(inputs)
    }

    pub fn classify(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, InferenceError> {
        let tokens = self.tokens(inputs)?;
        let mut probabilities = Vec::with_capacity(inputs.len());
        for chunk in tokens.chunks(TEXT_BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let logits = self.network.logits(&batch)?;
            probabilities.extend(candle_nn::ops::softmax_last_dim(&logits)?.to_vec2::<f32>()?);
        }
        Ok(probabilities)
    }

    pub fn embed(&self, inputs: &[String]) -> Result<Embedded, InferenceError> {
        let tokens = self.tokens(inputs)?;
        let mut vectors = Vec::with_capacity(inputs.len());
        for chunk in tokens.chunks(TEXT_BATCH) {
            let batch: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            vectors.extend(self.network.embed(&batch)?.to_vec2::<f32>()?);
        }
        Ok(Embedded { vectors, prompt_tokens: tokens.iter().map(Vec::len).sum() })
    }
}

/// A loaded pixel classifier.
pub struct PixelClassifier {
    model: Mlp,
    pub inputs: usize,
    pub classes: usize,
    /// Pixels are divided by this before the model sees them (the training set's largest value).
    pub scale: f32,
    device: Device,
}

impl PixelClassifier {
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, InferenceError> {
        let bad = |why: &str| InferenceError::invalid(format!("not a Pictor pixel classifier: {why}"));
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(&e.to_string()))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let number = |key: &str| -> Result<f64, InferenceError> {
            metadata
                .get(&format!("pictor.{key}"))
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| bad(&format!("no {key} in its header")))
        };
        let (inputs, classes) = (number("inputs")? as usize, number("classes")? as usize);
        let scale = number("scale").unwrap_or(1.0) as f32;
        if inputs == 0 || classes < 2 || !(scale.is_finite() && scale > 0.0) {
            return Err(bad("its header's sizes are out of range"));
        }
        let mut tensors = candle_core::safetensors::load_buffer(bytes, device)?;
        let weights: Vec<Tensor> = PARAMS
            .iter()
            .map(|name| tensors.remove(*name).ok_or_else(|| bad(&format!("no {name}"))))
            .collect::<Result<_, _>>()?;
        let expected = [
            vec![crate::training::HIDDEN, inputs],
            vec![crate::training::HIDDEN],
            vec![classes, crate::training::HIDDEN],
            vec![classes],
        ];
        for ((tensor, shape), name) in weights.iter().zip(&expected).zip(PARAMS) {
            if tensor.dims() != shape.as_slice() {
                return Err(bad(&format!("{name} is shaped {:?}, not {shape:?}", tensor.dims())));
            }
        }
        Ok(Self { model: Mlp::from_tensors(weights)?, inputs, classes, scale, device: device.clone() })
    }

    /// Each input's class probabilities; an input is its pixels as text, separated by commas or spaces.
    pub fn classify(&self, inputs: &[String]) -> Result<Vec<Vec<f32>>, InferenceError> {
        let mut pixels = Vec::with_capacity(inputs.len() * self.inputs);
        for (index, input) in inputs.iter().enumerate() {
            let row: Result<Vec<f32>, _> = input
                .split([',', ' ', '\n', '\t'])
                .filter(|cell| !cell.trim().is_empty())
                .map(|cell| cell.trim().parse::<f32>())
                .collect();
            let row =
                row.map_err(|_| InferenceError::invalid(format!("input {index}: every pixel must be a number")))?;
            if row.len() != self.inputs {
                return Err(InferenceError::invalid(format!(
                    "input {index}: {} pixels where this model takes {}",
                    row.len(),
                    self.inputs
                )));
            }
            if row.iter().any(|value| !value.is_finite()) {
                return Err(InferenceError::invalid(format!("input {index}: pixels must be finite")));
            }
            pixels.extend(row.into_iter().map(|value| value / self.scale));
        }
        let batch = Tensor::from_vec(pixels, (inputs.len(), self.inputs), &self.device)?;
        let logits = self.model.forward(&batch)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&logits)?;
        Ok(probabilities.to_vec2()?)
    }
}

/// The class with the highest probability.
pub fn best_class(probabilities: &[f32]) -> usize {
    probabilities.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(index, _)| index)
}
