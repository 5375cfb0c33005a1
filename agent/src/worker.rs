//! A node's life, as a worker or a checker: probe the machine, register, then heartbeat until told to stop,
//! reconnecting whenever the coordinator goes away; beside the heartbeats, the work loop leases and renders tasks
//! ([`crate::tasks`]) or checks results ([`crate::checks`]) while the node is registered and awake.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use indicatif::ProgressBar;
use pictor_core::agent_protocol::{Hardware, HeartbeatRequest, NodeConfigFile, RegisterRequest};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::blender::BlenderVersion;
use crate::cheat::{Cheating, Lie};
use crate::checks::Checks;
use crate::client::{Client, ClientError};
use crate::config::{self, ConfigError};
use crate::metrics::Sampler;
use crate::outbox::Outbox;
use crate::sandbox::Sandbox;
use crate::scene_cache::{self, SceneCache};
use crate::tasks::Tasks;
use crate::terminal::Terminal;
use crate::{benchmark, blender, hardware, shutdown, status, work_dir};

const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Time allowed for the goodbye: a stopping service must not hang on an absent coordinator.
const OFFLINE_TIMEOUT: Duration = Duration::from_secs(3);
/// Bounds on the interval the coordinator asks for, so a bad answer neither floods it nor silences the node.
const SHORTEST_INTERVAL: Duration = Duration::from_millis(100);
const LONGEST_INTERVAL: Duration = Duration::from_secs(600);

pub struct Options {
    pub config: PathBuf,
    pub benchmark: bool,
    pub role: Role,
}

/// What the node does with its Blender.
pub enum Role {
    /// Renders tasks; `cheat` fakes some frames (tests only).
    Worker { cheat: Option<Cheating> },
    /// Checks workers' results; `lie` claims a verdict whatever it measured (tests only).
    Checker { lie: Option<Lie> },
}

