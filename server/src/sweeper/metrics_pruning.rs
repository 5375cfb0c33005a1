//! Old metric buckets pruned, so a worker's history stays a few thousand rows however long it runs.

use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};

/// Pruning needs doing now and then, not every second.
const EVERY: Duration = Duration::from_secs(10 * 60);

pub struct MetricsPruning {
    db: Db,
}

impl MetricsPruning {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl Sweep for MetricsPruning {
    fn name(&self) -> &'static str {
        "metrics pruning"
    }

    fn every(&self) -> Duration {
        EVERY
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let removed = self.db.prune_metrics(now_ms).await?;
        tracing::debug!(removed, "old metric buckets pruned");
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }
}
