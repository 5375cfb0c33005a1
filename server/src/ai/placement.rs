//! Where hosted models run: deployments kept at their warm minimum and under their maximum on workers that meet
//! their requirements, and a worker asked to load a model that a request needs when nobody holds it.

use std::time::Duration;

use pictor_core::ai::{Deployment, DeploymentRequirements};
use tokio_util::sync::CancellationToken;

use super::gateway::Gateway;
use crate::db::ai_hosting::NodeTraits;
use crate::db::{Db, DbError};

/// How often deployments are compared with what the workers hold.
const PLACEMENT_INTERVAL: Duration = Duration::from_secs(2);

/// Whether a worker with `traits` may serve a deployment with `requirements`.
pub fn fits(traits: &NodeTraits, requirements: &DeploymentRequirements) -> bool {
    let vram_ok = traits.vram_bytes >= i64::from(requirements.min_vram_gib) << 30;
    let gpu_ok = requirements
        .gpu_model
        .as_ref()
        .is_none_or(|model| traits.gpu_models.to_lowercase().contains(&model.to_lowercase()));
    let region_ok = requirements.region.as_ref().is_none_or(|region| traits.region.eq_ignore_ascii_case(region));
    let node_tags: Vec<&str> = traits.tags.split(',').map(str::trim).collect();
    let tags_ok = requirements.tags.iter().all(|tag| node_tags.contains(&tag.as_str()));
    vram_ok && gpu_ok && region_ok && tags_ok
}

/// Brings one deployment towards its numbers: loads on more workers while fewer than `min_warm` hold or load it,
/// unloads from the least busy while more than `max_workers` hold it. Returns how many workers were asked.
pub async fn place(db: &Db, gateway: &Gateway, deployment: &Deployment) -> Result<usize, DbError> {
    let (warm, loading) = gateway.placement(&deployment.model);
    let wanted = deployment.min_warm as usize;
    let most = deployment.max_workers as usize;
    if warm > most {
        return Ok(gateway.unload_surplus(&deployment.model, most));
    }
    if warm + loading >= wanted {
        return Ok(0);
    }
    let Some(spec) = db.load_spec(&deployment.model).await? else { return Ok(0) };
    let mut asked = 0;
    for _ in warm + loading..wanted {
        match gateway.ask_to_load(&spec, |traits| fits(traits, &deployment.requirements)) {
            Some(node) => {
                tracing::info!(model = %spec.id, node = %node, "asked a worker to load a deployed model");
                asked += 1;
            }
            None => break,
        }
    }
    Ok(asked)
}

/// A request wants `model` and no worker holds it: asks one worker to load it (within its deployment's
/// requirements and maximum, if it has one). True when a worker holds it, is loading it, or was asked to.
pub async fn cold_start(db: &Db, gateway: &Gateway, model: &str) -> Result<bool, DbError> {
    let (warm, loading) = gateway.placement(model);
    if warm + loading > 0 {
        return Ok(true);
    }
    let deployment = db.deployments().await?.into_iter().find(|d| d.model == model);
    if deployment.as_ref().is_some_and(|d| d.max_workers == 0) {
        return Ok(false);
    }
    let Some(spec) = db.load_spec(model).await? else { return Ok(false) };
    let requirements = deployment.map(|d| d.requirements).unwrap_or_default();
    let asked = gateway.ask_to_load(&spec, |traits| fits(traits, &requirements));
    if let Some(node) = asked {
        tracing::info!(model, node = %node, "asked a worker to load a model a request needs");
    }
    Ok(asked.is_some())
}

/// Keeps every deployment placed until `shutdown`.
pub async fn keep_placed(db: Db, gateway: Gateway, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(PLACEMENT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let deployments = match db.deployments().await {
            Ok(deployments) => deployments,
            Err(error) => {
                tracing::warn!(%error, "reading deployments failed; placing them later");
                continue;
            }
        };
        for deployment in &deployments {
            if let Err(error) = place(&db, &gateway, deployment).await {
                tracing::warn!(%error, model = %deployment.model, "placing a deployment failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traits(vram_gib: i64, gpus: &str, tags: &str, region: &str) -> NodeTraits {
        NodeTraits { vram_bytes: vram_gib << 30, gpu_models: gpus.into(), tags: tags.into(), region: region.into() }
    }

    #[test]
    fn requirements_match_vram_gpu_region_and_every_tag() {
        let any = DeploymentRequirements::default();
        assert!(fits(&NodeTraits::default(), &any));
        let strict = DeploymentRequirements {
            min_vram_gib: 8,
            gpu_model: Some("rtx 4090".into()),
            region: Some("eu".into()),
            tags: vec!["fast".into(), "green".into()],
        };
        assert!(fits(&traits(24, "NVIDIA GeForce RTX 4090", "fast,green,extra", "EU"), &strict));
        assert!(!fits(&traits(4, "NVIDIA GeForce RTX 4090", "fast,green", "eu"), &strict), "too little VRAM");
        assert!(!fits(&traits(24, "NVIDIA A100", "fast,green", "eu"), &strict), "another GPU");
        assert!(!fits(&traits(24, "NVIDIA GeForce RTX 4090", "fast", "eu"), &strict), "a tag missing");
        assert!(!fits(&traits(24, "NVIDIA GeForce RTX 4090", "fast,green", "us"), &strict), "another region");
    }
}
