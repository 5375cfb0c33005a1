//! A run's dataset, whichever template it is for: parsed and validated by the template's rules, and split into
//! training and held-out rows by the run's seed.

use pictor_core::ai_training::TrainingTemplate;

use super::rng::SplitMix64;
use super::{PixelTable, TextTable};

/// A validated dataset.
#[derive(Clone, Debug, PartialEq)]
pub enum Dataset {
    Pixels(PixelTable),
    Texts(TextTable),
}

/// The held-out share of the rows.
const HELD_OUT_PERCENT: usize = 20;
const SPLIT_STREAM: u64 = 1;

impl Dataset {
    /// Parses `content` by `template`'s rules; the error names the line at fault.
    pub fn parse(template: TrainingTemplate, content: &str) -> Result<Self, String> {
        match template {
            TrainingTemplate::PixelClassifier => PixelTable::parse(content).map(Self::Pixels),
            TrainingTemplate::TextClassifier => TextTable::parse(content).map(Self::Texts),
        }
    }

    pub fn template(&self) -> TrainingTemplate {
        match self {
            Self::Pixels(_) => TrainingTemplate::PixelClassifier,
            Self::Texts(_) => TrainingTemplate::TextClassifier,
        }
    }

    pub fn rows(&self) -> usize {
        self.labels().len()
    }

    pub fn classes(&self) -> usize {
        match self {
            Self::Pixels(table) => table.classes,
            Self::Texts(table) => table.class_names.len(),
        }
    }

    /// Every row's class.
    pub fn labels(&self) -> &[u32] {
        match self {
            Self::Pixels(table) => &table.labels,
            Self::Texts(table) => &table.labels,
        }
    }

    /// The row numbers of the training and held-out splits, drawn from the run's seed.
    pub fn split(&self, seed: u64) -> (Vec<u32>, Vec<u32>) {
        split_rows(self.rows(), seed)
    }
}

/// `rows` row numbers shuffled by `seed`, the first fifth held out (at least one row).
pub fn split_rows(rows: usize, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut order: Vec<u32> = (0..rows as u32).collect();
    SplitMix64::new(seed, SPLIT_STREAM).shuffle(&mut order);
    let held_out = (rows * HELD_OUT_PERCENT / 100).max(1);
    let train = order.split_off(held_out);
    (train, order)
}
