//! What a committed transition changed, and the [`Publisher`] that announces it: task events to their owners' open
//! pages, and wake-ups for the agents long-polling for work or checks. Handlers and sweeps describe the change;
//! only this file publishes, and only after the transaction committed.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::db::{Db, TaskId};
use crate::events::EventBus;

/// The visible effects of one or more committed transitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "changes are announced only when published"]
pub struct Changes {
    /// Tasks whose state or progress changed: their jobs' owners are told.
    pub tasks: Vec<TaskId>,
    /// Tasks became leasable (a new job, a requeue, a resumed job): waiting workers are woken.
    pub work: bool,
    /// Checks became leasable: waiting checkers are woken.
    pub checks: bool,
}

impl Changes {
    /// One task changed.
    pub fn task(task: TaskId) -> Self {
        Self { tasks: vec![task], ..Self::default() }
    }

    /// These tasks changed.
    pub fn tasks(tasks: impl IntoIterator<Item = TaskId>) -> Self {
        Self { tasks: tasks.into_iter().collect(), ..Self::default() }
    }

    /// Work for workers, when `available`.
    pub fn with_work(mut self, available: bool) -> Self {
        self.work |= available;
        self
    }

    /// Work for checkers, when `available`.
    pub fn with_checks(mut self, available: bool) -> Self {
        self.checks |= available;
        self
    }
}

/// Announces committed [`Changes`]; built once at start-up and shared by every handler, sweep and service.
#[derive(Clone)]
pub struct Publisher {
    db: Db,
    bus: EventBus,
    work_available: Arc<Notify>,
    checks_available: Arc<Notify>,
}

impl Publisher {
    pub fn new(db: Db, bus: EventBus) -> Self {
        Self { db, bus, work_available: Arc::new(Notify::new()), checks_available: Arc::new(Notify::new()) }
    }

    /// Workers long-polling for a task wait on this (register with `notified()` before looking).
    pub fn work_available(&self) -> &Notify {
        &self.work_available
    }

    /// Checkers long-polling for a check wait on this.
    pub fn checks_available(&self) -> &Notify {
        &self.checks_available
    }

    /// Tells each changed task's owner (best effort: a failed read only costs a live update), then wakes waiters.
    pub async fn publish(&self, changes: Changes) {
        let mut tasks = changes.tasks;
        tasks.sort_unstable();
        tasks.dedup();
        for task in tasks {
            match self.db.task_live(task).await {
                Ok(Some(live)) => self.bus.publish(pictor_core::events::Event::Task(live)),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, %task, "cannot publish a task update"),
            }
        }
        if changes.work {
            self.work_available.notify_waiters();
        }
        if changes.checks {
            self.checks_available.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pictor_core::events::Event;

    use super::*;
    use crate::db::job_lifecycle::NewJob;
    use crate::engine::Engine;

    #[test]
    fn changes_combine() {
        let tasks = [TaskId(1), TaskId(2), TaskId(3)];
        let both = Changes::tasks(tasks).with_work(true).with_checks(true);
        assert_eq!(both, Changes { tasks: tasks.to_vec(), work: true, checks: true });
        assert!(!Changes::task(TaskId(1)).with_work(false).work);
    }

    async fn published_changes_reach_the_owner_and_wake_the_waiters(db: Db) {
        let bus = EventBus::new(8);
        let mut events = bus.subscribe();
        let owner = db.create_user("Ada", 1).await.expect("user");
        let job = Engine::new(db.clone()).create_job(&NewJob::sample(owner, 1), 1).await.expect("job");
        let task: TaskId = sqlx::query_scalar("SELECT id FROM tasks WHERE job_id = $1")
            .bind(job)
            .fetch_one(db.reader())
            .await
            .expect("task");
        let publisher = Publisher::new(db, bus);
        let (work, checks) = (publisher.work_available().notified(), publisher.checks_available().notified());
        publisher.publish(Changes::task(task).with_work(true).with_checks(true)).await;
        tokio::time::timeout(Duration::from_secs(1), work).await.expect("workers woken");
        tokio::time::timeout(Duration::from_secs(1), checks).await.expect("checkers woken");
        let Ok(Event::Task(live)) = events.try_recv() else { panic!("a task event") };
        assert_eq!((live.task_id, live.owner_id, live.job_id), (task.0, owner, job.0));
    }

    crate::both_backends!(published_changes_reach_the_owner_and_wake_the_waiters);
}
