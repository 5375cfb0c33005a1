//! Samples the network's figures from the database on a fixed interval and publishes them.

use std::time::Duration;

use pictor_core::events::Event;
use pictor_core::network::NetworkSample;
use tokio_util::sync::CancellationToken;

use super::EventBus;
use crate::clock::now_ms;
use crate::db::{Db, DbError};
use crate::metrics::Metrics;

/// Background service: one database read per tick, one event per read.
pub struct NetworkSampler {
    db: Db,
    bus: EventBus,
    metrics: Metrics,
    interval: Duration,
}

impl NetworkSampler {
    pub fn new(db: Db, bus: EventBus, metrics: Metrics, interval: Duration) -> Self {
        Self { db, bus, metrics, interval }
    }

    /// Takes one sample at `now_ms`, publishes it and updates the gauges.
    pub async fn sample_once(&self, now_ms: i64) -> Result<NetworkSample, DbError> {
        let sample = self.db.network_sample(now_ms).await?;
        self.metrics.observe_network(&sample);
        self.bus.publish(Event::Network(sample));
        Ok(sample)
    }

    /// Samples until `shutdown` fires. A failed read is logged and retried on the next tick.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    if let Err(error) = self.sample_once(now_ms()).await {
                        tracing::warn!(%error, "network sample failed");
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

    async fn each_sample_is_published_and_counted(db: Db) {
        let bus = EventBus::new(8);
        let metrics = Metrics::new();
        let mut events = bus.subscribe();
        let sampler = NetworkSampler::new(db.clone(), bus.clone(), metrics.clone(), Duration::from_secs(1));

        let owner = db.create_user("Ada", 1_000).await.expect("user");
        let node = db.create_node(owner, NodeKind::Worker, "gpu-1", 1_000).await.expect("node");
        db.record_heartbeat(node, 1_000).await.expect("beat");

        let sample = sampler.sample_once(2_000).await.expect("sample");
        assert_eq!(sample.online_workers, 1);
        assert_eq!(events.recv().await.expect("published"), Event::Network(sample));
        assert!(metrics.render().contains("pictor_workers_online 1"), "{}", metrics.render());
    }

    crate::both_backends!(each_sample_is_published_and_counted);
}
