//! Checker nodes as their owners see them: status, verdicts given, agreement with the quorum, audits, rewards.

use serde::{Deserialize, Serialize};

use crate::workers::NodeStatus;

/// A checker in its owner's list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckerSummary {
    pub id: i64,
    pub name: String,
    pub status: NodeStatus,
    pub last_seen_at_ms: Option<i64>,
    pub hardware_brief: Option<String>,
    pub counts: CheckerCounts,
    pub earned_micro: i64,
}

/// What a checker has done, and how it stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckerCounts {
    /// Verdicts submitted.
    pub verdicts: i64,
    /// Decided verdicts that agreed with the quorum, and that did not.
    pub agreed: i64,
    pub disagreed: i64,
    /// Known-bad copies it rightly failed.
    pub audits_passed: i64,
    /// Caught lying in an audit, or outvoted more often than not: it gets no more work.
    pub suspended: bool,
}

impl CheckerCounts {
    /// "97 %" of decided verdicts agreeing with the quorum, or "—" before any was decided.
    pub fn agreement(&self) -> String {
        let decided = self.agreed + self.disagreed;
        if decided == 0 {
            "—".to_string()
        } else {
            format!("{} %", self.agreed * 100 / decided)
        }
    }
}

/// The Checker Nodes page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckersOverview {
    pub checkers: Vec<CheckerSummary>,
    pub earned_micro: i64,
}

/// A live update of one checker's counts, for its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckerLive {
    pub node_id: i64,
    pub owner_id: i64,
    pub counts: CheckerCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_a_whole_percentage_of_decided_verdicts() {
        let counts = CheckerCounts { verdicts: 5, agreed: 3, disagreed: 1, ..CheckerCounts::default() };
        assert_eq!(counts.agreement(), "75 %");
        assert_eq!(CheckerCounts::default().agreement(), "—");
    }
}
