//! Render jobs: scene uploads, job submission and listing (REST), and the agent's side of tasks.

pub mod agent_tasks;
pub mod blobs;
pub mod jobs_api;
