//! The shared state every HTTP handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

use crate::auth::oidc::OidcProvider;
use crate::auth::AuthSettings;
use crate::db::Db;
use crate::events::EventBus;
use crate::metrics::Metrics;

/// Handles to the coordinator's services; handlers extract only the part they need.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub bus: EventBus,
    pub metrics: Metrics,
    pub store: Arc<dyn ObjectStore>,
    pub shutdown: CancellationToken,
    pub auth: AuthSettings,
    /// Sign-in with Google or another OpenID Connect provider, when configured.
    pub oidc: Option<Arc<OidcProvider>>,
    /// The heartbeat interval agents are told to keep.
    pub heartbeat_interval_ms: u64,
    #[from_ref(skip)]
    pub max_scene_bytes: u64,
    #[from_ref(skip)]
    pub task_lease_ms: u64,
    /// A task's render time limit when its job sets none.
    #[from_ref(skip)]
    pub max_task_ms: u64,
    /// The services every handler and server function uses, built once.
    #[from_ref(skip)]
    pub services: Arc<crate::services::Services>,
    /// Announces committed changes (task events, wake-ups for long-polling agents): the one place that does.
    #[from_ref(skip)]
    pub publisher: crate::engine::changes::Publisher,
    /// Runs the task engine's transitions.
    #[from_ref(skip)]
    pub engine: crate::engine::Engine,
    #[from_ref(skip)]
    pub verification: crate::config::VerificationConfig,
    #[from_ref(skip)]
    pub ledger: crate::config::LedgerConfig,
    /// Requests per minute on sign-in (per client address) and the API (per account and API key).
    #[from_ref(skip)]
    pub rate_limits: Arc<crate::api::rate_limit::RateLimits>,
    /// Sign-outs, told to the event streams their sessions opened.
    #[from_ref(skip)]
    pub session_ends: crate::auth::session_ends::SessionEnds,
}
