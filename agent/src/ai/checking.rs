//! A checker's AI duty: lease answers other workers served (on models it holds, or fetches first), replay them,
//! report.

use std::convert::Infallible;
use std::time::Duration;

use pictor_core::ai::AiCheckLease;

use super::fetch::{self, LoadOrder};
use super::models::ModelPool;
use super::replay::replay;
use crate::client::Client;

/// How long to wait before asking again when no check is waiting.
const IDLE: Duration = Duration::from_secs(1);

/// Checks AI answers for ever (errors are logged and retried after a pause).
pub async fn check_answers(client: &Client, pool: ModelPool) -> Infallible {
    let cache = pictor_inference::ModelCache::default_location();
    loop {
        // What it holds now (models fetched for earlier checks included), and it fetches others.
        let lease = AiCheckLease {
            models: pool.loaded().into_iter().map(|model| model.id).collect(),
            engine: pictor_inference::ENGINE.into(),
            any_model: true,
        };
        let check = match client.lease_ai_check(&lease).await {
            Ok(Some(check)) => check,
            Ok(None) => {
                tokio::time::sleep(IDLE).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot lease an AI check");
                tokio::time::sleep(IDLE * 5).await;
                continue;
            }
        };
        if pool.get(&check.model).is_none() {
            if let Some(load) = &check.load {
                let order = LoadOrder {
                    model: check.model.clone(),
                    kind: load.kind,
                    sha256: load.sha256.clone(),
                    bytes: load.bytes,
                    files: load.files.clone(),
                };
                match fetch::load(client, &cache, &pool, &order).await {
                    Ok(()) => tracing::info!(model = %check.model, "model fetched and loaded to check its answers"),
                    Err(message) => tracing::warn!(model = %check.model, %message, "cannot load a model to check"),
                }
            }
        }
        // A model it cannot load leaves the check to its lease running out (another checker takes it then).
        let Some(model) = pool.get(&check.model) else { continue };
        let recorded = check.replay.clone();
        let verdict = match tokio::task::spawn_blocking(move || replay(&model, &recorded)).await {
            Ok(verdict) => verdict,
            Err(_) => continue,
        };
        tracing::info!(check = check.id, model = %check.model, passed = verdict.passed, detail = %verdict.detail, "AI answer checked");
        if let Err(error) = client.ai_check_verdict(check.id, &verdict).await {
            tracing::warn!(%error, check = check.id, "cannot report an AI check");
        }
    }
}