impl Role {
    fn name(&self) -> &'static str {
        match self {
            Role::Worker { .. } => "worker",
            Role::Checker { .. } => "checker",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Coordinator(#[from] ClientError),
    #[error("cannot listen for Ctrl-C and SIGTERM: {0}")]
    Signals(std::io::Error),
    #[error("work directory: {0}")]
    WorkDir(String),
}

/// Runs until a fatal error, or until Ctrl-C/SIGTERM, after which the coordinator is told the node is offline.
pub async fn run(options: Options, terminal: Terminal) -> Result<(), WorkerError> {
    let config = config::load(&options.config)?;
    let client = Client::new(&config)?;
    let mut signals = shutdown::listen().map_err(WorkerError::Signals)?;
    let role = options.role.name();
    tracing::info!("pictor-agent {AGENT_VERSION}: {role} node {} of {}", config.node_id, config.coordinator_url);
    let work_dir = work_dir::resolve(config.work_dir.as_deref());
    work_dir::ensure(&work_dir).map_err(WorkerError::WorkDir)?;
    tracing::info!("work directory: {}", work_dir.display());

    let signal = tokio::select! {
        fatal = serve(&config, &work_dir, options.benchmark, &options.role, &client, &terminal) => {
            terminal.clear();
            return Err(match fatal { Err(e) => e, Ok(never) => match never {} });
        }
        signal = signals.recv() => signal,
    };
    terminal.clear();
    tracing::info!("{signal} received: going offline");
    match client.offline(OFFLINE_TIMEOUT).await {
        Ok(()) => tracing::info!("offline"),
        Err(e) => tracing::info!("offline (the coordinator could not be told: {e})"),
    }
    Ok(())
}

/// Why the heartbeats stopped, when it is worth trying again.
enum Retry {
    Unreachable(String),
    Refused(String),
}

async fn serve(
    config: &NodeConfigFile,
    work_dir: &std::path::Path,
    run_benchmarks: bool,
    role: &Role,
    client: &Client,
    terminal: &Terminal,
) -> Result<Infallible, WorkerError> {
    // Started first so the first heartbeat has a CPU reading that spans the probing.
    let mut sampler = Sampler::new();
    let sandbox = Sandbox::detect().await;
    let own_jobs_only = takes_own_jobs_only(&sandbox, config.allow_unsandboxed);
    if own_jobs_only {
        tracing::warn!(
            "bubblewrap is not available (install the bubblewrap package): Blender cannot be boxed, so only your \
             own jobs are taken (allow_unsandboxed = true in the config takes others' too, at your own risk)"
        );
    }
    let (mut hardware, blender) = probe(&config.blender_paths, run_benchmarks, terminal, &sandbox).await;
    hardware.sandbox = sandbox_report(&sandbox, own_jobs_only).to_string();
    // Workers serve the models their config names; checkers replay other workers' answers on them.
    let models = warm_models(config).await;
    // A worker serving models also runs AI batch chunks on them.
    let batches = match (&models, role) {
        (Some(pool), Role::Worker { .. }) => Some(crate::ai::batch::BatchRunner {
            pool: pool.clone(),
            cache: pictor_inference::ModelCache::default_location(),
        }),
        _ => None,
    };
    hardware.ai_batch = batches.is_some();
    // Training (and replaying training) needs only candle, built into every agent.
    hardware.ai_train = true;
    let request = RegisterRequest { agent_version: AGENT_VERSION.into(), hardware };
    let (may_work, may_work_rx) = watch::channel(false);
    let scenes = SceneCache::new(work_dir, scene_cache::DEFAULT_LIMIT_BYTES);
    let ai_activity = crate::ai::activity::AiActivity::default();
    let work: Pin<Box<dyn Future<Output = Result<Infallible, ClientError>> + '_>> = match role {
        Role::Worker { cheat } => Box::pin(
            Tasks {
                client,
                blender,
                scenes,
                outbox: Outbox::new(work_dir),
                render_dir: work_dir.join("render"),
                terminal: terminal.clone(),
                cheat: *cheat,
                sandbox: sandbox.clone(),
                own_jobs_only,
                ai_activity: ai_activity.clone(),
                batches,
                batch_dir: crate::ai::batch::scratch_dir(work_dir),
            }
            .run(may_work_rx),
        ),
        Role::Checker { lie } => Box::pin(
            Checks {
                client,
                blender,
                scenes,
                dir: work_dir.join("checks"),
                terminal: terminal.clone(),
                lie: *lie,
                sandbox: sandbox.clone(),
                own_jobs_only,
            }
            .run(may_work_rx),
        ),
    };
    let serving = async {
        match (models, role) {
            (Some(pool), Role::Worker { .. }) => {
                crate::ai::session::serve_models(config, client, pool, ai_activity.clone(), AI_CONCURRENCY).await
            }
            (Some(pool), Role::Checker { .. }) => crate::ai::checking::check_answers(client, pool).await,
            (None, _) => std::future::pending().await,
        }
    };
    tokio::select! {
        fatal = register_and_heartbeat(&request, client, &mut sampler, terminal, &may_work) => fatal,
        fatal = work => Err(match fatal { Err(e) => e.into(), Ok(never) => match never {} }),
        never = serving => match never {},
    }
}

/// Memory the AI models a worker keeps loaded may take, in MiB.
const AI_MEMORY_BUDGET_MB: u64 = 4096;
/// AI requests a worker runs at once (the rest queue briefly).
const AI_CONCURRENCY: usize = 2;

/// Loads the AI models this worker serves (those its config names, from the local model cache), so they are warm
/// before the first request; `None` when it serves none. A worker that names models also loads the ones the
/// coordinator asks for (deployments), within its memory budget.
async fn warm_models(config: &NodeConfigFile) -> Option<crate::ai::models::ModelPool> {
    let cache = pictor_inference::ModelCache::default_location();
    if config.serve_models.is_empty() {
        return None;
    }
    let wanted = crate::ai::models::wanted(&cache, &config.serve_models);
    if wanted.is_empty() {
        tracing::warn!(
            "none of the AI models in serve_models is in {} (scripts/setup fetches them); serving only the models \
             the coordinator asks for",
            cache.root().display()
        );
    }
    let pool = crate::ai::models::ModelPool::new(AI_MEMORY_BUDGET_MB);
    let loading = pool.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        for model in &wanted {
            let started = std::time::Instant::now();
            let loaded =
                crate::ai::models::ModelSource::network(&cache, model).and_then(|source| loading.load(&source));
            match loaded {
                Ok(()) => tracing::info!(model = model.id, ms = started.elapsed().as_millis() as u64, "model loaded"),
                Err(error) => tracing::warn!(model = model.id, %error, "cannot load this model"),
            }
        }
    })
    .await;
    loaded.is_ok().then_some(pool)
}

