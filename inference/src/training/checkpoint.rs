//! A run's checkpoint as one safetensors file: the weights, the optimizer's moments and, in the header's metadata,
//! the step and what the data order is derived from (seed and dataset hash), so any worker can go on from it.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use pictor_core::ai_training::TrainingTemplate;

use super::mlp::PARAMS;
use crate::InferenceError;

/// The network model the text template fine-tunes (its id in the catalogue).
pub const TEXT_BASE_MODEL: &str = "all-minilm-l6-v2";

/// What a checkpoint says about its run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub template: TrainingTemplate,
    /// Optimizer steps taken so far.
    pub step: u64,
    pub seed: u64,
    pub dataset_sha256: String,
    pub inputs: usize,
    pub classes: usize,
    /// What pixels are divided by before the model sees them.
    pub scale: f32,
    /// The classes' names (the text template's labels; empty when classes are their numbers).
    pub labels: Vec<String>,
}

/// Weights and optimizer state at one step.
pub struct Checkpoint {
    pub info: RunInfo,
    /// The trained parameters' names, in the order of `weights`, `first` and `second`.
    pub names: Vec<String>,
    pub weights: Vec<Tensor>,
    pub first: Vec<Tensor>,
    pub second: Vec<Tensor>,
}

const META_PREFIX: &str = "pictor.";

impl Checkpoint {
    /// The safetensors bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, InferenceError> {
        let mut tensors: Vec<(String, &Tensor)> = Vec::new();
        for (index, name) in self.names.iter().enumerate() {
            tensors.push((format!("weights.{name}"), &self.weights[index]));
            tensors.push((format!("adamw.m.{name}"), &self.first[index]));
            tensors.push((format!("adamw.v.{name}"), &self.second[index]));
        }
        let info = &self.info;
        let mut metadata = self.model_metadata();
        for (key, value) in [
            ("step", info.step.to_string()),
            ("seed", info.seed.to_string()),
            ("dataset_sha256", info.dataset_sha256.clone()),
        ] {
            metadata.insert(format!("{META_PREFIX}{key}"), value);
        }
        safetensors::serialize(tensors, Some(metadata))
            .map_err(|error| InferenceError::invalid(format!("checkpoint could not be written: {error}")))
    }

    /// A checkpoint read back, refusing one that lacks any part.
    pub fn from_bytes(bytes: &[u8], device: &Device) -> Result<Self, InferenceError> {
        let bad = |why: String| InferenceError::invalid(format!("not a Pictor checkpoint: {why}"));
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|error| bad(error.to_string()))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let field = |key: &str| {
            metadata.get(&format!("{META_PREFIX}{key}")).cloned().ok_or_else(|| bad(format!("no {key} in its header")))
        };
        let number = |key: &str| -> Result<u64, InferenceError> {
            field(key)?.parse().map_err(|_| bad(format!("{key} is not a number")))
        };
        let template = TrainingTemplate::parse(&field("template")?).ok_or_else(|| bad("unknown template".into()))?;
        let info = RunInfo {
            template,
            step: number("step")?,
            seed: number("seed")?,
            dataset_sha256: field("dataset_sha256")?,
            inputs: number("inputs")? as usize,
            classes: number("classes")? as usize,
            scale: field("scale").ok().and_then(|scale| scale.parse().ok()).unwrap_or(1.0),
            labels: labels_of(&metadata).map_err(bad)?,
        };
        let names = names_of(&metadata);
        let mut tensors = candle_core::safetensors::load_buffer(bytes, device)?;
        let mut take = |kind: &str| -> Result<Vec<Tensor>, InferenceError> {
            names
                .iter()
                .map(|name| tensors.remove(&format!("{kind}.{name}")).ok_or_else(|| bad(format!("no {kind}.{name}"))))
                .collect()
        };
        let weights = take("weights")?;
        let first = take("adamw.m")?;
        let second = take("adamw.v")?;
        Ok(Self { info, names, weights, first, second })
    }

    /// What a served model's header says: template, sizes, scale, the classes' names and the parameters' order.
    fn model_metadata(&self) -> HashMap<String, String> {
        let info = &self.info;
        let mut metadata: HashMap<String, String> = [
            ("template", info.template.as_str().to_string()),
            ("inputs", info.inputs.to_string()),
            ("classes", info.classes.to_string()),
            ("scale", info.scale.to_string()),
            ("params", self.names.join(",")),
        ]
        .into_iter()
        .map(|(key, value)| (format!("{META_PREFIX}{key}"), value))
        .collect();
        if !info.labels.is_empty() {
            metadata.insert(format!("{META_PREFIX}labels"), serde_json::Value::from(info.labels.clone()).to_string());
        }
        if info.template == TrainingTemplate::TextClassifier {
            metadata.insert(format!("{META_PREFIX}base"), TEXT_BASE_MODEL.to_string());
        }
        metadata
    }

    /// The largest absolute difference between two checkpoints' weights (infinite when their shapes differ).
    pub fn weight_distance(&self, other: &Checkpoint) -> Result<f32, InferenceError> {
        largest_difference(self.weights.iter().zip(&other.weights))
    }

    /// The trained model alone (weights, no optimizer state) as safetensors bytes: what is hosted after the run.
    pub fn model_bytes(&self) -> Result<Vec<u8>, InferenceError> {
        let tensors: Vec<(String, &Tensor)> =
            self.names.iter().zip(&self.weights).map(|(name, tensor)| (name.clone(), tensor)).collect();
        safetensors::serialize(tensors, Some(self.model_metadata()))
            .map_err(|error| InferenceError::invalid(format!("model could not be written: {error}")))
    }
}

