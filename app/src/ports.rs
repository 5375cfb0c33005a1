//! What the dashboard's server functions need from the coordinator, as narrow traits it provides via context.

use std::sync::Arc;

use pictor_core::network::NetworkSample;

/// Reads the network's current activity (the coordinator implements it over its database).
#[async_trait::async_trait]
pub trait NetworkStatsSource: Send + Sync {
    async fn current(&self) -> Result<NetworkSample, String>;
}

/// The form in which [`NetworkStatsSource`] is put into Leptos context.
pub type SharedNetworkStats = Arc<dyn NetworkStatsSource>;
