//! Rendering, the first kind of work: a lease becomes Blender's settings, tile and time limit from the job's spec,
//! and a finished attempt's frames are inspected and, by the worker's trust, re-rendered in crops by checkers.

use std::sync::Arc;

use pictor_core::agent_protocol::{TaskAssignment, TileRegion};
use pictor_core::jobs::{tiles, JobSpec, Split};
use pictor_core::workloads::WorkloadKind;

use crate::db::jobs::JobRenderInfo;
use crate::db::nodes::NodeId;
use crate::db::tasks::Lease;
use crate::db::TaskId;
use crate::engine::workload::{Intake, LeaseLimits, Workload, WorkloadError};
use crate::verify::service::{Verifier, VerifyError};

/// Rendering with Blender.
pub struct RenderWorkload {
    pub verifier: Arc<Verifier>,
}

#[async_trait::async_trait]
impl Workload for RenderWorkload {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Render
    }

    fn assignment(
        &self,
        lease: &Lease,
        job: &JobRenderInfo,
        limits: LeaseLimits,
    ) -> Result<TaskAssignment, WorkloadError> {
        let spec: JobSpec = serde_json::from_str(&job.spec_json)
            .map_err(|error| WorkloadError::BadJob { job: lease.job, why: format!("spec: {error}") })?;
        Ok(assignment(lease, &spec, &job.scene_sha256, limits))
    }

    async fn intake(&self, task: TaskId, attempt: i64, node: NodeId) -> Result<Intake, WorkloadError> {
        self.verifier.intake(task, attempt, node).await.map_err(|error| match error {
            VerifyError::Db(error) => WorkloadError::Db(error),
            other => WorkloadError::Internal(other.to_string()),
        })
    }
}

/// The render settings, tile and time limit of a lease, from the job's spec (`default_max_ms` when the job sets no
/// limit of its own).
fn assignment(lease: &Lease, spec: &JobSpec, scene_sha256: &str, limits: LeaseLimits) -> TaskAssignment {
    let tile = match (&spec.split, lease.tile_index) {
        (Split::Tiles { tiles: count, .. }, Some(index)) => {
            let (width, height) = spec.output_size();
            tiles(width, height, *count)
                .into_iter()
                .find(|tile| i64::from(tile.index) == index)
                .map(|tile| TileRegion { min_x: tile.min_x, max_x: tile.max_x, min_y: tile.min_y, max_y: tile.max_y })
        }
        _ => None,
    };
    TaskAssignment {
        task_id: lease.task.into(),
        job_id: lease.job.into(),
        attempt: lease.attempt,
        frames: lease.frames.split(',').filter_map(|frame| frame.trim().parse().ok()).collect(),
        tile,
        settings: spec.render_settings(),
        scene_sha256: scene_sha256.to_string(),
        lease_ms: limits.lease_ms,
        max_render_ms: spec.max_task_minutes.map_or(limits.default_max_ms, |minutes| u64::from(minutes) * 60_000),
        ai_batch: None,
        ai_train: None,
    }
}
