//! Results waiting for checks that no checker is left to take: accepted as they are after a while, so that no job
//! waits for ever.

use std::time::Duration;

use super::Sweep;
use crate::db::{Db, DbError};
use crate::engine::changes::Publisher;
use crate::engine::Engine;

pub struct UncheckedResults {
    engine: Engine,
    after_ms: i64,
    every: Duration,
}

impl UncheckedResults {
    pub fn new(db: Db, publisher: Publisher, after_ms: u64, every: Duration) -> Self {
        Self { engine: Engine::publishing(db, publisher), after_ms: i64::try_from(after_ms).unwrap_or(i64::MAX), every }
    }
}

#[async_trait::async_trait]
impl Sweep for UncheckedResults {
    fn name(&self) -> &'static str {
        "unchecked results"
    }

    fn every(&self) -> Duration {
        self.every
    }

    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError> {
        let accepted = self.engine.accept_when_no_checker_remains(now_ms, self.after_ms).await?;
        let count = accepted.len();
        if count > 0 {
            tracing::warn!(tasks = ?accepted, "no checker left to check these results: accepted unchecked");
        }
        Ok(count)
    }
}
