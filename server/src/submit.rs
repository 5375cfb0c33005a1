//! `pictor submit`: upload a `.blend`, submit a render job through the REST API, and optionally follow it to the end
//! and download its frames.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pictor_core::jobs::{JobDetails, JobForm};
use pictor_core::states::JobState;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::render::jobs_api::UploadedScene;

/// How often `--follow` asks for the job's state: a render task takes seconds to hours, so once a second is plenty.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Only the connection has a deadline: a scene upload or a frame download may rightly take minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub struct SubmitArgs {
    /// The coordinator's address
    #[arg(long, env = "PICTOR_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// An API key from the account page (pk_…)
    #[arg(long, env = "PICTOR_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// The .blend file to render
    #[arg(value_name = "SCENE.blend")]
    pub scene: PathBuf,
    /// The job's name (default: the file name without .blend)
    #[arg(long)]
    pub name: Option<String>,
    /// Frames to render: 7, 1-10, 1-100:5, or a comma-separated list of these
    #[arg(long, default_value = "1")]
    pub frames: String,
    /// Frames per task
    #[arg(long, default_value = "1")]
    pub chunk_size: String,
    /// Split one frame into this many tiles instead of rendering an animation
    #[arg(long)]
    pub tiles: Option<String>,
    /// WIDTHxHEIGHT in pixels
    #[arg(long, default_value = "1920x1080")]
    pub resolution: String,
    /// Resolution scale in percent
    #[arg(long, default_value = "100")]
    pub percent: String,
    #[arg(long, default_value = "64")]
    pub samples: String,
    /// cycles, eevee or workbench
    #[arg(long, default_value = "cycles")]
    pub engine: String,
    /// png, openexr or jpeg
    #[arg(long, default_value = "png")]
    pub format: String,
    /// economy, standard or priority
    #[arg(long, default_value = "standard")]
    pub tier: String,
    /// Only workers with at least this much GPU memory
    #[arg(long, value_name = "N")]
    pub min_vram_gib: Option<String>,
    /// Only workers with this GPU model
    #[arg(long, value_name = "M")]
    pub gpu_model: Option<String>,
    /// Only workers with all of these tags (comma-separated)
    #[arg(long)]
    pub tags: Option<String>,
    /// The most the job may spend, in credits (default: its estimate)
    #[arg(long, value_name = "CREDITS")]
    pub budget: Option<String>,
    /// Stop and retry a task that renders longer than this (default: the coordinator's)
    #[arg(long, value_name = "MINUTES")]
    pub max_task_minutes: Option<u32>,
    /// Wait for the job to end, showing its progress; exit 1 if it fails or is cancelled
    #[arg(long)]
    pub follow: bool,
    /// After completion, download every frame into DIR (implies --follow)
    #[arg(long, value_name = "DIR")]
    pub download: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the job is not valid: {0}")]
    InvalidJob(String),
    #[error("cannot read the scene {path}: {source}")]
    Scene { path: PathBuf, source: std::io::Error },
    #[error("--url {0:?} is not an http:// or https:// address")]
    BadUrl(String),
    #[error("cannot reach the coordinator at {0}")]
    Unreachable(String),
    #[error("the API key was refused")]
    Unauthorized,
    #[error("{what} was refused: {message}")]
    Refused { what: &'static str, message: String },
    #[error("{what} failed: {source}")]
    Transport { what: &'static str, source: reqwest::Error },
    #[error("job {id} {state}: {failed} of {total} tasks failed")]
    JobEnded { id: i64, state: String, failed: i64, total: i64 },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The parts of `POST /api/v1/jobs`'s answer the CLI shows.
#[derive(Debug, Deserialize)]
struct Submitted {
    job_id: i64,
    tasks: usize,
}

/// Uploads, submits, and (with `--follow` or `--download`) waits for the job and fetches its frames.
pub async fn run(args: SubmitArgs) -> Result<(), SubmitError> {
    // Validate everything local first: a typo in --frames must not cost a multi-gigabyte upload.
    let form = job_form(&args)?;
    let (scene, bytes) = open_scene(&args.scene).await?;
    let coordinator = Coordinator::new(&args.url, &args.api_key)?;
    // A cheap authenticated call, so a wrong key or URL is reported before the upload starts rather than as a
    // connection reset halfway through it.
    coordinator.send("checking the API key", coordinator.request(Method::GET, "/api/v1/me")).await?;
    let uploaded = coordinator.upload_scene(scene, bytes).await?;
    println!("uploaded {} ({} bytes, sha256 {})", args.scene.display(), uploaded.bytes, uploaded.sha256);
    let submitted: Submitted = coordinator
        .json("submitting the job", coordinator.request(Method::POST, "/api/v1/jobs"), |request| {
            request.json(&json!({ "scene_key": uploaded.scene_key, "form": form }))
        })
        .await?;
    println!("job {} submitted: {} tasks", submitted.job_id, submitted.tasks);
    println!("{}/rendering/{}", coordinator.base, submitted.job_id);
    if !args.follow && args.download.is_none() {
        return Ok(());
    }
    let details = follow(&coordinator, submitted.job_id).await?;
    if let Some(dir) = &args.download {
        download(&coordinator, &details, dir).await?;
    }
    Ok(())
}

/// The web form's fields, as text, from the flags; `JobForm::validate` is the one judge of what is valid.
fn job_form(args: &SubmitArgs) -> Result<JobForm, SubmitError> {
    let Some((width, height)) = args.resolution.split_once(['x', 'X']) else {
        return Err(SubmitError::InvalidJob(format!(
            "resolution: {:?} is not WIDTHxHEIGHT, like 1920x1080",
            args.resolution
        )));
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| args.scene.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default());
    let form = JobForm {
        name,
        frames: args.frames.clone(),
        chunk_size: args.chunk_size.clone(),
        tiles: args.tiles.clone().unwrap_or_default(),
        resolution_x: width.to_string(),
        resolution_y: height.to_string(),
        resolution_percent: args.percent.clone(),
        samples: args.samples.clone(),
        engine: args.engine.clone(),
        format: args.format.clone(),
        tier: args.tier.clone(),
        min_vram_gib: args.min_vram_gib.clone().unwrap_or_default(),
        gpu_model: args.gpu_model.clone().unwrap_or_default(),
        tags: args.tags.clone().unwrap_or_default(),
        budget: args.budget.clone().unwrap_or_default(),
        max_task_minutes: args.max_task_minutes.map(|minutes| minutes.to_string()).unwrap_or_default(),
    };
    form.validate().map_err(|errors| {
        let text = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        SubmitError::InvalidJob(text)
    })?;
    Ok(form)
}

/// Opens the scene for streaming; a directory or an unreadable file is refused before anything is sent.
async fn open_scene(path: &Path) -> Result<(tokio::fs::File, u64), SubmitError> {
    let scene_error = |source| SubmitError::Scene { path: path.to_path_buf(), source };
    let file = tokio::fs::File::open(path).await.map_err(scene_error)?;
    let metadata = file.metadata().await.map_err(scene_error)?;
    if !metadata.is_file() {
        return Err(scene_error(std::io::Error::other("not a file")));
    }
    Ok((file, metadata.len()))
}

/// The coordinator's REST API as one API key sees it.
struct Coordinator {
    http: reqwest::Client,
    /// Without a trailing slash, so paths can be appended as they are written in the API.
    base: String,
    api_key: String,
}

impl Coordinator {
    fn new(url: &str, api_key: &str) -> Result<Self, SubmitError> {
        let parsed = url::Url::parse(url).map_err(|_| SubmitError::BadUrl(url.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SubmitError::BadUrl(url.to_string()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|source| SubmitError::Transport { what: "starting the HTTP client", source })?;
        Ok(Self { http, base: url.trim_end_matches('/').to_string(), api_key: api_key.to_string() })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.api_key)
    }

    /// Sends `request`; any answer but a success becomes an error carrying the coordinator's own message.
    async fn send(&self, what: &'static str, request: RequestBuilder) -> Result<Response, SubmitError> {
        let response = request.send().await.map_err(|source| self.transport(what, source))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(SubmitError::Unauthorized);
        }
        // The API answers `{"error": "..."}`; anything else (a proxy's HTML page) is summed up by its status.
        let message = match response.json::<serde_json::Value>().await {
            Ok(body) => body["error"].as_str().map_or_else(|| status.to_string(), str::to_string),
            Err(_) => status.to_string(),
        };
        Err(SubmitError::Refused { what, message })
    }

    /// Sends the request built by `build` and reads its JSON answer.
    async fn json<T: DeserializeOwned>(
        &self,
        what: &'static str,
        request: RequestBuilder,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, SubmitError> {
        let response = self.send(what, build(request)).await?;
        response.json().await.map_err(|source| self.transport(what, source))
    }

    fn transport(&self, what: &'static str, source: reqwest::Error) -> SubmitError {
        if source.is_connect() {
            SubmitError::Unreachable(self.base.clone())
        } else {
            SubmitError::Transport { what, source }
        }
    }

    /// Streams the file as the request body, so a scene of any size costs no more memory than a read buffer.
    async fn upload_scene(&self, scene: tokio::fs::File, bytes: u64) -> Result<UploadedScene, SubmitError> {
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(scene));
        let request = self
            .request(Method::PUT, "/api/v1/scenes")
            .header(reqwest::header::CONTENT_LENGTH, bytes)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream");
        self.json("uploading the scene", request, |request| request.body(body)).await
    }

    async fn job(&self, id: i64) -> Result<JobDetails, SubmitError> {
        self.json("reading the job", self.request(Method::GET, &format!("/api/v1/jobs/{id}")), |r| r).await
    }
}

/// Polls the job until it ends: a bar of tasks done (drawn only on a terminal) and one line per state change.
async fn follow(coordinator: &Coordinator, id: i64) -> Result<JobDetails, SubmitError> {
    let bar = progress_bar();
    let mut last_state = None;
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    loop {
        ticks.tick().await;
        let details = coordinator.job(id).await?;
        let summary = &details.summary;
        bar.set_length(summary.tasks_total.max(0) as u64);
        bar.set_position(summary.tasks_done.max(0) as u64);
        bar.set_message(summary.state.as_str());
        if Some(summary.state) != last_state {
            // `suspend`, not `println`: a hidden bar drops its `println`s, and the lines matter most in scripts.
            bar.suspend(|| println!("job {id} {}", summary.state));
            last_state = Some(summary.state);
        }
        match summary.state {
            JobState::Completed => {
                bar.finish_and_clear();
                return Ok(details);
            }
            JobState::Failed | JobState::Cancelled => {
                bar.finish_and_clear();
                return Err(SubmitError::JobEnded {
                    id,
                    state: summary.state.to_string(),
                    failed: summary.tasks_failed,
                    total: summary.tasks_total,
                });
            }
            _ => {}
        }
    }
}

fn progress_bar() -> ProgressBar {
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} tasks · {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    // On stdout, beside the state lines; indicatif hides it by itself when stdout is a pipe or a file.
    ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stdout()).with_style(style)
}

/// Every frame the job's tasks rendered, once each (the tiles of a tiled job share their frame).
fn frames_of(details: &JobDetails) -> BTreeSet<i64> {
    details.tasks.iter().flat_map(|task| task.frames.split(',')).filter_map(|frame| frame.trim().parse().ok()).collect()
}

/// `frame_0001.png`, `frame_-001.png`: zero-padded like Blender's own `####`, so the files sort by frame.
fn frame_file_name(frame: i64, extension: &str) -> String {
    format!("frame_{frame:04}.{extension}")
}

async fn download(coordinator: &Coordinator, details: &JobDetails, dir: &Path) -> Result<(), SubmitError> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SubmitError::Write { path, source }
    };
    tokio::fs::create_dir_all(dir).await.map_err(write_error(dir))?;
    let frames = frames_of(details);
    let extension = details.spec.format.extension();
    for &frame in &frames {
        let path = dir.join(frame_file_name(frame, extension));
        let url = format!("/api/v1/jobs/{}/frames/{frame}", details.summary.id);
        let response = coordinator.send("downloading a frame", coordinator.request(Method::GET, &url)).await?;
        save(coordinator, response, &path).await?;
    }
    println!("downloaded {} frames to {}", frames.len(), dir.display());
    Ok(())
}

