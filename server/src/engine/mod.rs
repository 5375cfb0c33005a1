//! The task engine, shared by every workload: the transitions of tasks, attempts and jobs — finishing, failing and
//! expiring attempts, verdicts and their consequences, payment on acceptance, refunds, refills, pauses, re-renders
//! and cancellations — each inside the one transaction it needs, with what it changed returned. SQL stays in
//! `db/`; announcing changes after commit is [`changes::Publisher`]'s job.
//!
//! Each transition is a function taking the caller's transaction (so several can share one commit); [`Engine`]
//! runs one transition in its own transaction.

pub mod changes;
pub mod jobs;
pub mod notices;
pub mod payments;
pub mod quorum;
pub mod tasks;
pub mod training_pay;
pub mod verdicts;
pub mod workload;

use changes::{Changes, Publisher};

use crate::db::ai_batches::{NewBatch, NewChunk};
use crate::db::credits::credit_in;
use crate::db::job_lifecycle::NewJob;
use crate::db::ledger::{LedgerError, Moved};
use crate::db::nodes::NodeId;
use crate::db::tasks::{Finished, Lease, LeasedAttempt, Progress, WorkerOffer};
use crate::db::users::UserId;
use crate::db::verdicts::VerdictInput;
use crate::db::verifications::{NewVerification, VerificationId};
use crate::db::{Db, DbError, JobId, TaskError, TaskId, Tx};
use crate::events::EventBus;

use verdicts::Settlement;

/// The transfer kind of welcome credits.
pub const WELCOME: &str = "welcome";

/// How long past its time limit an attempt's lease is kept: the agent stops the work at the limit itself and
/// reports the failure with its log, which is better than the coordinator's bare "ran past its time limit".
pub const OVER_TIME_GRACE_MS: i64 = 60_000;

/// Runs each transition in a transaction of its own and, once it committed, publishes what it changed: the one
/// place (with [`changes::Publisher`]) that tells owners' pages and waiting agents. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    db: Db,
    publisher: Publisher,
}

/// What a top-up did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    pub moved: Moved,
    /// Paused jobs of the user that resumed with it.
    pub resumed: Vec<JobId>,
}

impl Engine {
    /// An engine whose changes are published to nobody (tools and tests without pages or agents listening).
    pub fn new(db: Db) -> Self {
        let publisher = Publisher::new(db.clone(), EventBus::new(16));
        Self { db, publisher }
    }

    /// The coordinator's engine, publishing through its `publisher`.
    pub fn publishing(db: Db, publisher: Publisher) -> Self {
        Self { db, publisher }
    }

    /// Commits `tx` and then announces `changes`.
    async fn commit(&self, tx: Tx<'static>, changes: Changes) -> Result<(), DbError> {
        tx.commit().await?;
        self.publisher.publish(changes).await;
        Ok(())
    }

    /// Leases the best task for `offer` (see [`Db::lease_task`]); its owner's pages see it start.
    pub async fn lease_task(&self, offer: &WorkerOffer, now_ms: i64, lease_ms: i64) -> Result<Option<Lease>, DbError> {
        let lease = self.db.lease_task(offer, now_ms, lease_ms).await?;
        if let Some(lease) = &lease {
            self.publisher.publish(Changes::task(lease.task)).await;
        }
        Ok(lease)
    }

    /// Keeps a lease alive with the agent's progress (see [`Db::extend_lease`]).
    pub async fn extend_lease(
        &self,
        held: LeasedAttempt,
        progress: &Progress<'_>,
        expires_at_ms: i64,
    ) -> Result<(), TaskError> {
        self.db.extend_lease(held, progress, expires_at_ms).await?;
        self.publisher.publish(Changes::task(held.task)).await;
        Ok(())
    }

    /// Stores a job with its tasks and escrow (see [`jobs::create`]); waiting workers are woken.
    pub async fn create_job(&self, job: &NewJob, now_ms: i64) -> Result<JobId, DbError> {
        let mut tx = self.db.begin_write().await?;
        let id = jobs::create(&mut tx, job, now_ms).await?;
        self.commit(tx, Changes::default().with_work(true)).await?;
        Ok(id)
    }

