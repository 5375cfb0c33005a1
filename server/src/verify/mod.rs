//! Verification: cheap checks of every result, the planner (which results checkers re-render), verdicts by quorum,
//! audits of checkers, and the checkers' side of the agent protocol.

pub mod agent_api;
pub mod audit;
pub mod cheap_checks;
pub mod error;
pub mod planner;
pub mod service;
