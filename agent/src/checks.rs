//! The checker's work loop: lease a check, fetch the scene (cached) and the worker's output, re-render the crops in
//! a warm Blender, compare them by SSIM, and send the verdict with its measurements.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pictor_core::agent_protocol::RenderSettings;
use pictor_core::verification::{verdict_for, CropMeasurement, VerdictReport, VerificationAssignment};
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::blender::BlenderVersion;
use crate::cheat::Lie;
use crate::client::{Client, ClientError};
use crate::compare::compare_files;
use crate::crop_render::{crop_file, full_size, renderer_key, CropRenderer, IDLE_LIMIT};
use crate::sandbox::Sandbox;
use crate::scene_cache::{SceneCache, SceneError};
use crate::status;
use crate::terminal::Terminal;

/// How long one lease request may wait for a check at the coordinator.
const LEASE_WAIT: Duration = Duration::from_secs(20);
/// Tries at delivering a verdict before the check is left to expire and go to another checker.
const VERDICT_TRIES: u32 = 5;

pub struct Checks<'a> {
    pub client: &'a Client,
    /// The Blender to render crops with; `None` leaves the checker idle.
    pub blender: Option<(PathBuf, BlenderVersion)>,
    pub scenes: SceneCache,
    /// Scratch space for downloaded outputs and rendered crops.
    pub dir: PathBuf,
    pub terminal: Terminal,
    /// Test-only: claim this verdict whatever was measured (debug builds only).
    pub lie: Option<Lie>,
    /// How Blender is started (boxed under bubblewrap where it is installed).
    pub sandbox: Sandbox,
    /// Blender cannot be boxed here and the owner did not allow otherwise: only checks of the owner's own jobs.
    pub own_jobs_only: bool,
}

/// The settings crops are rendered with: the job's, but lossless where the job's format is lossy (a JPEG's
/// artefacts depend on where its blocks fall, which differs between a crop and the whole frame).
fn crop_settings(job: &RenderSettings) -> RenderSettings {
    if job.file_format == "JPEG" {
        RenderSettings { file_format: "PNG".into(), extension: "png".into(), ..job.clone() }
    } else {
        job.clone()
    }
}

/// Why one check could not be completed (it is left to expire and go to another checker).
#[derive(Debug, thiserror::Error)]
enum CheckFailure {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Local(String),
}

fn is_fatal(error: &ClientError) -> bool {
    matches!(error, ClientError::Unauthorized | ClientError::Disabled(_))
}

