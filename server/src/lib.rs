//! The Pictor coordinator: dashboard, agent API, scheduler, verification, ledger, events.

pub mod admin;
pub mod ai;
pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod engine;
pub mod events;
pub mod instance_lock;
pub mod metrics;
pub mod money;
pub mod nodes;
pub mod reference;
pub mod render;
pub mod services;
pub mod startup;
pub mod state;
pub mod storage;
pub mod submit;
pub mod sweeper;
pub mod telemetry;
pub mod testing;
pub mod verify;
