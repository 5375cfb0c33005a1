//! Plain Rust shared by the coordinator, the agent and the dashboard: no web framework, no database driver.

pub mod accounts;
pub mod agent_protocol;
pub mod ai;
pub mod ai_batch;
pub mod ai_training;
pub mod checkers;
pub mod events;
pub mod frames;
pub mod jobs;
pub mod ledger;
pub mod network;
pub mod overview;
pub mod sections;
pub mod signin;
pub mod states;
pub mod time;
pub mod verification;
pub mod workers;
pub mod workloads;
