//! The one narrow trait every kind of work implements, and the registry the agent API dispatches through. The
//! engine leases, tracks attempts, stores outputs per attempt, checks, pays and refunds the same way for every
//! kind; a kind says only what an agent is told to do, where its outputs go, and how a finished attempt is judged.

use std::collections::BTreeMap;
use std::sync::Arc;

use pictor_core::agent_protocol::TaskAssignment;
use pictor_core::workloads::WorkloadKind;

use crate::db::jobs::JobRenderInfo;
use crate::db::nodes::NodeId;
use crate::db::tasks::Lease;
use crate::db::verifications::NewVerification;
use crate::db::{DbError, JobId, TaskId};

/// What a kind makes of a finished attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Accept it: checked by checkers as planned here, or (`None`) accepted unchecked.
    Accept(Option<NewVerification>),
    /// The output is not valid: the attempt fails with this reason and the task goes to another try.
    Refuse(String),
}

/// How long a lease lasts and the time limit a task gets when its job sets none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseLimits {
    pub lease_ms: u64,
    pub default_max_ms: u64,
}

/// Where one uploaded output of an attempt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputSlot<'a> {
    pub job: JobId,
    pub task: TaskId,
    pub attempt: i64,
    /// The output's number within the task (a frame number when rendering).
    pub index: i64,
    /// Unique per upload.
    pub upload: &'a str,
    pub extension: &'a str,
}

/// Why a kind could not handle a request.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error("no kind of work {0:?} runs on this coordinator")]
    Unsupported(WorkloadKind),
    #[error("job {job}: {why}")]
    BadJob { job: JobId, why: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Internal(String),
}

/// One kind of work.
#[async_trait::async_trait]
pub trait Workload: Send + Sync {
    fn kind(&self) -> WorkloadKind;

    /// What the agent holding `lease` is told to do.
    fn assignment(
        &self,
        lease: &Lease,
        job: &JobRenderInfo,
        limits: LeaseLimits,
    ) -> Result<TaskAssignment, WorkloadError>;

    /// The object key of one uploaded output: one object per upload, under its attempt, so that a late or repeated
    /// upload can never overwrite (or, refused, delete) an accepted output.
    fn output_key(&self, slot: &OutputSlot<'_>) -> String {
        let OutputSlot { job, task, attempt, index, upload, extension } = *slot;
        format!("outputs/{job}/{task}/{attempt}/{index}-{upload}.{extension}")
    }

    /// Judges the outputs `node` uploaded for this attempt: refused, accepted unchecked, or checked as planned.
    async fn intake(&self, task: TaskId, attempt: i64, node: NodeId) -> Result<Intake, WorkloadError>;
}

/// The assignment of work that is not a render (an AI batch chunk, a training run): one output (index 0), no scene
/// and no render settings; the caller adds what its kind asks of the agent.
pub fn single_output_assignment(lease: &Lease, limits: LeaseLimits) -> TaskAssignment {
    TaskAssignment {
        task_id: lease.task.into(),
        job_id: lease.job.into(),
        attempt: lease.attempt,
        frames: vec![0],
        tile: None,
        settings: Default::default(),
        scene_sha256: String::new(),
        lease_ms: limits.lease_ms,
        max_render_ms: limits.default_max_ms,
        ai_batch: None,
        ai_train: None,
    }
}

/// The kinds this coordinator runs, built once at start-up.
#[derive(Clone, Default)]
pub struct Workloads {
    kinds: BTreeMap<WorkloadKind, Arc<dyn Workload>>,
}

impl Workloads {
    pub fn with(mut self, workload: Arc<dyn Workload>) -> Self {
        self.kinds.insert(workload.kind(), workload);
        self
    }

    /// The implementation of `kind`.
    pub fn of(&self, kind: WorkloadKind) -> Result<&dyn Workload, WorkloadError> {
        self.kinds.get(&kind).map(|workload| workload.as_ref()).ok_or(WorkloadError::Unsupported(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait::async_trait]
    impl Workload for Nothing {
        fn kind(&self) -> WorkloadKind {
            WorkloadKind::Render
        }

        fn assignment(&self, _: &Lease, job: &JobRenderInfo, _: LeaseLimits) -> Result<TaskAssignment, WorkloadError> {
            Err(WorkloadError::BadJob { job: JobId(0), why: job.spec_json.clone() })
        }

        async fn intake(&self, _: TaskId, _: i64, _: NodeId) -> Result<Intake, WorkloadError> {
            Ok(Intake::Accept(None))
        }
    }

    #[test]
    fn outputs_are_keyed_per_attempt_and_upload() {
        let slot = OutputSlot { job: JobId(1), task: TaskId(2), attempt: 3, index: 7, upload: "abc", extension: "png" };
        assert_eq!(Nothing.output_key(&slot), "outputs/1/2/3/7-abc.png");
        let again = OutputSlot { upload: "def", ..slot };
        assert_ne!(Nothing.output_key(&slot), Nothing.output_key(&again), "a later upload never overwrites");
    }

    #[test]
    fn a_kind_without_an_implementation_is_refused_by_name() {
        let none = Workloads::default();
        assert!(matches!(none.of(WorkloadKind::Render), Err(WorkloadError::Unsupported(WorkloadKind::Render))));
        let some = Workloads::default().with(Arc::new(Nothing));
        assert_eq!(some.of(WorkloadKind::Render).expect("registered").kind(), WorkloadKind::Render);
    }
}
