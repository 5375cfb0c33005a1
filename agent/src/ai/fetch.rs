//! Loading a model the coordinator asks for: a network model from the local cache, or a hosted model's files
//! fetched from the coordinator into the cache (each checked against its SHA-256, kept for next time).

use pictor_core::ai::{model_file_names, ModelFile, ModelKind, NETWORK_MODELS};
use pictor_inference::ModelCache;

use super::models::{ModelPool, ModelSource};
use crate::client::Client;

/// What the coordinator asked to load.
#[derive(Debug, Clone)]
pub struct LoadOrder {
    pub model: String,
    pub kind: ModelKind,
    pub sha256: String,
    pub bytes: u64,
    pub files: Vec<ModelFile>,
}

/// Makes the model's files present in the cache (fetching what is missing or damaged) and loads it into `pool`.
pub async fn load(client: &Client, cache: &ModelCache, pool: &ModelPool, order: &LoadOrder) -> Result<(), String> {
    let source = if order.files.is_empty() {
        let network = NETWORK_MODELS
            .iter()
            .find(|model| model.id == order.model)
            .ok_or_else(|| format!("'{}' is neither a network model nor has files to fetch", order.model))?;
        ModelSource::network(cache, network).map_err(|e| e.to_string())?
    } else {
        fetch(client, cache, order).await?
    };
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || pool.load(&source))
        .await
        .map_err(|e| format!("loading stopped: {e}"))?
        .map_err(|e| e.to_string())
}

/// The hosted model's folder in the cache, every file in it whole.
async fn fetch(client: &Client, cache: &ModelCache, order: &LoadOrder) -> Result<ModelSource, String> {
    let allowed = model_file_names(order.kind);
    if order.sha256.len() != 64 || !order.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("the model's hash is not a SHA-256".into());
    }
    let folder = cache.folder("hosted").join(&order.sha256);
    tokio::fs::create_dir_all(&folder).await.map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    for file in &order.files {
        // Names come from a fixed list, so nothing lands outside the model's folder.
        if !allowed.contains(&file.name.as_str()) {
            return Err(format!("unexpected file name '{}' for a {} model", file.name, order.kind.as_str()));
        }
        let dest = folder.join(&file.name);
        let present = {
            let dest = dest.clone();
            tokio::task::spawn_blocking(move || pictor_inference::sha256_file(&dest).ok()).await.ok().flatten()
        };
        if present.as_deref() == Some(file.sha256.as_str()) {
            continue;
        }
        client
            .download_model_file(&order.model, &file.name, &file.sha256, &dest)
            .await
            .map_err(|e| format!("cannot fetch {}: {e}", file.name))?;
    }
    let location = match order.kind {
        ModelKind::Chat => folder.join("model.gguf"),
        ModelKind::Embedding => folder,
        ModelKind::Classifier => folder.join("model.safetensors"),
    };
    Ok(ModelSource {
        id: order.model.clone(),
        kind: order.kind,
        sha256: order.sha256.clone(),
        bytes: order.bytes,
        location,
    })
}
