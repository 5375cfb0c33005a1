//! The Pictor node agent as a library: the `pictor-agent` binary's parts, shared with the benchmarks (which re-render
//! and compare crops the way a checker does).

pub mod ai;
pub mod backoff;
pub mod benchmark;
pub mod blender;
pub mod cheat;
pub mod checks;
pub mod client;
pub mod compare;
pub mod config;
pub mod crop_render;
pub mod exec;
pub mod hardware;
pub mod metrics;
pub mod nvidia;
pub mod outbox;
pub mod render;
pub mod render_log;
pub mod sandbox;
pub mod scene_cache;
pub mod shutdown;
pub mod status;
pub mod tasks;
pub mod telemetry;
pub mod terminal;
pub mod work_dir;
pub mod worker;
