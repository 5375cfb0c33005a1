//! Money as a service: the Credit and Rewards pages' service, the REST API for the ledger, grants and payouts, the
//! payment provider's signed webhook, epochs closing on time, and notifications delivered to users' webhooks and
//! announced to their open dashboards.

pub mod api;
pub mod epochs;
pub mod service;
pub mod signature;
pub mod unread;
pub mod webhook_target;
pub mod webhooks;