/// Registers, then heartbeats, registering again whenever the coordinator went away or forgot the node.
async fn register_and_heartbeat(
    request: &RegisterRequest,
    client: &Client,
    sampler: &mut Sampler,
    terminal: &Terminal,
    may_work: &watch::Sender<bool>,
) -> Result<Infallible, WorkerError> {
    let line = terminal.status_line();
    let mut backoff = Backoff::default();
    loop {
        line.set_message(status::connecting());
        let retry = match client.register(request).await {
            Ok(registered) => {
                backoff.reset();
                tracing::info!(
                    "registered as node {} ({}), heartbeat every {}",
                    registered.node_id,
                    registered.name,
                    status::interval(bounded_interval(registered.heartbeat_interval_ms))
                );
                // The first heartbeat goes out at once, so the dashboard shows live figures straight away.
                let retry = heartbeats(client, sampler, &line, may_work).await;
                // No new leases until registered again (a running task carries on).
                may_work.send_replace(false);
                retry?
            }
            Err(ClientError::Unreachable(reason)) => Retry::Unreachable(reason),
            // A refused registration will be refused again: say why and stop.
            Err(fatal) => return Err(fatal.into()),
        };
        let delay = backoff.next_delay(rand::random());
        match retry {
            Retry::Unreachable(reason) => {
                tracing::warn!("coordinator unreachable, retrying in {}: {reason}", status::seconds(delay))
            }
            Retry::Refused(reason) => {
                tracing::warn!("heartbeat refused ({reason}), registering again in {}", status::seconds(delay))
            }
        }
        countdown(&line, delay, status::unreachable).await;
    }
}

/// Heartbeats until one fails; a fatal failure (token, disabled node) is an error, the others ask for a retry.
/// `may_work` follows the coordinator's sleep schedule.
async fn heartbeats(
    client: &Client,
    sampler: &mut Sampler,
    line: &ProgressBar,
    may_work: &watch::Sender<bool>,
) -> Result<Retry, ClientError> {
    let mut was_asleep = None;
    loop {
        let metrics = sampler.sample().await;
        let answer = match client.heartbeat(&HeartbeatRequest { metrics: metrics.clone() }).await {
            Ok(answer) => answer,
            Err(ClientError::Unreachable(reason)) => return Ok(Retry::Unreachable(reason)),
            Err(ClientError::Rejected(reason)) => return Ok(Retry::Refused(reason)),
            Err(fatal) => return Err(fatal),
        };
        tracing::info!(asleep = answer.asleep, cpu_percent = metrics.cpu_percent.round(), "heartbeat ok");
        may_work.send_replace(!answer.asleep);
        if was_asleep != Some(answer.asleep) {
            if answer.asleep {
                tracing::info!("asleep: inside this worker's sleep schedule, taking no work");
            } else if was_asleep.is_some() {
                tracing::info!("awake: the sleep schedule has ended");
            }
            was_asleep = Some(answer.asleep);
        }
        let interval = bounded_interval(answer.heartbeat_interval_ms);
        countdown(line, interval, |left| status::online(answer.asleep, &metrics, left)).await;
    }
}

