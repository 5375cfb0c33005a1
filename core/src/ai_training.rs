//! AI training runs between coordinator and worker: the templates, their hyperparameters (validated once, here), what
//! a leased run asks of a worker, and the loss points a worker reports as it trains.

use serde::{Deserialize, Serialize};

/// What a training job trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainingTemplate {
    /// A small multi-layer perceptron classifying images given as rows of pixels (a CSV: pixels…, label).
    PixelClassifier,
    /// all-MiniLM-L6-v2 fine-tuned into a text classifier (its last encoder layer and a head trained) from labelled
    /// texts (a CSV `text,label` or JSONL `{"text", "label"}`).
    TextClassifier,
}

impl TrainingTemplate {
    pub const ALL: [TrainingTemplate; 2] = [TrainingTemplate::PixelClassifier, TrainingTemplate::TextClassifier];

    pub fn as_str(self) -> &'static str {
        match self {
            TrainingTemplate::PixelClassifier => "pixel_classifier",
            TrainingTemplate::TextClassifier => "text_classifier",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|template| template.as_str() == text)
    }

    /// Words for the dashboard.
    pub fn title(self) -> &'static str {
        match self {
            TrainingTemplate::PixelClassifier => "Image classifier from a CSV of pixels (MLP)",
            TrainingTemplate::TextClassifier => "Text classifier fine-tuned from all-MiniLM-L6-v2",
        }
    }

    /// Hyperparameters that suit the template (a transformer layer wants a far smaller learning rate than the MLP).
    pub fn default_hyperparameters(self) -> Hyperparameters {
        match self {
            TrainingTemplate::PixelClassifier => Hyperparameters::default(),
            TrainingTemplate::TextClassifier => {
                Hyperparameters { epochs: 4, learning_rate: 0.002, batch_size: 16, seed: 1, checkpoint_every: 10 }
            }
        }
    }
}

/// A run's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyperparameters {
    pub epochs: u32,
    pub learning_rate: f64,
    pub batch_size: u32,
    /// Decides the initial weights, the held-out split and the order of the examples in every epoch.
    pub seed: u64,
    /// A checkpoint goes to the coordinator every this many steps (and after the last step).
    pub checkpoint_every: u32,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self { epochs: 20, learning_rate: 0.01, batch_size: 32, seed: 1, checkpoint_every: 100 }
    }
}

impl Hyperparameters {
    /// Refuses values no run should start with, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1000).contains(&self.epochs) {
            return Err("epochs must be between 1 and 1000".into());
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err("learning_rate must be above 0 and at most 1".into());
        }
        if !(1..=4096).contains(&self.batch_size) {
            return Err("batch_size must be between 1 and 4096".into());
        }
        if !(1..=1_000_000).contains(&self.checkpoint_every) {
            return Err("checkpoint_every must be between 1 and 1000000 steps".into());
        }
        Ok(())
    }

    /// Optimizer steps in one epoch over `examples` training examples (the last batch may be short).
    pub fn steps_per_epoch(&self, examples: u64) -> u64 {
        examples.div_ceil(u64::from(self.batch_size.max(1)))
    }

    /// Steps in the whole run.
    pub fn total_steps(&self, examples: u64) -> u64 {
        self.steps_per_epoch(examples) * u64::from(self.epochs)
    }
}

/// A checkpoint a run starts from or a checker replays from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    pub step: u64,
    /// The attempt that uploaded it.
    pub attempt: i64,
    pub sha256: String,
}

/// What a leased training run asks of a worker (inside its task assignment). Where it resumes from comes from
/// [`resume_path`]: the assignment is made before the coordinator looks at the run's checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingTask {
    pub template: TrainingTemplate,
    pub hyper: Hyperparameters,
    pub dataset_sha256: String,
}

/// Where an agent downloads a run's dataset (a worker holding its lease, or a checker checking it).
pub fn dataset_path(task: i64) -> String {
    format!("/api/agent/v1/tasks/{task}/dataset")
}

