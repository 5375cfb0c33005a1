//! What a training run's checkpoint segments are charged for: one segment per checkpoint on the run's chain, to the
//! attempt that trained it, for the time it took — so a worker that died mid-run is paid for the segments the next
//! attempt went on from, and nobody for work lost after a last checkpoint. `payments` pays them.

use pictor_core::ai_training::run_chain;

use crate::db::payments::TrainedCheckpoint;

/// What one checkpoint segment is paid: to whom, and for how long it trained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentCharge<'a> {
    pub checkpoint: &'a TrainedCheckpoint,
    pub trained_ms: i64,
}

/// The run's segments, one per checkpoint on its chain (`delivering`'s where several attempts uploaded a step): each
/// lasted from its attempt's previous checkpoint on the chain, or from the attempt's start (its first segment, the
/// set-up and the steps from where it resumed).
pub fn segment_charges(checkpoints: &[TrainedCheckpoint], delivering: i64) -> Vec<SegmentCharge<'_>> {
    let steps: Vec<(i64, i64)> = checkpoints.iter().map(|c| (c.step, c.attempt)).collect();
    let mut charges: Vec<SegmentCharge<'_>> = Vec::new();
    for index in run_chain(&steps, delivering) {
        let checkpoint = &checkpoints[index];
        let began = match charges.last() {
            Some(previous) if previous.checkpoint.attempt == checkpoint.attempt => previous.checkpoint.created_at_ms,
            _ => checkpoint.attempt_started_at_ms,
        };
        charges.push(SegmentCharge { checkpoint, trained_ms: (checkpoint.created_at_ms - began).max(0) });
    }
    charges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::nodes::NodeId;

    fn at(attempt: i64, step: i64, created_at_ms: i64, attempt_started_at_ms: i64) -> TrainedCheckpoint {
        TrainedCheckpoint {
            attempt,
            step,
            created_at_ms,
            attempt_started_at_ms,
            node: NodeId(attempt),
            worker_owner: attempt,
            price_micro_per_minute: 60_000,
        }
    }

    #[test]
    fn each_segment_is_charged_to_the_attempt_that_trained_it_for_its_own_time() {
        // Attempt 1 started at 0, checkpointed at 1 s (step 0), 5 s and 9 s, then died; attempt 2 started at 20 s,
        // resumed at step 20 and checkpointed 30 and 40.
        let checkpoints = [
            at(1, 0, 1_000, 0),
            at(1, 10, 5_000, 0),
            at(1, 20, 9_000, 0),
            at(2, 30, 26_000, 20_000),
            at(2, 40, 29_000, 20_000),
        ];
        let charged: Vec<(i64, i64, i64)> = segment_charges(&checkpoints, 2)
            .iter()
            .map(|s| (s.checkpoint.attempt, s.checkpoint.step, s.trained_ms))
            .collect();
        assert_eq!(charged, vec![(1, 0, 1_000), (1, 10, 4_000), (1, 20, 4_000), (2, 30, 6_000), (2, 40, 3_000)]);
        // The time after attempt 1's last checkpoint (9 s to its death) is nobody's segment: it was lost.
        let total: i64 = segment_charges(&checkpoints, 2).iter().map(|s| s.trained_ms).sum();
        assert_eq!(total, 18_000);
    }

    #[test]
    fn a_step_uploaded_twice_is_paid_once() {
        let checkpoints = [at(1, 0, 1_000, 0), at(2, 0, 12_000, 10_000), at(2, 10, 15_000, 10_000)];
        let charged: Vec<(i64, i64)> =
            segment_charges(&checkpoints, 2).iter().map(|s| (s.checkpoint.attempt, s.trained_ms)).collect();
        assert_eq!(charged, vec![(2, 2_000), (2, 3_000)]);
        // A clock that went backwards charges nothing rather than a negative time.
        assert_eq!(segment_charges(&[at(1, 0, 5, 10)], 1)[0].trained_ms, 0);
    }
}