fn bounded_interval(ms: u64) -> Duration {
    Duration::from_millis(ms).clamp(SHORTEST_INTERVAL, LONGEST_INTERVAL)
}

/// Waits `total`, refreshing the status line every second with the time left.
async fn countdown(line: &ProgressBar, total: Duration, text: impl Fn(Duration) -> String) {
    let end = Instant::now() + total;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        line.set_message(text(left));
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
    }
}

/// Whether only the owner's own jobs may be taken: Blender cannot be boxed here and the owner did not allow others'
/// scenes anyway.
fn takes_own_jobs_only(sandbox: &Sandbox, allow_unsandboxed: bool) -> bool {
    !sandbox.is_confined() && !allow_unsandboxed
}

/// What the worker's owner reads about its sandbox on Worker Details.
fn sandbox_report(sandbox: &Sandbox, own_jobs_only: bool) -> &'static str {
    match (sandbox.is_confined(), own_jobs_only) {
        (true, _) => "bubblewrap",
        (false, true) => "none (bubblewrap missing): only its owner's jobs",
        (false, false) => "none (bubblewrap missing): allowed by its owner (allow_unsandboxed)",
    }
}

/// The machine, its Blenders and (unless skipped) their benchmarks; and the Blender tasks render with (the first
/// found: the one on `PATH`, else the first configured).
async fn probe(
    blender_paths: &[String],
    run_benchmarks: bool,
    terminal: &Terminal,
    sandbox: &Sandbox,
) -> (Hardware, Option<(PathBuf, BlenderVersion)>) {
    let mut hardware = hardware::probe().await;
    let mut blenders = blender::discover(sandbox, blender_paths).await;
    if run_benchmarks {
        benchmark::run_all(sandbox, &mut blenders, terminal).await;
    } else {
        tracing::info!("benchmark renders skipped");
    }
    let renderer = blenders.first().map(|(install, version)| (PathBuf::from(&install.path), *version));
    hardware.blenders = blenders.into_iter().map(|(install, _)| install).collect();
    tracing::info!(
        "{} · {} · {} ({} cores) · {} GiB RAM · {} GPU(s) · {} Blender(s)",
        hardware.hostname,
        hardware.os,
        hardware.cpu_model,
        hardware.cpu_cores,
        status::gib(hardware.ram_bytes),
        hardware.gpus.len(),
        hardware.blenders.len(),
    );
    (hardware, renderer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_sandbox_only_the_owners_jobs_unless_allowed() {
        let boxed = Sandbox::Bubblewrap("/usr/bin/bwrap".into());
        assert!(!takes_own_jobs_only(&boxed, false));
        assert!(takes_own_jobs_only(&Sandbox::Unconfined, false));
        assert!(!takes_own_jobs_only(&Sandbox::Unconfined, true), "the owner allowed it");
        assert_eq!(sandbox_report(&boxed, false), "bubblewrap");
        assert!(sandbox_report(&Sandbox::Unconfined, true).contains("only its owner's jobs"));
        assert!(sandbox_report(&Sandbox::Unconfined, false).contains("allow_unsandboxed"));
    }

    #[test]
    fn the_heartbeat_interval_is_kept_within_sane_bounds() {
        assert_eq!(bounded_interval(0), SHORTEST_INTERVAL);
        assert_eq!(bounded_interval(5_000), Duration::from_secs(5));
        assert_eq!(bounded_interval(u64::MAX), LONGEST_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn a_countdown_refreshes_the_status_each_second() {
        let line = ProgressBar::hidden();
        let started = Instant::now();
        let seen = std::sync::Mutex::new(Vec::new());
        countdown(&line, Duration::from_millis(2_500), |left| {
            let text = status::seconds(left);
            seen.lock().unwrap().push(text.clone());
            text
        })
        .await;
        assert_eq!(started.elapsed(), Duration::from_millis(2_500));
        assert_eq!(*seen.lock().unwrap(), ["3 s", "2 s", "1 s"]);
    }
}
