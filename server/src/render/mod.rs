//! Render jobs: scene uploads, job submission and listing (REST), and rendering as a kind of work.

pub mod archive;
pub mod blobs;
pub mod estimate;
pub mod jobs_api;
pub mod service;
pub mod stitch;
pub mod workload;
