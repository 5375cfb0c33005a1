//! Finished renders waiting for delivery, kept on disk (`<work_dir>/outbox/<task>-<attempt>/` with a manifest) so
//! that a coordinator outage or an agent restart does not throw away work.

use std::path::{Path, PathBuf};

use pictor_core::agent_protocol::DoneReport;
use serde::{Deserialize, Serialize};

use crate::client::{sha256_file, Client, ClientError};

const MANIFEST: &str = "manifest.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub task_id: i64,
    pub attempt: i64,
    pub frames: Vec<FrameOutput>,
    pub log_tail: String,
    /// Blender's time for all the frames (entries written by older agents have none).
    #[serde(default)]
    pub render_seconds: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameOutput {
    pub frame: i64,
    /// A file name inside the entry's directory.
    pub file: String,
    pub sha256: String,
}

/// One task's outputs in the outbox.
#[derive(Debug)]
pub struct Entry {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    pub fn new(work_dir: &Path) -> Self {
        Self { dir: work_dir.join("outbox") }
    }

    /// The directory a task's outputs are moved into as each frame finishes.
    pub fn entry_dir(&self, task_id: i64, attempt: i64) -> PathBuf {
        self.dir.join(format!("{task_id}-{attempt}"))
    }

    /// Moves one rendered frame into the task's entry (a rename: the work dir is one file system).
    pub async fn add_frame(
        &self,
        task_id: i64,
        attempt: i64,
        frame: i64,
        rendered: &Path,
    ) -> Result<FrameOutput, String> {
        let dir = self.entry_dir(task_id, attempt);
        crate::work_dir::ensure(&dir)?;
        let name = rendered.file_name().and_then(|n| n.to_str()).ok_or("the output has no usable file name")?;
        let file = format!("{frame}-{name}");
        let target = dir.join(&file);
        tokio::fs::rename(rendered, &target)
            .await
            .map_err(|e| format!("cannot move {} to {}: {e}", rendered.display(), target.display()))?;
        let (sha256, _) = sha256_file(&target).await.map_err(|e| e.to_string())?;
        Ok(FrameOutput { frame, file, sha256 })
    }

    /// Seals the entry: with its manifest written (atomically) it is ready for delivery and survives a restart.
    pub fn seal(&self, manifest: Manifest) -> Result<Entry, String> {
        let dir = self.entry_dir(manifest.task_id, manifest.attempt);
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
        let temp = dir.join(format!("{MANIFEST}.tmp"));
        std::fs::write(&temp, text).map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
        std::fs::rename(&temp, dir.join(MANIFEST)).map_err(|e| format!("cannot seal {}: {e}", dir.display()))?;
        Ok(Entry { dir, manifest })
    }

    /// Sealed entries left from before; unsealed ones (the agent stopped mid-task, whose lease has lapsed since)
    /// and unreadable ones are deleted.
    pub fn pending(&self) -> Vec<Entry> {
        let Ok(dirs) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut entries = Vec::new();
        for dir in dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()) {
            let manifest = std::fs::read(dir.join(MANIFEST)).ok().and_then(|t| serde_json::from_slice(&t).ok());
            match manifest {
                Some(manifest) => entries.push(Entry { dir, manifest }),
                None => {
                    tracing::info!("dropping unfinished outputs in {}", dir.display());
                    remove(&dir);
                }
            }
        }
        entries.sort_by_key(|e| (e.manifest.task_id, e.manifest.attempt));
        entries
    }

    /// Removes an entry, or the partial outputs of a task that will not be delivered.
    pub fn discard(&self, task_id: i64, attempt: i64) {
        remove(&self.entry_dir(task_id, attempt));
    }
}

fn remove(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {e}", dir.display());
        }
    }
}

/// Uploads every frame of the entry, then reports the task done; the caller removes the entry once this succeeds
/// or the lease is lost.
pub async fn deliver(client: &Client, entry: &Entry) -> Result<(), ClientError> {
    let m = &entry.manifest;
    for output in &m.frames {
        client.upload_output(m.task_id, output.frame, m.attempt, &entry.dir.join(&output.file)).await?;
    }
    let report = DoneReport { attempt: m.attempt, log_tail: m.log_tail.clone(), render_seconds: m.render_seconds };
    client.done(m.task_id, &report).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sealed_entry_is_found_again_after_a_restart() {
        let work = tempfile::tempdir().unwrap();
        let rendered = work.path().join("frame_0005.png");
        std::fs::write(&rendered, b"png").unwrap();
        let outbox = Outbox::new(work.path());
        let output = outbox.add_frame(12, 2, 5, &rendered).await.unwrap();
        assert!(!rendered.exists(), "moved, not copied");
        assert_eq!(output.file, "5-frame_0005.png");
        assert_eq!(output.sha256.len(), 64);
        let manifest = Manifest {
            task_id: 12,
            attempt: 2,
            frames: vec![output],
            log_tail: "Saved".into(),
            render_seconds: Some(1.5),
        };
        outbox.seal(manifest.clone()).unwrap();

        let pending = Outbox::new(work.path()).pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].manifest, manifest);
        assert_eq!(std::fs::read(pending[0].dir.join("5-frame_0005.png")).unwrap(), b"png");
        outbox.discard(12, 2);
        assert!(outbox.pending().is_empty());
    }

    #[tokio::test]
    async fn outputs_of_an_unfinished_task_are_dropped_at_start() {
        let work = tempfile::tempdir().unwrap();
        let rendered = work.path().join("frame_0001.png");
        std::fs::write(&rendered, b"png").unwrap();
        let outbox = Outbox::new(work.path());
        outbox.add_frame(3, 1, 1, &rendered).await.unwrap();
        assert!(outbox.pending().is_empty());
        assert!(!outbox.entry_dir(3, 1).exists());
    }
}
