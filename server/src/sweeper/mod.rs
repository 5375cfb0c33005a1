//! The sweeper: the coordinator's timeouts and clean-ups, one file per sweep, each run on its own cadence.
//!
//! A sweep is `sweep_once(now)`: tests drive it by hand at any instant; the running service asks its [`Clock`]
//! what time it is, so nothing in a sweep reads the wall clock itself.

pub mod ai_requests;
pub mod metrics_pruning;
pub mod retention;
pub mod silent_nodes;
pub mod task_leases;
pub mod unchecked_results;
pub mod verdict_leases;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::{Db, DbError};
use crate::engine::changes::Publisher;
use crate::events::EventBus;

/// Where the sweeper reads the time: the wall clock in production, a hand-set one in tests.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system's clock.
pub struct WallClock;

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        crate::clock::now_ms()
    }
}

/// One periodic job of the coordinator's.
#[async_trait::async_trait]
pub trait Sweep: Send + Sync {
    /// For logs.
    fn name(&self) -> &'static str;
    /// How often it runs.
    fn every(&self) -> Duration;
    /// Does its work as of `now_ms` and says how many things it changed.
    async fn sweep_once(&self, now_ms: i64) -> Result<usize, DbError>;
}

/// Runs each sweep at its own pace until shutdown.
pub struct Sweeper {
    sweeps: Vec<Box<dyn Sweep>>,
    clock: Arc<dyn Clock>,
}

/// What the coordinator's sweeps need to know.
pub struct SweepSettings {
    pub heartbeat_interval_ms: u64,
    /// How long a result waits for checks no checker is left to take.
    pub unchecked_after_ms: u64,
    /// A task's time limit when its job sets none.
    pub max_task_ms: u64,
}

impl Sweeper {
    /// The coordinator's sweeps: task leases, verdict leases, unchecked results, silent nodes, metrics pruning,
    /// retention, abandoned AI requests.
    pub fn standard(db: &Db, bus: &EventBus, publisher: &Publisher, settings: &SweepSettings) -> Self {
        // Half the heartbeat interval (at most a second), so "offline" shows within one interval of the third
        // missed heartbeat, and an expired lease is requeued as promptly.
        let pace = Duration::from_millis((settings.heartbeat_interval_ms / 2).clamp(100, 1_000));
        let sweeps: Vec<Box<dyn Sweep>> = vec![
            Box::new(task_leases::TaskLeases::new(db.clone(), publisher.clone(), settings.max_task_ms, pace)),
            Box::new(verdict_leases::VerdictLeases::new(db.clone(), pace)),
            Box::new(unchecked_results::UncheckedResults::new(
                db.clone(),
                publisher.clone(),
                settings.unchecked_after_ms,
                pace,
            )),
            Box::new(silent_nodes::SilentNodes::new(db.clone(), bus.clone(), pace)),
            Box::new(metrics_pruning::MetricsPruning::new(db.clone())),
            Box::new(retention::Retention::new(db.clone())),
            Box::new(ai_requests::AbandonedAiRequests::new(db.clone())),
        ];
        Self { sweeps, clock: Arc::new(WallClock) }
    }

    /// Reads the time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs until `shutdown`, each sweep once its interval has passed on the clock. A slow sweep's first run waits a
    /// whole interval; the fast ones run at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let tick = self.sweeps.iter().map(|sweep| sweep.every()).min().unwrap_or(Duration::from_secs(1));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let start = self.clock.now_ms();
        let mut last_run: Vec<i64> =
            self.sweeps.iter().map(|sweep| if sweep.every() > tick { start } else { i64::MIN }).collect();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticker.tick() => {
                    let now = self.clock.now_ms();
                    for (sweep, last) in self.sweeps.iter().zip(last_run.iter_mut()) {
                        let every = i64::try_from(sweep.every().as_millis()).unwrap_or(i64::MAX);
                        if now.saturating_sub(*last) >= every {
                            *last = now;
                            run_logged(sweep.as_ref(), now).await;
                        }
                    }
                }
            }
        }
    }
}

async fn run_logged(sweep: &dyn Sweep, now_ms: i64) -> usize {
    match sweep.sweep_once(now_ms).await {
        Ok(changed) => changed,
        Err(error) => {
            tracing::warn!(%error, sweep = sweep.name(), "sweep failed");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its runs.
    struct Counting {
        every: Duration,
        runs: Arc<AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl Sweep for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        fn every(&self) -> Duration {
            self.every
        }
        async fn sweep_once(&self, _now_ms: i64) -> Result<usize, DbError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            Ok(1)
        }
    }

    /// Tokio's (paused) time as the sweeper's clock.
    struct TestClock(tokio::time::Instant);

    impl Clock for TestClock {
        fn now_ms(&self) -> i64 {
            i64::try_from(self.0.elapsed().as_millis()).unwrap_or(i64::MAX)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_sweep_runs_at_its_own_pace_on_the_injected_clock() {
        let (fast, slow) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let sweeper = Sweeper {
            sweeps: vec![
                Box::new(Counting { every: Duration::from_secs(1), runs: fast.clone() }),
                Box::new(Counting { every: Duration::from_secs(10), runs: slow.clone() }),
            ],
            clock: Arc::new(WallClock),
        }
        .with_clock(Arc::new(TestClock(tokio::time::Instant::now())));
        let shutdown = CancellationToken::new();
        let running = tokio::spawn(sweeper.run(shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(25_500)).await;
        shutdown.cancel();
        running.await.expect("stopped");
        // Ticks at 0, 1, …, 25 s: the fast sweep every tick, the slow one at 10 and 20 s.
        assert_eq!(fast.load(Ordering::SeqCst), 26);
        assert_eq!(slow.load(Ordering::SeqCst), 2);
    }
}
