//! A checker's AI duty: lease requests other workers served on models this checker holds, replay them, report.

use std::convert::Infallible;
use std::time::Duration;

use pictor_core::ai::AiCheckLease;

use super::models::ModelPool;
use super::replay::replay;
use crate::client::Client;

/// How long to wait before asking again when no check is waiting.
const IDLE: Duration = Duration::from_secs(1);

/// Checks AI answers for ever (errors are logged and retried after a pause).
pub async fn check_answers(client: &Client, pool: ModelPool) -> Infallible {
    let lease = AiCheckLease {
        models: pool.loaded().into_iter().map(|model| model.id).collect(),
        engine: pictor_inference::ENGINE.into(),
    };
    loop {
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
