//! Checkers' leases on checks past their expiry: the checks go back to other checkers.

use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};

pub struct VerdictLeases {
    db: Db,
    every: Duration,
}

impl VerdictLeases {
    pub fn new(db: Db, every: Duration) -> Self {
        Self { db, every }
    }
}

#[async_trait::async_trait]
impl Sweep for VerdictLeases {
    fn name(&self) -> &'static str {
        "verdict leases"
    }

    fn every(&self) -> Duration {
        self.every
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let expired = self.db.expire_verdict_leases(now_ms).await?;
        if expired > 0 {
            tracing::info!(verdicts = expired, "verdict leases expired: the checks go to other checkers");
        }
        Ok(usize::try_from(expired).unwrap_or(usize::MAX))
    }
}
