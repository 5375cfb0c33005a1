//! AdamW whose moments can be saved and restored: candle-nn's keeps them private, and a run that resumes on another
//! worker must continue with exactly the optimizer state the checkpoint left. The arithmetic is candle-nn's.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

/// The optimizer's constants (decoupled weight decay as in PyTorch's defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamWParams {
    pub fn with_lr(lr: f64) -> Self {
        Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// The first and second moments of every parameter, in the parameters' order.
pub struct AdamW {
    pub params: AdamWParams,
    pub first: Vec<Var>,
    pub second: Vec<Var>,
}

impl AdamW {
    /// Fresh moments (zeros) for `vars`.
    pub fn new(params: AdamWParams, vars: &[Var]) -> Result<Self> {
        let zeros = |var: &Var| Var::zeros(var.shape(), var.dtype(), var.device());
        let first = vars.iter().map(zeros).collect::<Result<_>>()?;
        let second = vars.iter().map(zeros).collect::<Result<_>>()?;
        Ok(Self { params, first, second })
    }

    /// Moments restored from a checkpoint.
    pub fn restore(params: AdamWParams, first: Vec<Tensor>, second: Vec<Tensor>) -> Result<Self> {
        let first = first.into_iter().map(|t| Var::from_tensor(&t)).collect::<Result<_>>()?;
        let second = second.into_iter().map(|t| Var::from_tensor(&t)).collect::<Result<_>>()?;
        Ok(Self { params, first, second })
    }

    /// Step number `t` (from 1) over `vars` with their gradients.
    pub fn step(&mut self, vars: &[Var], grads: &GradStore, t: u64) -> Result<()> {
        let AdamWParams { lr, beta1, beta2, eps, weight_decay } = self.params;
        let t = i32::try_from(t).unwrap_or(i32::MAX);
        let scale_m = 1f64 / (1f64 - beta1.powi(t));
        let scale_v = 1f64 / (1f64 - beta2.powi(t));
        for ((var, m), v) in vars.iter().zip(&self.first).zip(&self.second) {
            let theta = var.as_tensor();
            let Some(g) = grads.get(theta) else { continue };
            let next_m = ((m.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
            let next_v = ((v.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let m_hat = (&next_m * scale_m)?;
            let v_hat = (&next_v * scale_v)?;
            let decayed = (theta * (1.0 - lr * weight_decay))?;
            let adjusted = (m_hat / (v_hat.sqrt()? + eps)?)?;
            let next_theta = (decayed - (adjusted * lr)?)?;
            m.set(&next_m)?;
            v.set(&next_v)?;
            var.set(&next_theta)?;
        }
        Ok(())
    }
}
