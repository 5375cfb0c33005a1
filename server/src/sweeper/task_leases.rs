//! Task leases past their expiry (no progress report in time): requeued, or failed when attempts ran out.

use std::sync::Arc;
use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};
use crate::events::EventBus;

pub struct TaskLeases {
    db: Db,
    bus: EventBus,
    /// Waiting agents are woken: there is work again.
    work_available: Arc<tokio::sync::Notify>,
    every: Duration,
}

impl TaskLeases {
    pub fn new(db: Db, bus: EventBus, work_available: Arc<tokio::sync::Notify>, every: Duration) -> Self {
        Self { db, bus, work_available, every }
    }
}

#[async_trait::async_trait]
impl Sweep for TaskLeases {
    fn name(&self) -> &'static str {
        "task leases"
    }

    fn every(&self) -> Duration {
        self.every
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let requeued = self.db.requeue_expired(now_ms).await?;
        if !requeued.is_empty() {
            tracing::info!(tasks = ?requeued, "task leases expired: requeued");
            for task in &requeued {
                crate::render::publish_task(&self.db, &self.bus, *task).await;
            }
            self.work_available.notify_waiters();
        }
        Ok(requeued.len())
    }
}
