//! The timeout checker: marks nodes offline after three missed heartbeats, tells their owners' dashboards, and
//! prunes old metric buckets.

use std::time::Duration;

use pictor_core::events::Event;
use pictor_core::workers::{NodeStatus, WorkerLive};
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::db::{Db, DbError};
use crate::events::EventBus;

/// Metric buckets are pruned once per this many sweeps.
const PRUNE_EVERY_SWEEPS: u64 = 600;

/// Background service; one sweep per tick.
pub struct LivenessChecker {
    db: Db,
    bus: EventBus,
    interval: Duration,
    work_available: Option<std::sync::Arc<tokio::sync::Notify>>,
    unchecked_after_ms: i64,
}

impl LivenessChecker {
    /// Sweeps at half the heartbeat interval (at most once a second), so "offline" shows within one interval of
    /// the third missed heartbeat.
    pub fn new(db: Db, bus: EventBus, heartbeat_interval_ms: u64) -> Self {
        let interval = Duration::from_millis((heartbeat_interval_ms / 2).clamp(100, 1_000));
        let unchecked_after_ms = crate::db::verdicts::UNCHECKED_AFTER_MS;
        Self { db, bus, interval, work_available: None, unchecked_after_ms }
    }

    /// How long a result waits for checks no checker is left to take (the default is 30 minutes).
    pub fn with_unchecked_after(mut self, unchecked_after_ms: u64) -> Self {
        self.unchecked_after_ms = i64::try_from(unchecked_after_ms).unwrap_or(i64::MAX);
        self
    }

    /// Also requeues expired task leases, waking agents waiting for work.
    pub fn with_work_signal(mut self, work_available: std::sync::Arc<tokio::sync::Notify>) -> Self {
        self.work_available = Some(work_available);
        self
    }

    /// One sweep at `now_ms`; returns how many nodes went offline.
    pub async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let requeued = self.db.requeue_expired(now_ms).await?;
        if !requeued.is_empty() {
            tracing::info!(tasks = ?requeued, "task leases expired: requeued");
            for task in &requeued {
                crate::render::publish_task(&self.db, &self.bus, *task).await;
            }
            if let Some(work) = &self.work_available {
                work.notify_waiters();
            }
        }
        let expired = self.db.expire_verdict_leases(now_ms).await?;
        if expired > 0 {
            tracing::info!(verdicts = expired, "verdict leases expired: the checks go to other checkers");
        }
        let unchecked = self.db.accept_when_no_checker_remains(now_ms, self.unchecked_after_ms).await?;
        if !unchecked.is_empty() {
            tracing::warn!(tasks = ?unchecked, "no checker left to check these results: accepted unchecked");
            for task in &unchecked {
                crate::render::publish_task(&self.db, &self.bus, *task).await;
            }
        }
        let changes = self.db.sweep_silent_nodes(now_ms).await?;
        for change in &changes {
            tracing::info!(node = change.node, "node missed its heartbeats: offline");
            self.bus.publish(Event::Worker(WorkerLive {
                node_id: change.node,
                owner_id: change.owner,
                status: NodeStatus::Offline,
                metrics: None,
            }));
        }
        Ok(changes.len())
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut sweeps: u64 = 0;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    let now = now_ms();
                    if let Err(error) = self.sweep_once(now).await {
                        tracing::warn!(%error, "liveness sweep failed");
                    }
                    sweeps += 1;
                    if sweeps >= PRUNE_EVERY_SWEEPS {
                        sweeps = 0;
                        match self.db.prune_metrics(now).await {
                            Ok(removed) => tracing::debug!(removed, "old metric buckets pruned"),
                            Err(error) => tracing::warn!(%error, "pruning metrics failed"),
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::nodes::NodeKind;

    const NOW: i64 = 1_800_000_000_000;

    async fn a_silent_node_goes_offline_and_its_owner_is_told(db: Db) {
        let bus = EventBus::new(8);
        let mut events = bus.subscribe();
        let owner = db.create_user("Ada", NOW).await.expect("user");
        let node = db.create_node(owner, NodeKind::Worker, "box", NOW).await.expect("node");
        db.register_node(node, "0.1.0", "{}", None, 1_000, NOW).await.expect("register");
        let checker = LivenessChecker::new(db.clone(), bus, 1_000);
        assert_eq!(checker.sweep_once(NOW + 3_000).await.expect("sweep"), 0);
        assert_eq!(checker.sweep_once(NOW + 3_001).await.expect("sweep"), 1);
        let Ok(Event::Worker(live)) = events.try_recv() else { panic!("an offline event") };
        assert_eq!((live.node_id, live.owner_id, live.status), (node, owner, NodeStatus::Offline));
    }

    crate::both_backends!(a_silent_node_goes_offline_and_its_owner_is_told);
}