    /// Stores an AI batch: its job (tasks and escrow, see [`jobs::create`]) and the batch with one chunk per task,
    /// in one transaction; waiting workers are woken.
    pub async fn create_batch(
        &self,
        job: &NewJob,
        batch: &NewBatch,
        chunks: &[NewChunk],
        now_ms: i64,
    ) -> Result<JobId, DbError> {
        let mut tx = self.db.begin_write().await?;
        let id = jobs::create(&mut tx, job, now_ms).await?;
        crate::db::ai_batches::insert(&mut tx, batch, id, chunks).await?;
        self.commit(tx, Changes::default().with_work(true)).await?;
        Ok(id)
    }

    /// Publishes what changed outside a transition of the engine (a training run's new checkpoint, say).
    pub async fn publish(&self, changes: Changes) {
        self.publisher.publish(changes).await;
    }

    /// Stores an AI training run with its job (one task, escrow = the budget) in one transaction; waiting workers
    /// are woken.
    pub async fn create_training(
        &self,
        job: &NewJob,
        training: &crate::db::ai_trainings::NewTraining,
        now_ms: i64,
    ) -> Result<JobId, DbError> {
        let mut tx = self.db.begin_write().await?;
        let id = jobs::create(&mut tx, job, now_ms).await?;
        crate::db::ai_trainings::insert(&mut tx, training, id).await?;
        self.commit(tx, Changes::default().with_work(true)).await?;
        Ok(id)
    }

    /// A batch past its completion window: marked expired and its job cancelled (finished chunks are kept and paid
    /// for, the rest of the escrow refunded) in one transaction; `false` when it was expired before.
    pub async fn expire_batch(&self, batch: &str, owner: UserId, job: JobId, now_ms: i64) -> Result<bool, DbError> {
        let mut tx = self.db.begin_write().await?;
        if !crate::db::ai_batches::mark_expired(&mut tx, batch, now_ms).await? {
            return Ok(false);
        }
        jobs::cancel(&mut tx, owner, job, now_ms).await?;
        self.commit(tx, Changes::default()).await?;
        Ok(true)
    }

    /// Renders an owner's chosen tasks again (see [`jobs::rerender`]); returns the tasks requeued.
    pub async fn rerender_tasks(
        &self,
        owner: UserId,
        job: JobId,
        tasks: &[TaskId],
        now_ms: i64,
    ) -> Result<Vec<TaskId>, DbError> {
        let mut tx = self.db.begin_write().await?;
        let requeued = jobs::rerender(&mut tx, owner, job, tasks, now_ms).await?;
        let changes = Changes::tasks(requeued.iter().copied()).with_work(!requeued.is_empty());
        self.commit(tx, changes).await?;
        Ok(requeued)
    }

    /// Cancels an owner's running job (see [`jobs::cancel`]); its agents learn it at their next progress report.
    pub async fn cancel_job(&self, owner: UserId, job: JobId, now_ms: i64) -> Result<(), DbError> {
        let mut tx = self.db.begin_write().await?;
        jobs::cancel(&mut tx, owner, job, now_ms).await?;
        self.commit(tx, Changes::default()).await
    }

    /// A leased attempt rendered every frame (see [`tasks::finish`]); checkers are woken when it is to be checked.
    pub async fn finish_task(
        &self,
        held: LeasedAttempt,
        finished: &Finished<'_>,
        verification: Option<&NewVerification>,
        now_ms: i64,
    ) -> Result<(), TaskError> {
        let mut tx = self.db.begin_write().await?;
        tasks::finish(&mut tx, held, finished, verification, now_ms).await?;
        self.commit(tx, Changes::task(held.task).with_checks(verification.is_some())).await?;
        Ok(())
    }

