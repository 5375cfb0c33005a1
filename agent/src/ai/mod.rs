//! Serving AI models: the models loaded and kept warm, and the connection the coordinator sends requests down.

pub mod activity;
pub mod batch;
pub mod checking;
pub mod fetch;
pub mod models;
pub mod replay;
pub mod runner;
pub mod session;
pub mod training;
pub mod training_check;

/// How a leased AI task (a batch chunk, a training run) ended, before delivery.
pub enum AiRun {
    /// Its outputs are in the outbox, ready to deliver.
    Done(crate::outbox::Manifest),
    Failed(String),
    LeaseLost,
}