/// Streams a response body to `path` through a `.part` file, so an interrupted download never looks finished.
async fn save(coordinator: &Coordinator, response: Response, path: &Path) -> Result<(), SubmitError> {
    let partial = path.with_extension("part");
    let write_error = |source| SubmitError::Write { path: path.to_path_buf(), source };
    let mut file = tokio::fs::File::create(&partial).await.map_err(write_error)?;
    let mut body = response.bytes_stream();
    while let Some(chunk) =
        body.try_next().await.map_err(|source| coordinator.transport("downloading a frame", source))?
    {
        file.write_all(&chunk).await.map_err(write_error)?;
    }
    file.flush().await.map_err(write_error)?;
    drop(file);
    tokio::fs::rename(&partial, path).await.map_err(write_error)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SubmitArgs,
    }

    fn args(extra: &[&str]) -> SubmitArgs {
        let base = ["pictor", "--api-key", "pk_x", "shots/cube.blend"];
        Wrapper::parse_from(base.iter().chain(extra)).args
    }

    #[test]
    fn defaults_make_a_valid_job_named_after_the_file() {
        let form = job_form(&args(&[])).expect("valid");
        assert_eq!((form.name.as_str(), form.frames.as_str()), ("cube", "1"));
        assert_eq!((form.resolution_x.as_str(), form.resolution_y.as_str()), ("1920", "1080"));
        assert!(form.tiles.is_empty(), "an animation, not a tiled frame");
    }

    #[test]
    fn bad_fields_are_named_in_one_message() {
        let error = job_form(&args(&["--frames", "5-1", "--engine", "povray"])).expect_err("invalid").to_string();
        assert!(error.contains("frames") && error.contains("engine"), "{error}");
        let error = job_form(&args(&["--resolution", "1920"])).expect_err("invalid").to_string();
        assert!(error.contains("resolution"), "{error}");
    }

    #[test]
    fn frame_files_are_padded_like_blender_names_them() {
        assert_eq!(frame_file_name(1, "png"), "frame_0001.png");
        assert_eq!(frame_file_name(-1, "exr"), "frame_-001.exr");
        assert_eq!(frame_file_name(12345, "jpg"), "frame_12345.jpg");
    }
}
