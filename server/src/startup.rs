//! Builds the coordinator from its configuration and runs it until told to stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::db::{Db, DbError};
use crate::events::sampler::NetworkSampler;
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::storage::StorageError;

/// Why the coordinator could not start or stopped abnormally. Each message is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    InstanceLock(#[from] crate::instance_lock::InstanceLockError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Oidc(#[from] crate::auth::oidc::OidcSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write {path}: {source}")]
    WriteFile { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A built coordinator, listening but not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    sampler: NetworkSampler,
    sweeper: crate::sweeper::Sweeper,
    epochs: crate::money::epochs::EpochCloser,
    webhooks: crate::money::webhooks::WebhookSender,
    unread: crate::money::unread::UnreadAnnouncer,
    address: SocketAddr,
    /// Keeps a second coordinator off this SQLite database until this one stops.
    instance_lock: Option<crate::instance_lock::InstanceLock>,
}

impl Application {
    /// Binds the port first (so "port in use" is reported before any slow work), then opens the
    /// database and applies migrations, the object store, and the background services.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind { addr: config.listen, source })?;
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|source| StartupError::DataDir { path: config.data_dir.clone(), source })?;

        let instance_lock = crate::instance_lock::InstanceLock::acquire(&config.database_url())?;
        let db = Db::connect(&config.database_url()).await?;
        db.migrate().await?;
        crate::ai::seed_catalogue(&db, &config.ai).await?;
        let store = crate::storage::open(config.object_store_url.as_deref(), &config.data_dir)?;
        let bus = EventBus::new(1024);
        let metrics = Metrics::new();
        let sampler = NetworkSampler::new(
            db.clone(),
            bus.clone(),
            metrics.clone(),
            Duration::from_millis(config.stats_interval_ms),
        );
        let publisher = crate::engine::changes::Publisher::new(db.clone(), bus.clone());
        let engine = crate::engine::Engine::publishing(db.clone(), publisher.clone());
        let auth = crate::auth::AuthSettings::new(&config, address);
        let oidc = crate::auth::oidc::OidcProvider::from_config(&config.oidc, &auth.public_origin)?.map(Arc::new);
        let services = Arc::new(crate::services::Services::build(crate::services::Parts {
            db: &db,
            store: &store,
            bus: &bus,
            engine: &engine,
            config: &config,
            public_origin: &auth.public_origin,
            oidc_provider: oidc.as_ref().map(|provider| provider.name.clone()),
        }));
        let state = AppState {
            leptos_options: leptos_options(&config, address),
            db: db.clone(),
            bus,
            metrics,
            store,
            shutdown: CancellationToken::new(),
            auth,
            oidc,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            max_scene_bytes: config.max_scene_bytes,
            task_lease_ms: config.task_lease_ms,
            max_task_ms: config.max_task_ms,
            services,
            publisher,
            engine,
            verification: config.verification.clone(),
            ledger: config.ledger.clone(),
            rate_limits: Arc::new(crate::api::rate_limit::RateLimits::new(&config.limits)),
            session_ends: crate::auth::session_ends::SessionEnds::new(),
        };
        let router = crate::api::router(state.clone());
        tracing::info!(%address, database = state.db.backend().name(), "coordinator ready");
        let sweeper = crate::sweeper::Sweeper::standard(
            &state.db,
            &state.bus,
            &state.publisher,
            &crate::sweeper::SweepSettings {
                heartbeat_interval_ms: config.heartbeat_interval_ms,
                unchecked_after_ms: config.verification.unchecked_after_ms,
                max_task_ms: config.max_task_ms,
            },
        );
        let epochs = crate::money::epochs::EpochCloser::new(state.db.clone(), config.ledger.epoch_ms);
        let webhooks =
            crate::money::webhooks::WebhookSender::new(state.db.clone(), config.ledger.webhook_allowed_hosts.clone());
        let unread = crate::money::unread::UnreadAnnouncer::new(state.db.clone(), state.bus.clone()).await?;
        Ok(Self { listener, router, state, sampler, sweeper, epochs, webhooks, unread, address, instance_lock })
    }

    /// The port actually bound (useful with port 0 in tests).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Cancelling this token stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then stops the background services.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let shutdown = self.state.shutdown.clone();
        let sampler = tokio::spawn(self.sampler.run(shutdown.clone()));
        let sweeper = tokio::spawn(self.sweeper.run(shutdown.clone()));
        let epochs = tokio::spawn(self.epochs.run(shutdown.clone()));
        let webhooks = tokio::spawn(self.webhooks.run(shutdown.clone()));
        let unread = tokio::spawn(self.unread.run(shutdown.clone()));
        let placement = tokio::spawn(crate::ai::placement::keep_placed(
            self.state.db.clone(),
            self.state.services.ai.gateway.clone(),
            shutdown.clone(),
        ));
        let batches = tokio::spawn(crate::ai::batches_api::close_batches(self.state.clone()));
        // Small writes go out at once (no Nagle): streamed tokens and the agents' messages must not wait for the
        // peer's delayed ACK (40 ms on Linux).
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let served =
            // The peer's address reaches the handlers: sign-in is rate-limited per client address.
            axum::serve(listener, self.router.into_make_service_with_connect_info::<std::net::SocketAddr>())
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .await;
        shutdown.cancel();
        let _ = sampler.await;
        let _ = sweeper.await;
        let _ = epochs.await;
        let _ = webhooks.await;
        let _ = unread.await;
        let _ = placement.await;
        let _ = batches.await;
        self.state.db.close().await;
        drop(self.instance_lock);
        served.map_err(StartupError::Serve)
    }
}

fn leptos_options(config: &Config, address: SocketAddr) -> LeptosOptions {
    LeptosOptions::builder()
        // Must equal the `name` in the workspace's [[workspace.metadata.leptos]]: it names /pkg/pictor.{js,wasm,css}.
        .output_name("pictor")
        .site_root(config.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(address)
        .build()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
