//! Training runs are paid per checkpoint segment: when a run's result is accepted, every segment on the chain it was
//! built from is paid to the attempt that trained it, at that attempt's price for the time the segment took — so a
//! worker that died mid-run is paid for the segments the next attempt went on from, and nobody for work lost after
//! a last checkpoint or discarded by a failed replay.

use pictor_core::ai_training::run_chain;

use super::payments::{attempt_key, charge, pay, Payment};
use crate::db::payments::{self as sql, AttemptBill, TrainedCheckpoint};
use crate::db::{DbError, TaskId, Tx};

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

/// Pays the segments of the run that `delivering` (of `task`, billed as `bill`) completes; each once, under its own
/// key. Returns what `delivering`'s worker received now.
pub async fn pay_segments(
    tx: &mut Tx<'_>,
    bill: &AttemptBill,
    task: TaskId,
    delivering: i64,
    now_ms: i64,
) -> Result<i64, DbError> {
    let checkpoints = sql::trained_checkpoints(tx, task).await?;
    let mut paid_to_delivering = 0;
    for segment in segment_charges(&checkpoints, delivering) {
        let trained = segment.checkpoint;
        let (worker, pool) = charge(
            trained.price_micro_per_minute,
            bill.tier_cap_micro_per_minute,
            segment.trained_ms,
            bill.checker_share_percent,
        );
        let payment = Payment {
            task,
            key: format!("{}:segment:{}", attempt_key(task, trained.attempt), trained.step),
            worker_owner: trained.worker_owner,
            node: trained.node,
        };
        let paid = pay(tx, bill, &payment, worker, pool, now_ms).await?;
        if trained.attempt == delivering {
            paid_to_delivering += paid;
        }
    }
    Ok(paid_to_delivering)
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
