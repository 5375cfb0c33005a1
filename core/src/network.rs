//! Network-wide activity figures as shown on the dashboard's live "Network" panel.

use serde::{Deserialize, Serialize};

/// One sample of the network's activity, taken by the coordinator from its database.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSample {
    /// When the sample was taken, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Worker nodes whose last heartbeat is recent enough to count them online.
    pub online_workers: i64,
    /// Checker nodes whose last heartbeat is recent enough to count them online.
    pub online_checkers: i64,
    /// Tasks that finished within the minute before `at_ms`.
    pub tasks_per_minute: i64,
    /// Tasks waiting for a worker.
    pub queued_tasks: i64,
}

/// How many samples a live chart keeps; older ones scroll out on the left.
pub const CHART_HISTORY: usize = 60;

/// Appends `sample` to a bounded history, dropping the oldest beyond [`CHART_HISTORY`].
pub fn push_bounded(history: &mut Vec<NetworkSample>, sample: NetworkSample) {
    history.push(sample);
    if history.len() > CHART_HISTORY {
        let excess = history.len() - CHART_HISTORY;
        history.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_only_the_newest_samples() {
        let mut history = Vec::new();
        for i in 0..(CHART_HISTORY as i64 + 5) {
            push_bounded(&mut history, NetworkSample { at_ms: i, ..Default::default() });
        }
        assert_eq!(history.len(), CHART_HISTORY);
        assert_eq!(history[0].at_ms, 5);
        assert_eq!(history.last().map(|s| s.at_ms), Some(CHART_HISTORY as i64 + 4));
    }

    #[test]
    fn sample_round_trips_through_json() {
        let sample =
            NetworkSample { at_ms: 7, online_workers: 2, online_checkers: 1, tasks_per_minute: 30, queued_tasks: 4 };
        let json = serde_json::to_string(&sample).expect("serialise");
        assert_eq!(serde_json::from_str::<NetworkSample>(&json).expect("parse"), sample);
    }
}
