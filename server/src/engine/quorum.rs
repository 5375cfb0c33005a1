//! Verdicts become a decision by quorum, and a checker's record of agreeing with it becomes its standing.

use pictor_core::verification::Verdict;

/// What the verdicts given so far decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Fewer verdicts than the quorum.
    Pending,
    Passed,
    Failed,
    /// No majority either way (or a majority unsure): look again with larger crops.
    Unsure,
}

impl Outcome {
    pub fn state(self) -> &'static str {
        match self {
            Outcome::Pending => "open",
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Unsure => "unsure",
        }
    }
}

/// A strict majority of `quorum` (1 of 1, 2 of 3) decides; until `quorum` verdicts are in, nothing is decided.
pub fn decide(verdicts: &[Verdict], quorum: usize) -> Outcome {
    let quorum = quorum.max(1);
    if verdicts.len() < quorum {
        return Outcome::Pending;
    }
    let majority = quorum / 2 + 1;
    let count = |wanted: Verdict| verdicts.iter().filter(|verdict| **verdict == wanted).count();
    if count(Verdict::Pass) >= majority {
        Outcome::Passed
    } else if count(Verdict::Fail) >= majority {
        Outcome::Failed
    } else {
        Outcome::Unsure
    }
}

/// Whether `verdict` agreed with the decided `outcome`; `None` when it says nothing either way (unsure, or no
/// decision).
pub fn agrees(verdict: Verdict, outcome: Outcome) -> Option<bool> {
    match (verdict, outcome) {
        (Verdict::Unsure, _) | (_, Outcome::Pending | Outcome::Unsure) => None,
        (Verdict::Pass, Outcome::Passed) | (Verdict::Fail, Outcome::Failed) => Some(true),
        _ => Some(false),
    }
}

/// A checker is suspended once it has disagreed with the quorum at least this often…
pub const SUSPEND_AFTER_DISAGREEMENTS: i64 = 3;

/// …and more often than it agreed: an honest checker on a borderline crop may be outvoted now and then, a liar
/// is outvoted nearly every time it lies.
pub fn should_suspend(agreed: i64, disagreed: i64) -> bool {
    disagreed >= SUSPEND_AFTER_DISAGREEMENTS && disagreed * 2 > agreed + disagreed
}

/// The share of a checker's decided verdicts that agreed with the quorum (1.0 with none yet).
pub fn standing(agreed: i64, disagreed: i64) -> f64 {
    if agreed + disagreed == 0 {
        1.0
    } else {
        agreed as f64 / (agreed + disagreed) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Verdict::{Fail, Pass, Unsure};

    #[test]
    fn one_checker_decides_alone_and_three_decide_by_majority() {
        assert_eq!(decide(&[], 1), Outcome::Pending);
        assert_eq!(decide(&[Pass], 1), Outcome::Passed);
        assert_eq!(decide(&[Fail], 1), Outcome::Failed);
        assert_eq!(decide(&[Unsure], 1), Outcome::Unsure);
        assert_eq!(decide(&[Pass, Fail], 3), Outcome::Pending);
        assert_eq!(decide(&[Pass, Fail, Fail], 3), Outcome::Failed);
        assert_eq!(decide(&[Pass, Pass, Fail], 3), Outcome::Passed);
        assert_eq!(decide(&[Pass, Unsure, Fail], 3), Outcome::Unsure);
    }

    #[test]
    fn the_outvoted_disagree_and_the_unsure_abstain() {
        assert_eq!(agrees(Pass, Outcome::Failed), Some(false));
        assert_eq!(agrees(Fail, Outcome::Failed), Some(true));
        assert_eq!(agrees(Unsure, Outcome::Failed), None);
        assert_eq!(agrees(Pass, Outcome::Unsure), None);
    }

    #[test]
    fn a_liar_is_suspended_but_an_honest_checker_survives_a_few_misses() {
        assert!(!should_suspend(40, 2), "two misses are not enough");
        assert!(!should_suspend(40, 5), "an honest record outweighs a few misses");
        assert!(should_suspend(1, 3), "mostly outvoted");
        assert_eq!(standing(3, 1), 0.75);
        assert_eq!(standing(0, 0), 1.0);
    }
}
