//! Render jobs: scene uploads, job submission and listing (REST), and the agent's side of tasks.

pub mod agent_tasks;
pub mod archive;
pub mod blobs;
pub mod estimate;
pub mod jobs_api;
pub mod service;
pub mod stitch;
