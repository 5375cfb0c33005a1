//! Task leases past their expiry (no progress report in time) or held past their job's time limit: requeued, or
//! failed when attempts ran out.

use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};
use crate::engine::changes::Publisher;
use crate::engine::Engine;

pub struct TaskLeases {
    engine: Engine,
    /// A task's time limit when its job sets none.
    default_max_ms: i64,
    every: Duration,
}

impl TaskLeases {
    pub fn new(db: Db, publisher: Publisher, default_max_ms: u64, every: Duration) -> Self {
        let default_max_ms = i64::try_from(default_max_ms).unwrap_or(i64::MAX);
        Self { engine: Engine::publishing(db, publisher), default_max_ms, every }
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
        let requeued = self.engine.requeue_expired(now_ms, self.default_max_ms).await?;
        let count = requeued.len();
        if count > 0 {
            tracing::info!(tasks = ?requeued, "task leases expired or ran past their time limit: requeued");
        }
        Ok(count)
    }
}
