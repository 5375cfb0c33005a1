//! AI requests whose coordinator stopped before settling them (a crash, a restart): after a while the reservation
//! goes back to the caller, with nobody paid for an answer nobody could record.

use std::time::Duration;

use super::Sweep;
use crate::ai::billing::{self, Served};
use crate::db::{Db, DbError};

const EVERY: Duration = Duration::from_secs(60);
/// Longer than any request runs (the longest answer at a slow worker's pace), so only abandoned ones are taken.
pub const ABANDONED_AFTER_MS: i64 = 2 * 3_600_000;

pub struct AbandonedAiRequests {
    db: Db,
}

impl AbandonedAiRequests {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl Sweep for AbandonedAiRequests {
    fn name(&self) -> &'static str {
        "abandoned AI requests"
    }

    fn every(&self) -> Duration {
        EVERY
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let abandoned = self.db.stale_ai_requests(now_ms - ABANDONED_AFTER_MS).await?;
        let mut released = 0;
        for request in &abandoned {
            let served = Served {
                request,
                worker: None,
                prompt_tokens: 0,
                completion_tokens: 0,
                input_price_micro_per_m: 0,
                output_price_micro_per_m: 0,
                checker_share_percent: 0,
                ttft_ms: None,
                duration_ms: 0,
                outcome: "abandoned",
                replay: None,
            };
            let mut tx = self.db.begin_write().await?;
            if billing::settle(&mut tx, &served, now_ms).await?.is_some() {
                released += 1;
            }
            tx.commit().await?;
        }
        if released > 0 {
            tracing::warn!(released, "abandoned AI requests settled: their reservations went back to the callers");
        }
        Ok(released)
    }
}
