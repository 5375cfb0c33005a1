//! Nodes that missed three heartbeats: offline, and their owners' dashboards told at once.

use std::time::Duration;

use pictor_core::events::Event;
use pictor_core::workers::{NodeStatus, WorkerLive};

use super::Sweep;
use crate::db::{Db, DbError};
use crate::events::EventBus;

pub struct SilentNodes {
    db: Db,
    bus: EventBus,
    every: Duration,
}

impl SilentNodes {
    pub fn new(db: Db, bus: EventBus, every: Duration) -> Self {
        Self { db, bus, every }
    }
}

#[async_trait::async_trait]
impl Sweep for SilentNodes {
    fn name(&self) -> &'static str {
        "silent nodes"
    }

    fn every(&self) -> Duration {
        self.every
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let changes = self.db.sweep_silent_nodes(now_ms).await?;
        for change in &changes {
            tracing::info!(node = %change.node, "node missed its heartbeats: offline");
            self.bus.publish(Event::Worker(WorkerLive {
                node_id: change.node.into(),
                owner_id: change.owner,
                status: NodeStatus::Offline,
                metrics: None,
            }));
        }
        Ok(changes.len())
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
        let sweep = SilentNodes::new(db.clone(), bus, Duration::from_millis(500));
        assert_eq!(sweep.sweep_once(NOW + 3_000).await.expect("sweep"), 0);
        assert_eq!(sweep.sweep_once(NOW + 3_001).await.expect("sweep"), 1);
        let Ok(Event::Worker(live)) = events.try_recv() else { panic!("an offline event") };
        assert_eq!((live.node_id, live.owner_id, live.status), (node.0, owner, NodeStatus::Offline));
    }

    crate::both_backends!(a_silent_node_goes_offline_and_its_owner_is_told);
}
