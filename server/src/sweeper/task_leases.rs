//! Task leases past their expiry (no progress report in time): requeued, or failed when attempts ran out.

use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};
use crate::engine::changes::Publisher;
use crate::engine::Engine;

pub struct TaskLeases {
    engine: Engine,
    every: Duration,
}

impl TaskLeases {
    pub fn new(db: Db, publisher: Publisher, every: Duration) -> Self {
        Self { engine: Engine::publishing(db, publisher), every }
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
        let requeued = self.engine.requeue_expired(now_ms).await?;
        let count = requeued.len();
        if count > 0 {
            tracing::info!(tasks = ?requeued, "task leases expired: requeued");
        }
        Ok(count)
    }
}
