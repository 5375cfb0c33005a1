//! The AI section: hosted models served by workers over an OpenAI-compatible API, paid per token.

pub mod batch_lines;
pub mod batch_workload;
pub mod batches;
pub mod batches_api;
pub mod billing;
pub mod check_api;
pub mod checks;
pub mod classifications;
pub mod dashboard;
pub mod file_store;
pub mod files_api;
pub mod gateway;
pub mod hosting;
pub mod key_cache;
pub mod limits;
pub mod openai_api;
pub mod openai_wire;
pub mod placement;
pub mod requests;
pub mod service;
pub mod trained_header;
pub mod training_workload;
pub mod trainings;
pub mod trainings_api;
pub mod worker_link;

use pictor_core::ai::{ModelKind, NETWORK_MODELS};

use crate::clock::now_ms;
use crate::config::AiConfig;
use crate::db::ai::NewModel;
use crate::db::{Db, DbError};

/// Adds the network's own models to the catalogue (at every start; existing rows are kept as they are).
pub async fn seed_catalogue(db: &Db, config: &AiConfig) -> Result<(), DbError> {
    for model in NETWORK_MODELS {
        let kind = ModelKind::parse(model.kind).unwrap_or(ModelKind::Chat);
        let (input, output) = match kind {
            ModelKind::Chat => {
                (AiConfig::price_micro(&config.chat_input_price), AiConfig::price_micro(&config.chat_output_price))
            }
            ModelKind::Embedding | ModelKind::Classifier => (AiConfig::price_micro(&config.embedding_price), 0),
        };
        let new = NewModel {
            id: model.id.to_string(),
            kind,
            owner: None,
            public: true,
            sha256: model.sha256.to_string(),
            bytes: model.bytes as i64,
            context_length: i64::from(model.context_length),
            input_price_micro_per_m: input,
            output_price_micro_per_m: output,
        };
        db.add_ai_model(&new, now_ms()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod billing_tests;
#[cfg(test)]
mod training_checks_tests;
