//! Mounts the Leptos dashboard: server-rendered pages, server functions, static site files.

use std::sync::Arc;

use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use pictor_app::ports::{
    NetworkStatsSource, SharedAccounts, SharedAi, SharedCheckers, SharedJobs, SharedLedger, SharedNetworkStats,
    SharedWorkers,
};
use pictor_app::{shell, App};
use pictor_core::network::NetworkSample;

use crate::clock::now_ms;
use crate::db::Db;
use crate::state::AppState;

/// The database as the dashboard's source of network figures.
struct DbNetworkStats(Db);

#[async_trait::async_trait]
impl NetworkStatsSource for DbNetworkStats {
    async fn current(&self) -> Result<NetworkSample, String> {
        self.0.network_sample(now_ms()).await.map_err(|error| error.to_string())
    }
}

/// Every server function the dashboard registered: its path and method (for fuzzing them all).
pub fn server_function_paths() -> Vec<(String, axum::http::Method)> {
    let mut paths: Vec<(String, axum::http::Method)> =
        leptos::server_fn::axum::server_fn_paths().map(|(path, method)| (path.to_string(), method)).collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    paths
}

/// Adds the page routes and server functions to `router`; unknown paths fall through to the site files.
pub fn mount(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let network_stats: SharedNetworkStats = Arc::new(DbNetworkStats(state.db.clone()));
    let services = &state.services;
    let accounts: SharedAccounts = services.accounts.clone();
    let workers: SharedWorkers = services.workers.clone();
    let checkers: SharedCheckers = services.checkers.clone();
    let ledger: SharedLedger = services.ledger.clone();
    let jobs: SharedJobs = services.jobs.clone();
    let ai: SharedAi = Arc::new(services.ai.clone());
    let options = state.leptos_options.clone();
    router
        .leptos_routes_with_context(
            state,
            routes,
            move || {
                provide_context(network_stats.clone());
                provide_context(accounts.clone());
                provide_context(workers.clone());
                provide_context(jobs.clone());
                provide_context(checkers.clone());
                provide_context(ledger.clone());
                provide_context(ai.clone());
            },
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
}
