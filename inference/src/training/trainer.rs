//! One training run of either template, step by step: batches in the order the seed decides, AdamW, checkpoints
//! that carry everything a resumed or replayed run needs, and held-out accuracy.

use candle_core::Device;
use pictor_core::ai_training::Hyperparameters;

use super::adamw::{AdamW, AdamWParams};
use super::checkpoint::{Checkpoint, RunInfo};
use super::learner::{BaseModels, Learner};
use super::rng::SplitMix64;
use super::Dataset;
use crate::InferenceError;

/// A run in progress.
pub struct Trainer {
    learner: Learner,
    dataset_sha256: String,
    hyper: Hyperparameters,
    train: Vec<u32>,
    held_out: Vec<u32>,
    optimizer: AdamW,
    step: u64,
    device: Device,
    /// The example order of the epoch the last step was in.
    epoch_order: Option<(u64, Vec<u32>)>,
}

const ORDER_STREAM: u64 = 3;

impl Trainer {
    /// A run from step 0 (its initial weights drawn from the seed; the text template's last layer as shipped).
    pub fn start(
        dataset: Dataset,
        dataset_sha256: &str,
        hyper: Hyperparameters,
        bases: &BaseModels,
        device: &Device,
    ) -> Result<Self, InferenceError> {
        let split = dataset.split(hyper.seed);
        let learner = Learner::init(dataset, hyper.seed, bases, device)?;
        let optimizer = AdamW::new(AdamWParams::with_lr(hyper.learning_rate), learner.vars())?;
        Ok(Self::assemble(learner, split, dataset_sha256, hyper, optimizer, 0, device))
    }

    /// A run going on from `checkpoint`, which must belong to this template, dataset and seed.
    pub fn resume(
        dataset: Dataset,
        dataset_sha256: &str,
        hyper: Hyperparameters,
        checkpoint: Checkpoint,
        bases: &BaseModels,
        device: &Device,
    ) -> Result<Self, InferenceError> {
        let info = &checkpoint.info;
        if info.template != dataset.template()
            || info.dataset_sha256 != dataset_sha256
            || info.seed != hyper.seed
            || info.classes != dataset.classes()
        {
            return Err(InferenceError::invalid("the checkpoint belongs to another run (template, dataset or seed)"));
        }
        let step = info.step;
        let split = dataset.split(hyper.seed);
        let learner = Learner::restore(dataset, &checkpoint.names, checkpoint.weights, bases, device)?;
        if learner.inputs() != checkpoint.info.inputs {
            return Err(InferenceError::invalid("the checkpoint's inputs differ from the dataset's"));
        }
        let optimizer = AdamW::restore(AdamWParams::with_lr(hyper.learning_rate), checkpoint.first, checkpoint.second)?;
        Ok(Self::assemble(learner, split, dataset_sha256, hyper, optimizer, step, device))
    }

    fn assemble(
        learner: Learner,
        (train, held_out): (Vec<u32>, Vec<u32>),
        dataset_sha256: &str,
        hyper: Hyperparameters,
        optimizer: AdamW,
        step: u64,
        device: &Device,
    ) -> Self {
        Self {
            learner,
            dataset_sha256: dataset_sha256.to_string(),
            hyper,
            train,
            held_out,
            optimizer,
            step,
            device: device.clone(),
            epoch_order: None,
        }
    }

    /// Steps taken so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Moves the step counter to `step` without training: what a cheating worker does (the agent's debug-only
    /// cheat, and the tests that check a replay catches it).
    pub fn claim_step(&mut self, step: u64) {
        self.step = step;
    }

    /// Steps the whole run takes.
    pub fn total_steps(&self) -> u64 {
        self.hyper.total_steps(self.train.len() as u64)
    }

    /// The rows of step `step`'s batch: epoch `step / steps_per_epoch`, shuffled by (seed, epoch).
    fn batch_rows(&mut self, step: u64) -> Vec<u32> {
        let per_epoch = self.hyper.steps_per_epoch(self.train.len() as u64).max(1);
        let epoch = step / per_epoch;
        if self.epoch_order.as_ref().map(|(cached, _)| *cached) != Some(epoch) {
            let mut order = self.train.clone();
            SplitMix64::new(self.hyper.seed, ORDER_STREAM.wrapping_add(epoch << 8)).shuffle(&mut order);
            self.epoch_order = Some((epoch, order));
        }
        let order = self.epoch_order.as_ref().map(|(_, order)| order.as_slice()).unwrap_or_default();
        let size = self.hyper.batch_size as usize;
        let start = ((step % per_epoch) as usize * size).min(order.len());
        order[start..(start + size).min(order.len())].to_vec()
    }

    /// Takes one optimizer step; returns its training loss.
    pub fn train_step(&mut self) -> Result<f32, InferenceError> {
        let rows = self.batch_rows(self.step);
        let logits = self.learner.logits(&rows, &self.device)?;
        let targets = self.learner.targets(&rows, &self.device)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
        let grads = loss.backward()?;
        self.step += 1;
        self.optimizer.step(self.learner.vars(), &grads, self.step)?;
        Ok(loss.to_scalar::<f32>()?)
    }

    /// The share of held-out rows the model classifies right.
    pub fn accuracy(&self) -> Result<f64, InferenceError> {
        self.learner.accuracy(&self.held_out, &self.device)
    }

    /// Everything needed to go on from here (copies: the variables change in place at the next step).
    pub fn checkpoint(&self) -> Result<Checkpoint, InferenceError> {
        let copy = |vars: &[candle_core::Var]| -> Result<Vec<candle_core::Tensor>, InferenceError> {
            Ok(vars.iter().map(|var| var.as_tensor().copy()).collect::<Result<_, _>>()?)
        };
        Ok(Checkpoint {
            info: RunInfo {
                template: self.learner.template(),
                step: self.step,
                seed: self.hyper.seed,
                dataset_sha256: self.dataset_sha256.clone(),
                inputs: self.learner.inputs(),
                classes: self.learner.classes(),
                scale: self.learner.scale(),
                labels: self.learner.class_names(),
            },
            names: self.learner.names(),
            weights: copy(self.learner.vars())?,
            first: copy(&self.optimizer.first)?,
            second: copy(&self.optimizer.second)?,
        })
    }
}
