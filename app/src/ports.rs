//! What the dashboard's server functions need from the coordinator, as narrow traits it provides via context.

use std::sync::Arc;

use pictor_core::accounts::{AccountOverview, CreatedApiKey, Viewer};
use pictor_core::checkers::CheckersOverview;
use pictor_core::jobs::{AttemptView, JobDetails, JobForm, JobSummary};
use pictor_core::ledger::{CreditView, Estimate, Payout, RewardsOverview};
use pictor_core::network::NetworkSample;
use pictor_core::signin::SignInOptions;
use pictor_core::workers::{IssuedNodeConfig, WorkerDetails, WorkerSettings, WorkerTaskPage, WorkersOverview};

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
    /// Sets what the AI API allows one of the viewer's keys.
    async fn set_api_key_limits(
        &self,
        viewer: &Viewer,
        key_id: i64,
        limits: pictor_core::accounts::ApiKeyLimits,
    ) -> Result<(), AppError>;
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
    /// Page `page` (from 1) of the worker's task history, newest first.
    async fn task_history(&self, viewer: &Viewer, worker: i64, page: i64) -> Result<WorkerTaskPage, AppError>;
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

/// The viewer's money: credit and ledger, rewards, payouts, notifications; and, for operators, grants and payouts.
#[async_trait::async_trait]
pub trait LedgerService: Send + Sync {
    /// `kind` filters the ledger (`None`: everything).
    async fn credit(&self, viewer: &Viewer, kind: Option<String>) -> Result<CreditView, AppError>;
    /// Only the viewer's balances (the Overview's, refreshed on every live event: no ledger history).
    async fn balances(&self, viewer: &Viewer) -> Result<pictor_core::ledger::LedgerOverview, AppError>;
    async fn rewards(&self, viewer: &Viewer) -> Result<RewardsOverview, AppError>;
    async fn request_payout(&self, viewer: &Viewer, amount: &str, address: &str) -> Result<(), AppError>;
    async fn mark_notifications_read(&self, viewer: &Viewer) -> Result<(), AppError>;
    /// How many of the viewer's notifications are unread (the bell in the top bar).
    async fn unread_notifications(&self, viewer: &Viewer) -> Result<i64, AppError>;
    /// Where notifications are also sent (signed with `secret`); an empty URL turns it off.
    async fn set_webhook(&self, viewer: &Viewer, url: &str, secret: &str) -> Result<(), AppError>;
    /// Operators only: adds credit to a user's account.
    async fn grant(&self, viewer: &Viewer, user: i64, amount: &str, memo: &str) -> Result<(), AppError>;
    /// Operators only: the payouts waiting for a decision.
    async fn requested_payouts(&self, viewer: &Viewer) -> Result<Vec<Payout>, AppError>;
    /// Operators only: marks a payout paid (with the transaction's reference) or rejected (with a reason).
    async fn decide_payout(&self, viewer: &Viewer, payout: i64, paid: bool, reference: &str) -> Result<(), AppError>;
    /// What a job would cost now.
    async fn estimate(&self, viewer: &Viewer, form: JobForm) -> Result<Estimate, AppError>;
}

/// The form in which [`LedgerService`] is put into Leptos context.
pub type SharedLedger = Arc<dyn LedgerService>;

/// The viewer's AI usage and the models they can call.
#[async_trait::async_trait]
pub trait AiDashboardService: Send + Sync {
    async fn overview(&self, viewer: &Viewer) -> Result<pictor_core::ai::AiOverview, AppError>;
    /// The models the viewer may call, with the workers holding each warm.
    async fn catalogue(&self, viewer: &Viewer) -> Result<Vec<pictor_core::ai::CatalogueModel>, AppError>;
    /// The viewer's uploaded models, their deployments and the workers holding them now.
    async fn hosted(&self, viewer: &Viewer) -> Result<Vec<pictor_core::ai::HostedModel>, AppError>;
}

/// The form in which [`AiDashboardService`] is put into Leptos context.
pub type SharedAi = Arc<dyn AiDashboardService>;

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
