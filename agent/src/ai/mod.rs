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