/// The largest absolute difference between two trained models' weights (as [`Checkpoint::model_bytes`] writes them;
/// infinite when a parameter is missing or shaped differently).
pub fn model_distance(a: &[u8], b: &[u8]) -> Result<f32, InferenceError> {
    let names = header_metadata(a).map(|metadata| names_of(&metadata))?;
    let a = candle_core::safetensors::load_buffer(a, &Device::Cpu)?;
    let b = candle_core::safetensors::load_buffer(b, &Device::Cpu)?;
    let mut pairs = Vec::new();
    for name in &names {
        let (Some(x), Some(y)) = (a.get(name), b.get(name)) else { return Ok(f32::INFINITY) };
        pairs.push((x, y));
    }
    largest_difference(pairs)
}

/// The metadata in a safetensors header.
pub(crate) fn header_metadata(bytes: &[u8]) -> Result<HashMap<String, String>, InferenceError> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|error| InferenceError::invalid(format!("not a safetensors file: {error}")))?;
    Ok(header.metadata().clone().unwrap_or_default())
}

/// The parameters' names in their order (the pixel classifier's when the header predates the list).
pub(crate) fn names_of(metadata: &HashMap<String, String>) -> Vec<String> {
    match metadata.get(&format!("{META_PREFIX}params")) {
        Some(list) if !list.is_empty() => list.split(',').map(str::to_string).collect(),
        _ => PARAMS.iter().map(|name| name.to_string()).collect(),
    }
}

/// The classes' names, when the header has them.
pub(crate) fn labels_of(metadata: &HashMap<String, String>) -> Result<Vec<String>, String> {
    match metadata.get(&format!("{META_PREFIX}labels")) {
        Some(json) => serde_json::from_str(json).map_err(|_| "its labels are not a list of names".to_string()),
        None => Ok(Vec::new()),
    }
}

/// The largest absolute difference between paired tensors (infinite when a pair is shaped differently or differs
/// by NaN).
fn largest_difference<'a>(pairs: impl IntoIterator<Item = (&'a Tensor, &'a Tensor)>) -> Result<f32, InferenceError> {
    let mut largest = 0f32;
    for (x, y) in pairs {
        if x.shape() != y.shape() {
            return Ok(f32::INFINITY);
        }
        let difference: f32 = (x - y)?.abs()?.flatten_all()?.max(0)?.to_scalar()?;
        largest = largest.max(if difference.is_nan() { f32::INFINITY } else { difference });
    }
    Ok(largest)
}