    /// A leased attempt failed (see [`tasks::fail_attempt`]); its task is back in the queue for waiting workers.
    pub async fn fail_task(&self, held: LeasedAttempt, error: &str, log: &str, now_ms: i64) -> Result<(), TaskError> {
        let mut tx = self.db.begin_write().await?;
        tasks::fail_attempt(&mut tx, held, error, log, now_ms).await?;
        self.commit(tx, Changes::task(held.task).with_work(true)).await?;
        Ok(())
    }

    /// Every lease past its expiry, or held past its job's time limit (`default_max_ms` when it sets none) and a
    /// grace for the agent's own report, is given back (requeued or failed), each in its own transaction. Returns
    /// the tasks.
    pub async fn requeue_expired(&self, now_ms: i64, default_max_ms: i64) -> Result<Vec<TaskId>, DbError> {
        let mut requeued = Vec::new();
        for expired in self.db.expired_leases(now_ms, default_max_ms, OVER_TIME_GRACE_MS).await? {
            let mut tx = self.db.begin_write().await?;
            // The attempt may have ended since the read: the update guarded by its number then changes nothing.
            match tasks::expire(&mut tx, expired, now_ms).await {
                Ok(_) => {
                    self.commit(tx, Changes::task(expired.task).with_work(true)).await?;
                    requeued.push(expired.task);
                }
                Err(TaskError::LeaseLost) => {}
                Err(TaskError::Db(error)) => return Err(error),
            }
        }
        Ok(requeued)
    }

    /// Records a checker's verdict and applies the decision once the quorum is in (see
    /// [`verdicts::record_verdict`]). The verdict is kept even when it decides nothing.
    pub async fn record_verdict(
        &self,
        verification: VerificationId,
        checker: NodeId,
        input: &VerdictInput,
        next_round_crops: &str,
        now_ms: i64,
    ) -> Result<Settlement, TaskError> {
        let mut tx = self.db.begin_write().await?;
        let settlement =
            verdicts::record_verdict(&mut tx, verification, checker, input, next_round_crops, now_ms).await?;
        self.commit(tx, settlement.changes()).await?;
        Ok(settlement)
    }

    /// Accepts results whose checks no checker can take any more (see [`verdicts::accept_when_no_checker_remains`]).
    pub async fn accept_when_no_checker_remains(&self, now_ms: i64, max_wait_ms: i64) -> Result<Vec<TaskId>, DbError> {
        let accepted = verdicts::accept_when_no_checker_remains(&self.db, now_ms, max_wait_ms).await?;
        self.publisher.publish(Changes::tasks(accepted.iter().copied())).await;
        Ok(accepted)
    }

    /// Adds `amount_micro` from outside to `user`'s credit under `key` (a repeated key changes nothing), resuming
    /// the user's jobs that were paused for credit.
    pub async fn top_up(
        &self,
        user: UserId,
        amount_micro: i64,
        key: &str,
        kind: &'static str,
        memo: &str,
        now_ms: i64,
    ) -> Result<TopUp, LedgerError> {
        let mut tx = self.db.begin_write().await?;
        let moved = credit_in(&mut tx, user, amount_micro, key, kind, memo, now_ms).await?;
        if moved == Moved::Now && kind == WELCOME {
            // Spendable like any credit, but followed wherever it goes so that it is never withdrawn.
            crate::db::welcome::add_to_credit(&mut tx, user, amount_micro).await?;
        }
        let resumed =
            if moved == Moved::Now { payments::resume_paused_jobs(&mut tx, user, now_ms).await? } else { Vec::new() };
        self.commit(tx, Changes::default().with_work(!resumed.is_empty())).await?;
        Ok(TopUp { moved, resumed })
    }

    /// A new account's welcome credits (once per account, whatever the number of sign-ins).
    pub async fn welcome(&self, user: UserId, amount_micro: i64, now_ms: i64) -> Result<(), LedgerError> {
        if amount_micro > 0 {
            let key = format!("user:{user}:welcome");
            self.top_up(user, amount_micro, &key, WELCOME, "welcome credits", now_ms).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tasks_tests;

#[cfg(test)]
mod verifications_tests;

#[cfg(test)]
mod ledger_tests;

#[cfg(test)]
mod ledger_props;

#[cfg(test)]
mod races_tests;
