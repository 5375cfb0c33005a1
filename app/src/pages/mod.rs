//! One module per routed page.

pub mod account;
pub mod ai;
pub mod checkers;
pub mod credit;
pub mod job;
pub mod not_found;
pub mod overview;
pub mod reference;
pub mod rendering;
pub mod rewards;
pub mod signin;
pub mod worker_details;
pub mod workers;
