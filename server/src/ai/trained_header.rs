//! What the coordinator reads of a trained model's own file: the template and the classes' names in its safetensors
//! header, fetched once per file from the object store (the header is at the file's start) and kept in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use object_store::path::Path as ObjectPath;
use pictor_core::ai_training::TrainingTemplate;
use serde_json::Value;

use crate::state::AppState;

/// What the coordinator reads of a trained model's header: its template and the classes' names.
#[derive(Debug, Default)]
pub struct TrainedHeader {
    pub template: Option<TrainingTemplate>,
    /// The classes' names (none for a pixel classifier).
    pub labels: Vec<String>,
}

/// A trained model's header, read once per model file from the store (the safetensors header is at the file's
/// start; a store that cannot be read answers an empty header this time and is asked again next time).
pub async fn trained_header(state: &AppState, sha256: &str) -> Arc<TrainedHeader> {
    static HEADERS: OnceLock<Mutex<HashMap<String, Arc<TrainedHeader>>>> = OnceLock::new();
    let cache = HEADERS.get_or_init(Mutex::default);
    if let Some(header) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(sha256) {
        return header.clone();
    }
    let key = ObjectPath::from(super::hosting::file_key(sha256).as_str());
    let read = async {
        let length = state.store.get_range(&key, 0..8).await.ok()?;
        let length = u64::from_le_bytes(length.as_ref().try_into().ok()?);
        // A header is small; a larger claim is not a trained classifier's.
        if length > 1 << 20 {
            return None;
        }
        let header = state.store.get_range(&key, 8..8 + length).await.ok()?;
        let header: Value = serde_json::from_slice(&header).ok()?;
        let field = |key: &str| header.get("__metadata__").and_then(|m| m.get(key)).and_then(Value::as_str);
        let labels = field("pictor.labels").and_then(|labels| serde_json::from_str::<Vec<String>>(labels).ok());
        Some(TrainedHeader {
            template: field("pictor.template").and_then(TrainingTemplate::parse),
            labels: labels.unwrap_or_default(),
        })
    };
    let Some(header) = read.await.map(Arc::new) else { return Arc::default() };
    cache.lock().unwrap_or_else(|p| p.into_inner()).insert(sha256.to_string(), header.clone());
    header
}
