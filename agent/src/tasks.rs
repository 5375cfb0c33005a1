//! The work loop: deliver what the outbox holds, then lease one task at a time, render its frames with Blender (or
//! run an AI batch chunk's lines) while keeping the lease alive, and deliver the outputs (or report the failure).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::ProgressBar;
use pictor_core::agent_protocol::{FailureReport, ProgressReport, TaskAssignment};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::blender::BlenderVersion;
use crate::cheat::Cheating;
use crate::client::{Client, ClientError};
use crate::outbox::{self, Entry, Manifest, Outbox};
use crate::render::{self, FrameJob, Live, RenderError};
use crate::sandbox::Sandbox;
use crate::scene_cache::{SceneCache, SceneError};
use crate::status;
use crate::terminal::Terminal;

/// How long one lease request may wait for work at the coordinator.
const LEASE_WAIT: Duration = Duration::from_secs(20);
/// Progress changes are reported at most this often; the lease needs a report at least every `lease_ms / 3`.
const REPORT_MIN_GAP: Duration = Duration::from_secs(1);
/// A failure report is worth a few tries; after that the lease lapses and the coordinator retries the task anyway.
const FAIL_REPORT_TRIES: u32 = 3;

mod ai_work;

pub struct Tasks<'a> {
    pub client: &'a Client,
    /// The Blender to render with and its version; `None` leaves the worker idle.
    pub blender: Option<(PathBuf, BlenderVersion)>,
    pub scenes: SceneCache,
    pub outbox: Outbox,
    /// Scratch space for Blender's outputs before they move to the outbox.
    pub render_dir: PathBuf,
    pub terminal: Terminal,
    /// Test-only: fake some frames (debug builds only; see `cheat`).
    pub cheat: Option<Cheating>,
    /// How Blender is started (boxed under bubblewrap where it is installed).
    pub sandbox: Sandbox,
    /// Blender cannot be boxed here and the owner did not allow otherwise: only the owner's own jobs.
    pub own_jobs_only: bool,
    /// AI requests running on this worker: no new render task is leased while one does.
    pub ai_activity: crate::ai::activity::AiActivity,
    /// Runs AI batch chunks (a worker that serves models); `None`: this worker takes none.
    pub batches: Option<crate::ai::batch::BatchRunner>,
    /// Scratch space for batch results before they move to the outbox.
    pub batch_dir: PathBuf,
}

/// How a leased task ended, before delivery.
enum Rendered {
    Frames(Manifest),
    Failed(RenderError),
    LeaseLost,
}

