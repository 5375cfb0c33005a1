//! The epoch closer: a background service that closes epochs as they end (sharing out the checker pool), however
//! long the coordinator was down.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::db::Db;

pub struct EpochCloser {
    db: Db,
    epoch_ms: i64,
    /// How often to look: an epoch is closed at most this late.
    every: Duration,
}

impl EpochCloser {
    pub fn new(db: Db, epoch_ms: u64) -> Self {
        let every = Duration::from_millis(epoch_ms.clamp(1_000, 60_000) / 4).max(Duration::from_millis(250));
        Self { db, epoch_ms: i64::try_from(epoch_ms).unwrap_or(i64::MAX), every }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.db.close_epochs(self.epoch_ms, now_ms()).await {
                Ok(closed) => {
                    for epoch in closed {
                        tracing::info!(
                            epoch = epoch.id,
                            pool = epoch.pool_micro,
                            distributed = epoch.distributed_micro,
                            "epoch closed: checker pool shared out"
                        );
                    }
                }
                Err(error) => tracing::error!(%error, "closing epochs failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}
