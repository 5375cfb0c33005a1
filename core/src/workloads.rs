//! The kinds of work the network runs. Each job is of one kind; its tasks are leased only to workers that offer
//! that kind, and the coordinator handles each kind through its own implementation of the engine's workload trait.

use serde::{Deserialize, Serialize};

/// One kind of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// Frames (or tiles of frames) rendered by Blender.
    Render,
    /// Chunks of the lines of an AI batch (OpenAI's Batch format), run on a worker's inference engine.
    AiBatch,
    /// A training run (one task): checkpoints go up as it trains, a checker replays a segment of its steps.
    AiTrain,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 3] = [WorkloadKind::Render, WorkloadKind::AiBatch, WorkloadKind::AiTrain];

    /// The name stored with jobs and offered by workers.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Render => "render",
            WorkloadKind::AiBatch => "ai_batch",
            WorkloadKind::AiTrain => "ai_train",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_back_from_its_name() {
        for kind in WorkloadKind::ALL {
            assert_eq!(WorkloadKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(WorkloadKind::parse("mining"), None);
        assert_eq!(serde_json::to_string(&WorkloadKind::Render).expect("json"), "\"render\"");
    }
}
