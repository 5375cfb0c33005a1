//! What the dashboard's server functions need from the coordinator, as narrow traits it provides via context.

use std::sync::Arc;

use pictor_core::accounts::{AccountOverview, CreatedApiKey, Viewer};
use pictor_core::checkers::CheckersOverview;
use pictor_core::jobs::{AttemptView, JobDetails, JobSummary};
use pictor_core::network::NetworkSample;
use pictor_core::signin::SignInOptions;
use pictor_core::workers::{IssuedNodeConfig, WorkerDetails, WorkerSettings, WorkersOverview};

use crate::error::AppError;

/// Reads the network's current activity (the coordinator implements it over its database).
#[async_trait::async_trait]
pub trait NetworkStatsSource: Send + Sync {
    async fn current(&self) -> Result<NetworkSample, String>;
}

/// The form in which [`NetworkStatsSource`] is put into Leptos context.
pub type SharedNetworkStats = Arc<dyn NetworkStatsSource>;

/// Account management for the signed-in viewer.
#[async_trait::async_trait]
pub trait AccountService: Send + Sync {
    async fn overview(&self, viewer: &Viewer) -> Result<AccountOverview, AppError>;
    async fn rename(&self, viewer: &Viewer, display_name: &str) -> Result<(), AppError>;
    async fn create_api_key(&self, viewer: &Viewer, name: &str) -> Result<CreatedApiKey, AppError>;
    async fn revoke_api_key(&self, viewer: &Viewer, key_id: i64) -> Result<(), AppError>;
    async fn unlink_identity(&self, viewer: &Viewer, identity_id: i64) -> Result<(), AppError>;
    /// What the sign-in page offers (public).
    async fn sign_in_options(&self) -> Result<SignInOptions, AppError>;
}

/// The form in which [`AccountService`] is put into Leptos context.
pub type SharedAccounts = Arc<dyn AccountService>;

/// The viewer's workers: list, details, onboarding (config file with a fresh token) and settings.
#[async_trait::async_trait]
pub trait WorkerService: Send + Sync {
    async fn overview(&self, viewer: &Viewer) -> Result<WorkersOverview, AppError>;
    async fn details(&self, viewer: &Viewer, worker: i64) -> Result<WorkerDetails, AppError>;
    async fn create(&self, viewer: &Viewer, name: &str) -> Result<IssuedNodeConfig, AppError>;
    /// A new token; the old one stops working at once.
    async fn reissue_token(&self, viewer: &Viewer, worker: i64) -> Result<IssuedNodeConfig, AppError>;
    async fn update_settings(&self, viewer: &Viewer, worker: i64, settings: WorkerSettings) -> Result<(), AppError>;
    async fn delete(&self, viewer: &Viewer, worker: i64) -> Result<(), AppError>;
}

/// The form in which [`WorkerService`] is put into Leptos context.
pub type SharedWorkers = Arc<dyn WorkerService>;

/// The viewer's checker nodes: list with their records, onboarding (config file with a fresh token), removal.
#[async_trait::async_trait]
pub trait CheckerService: Send + Sync {
    async fn overview(&self, viewer: &Viewer) -> Result<CheckersOverview, AppError>;
    async fn create(&self, viewer: &Viewer, name: &str) -> Result<IssuedNodeConfig, AppError>;
    /// A new token; the old one stops working at once.
    async fn reissue_token(&self, viewer: &Viewer, checker: i64) -> Result<IssuedNodeConfig, AppError>;
    async fn delete(&self, viewer: &Viewer, checker: i64) -> Result<(), AppError>;
}

/// The form in which [`CheckerService`] is put into Leptos context.
pub type SharedCheckers = Arc<dyn CheckerService>;

/// The viewer's render jobs.
#[async_trait::async_trait]
pub trait JobService: Send + Sync {
    async fn jobs(&self, viewer: &Viewer) -> Result<Vec<JobSummary>, AppError>;
    async fn job(&self, viewer: &Viewer, job: i64) -> Result<JobDetails, AppError>;
    async fn cancel(&self, viewer: &Viewer, job: i64) -> Result<(), AppError>;
    /// Renders the given tasks again (`None`: every failed task). Returns how many were requeued.
    async fn rerender(&self, viewer: &Viewer, job: i64, tasks: Option<Vec<i64>>) -> Result<u64, AppError>;
    /// Every attempt at one task of the viewer's job, with its log.
    async fn attempts(&self, viewer: &Viewer, job: i64, task: i64) -> Result<Vec<AttemptView>, AppError>;
}

/// The form in which [`JobService`] is put into Leptos context.
pub type SharedJobs = Arc<dyn JobService>;