impl Tasks<'_> {
    /// Works until a fatal coordinator error (the token or the node is refused). `may_work` is true while the
    /// node is registered and not asleep; a running task is finished either way.
    pub async fn run(mut self, mut may_work: watch::Receiver<bool>) -> Result<Infallible, ClientError> {
        for entry in self.outbox.pending() {
            tracing::info!("delivering the outputs of task {} left from before", entry.manifest.task_id);
            deliver_until_settled(self.client, &self.outbox, &entry).await?;
        }
        let blender = self.blender.clone();
        if blender.is_none() && self.batches.is_none() {
            tracing::warn!("no usable Blender and no AI models: this worker takes training runs only");
        }
        let mut backoff = Backoff::default();
        loop {
            if may_work.wait_for(|may| *may).await.is_err() {
                return std::future::pending().await;
            }
            if self.ai_activity.running() > 0 {
                tracing::debug!("interactive AI requests first: leasing no render task until they end");
                self.ai_activity.idle().await;
            }
            let task = match self.client.lease(LEASE_WAIT, self.own_jobs_only).await {
                Ok(Some(task)) => task,
                Ok(None) => continue,
                Err(ClientError::Unreachable(reason) | ClientError::Rejected(reason)) => {
                    let delay = backoff.next_delay(rand::random());
                    tracing::warn!("cannot lease a task, retrying in {}: {reason}", status::seconds(delay));
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Err(ClientError::Unauthorized) => return Err(ClientError::Unauthorized),
                Err(ClientError::Disabled(m)) => return Err(ClientError::Disabled(m)),
                Err(other) => {
                    tracing::warn!("lease failed: {other}");
                    continue;
                }
            };
            backoff.reset();
            if let Some(train) = &task.ai_train {
                self.run_training(&task, train).await?;
                continue;
            }
            match (&task.ai_batch, &blender) {
                (Some(batch), _) => self.run_chunk(&task, batch).await?,
                (None, Some((blender, version))) => self.work_on(&task, blender, *version).await?,
                (None, None) => self.report_failure(&task, "this worker has no usable Blender", "").await?,
            }
        }
    }

    async fn work_on(
        &mut self,
        task: &TaskAssignment,
        blender: &Path,
        version: BlenderVersion,
    ) -> Result<(), ClientError> {
        let frames = task.frames.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        tracing::info!("leased task {} (job {}, frames {frames}, attempt {})", task.task_id, task.job_id, task.attempt);
        let scene = match self.scenes.scene(self.client, task.job_id, &task.scene_sha256).await {
            Ok(scene) => scene,
            Err(SceneError::Client(e)) if is_fatal(&e) => return Err(e),
            Err(SceneError::Client(ClientError::LeaseLost)) => {
                tracing::warn!("lease lost on task {} while fetching its scene", task.task_id);
                return Ok(());
            }
            Err(e) => return self.report_failure(task, &format!("cannot get the scene: {e}"), "").await,
        };
        let bar = self.terminal.spinner(format!("task {} · starting Blender", task.task_id));
        let rendered = self.render_all(task, blender, version, &scene, &bar).await;
        bar.finish_and_clear();
        let _ = std::fs::remove_dir_all(self.render_dir.join(task_dir_name(task)));
        match rendered? {
            Rendered::Frames(manifest) => match self.outbox.seal(manifest) {
                Ok(entry) => deliver_keeping_lease(self.client, &self.outbox, &entry, task.lease_ms).await,
                Err(e) => {
                    self.outbox.discard(task.task_id, task.attempt);
                    self.report_failure(task, &format!("cannot keep the outputs: {e}"), "").await
                }
            },
            Rendered::Failed(error) => {
                self.outbox.discard(task.task_id, task.attempt);
                tracing::warn!("task {} failed: {error}", task.task_id);
                self.report_failure(task, &error.to_string(), error.log_tail()).await
            }
            Rendered::LeaseLost => {
                self.outbox.discard(task.task_id, task.attempt);
                tracing::warn!("lease lost on task {}: stopped Blender", task.task_id);
                Ok(())
            }
        }
    }

    /// Renders every frame in order while a reporter keeps the lease; a lost lease stops Blender at once, and so
    /// does the task's time limit (the task then fails, and the coordinator gives it another try).
    async fn render_all(
        &self,
        task: &TaskAssignment,
        blender: &Path,
        version: BlenderVersion,
        scene: &Path,
        bar: &ProgressBar,
    ) -> Result<Rendered, ClientError> {
        let (live, watched) = watch::channel(Live::default());
        let position = Position {
            frames_done: AtomicUsize::new(0),
            frame: AtomicI64::new(task.frames.first().copied().unwrap_or(0)),
        };
        let cancel = CancellationToken::new();
        let frames = self.render_frames(task, blender, version, scene, &live, &position, &cancel);
        tokio::pin!(frames);
        let over_time = time_limit(task.max_render_ms);
        tokio::pin!(over_time);
        let stopped = tokio::select! {
            result = &mut frames => return Ok(result),
            stopped = keep_lease(self.client, task, watched, &position, bar) => Some(stopped),
            () = &mut over_time => None,
        };
        cancel.cancel();
        let _ = frames.await;
        match stopped {
            None => {
                let limit = status::seconds(Duration::from_millis(task.max_render_ms));
                let message = format!("stopped: the task rendered longer than its limit of {limit}");
                Ok(Rendered::Failed(RenderError::Failed { message, log_tail: live.borrow().log_tail.clone() }))
            }
            Some(ClientError::LeaseLost) => Ok(Rendered::LeaseLost),
            Some(fatal) => Err(fatal),
        }
    }

    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename these
    async fn render_frames(
        &self,
        task: &TaskAssignment,
        blender: &Path,
        version: BlenderVersion,
        scene: &Path,
        live: &watch::Sender<Live>,
        position: &Position,
        cancel: &CancellationToken,
    ) -> Rendered {
        let mut outputs = Vec::new();
        let mut log_tail = String::new();
        let mut render_seconds = 0.0;
        for (index, &frame) in task.frames.iter().enumerate() {
            position.frame.store(frame, Ordering::Relaxed);
            let out_dir = self.render_dir.join(task_dir_name(task)).join(format!("frame-{index}"));
            let _ = std::fs::remove_dir_all(&out_dir);
            if let Err(e) = crate::work_dir::ensure(&out_dir) {
                return Rendered::Failed(RenderError::Io(std::io::Error::other(e)));
            }
            let cheating = self.cheat.filter(Cheating::strikes);
            let (asked, settings) = match cheating {
                Some(cheating) => cheating.render_instead(frame, &task.settings),
                None => (frame, task.settings.clone()),
            };
            let job = FrameJob {
                sandbox: &self.sandbox,
                blender,
                version,
                scene,
                out_dir: &out_dir,
                frame: asked,
                settings: &settings,
                tile: task.tile,
            };
            let done = match render::render_frame(&job, live, cancel).await {
                Ok(done) => done,
                Err(e) => return Rendered::Failed(e),
            };
            if let Some(cheating) = cheating {
                tracing::warn!("cheating on frame {frame} ({:?}), as this test agent was told", cheating.cheat);
                if let Err(e) = cheating.tamper(&done.output) {
                    return Rendered::Failed(RenderError::Failed { message: e, log_tail: String::new() });
                }
            }
            tracing::info!("frame {frame} rendered in {:.1} s", done.elapsed.as_secs_f64());
            render_seconds += done.elapsed.as_secs_f64();
            match self.outbox.add_frame(task.task_id, task.attempt, frame, &done.output).await {
                Ok(output) => outputs.push(output),
                Err(e) => return Rendered::Failed(RenderError::Failed { message: e, log_tail: done.log_tail }),
            }
            log_tail = done.log_tail;
            position.frames_done.store(index + 1, Ordering::Relaxed);
            live.send_replace(Live { fraction: 0.0, log_tail: log_tail.clone() });
        }
        Rendered::Frames(Manifest {
            task_id: task.task_id,
            attempt: task.attempt,
            frames: outputs,
            log_tail,
            render_seconds: Some(render_seconds),
        })
    }

    async fn report_failure(&self, task: &TaskAssignment, error: &str, log_tail: &str) -> Result<(), ClientError> {
        let report = FailureReport { attempt: task.attempt, error: error.to_owned(), log_tail: log_tail.to_owned() };
        let mut backoff = Backoff::default();
        for _ in 0..FAIL_REPORT_TRIES {
            match self.client.fail(task.task_id, &report).await {
                Ok(()) | Err(ClientError::LeaseLost) => return Ok(()),
                Err(e) if is_fatal(&e) => return Err(e),
                Err(e) => {
                    tracing::warn!("cannot report the failure of task {}: {e}", task.task_id);
                    tokio::time::sleep(backoff.next_delay(rand::random())).await;
                }
            }
        }
        Ok(())
    }
}

