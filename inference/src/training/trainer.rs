//! One training run of the pixel classifier, step by step: batches in the order the seed decides, AdamW, checkpoints
//! that carry everything a resumed or replayed run needs, and held-out accuracy.

use candle_core::{Device, Tensor};
use pictor_core::ai_training::{Hyperparameters, TrainingTemplate};

use super::adamw::{AdamW, AdamWParams};
use super::checkpoint::{Checkpoint, RunInfo};
use super::mlp::Mlp;
use super::pixels::PixelTable;
use super::rng::SplitMix64;
use crate::InferenceError;

/// A run in progress.
pub struct Trainer {
    table: PixelTable,
    dataset_sha256: String,
    hyper: Hyperparameters,
    train: Vec<u32>,
    held_out: Vec<u32>,
    model: Mlp,
    optimizer: AdamW,
    step: u64,
    device: Device,
    /// The example order of the epoch the last step was in.
    epoch_order: Option<(u64, Vec<u32>)>,
}

const ORDER_STREAM: u64 = 3;

impl Trainer {
    /// A run from step 0 (its initial weights drawn from the seed).
    pub fn start(
        table: PixelTable,
        dataset_sha256: &str,
        hyper: Hyperparameters,
        device: &Device,
    ) -> Result<Self, InferenceError> {
        let model = Mlp::init(table.inputs, table.classes, hyper.seed, device)?;
        let optimizer = AdamW::new(AdamWParams::with_lr(hyper.learning_rate), &model.vars)?;
        Ok(Self::assemble(table, dataset_sha256, hyper, model, optimizer, 0, device))
    }

    /// A run going on from `checkpoint`, which must belong to this dataset and seed.
    pub fn resume(
        table: PixelTable,
        dataset_sha256: &str,
        hyper: Hyperparameters,
        checkpoint: Checkpoint,
        device: &Device,
    ) -> Result<Self, InferenceError> {
        let info = &checkpoint.info;
        if info.template != TrainingTemplate::PixelClassifier
            || info.dataset_sha256 != dataset_sha256
            || info.seed != hyper.seed
            || (info.inputs, info.classes) != (table.inputs, table.classes)
        {
            return Err(InferenceError::invalid("the checkpoint belongs to another run (template, dataset or seed)"));
        }
        let step = info.step;
        let model = Mlp::from_tensors(checkpoint.weights)?;
        let optimizer = AdamW::restore(AdamWParams::with_lr(hyper.learning_rate), checkpoint.first, checkpoint.second)?;
        Ok(Self::assemble(table, dataset_sha256, hyper, model, optimizer, step, device))
    }

    fn assemble(
        table: PixelTable,
        dataset_sha256: &str,
        hyper: Hyperparameters,
        model: Mlp,
        optimizer: AdamW,
        step: u64,
        device: &Device,
    ) -> Self {
        let (train, held_out) = table.split(hyper.seed);
        Self {
            table,
            dataset_sha256: dataset_sha256.to_string(),
            hyper,
            train,
            held_out,
            model,
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
        let (pixels, labels) = self.table.gather(&rows);
        let batch = Tensor::from_vec(pixels, (rows.len(), self.table.inputs), &self.device)?;
        let targets = Tensor::from_vec(labels, rows.len(), &self.device)?;
        let logits = self.model.forward(&batch)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
        let grads = loss.backward()?;
        self.step += 1;
        self.optimizer.step(&self.model.vars, &grads, self.step)?;
        Ok(loss.to_scalar::<f32>()?)
    }

    /// The share of held-out rows the model classifies right.
    pub fn accuracy(&self) -> Result<f64, InferenceError> {
        let (pixels, labels) = self.table.gather(&self.held_out);
        let predicted = self.model.predict(&pixels, self.table.inputs, &self.device)?;
        let right = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
        Ok(right as f64 / labels.len().max(1) as f64)
    }

    /// Everything needed to go on from here (copies: the variables change in place at the next step).
    pub fn checkpoint(&self) -> Result<Checkpoint, InferenceError> {
        let copy = |vars: &[candle_core::Var]| -> Result<Vec<Tensor>, InferenceError> {
            Ok(vars.iter().map(|var| var.as_tensor().copy()).collect::<Result<_, _>>()?)
        };
        Ok(Checkpoint {
            info: RunInfo {
                template: TrainingTemplate::PixelClassifier,
                step: self.step,
                seed: self.hyper.seed,
                dataset_sha256: self.dataset_sha256.clone(),
                inputs: self.table.inputs,
                classes: self.table.classes,
                scale: self.table.scale,
            },
            weights: copy(&self.model.vars)?,
            first: copy(&self.optimizer.first)?,
            second: copy(&self.optimizer.second)?,
        })
    }
}
