//! HTTP surface: health, metrics, the event stream and the dashboard, wired into one router.

pub mod accounts;
pub mod agent_tasks;
pub mod checkers;
pub mod dashboard;
pub mod errors;
pub mod health;
pub mod rate_limit;
pub mod request_bounds;
pub mod workers;

use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Every route the coordinator answers.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(crate::metrics::metrics_endpoint))
        .route("/api/v1/events", get(crate::events::sse::events))
        .merge(crate::auth::routes::router())
        .merge(crate::auth::oidc_routes::router())
        .merge(crate::nodes::agent_api::router())
        .merge(workers::router())
        .merge(checkers::router())
        .merge(crate::render::jobs_api::router())
        .merge(agent_tasks::router())
        .merge(crate::verify::agent_api::router())
        .merge(crate::money::api::router())
        .merge(crate::ai::openai_api::router())
        .merge(crate::ai::worker_link::router())
        .merge(crate::ai::check_api::router())
        .merge(crate::ai::hosting::router())
        .merge(crate::ai::files_api::router())
        .merge(crate::ai::batches_api::router())
        .merge(crate::ai::trainings_api::router())
        .merge(crate::ai::classifications::router())
        .merge(crate::reference::router());
    dashboard::mount(api, &state)
        .layer(axum::middleware::map_response(|response| async { errors::with_retry_after(response) }))
        .layer(axum::middleware::from_fn(request_bounds::bound))
        .layer(axum::middleware::from_fn_with_state(state.rate_limits.clone(), rate_limit::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard::guard))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::count_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
