//! The shared state every HTTP handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use object_store::ObjectStore;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthSettings;
use crate::config::OidcConfig;
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
    pub oidc_config: OidcConfig,
}
