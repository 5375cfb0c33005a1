//! HTTP tests: a real coordinator on port 0, talked to like a browser or an operator would.

mod agent_process;
mod agents;
mod ai_api;
mod ai_verification;
mod auth;
mod blender_versions;
mod cli;
mod coordinator_restart;
mod events;
mod fuzz;
mod health;
mod helpers;
mod late_uploads;
mod money;
mod money_blender;
mod oidc;
mod openai_sdk;
mod pages;
mod rate_limits;
mod render_api;
mod render_blender;
mod render_safety;
mod sign_in_with_aptos;
mod sqlite_writers;
mod submit_cli;
mod verification_blender;