/// Delivers a task just rendered while reporting it 100 % done, so that a large output on a slow link keeps its
/// lease instead of losing it mid-upload and burning an attempt.
pub async fn deliver_keeping_lease(
    client: &Client,
    outbox: &Outbox,
    entry: &Entry,
    lease_ms: u64,
) -> Result<(), ClientError> {
    let delivery = deliver_until_settled(client, outbox, entry);
    tokio::pin!(delivery);
    let stopped = tokio::select! {
        // Delivery first: once `done` is answered, a keep-alive that finds the task no longer leased is moot.
        biased;
        delivered = &mut delivery => return delivered,
        stopped = keep_lease_while_delivering(client, &entry.manifest, lease_ms) => stopped,
    };
    match stopped {
        ClientError::LeaseLost => {
            tracing::warn!("lease lost on task {} while uploading: its outputs are dropped", entry.manifest.task_id);
            outbox.discard(entry.manifest.task_id, entry.manifest.attempt);
            Ok(())
        }
        fatal => Err(fatal),
    }
}

/// Uploads and reports the entry until the coordinator takes it or says it belongs to someone else; only a
/// fatal error stops trying. The entry is removed when settled.
pub async fn deliver_until_settled(client: &Client, outbox: &Outbox, entry: &Entry) -> Result<(), ClientError> {
    let (task_id, attempt) = (entry.manifest.task_id, entry.manifest.attempt);
    let mut backoff = Backoff::default();
    loop {
        match outbox::deliver(client, entry).await {
            Ok(()) => tracing::info!("task {task_id} done"),
            Err(ClientError::LeaseLost) => tracing::warn!("lease lost on task {task_id}: its outputs are dropped"),
            Err(e) if is_fatal(&e) => return Err(e),
            Err(ClientError::Unreachable(reason)) => {
                let delay = backoff.next_delay(rand::random());
                tracing::warn!("cannot deliver task {task_id}, retrying in {}: {reason}", status::seconds(delay));
                tokio::time::sleep(delay).await;
                continue;
            }
            // Refused or unreadable outputs will not get better by retrying.
            Err(other) => tracing::warn!("task {task_id}: outputs dropped: {other}"),
        }
        outbox.discard(task_id, attempt);
        return Ok(());
    }
}

