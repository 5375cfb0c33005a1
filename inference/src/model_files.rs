//! Where model files live on a machine, and the network's own models (shipped inside PyPI wheels, fetched by set-up).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use pictor_core::ai::{NetworkModel, NETWORK_MODELS};

use crate::InferenceError;

/// The folder of model files on this machine: `$PICTOR_MODELS`, else `~/.cache/pictor/models`.
#[derive(Debug, Clone)]
pub struct ModelCache {
    root: PathBuf,
}

impl ModelCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache `scripts/setup` fills.
    pub fn default_location() -> Self {
        if let Some(root) = std::env::var_os("PICTOR_MODELS") {
            return Self::new(root);
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        Self::new(home.join(".cache/pictor/models"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder holding a model, named by the sha256 of its weights for uploaded models.
    pub fn folder(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The folder of a network model, after checking its weights are there with the right size.
    pub fn network_model(&self, model: &NetworkModel) -> Result<PathBuf, InferenceError> {
        let folder = self.folder(model.folder);
        let weights = folder.join(model.weights_file);
        let size = std::fs::metadata(&weights).map(|m| m.len()).map_err(|_| {
            InferenceError::invalid(format!(
                "{} is missing from {} (scripts/setup fetches it)",
                model.weights_file,
                folder.display()
            ))
        })?;
        if size != model.bytes {
            return Err(InferenceError::invalid(format!(
                "{} has {size} bytes, expected {}",
                weights.display(),
                model.bytes
            )));
        }
        Ok(folder)
    }
}

/// The hex sha256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> Result<String, InferenceError> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}