/// Where a worker holding a run's lease asks which checkpoint to go on from (`?attempt=N`): JSON, a
/// [`CheckpointRef`] or `null`.
pub fn resume_path(task: i64) -> String {
    format!("/api/agent/v1/tasks/{task}/resume")
}

/// A checkpoint of a run: uploaded (PUT, `?attempt=N&loss=…&accuracy=…` by the lease holder of attempt N) and
/// downloaded (GET, `?attempt=N` for attempt N's checkpoint) at this path.
pub fn checkpoint_path(task: i64, step: u64) -> String {
    format!("/api/agent/v1/tasks/{task}/checkpoints/{step}")
}

/// One point of a run's curves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingPoint {
    pub step: u64,
    /// Mean training loss over the steps since the previous point.
    pub loss: f64,
    /// Accuracy on the held-out split at this step.
    pub accuracy: f64,
}

/// What a checker replays: `steps` steps from the checkpoint at `from`, compared with the worker's checkpoint at
/// `to` (= `from.step + steps`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayOrder {
    pub task_id: i64,
    pub template: TrainingTemplate,
    pub hyper: Hyperparameters,
    pub dataset_sha256: String,
    pub from: CheckpointRef,
    pub to: CheckpointRef,
}

/// The run as it went, from its checkpoints `(step, attempt)` in step order: one checkpoint per step, the
/// `preferred` attempt's where several attempts uploaded the same step. Returns positions in `checkpoints`.
pub fn run_chain(checkpoints: &[(i64, i64)], preferred: i64) -> Vec<usize> {
    let mut chain: Vec<usize> = Vec::new();
    for (index, &(step, attempt)) in checkpoints.iter().enumerate() {
        match chain.last_mut() {
            Some(last) if checkpoints[*last].0 == step => {
                if attempt == preferred {
                    *last = index;
                }
            }
            _ => chain.push(index),
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_keeps_one_checkpoint_per_step() {
        // Attempts 1 and 2 both uploaded step 10; the preferred attempt's is kept, the others' steps stay.
        let checkpoints = [(0, 1), (10, 1), (10, 2), (20, 2)];
        assert_eq!(run_chain(&checkpoints, 2), vec![0, 2, 3]);
        assert_eq!(run_chain(&checkpoints, 1), vec![0, 1, 3]);
        assert_eq!(run_chain(&[], 1), Vec::<usize>::new());
    }

    #[test]
    fn hyperparameters_are_refused_by_name() {
        assert!(Hyperparameters::default().validate().is_ok());
        let bad = |change: fn(&mut Hyperparameters)| {
            let mut hyper = Hyperparameters::default();
            change(&mut hyper);
            hyper.validate().unwrap_err()
        };
        assert!(bad(|h| h.epochs = 0).contains("epochs"));
        assert!(bad(|h| h.learning_rate = f64::NAN).contains("learning_rate"));
        assert!(bad(|h| h.learning_rate = 0.0).contains("learning_rate"));
        assert!(bad(|h| h.batch_size = 0).contains("batch_size"));
        assert!(bad(|h| h.checkpoint_every = 0).contains("checkpoint_every"));
    }

    #[test]
    fn steps_count_the_short_last_batch() {
        let hyper = Hyperparameters { epochs: 3, batch_size: 32, ..Default::default() };
        assert_eq!(hyper.steps_per_epoch(64), 2);
        assert_eq!(hyper.steps_per_epoch(65), 3);
        assert_eq!(hyper.total_steps(65), 9);
    }

    #[test]
    fn templates_read_back_from_their_names() {
        for template in TrainingTemplate::ALL {
            assert_eq!(TrainingTemplate::parse(template.as_str()), Some(template));
        }
        assert_eq!(TrainingTemplate::parse("gpt5"), None);
    }
}