/// Resolves once a task has rendered for `max_render_ms` (never when it is 0: no limit was given).
async fn time_limit(max_render_ms: u64) {
    if max_render_ms == 0 {
        return std::future::pending().await;
    }
    tokio::time::sleep(Duration::from_millis(max_render_ms)).await;
}

/// Which frame is rendering, shared between the render loop and the lease keeper.
struct Position {
    frames_done: AtomicUsize,
    frame: AtomicI64,
}

fn task_dir_name(task: &TaskAssignment) -> String {
    format!("{}-{}", task.task_id, task.attempt)
}

fn is_fatal(error: &ClientError) -> bool {
    matches!(error, ClientError::Unauthorized | ClientError::Disabled(_))
}

/// The task's progress, 0–100: whole frames done plus the share of the current one.
pub fn task_percent(frames_done: usize, frames_total: usize, fraction: f32) -> u8 {
    if frames_total == 0 {
        return 100;
    }
    let done = (frames_done as f32 + fraction.clamp(0.0, 1.0)) / frames_total as f32;
    (done * 100.0).floor().clamp(0.0, 100.0) as u8
}

/// When the next report is due: at once for a changed percentage (but not within [`REPORT_MIN_GAP`] of the last),
/// else when the lease needs refreshing.
pub fn next_report(last_sent: Instant, changed: bool, keepalive: Duration) -> Instant {
    if changed {
        last_sent + REPORT_MIN_GAP.min(keepalive)
    } else {
        last_sent + keepalive
    }
}

fn keepalive_for(lease_ms: u64) -> Duration {
    (Duration::from_millis(lease_ms) / 3).max(REPORT_MIN_GAP)
}

/// Reports the task 100 % done at the lease's keep-alive pace while its outputs upload; returns the error that ends
/// the lease (or a fatal one). Failed reports are only logged: the upload may still make it in time.
async fn keep_lease_while_delivering(client: &Client, manifest: &Manifest, lease_ms: u64) -> ClientError {
    let mut keepalive = keepalive_for(lease_ms);
    loop {
        tokio::time::sleep(keepalive).await;
        let report = ProgressReport { attempt: manifest.attempt, percent: 100, log_tail: manifest.log_tail.clone() };
        match client.progress(manifest.task_id, &report).await {
            Ok(answer) => keepalive = keepalive_for(answer.lease_ms),
            Err(e @ (ClientError::LeaseLost | ClientError::Unauthorized | ClientError::Disabled(_))) => return e,
            Err(e) => tracing::warn!("progress report on task {} during upload failed: {e}", manifest.task_id),
        }
    }
}

