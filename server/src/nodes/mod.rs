//! Worker and checker nodes: their tokens and config files, and the agent API.

pub mod agent_api;
pub mod agent_auth;
pub mod checkers;
pub mod config_file;
pub mod demo;
pub mod registry;
pub mod service;
