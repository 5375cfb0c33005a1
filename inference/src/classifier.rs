//! Serving a trained pixel classifier: the weights a training run produced (one safetensors file with the number
//! of pixels, classes and the pixel scale in its header), each input a row of pixel values, each answer the classes'
//! probabilities.

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::training::{Mlp, PARAMS};
use crate::InferenceError;

/// A loaded classifier.
pub struct PixelClassifier {
    model: Mlp,
    pub inputs: usize,
    pub classes: usize,
    /// Pixels are divided by this before the model sees them (the training set's largest value).
    pub scale: f32,
    device: Device,
}

impl PixelClassifier {
    /// Loads `model.safetensors` (or the file at `path`), refusing one that is not a Pictor classifier.
    pub fn load(path: &Path, device: &Device) -> Result<Self, InferenceError> {
        let file = if path.is_dir() { path.join("model.safetensors") } else { path.to_path_buf() };
        let bytes = std::fs::read(&file)?;
        Self::from_bytes(&bytes, device)
    }

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