/// Reports progress until the lease is lost or a fatal error; returns that error. Meanwhile shows the task's bar.
async fn keep_lease(
    client: &Client,
    task: &TaskAssignment,
    mut live: watch::Receiver<Live>,
    position: &Position,
    bar: &ProgressBar,
) -> ClientError {
    let mut keepalive = keepalive_for(task.lease_ms);
    let mut last_sent = Instant::now();
    let mut reported = None;
    loop {
        let (percent, log_tail) = {
            let now = live.borrow_and_update();
            let done = position.frames_done.load(Ordering::Relaxed);
            (task_percent(done, task.frames.len(), now.fraction), now.log_tail.clone())
        };
        let frame = position.frame.load(Ordering::Relaxed);
        bar.set_message(format!("task {} · frame {frame} · {percent} %", task.task_id));
        let due = next_report(last_sent, reported != Some(percent), keepalive);
        if Instant::now() >= due {
            let report = ProgressReport { attempt: task.attempt, percent, log_tail };
            last_sent = Instant::now();
            match client.progress(task.task_id, &report).await {
                Ok(answer) => {
                    keepalive = keepalive_for(answer.lease_ms);
                    reported = Some(percent);
                }
                Err(e @ (ClientError::LeaseLost | ClientError::Unauthorized | ClientError::Disabled(_))) => return e,
                // The lease may still hold: go on rendering and try again at the next report.
                Err(e) => tracing::warn!("progress report on task {} failed: {e}", task.task_id),
            }
            continue;
        }
        tokio::select! {
            changed = live.changed() => if changed.is_err() { tokio::time::sleep_until(due).await },
            () = tokio::time::sleep_until(due) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_percent_counts_whole_frames_and_the_current_one() {
        assert_eq!(task_percent(0, 1, 0.43), 43);
        assert_eq!(task_percent(1, 4, 0.5), 37);
        assert_eq!(task_percent(4, 4, 0.0), 100);
        assert_eq!(task_percent(0, 0, 0.0), 100);
        assert_eq!(task_percent(0, 2, 7.0), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn changes_are_reported_at_most_once_a_second_and_silence_by_the_lease() {
        let start = Instant::now();
        let keepalive = keepalive_for(30_000);
        assert_eq!(keepalive, Duration::from_secs(10));
        assert_eq!(next_report(start, true, keepalive), start + Duration::from_secs(1));
        assert_eq!(next_report(start, false, keepalive), start + Duration::from_secs(10));
        // A very short lease is still kept, with reports no more than once a second.
        assert_eq!(keepalive_for(600), REPORT_MIN_GAP);
    }

    mod delivery {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::time::Duration;

        use axum::extract::State;
        use axum::http::StatusCode;
        use axum::routing::{post, put};
        use axum::{Json, Router};
        use pictor_core::agent_protocol::{NodeConfigFile, ProgressAnswer};

        use super::super::*;

        /// The lease this stand-in coordinator grants: far shorter than its upload takes.
        const LEASE_MS: u64 = 1_200;
        const UPLOAD_TAKES: Duration = Duration::from_millis(3_500);

        #[derive(Default)]
        struct Coordinator {
            progress_reports: AtomicUsize,
            /// Reports arrived while the upload was under way.
            reports_during_upload: AtomicUsize,
            uploading: AtomicBool,
            done: AtomicBool,
            /// Answer progress reports with 409 (the lease is gone).
            lease_lost: AtomicBool,
        }

        async fn progress(State(c): State<Arc<Coordinator>>) -> Result<Json<ProgressAnswer>, StatusCode> {
            c.progress_reports.fetch_add(1, Ordering::SeqCst);
            if c.uploading.load(Ordering::SeqCst) {
                c.reports_during_upload.fetch_add(1, Ordering::SeqCst);
            }
            if c.lease_lost.load(Ordering::SeqCst) {
                return Err(StatusCode::CONFLICT);
            }
            Ok(Json(ProgressAnswer { lease_ms: LEASE_MS }))
        }

        async fn upload(State(c): State<Arc<Coordinator>>, _body: axum::body::Bytes) -> StatusCode {
            c.uploading.store(true, Ordering::SeqCst);
            tokio::time::sleep(UPLOAD_TAKES).await;
            c.uploading.store(false, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }

        async fn done(State(c): State<Arc<Coordinator>>) -> StatusCode {
            c.done.store(true, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }

        async fn start(coordinator: Arc<Coordinator>) -> Client {
            let app = Router::new()
                .route("/api/agent/v1/tasks/{id}/progress", post(progress))
                .route("/api/agent/v1/tasks/{id}/frames/{frame}", put(upload))
                .route("/api/agent/v1/tasks/{id}/done", post(done))
                .with_state(coordinator);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let address = listener.local_addr().expect("address");
            tokio::spawn(async move { axum::serve(listener, app).await });
            let config = NodeConfigFile {
                coordinator_url: format!("http://{address}"),
                node_id: 1,
                token: "pn_test".into(),
                blender_paths: vec![],
                work_dir: None,
                allow_unsandboxed: false,
                serve_models: Vec::new(),
            };
            Client::new(&config).expect("client")
        }

        async fn sealed_entry(outbox: &Outbox, work: &Path) -> Entry {
            let rendered = work.join("frame_0001.exr");
            std::fs::write(&rendered, vec![7u8; 64 * 1024]).expect("a rendered frame");
            let output = outbox.add_frame(12, 1, 1, &rendered).await.expect("kept");
            let manifest = Manifest {
                task_id: 12,
                attempt: 1,
                frames: vec![output],
                log_tail: "Saved".into(),
                render_seconds: None,
            };
            outbox.seal(manifest).expect("sealed")
        }

        #[tokio::test]
        async fn a_slow_upload_keeps_its_lease_with_reports_and_is_delivered() {
            let coordinator = Arc::new(Coordinator::default());
            let client = start(coordinator.clone()).await;
            let work = tempfile::tempdir().expect("work dir");
            let outbox = Outbox::new(work.path());
            let entry = sealed_entry(&outbox, work.path()).await;

            deliver_keeping_lease(&client, &outbox, &entry, LEASE_MS).await.expect("delivered");

            assert!(coordinator.done.load(Ordering::SeqCst), "the task was reported done");
            // 3.5 s of upload under a 1.2 s lease, kept alive every second (reports are at most once a second).
            let during = coordinator.reports_during_upload.load(Ordering::SeqCst);
            assert!(during >= 3, "the lease was kept while uploading: {during} reports");
            assert!(outbox.pending().is_empty(), "settled entries leave the outbox");
        }

        #[tokio::test]
        async fn a_lease_lost_during_the_upload_stops_it_and_drops_the_outputs() {
            let coordinator = Arc::new(Coordinator { lease_lost: AtomicBool::new(true), ..Coordinator::default() });
            let client = start(coordinator.clone()).await;
            let work = tempfile::tempdir().expect("work dir");
            let outbox = Outbox::new(work.path());
            let entry = sealed_entry(&outbox, work.path()).await;

            deliver_keeping_lease(&client, &outbox, &entry, LEASE_MS).await.expect("not fatal");

            assert!(!coordinator.done.load(Ordering::SeqCst), "no done for a lost lease");
            assert_eq!(coordinator.progress_reports.load(Ordering::SeqCst), 1, "stopped at the first refusal");
            assert!(outbox.pending().is_empty(), "the outputs are dropped");
        }
    }
}
