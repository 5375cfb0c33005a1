//! The models this worker holds loaded, within a memory budget: network models from the local model cache and hosted
//! models fetched from the coordinator, the least recently used unloaded first when a new one does not fit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use pictor_core::ai::{LoadedModel, ModelKind, NetworkModel, NETWORK_MODELS};
use pictor_inference::training::BaseModels;
use pictor_inference::{ChatModel, Classifier, EmbeddingModel, InferenceError, ModelCache};

/// A model on this machine's disk, ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    pub id: String,
    pub kind: ModelKind,
    pub sha256: String,
    pub bytes: u64,
    /// The GGUF file of a chat model; the folder of an embedding model.
    pub location: PathBuf,
}

impl ModelSource {
    /// A network model from the local cache, checked to be there whole.
    pub fn network(cache: &ModelCache, network: &NetworkModel) -> Result<Self, InferenceError> {
        let folder = cache.network_model(network)?;
        let kind = ModelKind::parse(network.kind).unwrap_or(ModelKind::Chat);
        let location = match kind {
            ModelKind::Chat => folder.join(network.weights_file),
            ModelKind::Embedding | ModelKind::Classifier => folder,
        };
        Ok(Self { id: network.id.into(), kind, sha256: network.sha256.into(), bytes: network.bytes, location })
    }
}

/// A loaded model, shared by the requests running on it.
#[derive(Clone)]
pub enum Model {
    Chat(Arc<ChatModel>),
    Embedding(Arc<EmbeddingModel>),
    Classifier(Arc<Classifier>),
}

struct Slot {
    model: Model,
    report: LoadedModel,
    last_used: Instant,
}

/// The models loaded on this worker.
#[derive(Clone)]
pub struct ModelPool {
    slots: Arc<Mutex<HashMap<String, Slot>>>,
    budget_mb: u64,
}

impl ModelPool {
    pub fn new(budget_mb: u64) -> Self {
        Self { slots: Arc::default(), budget_mb }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn budget_mb(&self) -> u64 {
        self.budget_mb
    }

    /// Loads a model (blocking: call from a blocking thread), unloading the least recently used models until it
    /// fits the budget.
    pub fn load(&self, source: &ModelSource) -> Result<(), InferenceError> {
        let memory_mb = source.bytes.div_ceil(1 << 20);
        if memory_mb > self.budget_mb {
            return Err(InferenceError::Invalid(format!(
                "model '{}' needs {memory_mb} MiB, more than this worker's budget of {} MiB",
                source.id, self.budget_mb
            )));
        }
        let device = pictor_inference::device();
        let model = match source.kind {
            ModelKind::Chat => Model::Chat(Arc::new(ChatModel::load(&source.location, &device)?)),
            ModelKind::Embedding => Model::Embedding(Arc::new(EmbeddingModel::load(&source.location, &device)?)),
            // Trained on the CPU: served there too, so that a checker's replay gives the same probabilities.
            ModelKind::Classifier => {
                let bases = BaseModels::from_cache(&ModelCache::default_location());
                Model::Classifier(Arc::new(Classifier::load(&source.location, &bases, &candle_cpu())?))
            }
        };
        let report = LoadedModel { id: source.id.clone(), sha256: source.sha256.clone(), memory_mb };
        let mut slots = self.slots();
        slots.remove(&source.id);
        while slots.values().map(|s| s.report.memory_mb).sum::<u64>() + memory_mb > self.budget_mb {
            let Some(oldest) = slots.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| id.clone()) else { break };
            tracing::info!(model = %oldest, "unloading the least recently used model to make room");
            slots.remove(&oldest);
        }
        slots.insert(source.id.clone(), Slot { model, report, last_used: Instant::now() });
        Ok(())
    }

    /// Frees a model's memory (requests running on it finish first: they hold their own reference).
    pub fn unload(&self, id: &str) -> bool {
        self.slots().remove(id).is_some()
    }

    /// A loaded model by id, marked as just used.
    pub fn get(&self, id: &str) -> Option<Model> {
        let mut slots = self.slots();
        let slot = slots.get_mut(id)?;
        slot.last_used = Instant::now();
        Some(slot.model.clone())
    }

    /// What this worker holds, as told to the coordinator.
    pub fn loaded(&self) -> Vec<LoadedModel> {
        let mut loaded: Vec<LoadedModel> = self.slots().values().map(|s| s.report.clone()).collect();
        loaded.sort_by(|a, b| a.id.cmp(&b.id));
        loaded
    }
}

/// The CPU device, as the inference crate names it.
fn candle_cpu() -> pictor_inference::training::Device {
    pictor_inference::training::Device::Cpu
}

/// The network models to serve: those named that are present in the cache (serving is opt-in: none by default).
pub fn wanted(cache: &ModelCache, names: &[String]) -> Vec<NetworkModel> {
    NETWORK_MODELS
        .iter()
        .filter(|model| names.iter().any(|name| name == model.id))
        .filter(|model| cache.network_model(model).is_ok())
        .copied()
        .collect()
}
