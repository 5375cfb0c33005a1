//! Stale rows pruned: expired sessions, nonces and sign-in attempts, and notifications (with their finished webhook
//! deliveries) older than the retention window.

use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};

/// Pruning needs doing now and then, not every second.
const EVERY: Duration = Duration::from_secs(10 * 60);
/// How long notifications are kept.
pub const NOTIFICATIONS_KEPT_MS: i64 = 90 * 86_400_000;

pub struct Retention {
    db: Db,
}

impl Retention {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl Sweep for Retention {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn every(&self) -> Duration {
        EVERY
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let pruned = self.db.prune_stale(now_ms, now_ms - NOTIFICATIONS_KEPT_MS).await?;
        if pruned.total() > 0 {
            tracing::info!(?pruned, "stale rows pruned");
        }
        Ok(usize::try_from(pruned.total()).unwrap_or(usize::MAX))
    }
}