impl Checks<'_> {
    /// Checks until a fatal coordinator error. `may_work` is true while the node is registered.
    pub async fn run(mut self, mut may_work: watch::Receiver<bool>) -> Result<Infallible, ClientError> {
        if self.blender.is_none() {
            tracing::warn!("no usable Blender: this checker replays training runs only");
        }
        crate::work_dir::ensure(&self.crops_dir()).map_err(ClientError::LocalFile)?;
        let mut warm: Option<CropRenderer> = None;
        let mut backoff = Backoff::default();
        loop {
            if may_work.wait_for(|may| *may).await.is_err() {
                return std::future::pending().await;
            }
            if warm.as_ref().is_some_and(|renderer| renderer.last_used.elapsed() > IDLE_LIMIT) {
                tracing::info!("stopping the idle Blender");
                warm = None;
            }
            let assignment = match self.client.lease_verification(LEASE_WAIT, self.own_jobs_only).await {
                Ok(Some(assignment)) => assignment,
                Ok(None) => continue,
                Err(error) if is_fatal(&error) => return Err(error),
                Err(error) => {
                    let delay = backoff.next_delay(rand::random());
                    tracing::warn!("cannot lease a check, retrying in {}: {error}", status::seconds(delay));
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            backoff.reset();
            let id = assignment.verification_id;
            let checked = match (&assignment.training, self.blender.clone()) {
                (Some(order), _) => {
                    crate::ai::training_check::replay(self.client, order, self.lie).await.map_err(CheckFailure::Client)
                }
                (None, Some((blender, version))) => self.check(&assignment, &blender, version, &mut warm).await,
                (None, None) => Err(CheckFailure::Local("this checker has no Blender".into())),
            };
            match checked {
                Ok(report) => self.deliver(id, &report).await?,
                Err(CheckFailure::Client(error)) if is_fatal(&error) => return Err(error),
                Err(error) => {
                    tracing::warn!("check {id} could not be made, it will go to another checker: {error}");
                    // A broken Blender is not reused.
                    warm = None;
                }
            }
            self.clean(id);
        }
    }

    async fn check(
        &mut self,
        assignment: &VerificationAssignment,
        blender: &Path,
        version: BlenderVersion,
        warm: &mut Option<CropRenderer>,
    ) -> Result<VerdictReport, CheckFailure> {
        let id = assignment.verification_id;
        tracing::info!("checking result {id} (job {}, {} crops)", assignment.job_id, assignment.crops.len());
        let bar = self.terminal.spinner(format!("check {id} · fetching"));
        let scene = match self.scenes.scene(self.client, assignment.job_id, &assignment.scene_sha256).await {
            Ok(scene) => scene,
            Err(SceneError::Client(error)) => return Err(error.into()),
            Err(other) => return Err(CheckFailure::Local(other.to_string())),
        };
        let extension = &assignment.settings.extension;
        let mut frames: Vec<i64> = assignment.crops.iter().map(|crop| crop.frame).collect();
        frames.sort_unstable();
        frames.dedup();
        let mut outputs = std::collections::BTreeMap::new();
        for frame in frames {
            let path = self.dir.join(format!("check-{id}-frame-{frame}.{extension}"));
            self.client.download_verification_output(id, frame, &path).await?;
            outputs.insert(frame, path);
        }
        let settings = crop_settings(&assignment.settings);
        let key = renderer_key(&assignment.scene_sha256, &settings);
        // Blender's start and scene load count as this check's compute: it is the price of a cold checker.
        let mut render_seconds = 0.0;
        if warm.as_ref().map(CropRenderer::key) != Some(key.as_str()) {
            bar.set_message(format!("check {id} · starting Blender"));
            let starting = std::time::Instant::now();
            let started =
                CropRenderer::start(&self.sandbox, blender, version, &scene, &self.crops_dir(), &settings, key)
                    .await
                    .map_err(|e| CheckFailure::Local(e.to_string()))?;
            render_seconds += starting.elapsed().as_secs_f64();
            *warm = Some(started);
        }
        let renderer = warm.as_mut().ok_or_else(|| CheckFailure::Local("no Blender".into()))?;
        let mut measurements = Vec::new();
        for (index, crop) in assignment.crops.iter().enumerate() {
            bar.set_message(format!("check {id} · crop {}/{}", index + 1, assignment.crops.len()));
            let out = crop_file(&self.crops_dir(), id, index, &settings.extension);
            // A crop that outlasts the check's whole lease is a hung Blender: stop it (dropping the warm renderer
            // kills it) rather than hold the check for ever.
            let limit = Duration::from_millis(assignment.lease_ms.max(1_000));
            let took = match tokio::time::timeout(limit, renderer.render(crop.frame, crop.region, &out)).await {
                Ok(rendered) => rendered.map_err(|e| CheckFailure::Local(e.to_string()))?,
                Err(_) => {
                    *warm = None;
                    let limit = crate::status::seconds(limit);
                    return Err(CheckFailure::Local(format!("a crop took longer than the check's lease ({limit})")));
                }
            };
            render_seconds += took.as_secs_f64();
            let output = outputs.get(&crop.frame).cloned().unwrap_or_default();
            let size = full_size(&assignment.settings);
            let region = crop.region;
            let measured = tokio::task::spawn_blocking(move || compare_files(&output, &out, region, size))
                .await
                .map_err(|e| CheckFailure::Local(e.to_string()))?
                .map_err(CheckFailure::Local)?;
            measurements.push(measured);
        }
        bar.finish_and_clear();
        if let Some(lie) = self.lie {
            tracing::warn!("lying about check {id} ({lie:?}), as this test agent was told");
            measurements = measurements.iter().map(|m| CropMeasurement { ssim: lie.claimed_ssim(), ..*m }).collect();
        }
        let ssims: Vec<f64> = measurements.iter().map(|m| m.ssim).collect();
        let verdict = verdict_for(&ssims, &assignment.thresholds);
        let worst = ssims.iter().copied().fold(f64::INFINITY, f64::min);
        tracing::info!("result {id}: {} (lowest SSIM {worst:.4}, {render_seconds:.2} s of Blender)", verdict.as_str());
        Ok(VerdictReport { verdict, crops: measurements, render_seconds, replay_distance: None })
    }

    /// Sends the verdict, retrying while the coordinator is unreachable; a lost lease drops it.
    async fn deliver(&self, id: i64, report: &VerdictReport) -> Result<(), ClientError> {
        let mut backoff = Backoff::default();
        for _ in 0..VERDICT_TRIES {
            match self.client.verdict(id, report).await {
                Ok(()) => return Ok(()),
                Err(ClientError::LeaseLost) => {
                    tracing::warn!("check {id} was decided or expired before the verdict arrived");
                    return Ok(());
                }
                Err(error) if is_fatal(&error) => return Err(error),
                Err(error) => {
                    let delay = backoff.next_delay(rand::random());
                    tracing::warn!(
                        "cannot deliver the verdict on {id}, retrying in {}: {error}",
                        status::seconds(delay)
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
        Ok(())
    }

    /// Where crops are rendered: the only folder the boxed Blender may write, apart from the downloads.
    fn crops_dir(&self) -> PathBuf {
        self.dir.join("crops")
    }

    /// Removes a check's downloads and crops.
    fn clean(&self, id: i64) {
        let prefix = format!("check-{id}-");
        for dir in [self.dir.clone(), self.crops_dir()] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}
