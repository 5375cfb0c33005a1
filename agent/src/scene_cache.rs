//! Scenes kept on disk by content hash (`<work_dir>/scenes/<sha256>.blend`), so a job's frames download its scene
//! once; verified once per process, and trimmed oldest-used first beyond a size limit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::client::{sha256_file, Client, ClientError};

/// How much the cache may hold before the least recently used scenes go.
pub const DEFAULT_LIMIT_BYTES: u64 = 10 << 30;

#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    #[error("the coordinator sent an invalid scene hash {0:?}")]
    InvalidHash(String),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the scene of job {job_id} hashes to {got}, but the task names {expected}")]
    Mismatch { job_id: i64, got: String, expected: String },
    #[error("scene cache: {0}")]
    Io(String),
}

pub struct SceneCache {
    dir: PathBuf,
    limit_bytes: u64,
    /// Hashes checked since the agent started: a file is trusted after one check, not re-read for every frame.
    verified: HashSet<String>,
}

impl SceneCache {
    pub fn new(work_dir: &Path, limit_bytes: u64) -> Self {
        Self { dir: work_dir.join("scenes"), limit_bytes, verified: HashSet::new() }
    }

    /// The path of the scene with this hash, downloading it from the job if it is not cached (or is damaged).
    pub async fn scene(&mut self, client: &Client, job_id: i64, sha256: &str) -> Result<PathBuf, SceneError> {
        // The hash becomes a file name: only 64 hex digits may, so nothing from the network can name a path.
        let sha256 = sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SceneError::InvalidHash(sha256));
        }
        let path = self.dir.join(format!("{sha256}.blend"));
        if path.is_file() {
            if self.verified.contains(&sha256) || self.verify(&path, &sha256).await? {
                touch(&path);
                return Ok(path);
            }
            tracing::warn!("cached scene {} is damaged: downloading it again", path.display());
            remove(&path)?;
        }
        crate::work_dir::ensure(&self.dir).map_err(SceneError::Io)?;
        let downloaded = client.download_scene(job_id, &path).await?;
        if downloaded.sha256 != sha256 {
            remove(&path)?;
            return Err(SceneError::Mismatch { job_id, got: downloaded.sha256, expected: sha256 });
        }
        tracing::info!("scene of job {job_id} downloaded ({} MiB)", downloaded.bytes >> 20);
        self.verified.insert(sha256);
        self.trim(&path);
        Ok(path)
    }

    async fn verify(&mut self, path: &Path, sha256: &str) -> Result<bool, SceneError> {
        let (got, _) = sha256_file(path).await?;
        let good = got == sha256;
        if good {
            self.verified.insert(sha256.to_owned());
        }
        Ok(good)
    }

    /// Deletes the least recently used scenes until the cache fits its limit; `keep` (in use) always stays.
    fn trim(&mut self, keep: &Path) {
        for path in over_limit(&self.dir, self.limit_bytes, keep) {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!("scene cache full: removed {}", path.display()),
                Err(e) => tracing::warn!("cannot remove {} from the scene cache: {e}", path.display()),
            }
            if let Some(name) = path.file_stem().and_then(|s| s.to_str()) {
                self.verified.remove(name);
            }
        }
    }
}

/// The scenes to delete, oldest modification time (= last use, see [`touch`]) first.
fn over_limit(dir: &Path, limit_bytes: u64, keep: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut scenes: Vec<(SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "blend"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len(), e.path()))
        })
        .collect();
    scenes.sort();
    let mut total: u64 = scenes.iter().map(|(_, len, _)| len).sum();
    let mut out = Vec::new();
    for (_, len, path) in scenes {
        if total <= limit_bytes {
            break;
        }
        if path != keep {
            total -= len;
            out.push(path);
        }
    }
    out
}

/// Marks a scene as just used, for the LRU order.
fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

fn remove(path: &Path) -> Result<(), SceneError> {
    std::fs::remove_file(path).map_err(|e| SceneError::Io(format!("cannot remove {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pictor_core::agent_protocol::NodeConfigFile;
    use sha2::{Digest, Sha256};

    use super::*;

    /// A client for a port nobody listens on: any download attempt fails as unreachable.
    fn offline_client() -> Client {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Client::new(&NodeConfigFile {
            coordinator_url: format!("http://127.0.0.1:{port}"),
            node_id: 1,
            token: "t".into(),
            blender_paths: vec![],
            work_dir: None,
            allow_unsandboxed: false,
            serve_models: Vec::new(),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_good_cached_scene_is_used_without_downloading() {
        let work = tempfile::tempdir().unwrap();
        let sha = hex::encode(Sha256::digest(b"scene"));
        std::fs::create_dir_all(work.path().join("scenes")).unwrap();
        std::fs::write(work.path().join(format!("scenes/{sha}.blend")), b"scene").unwrap();
        let mut cache = SceneCache::new(work.path(), DEFAULT_LIMIT_BYTES);
        let path = cache.scene(&offline_client(), 1, &sha.to_uppercase()).await.unwrap();
        assert_eq!(path, work.path().join(format!("scenes/{sha}.blend")));
        assert!(cache.verified.contains(&sha));
    }

    #[tokio::test]
    async fn a_damaged_cached_scene_is_deleted_and_fetched_again() {
        let work = tempfile::tempdir().unwrap();
        let sha = hex::encode(Sha256::digest(b"scene"));
        let path = work.path().join(format!("scenes/{sha}.blend"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"bit rot").unwrap();
        let err =
            SceneCache::new(work.path(), DEFAULT_LIMIT_BYTES).scene(&offline_client(), 1, &sha).await.unwrap_err();
        assert!(matches!(err, SceneError::Client(ClientError::Unreachable(_))), "{err}");
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn a_hash_that_is_not_hex_never_becomes_a_path() {
        let work = tempfile::tempdir().unwrap();
        let mut cache = SceneCache::new(work.path(), DEFAULT_LIMIT_BYTES);
        for bad in ["../../etc/passwd", "", &"g".repeat(64)] {
            let err = cache.scene(&offline_client(), 1, bad).await.unwrap_err();
            assert!(matches!(err, SceneError::InvalidHash(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn the_least_recently_used_scenes_go_first_but_never_the_one_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let scene = |name: &str, age_s: u64| {
            let path = dir.path().join(name);
            std::fs::write(&path, [0u8; 100]).unwrap();
            let file = std::fs::File::options().append(true).open(&path).unwrap();
            file.set_modified(now - Duration::from_secs(age_s)).unwrap();
            path
        };
        let (oldest, middle, newest) = (scene("a.blend", 300), scene("b.blend", 200), scene("c.blend", 100));
        std::fs::write(dir.path().join("notes.txt"), [0u8; 1000]).unwrap();
        assert_eq!(over_limit(dir.path(), 300, &newest), Vec::<PathBuf>::new());
        assert_eq!(over_limit(dir.path(), 150, &newest), vec![oldest.clone(), middle.clone()]);
        assert_eq!(over_limit(dir.path(), 150, &oldest), vec![middle, newest]);
    }
}
