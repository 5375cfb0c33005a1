//! The pixel classifier: a two-layer perceptron (inputs → hidden, ReLU → classes) whose initial weights come from
//! the run's seed, so that they are the same on every worker.

use candle_core::{Device, Result, Tensor, Var};

use super::rng::SplitMix64;

/// The hidden layer's width.
pub const HIDDEN: usize = 64;

/// The parameters' names, in the order the optimizer and checkpoints keep them.
pub const PARAMS: [&str; 4] = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];

pub struct Mlp {
    pub vars: Vec<Var>,
}

const INIT_STREAM: u64 = 2;

impl Mlp {
    /// Weights drawn uniformly in ±1/√fan_in (PyTorch's default for linear layers).
    pub fn init(inputs: usize, classes: usize, seed: u64, device: &Device) -> Result<Self> {
        let mut rng = SplitMix64::new(seed, INIT_STREAM);
        let mut uniform = |rows: usize, cols: usize, fan_in: usize| -> Result<Var> {
            let bound = 1.0 / (fan_in as f32).sqrt();
            let values: Vec<f32> = (0..rows * cols).map(|_| (rng.next_f32() * 2.0 - 1.0) * bound).collect();
            let shape: Vec<usize> = if cols == 1 { vec![rows] } else { vec![rows, cols] };
            Var::from_tensor(&Tensor::from_vec(values, shape, device)?)
        };
        let vars = vec![
            uniform(HIDDEN, inputs, inputs)?,
            uniform(HIDDEN, 1, inputs)?,
            uniform(classes, HIDDEN, HIDDEN)?,
            uniform(classes, 1, HIDDEN)?,
        ];
        Ok(Self { vars })
    }

    /// The model from saved tensors, in [`PARAMS`] order.
    pub fn from_tensors(tensors: Vec<Tensor>) -> Result<Self> {
        let vars = tensors.iter().map(Var::from_tensor).collect::<Result<_>>()?;
        Ok(Self { vars })
    }

    /// Logits for a batch `[rows, inputs]`.
    pub fn forward(&self, batch: &Tensor) -> Result<Tensor> {
        let [w1, b1, w2, b2] = [0, 1, 2, 3].map(|i| self.vars[i].as_tensor());
        let hidden = batch.matmul(&w1.t()?)?.broadcast_add(b1)?.relu()?;
        hidden.matmul(&w2.t()?)?.broadcast_add(b2)
    }
}
