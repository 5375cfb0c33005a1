//! Tells open dashboards how many unread notifications their user has, as new notifications arrive.
//!
//! Notifications are written inside the transactions that cause them (a job completing, a payment pausing a job),
//! deep in the database layer; rather than thread the event bus through all of them, this watches the
//! notifications table's newest id, which is cheap (its primary key), and announces the users who got new ones.

use std::time::Duration;

use pictor_core::events::Event;
use pictor_core::ledger::UnreadNotifications;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::events::bus::EventBus;

pub struct UnreadAnnouncer {
    db: Db,
    bus: EventBus,
    every: Duration,
    /// The newest notification already announced.
    seen: i64,
}

impl UnreadAnnouncer {
    /// Starts after the newest notification already written: those are shown when a page loads, not announced.
    /// Read before the coordinator serves, so that nothing written once it does can be missed.
    pub async fn new(db: Db, bus: EventBus) -> Result<Self, crate::db::DbError> {
        let seen = db.latest_notification_id().await?;
        Ok(Self { db, bus, every: Duration::from_millis(500), seen })
    }

    /// Announces every user notified since the last call with their unread count; returns how many.
    pub async fn announce_new(&mut self) -> Result<usize, crate::db::DbError> {
        let notified = self.db.notified_since(self.seen).await?;
        for (user_id, newest) in &notified {
            let unread = self.db.unread_notifications(*user_id).await?;
            self.bus.publish(Event::Notifications(UnreadNotifications { user_id: *user_id, unread }));
            self.seen = self.seen.max(*newest);
        }
        Ok(notified.len())
    }

    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.announce_new().await {
                tracing::error!(%error, "announcing unread notifications failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn each_new_notification_is_announced_once_to_its_user(db: Db) {
        let ada = db.create_user("Ada", 1).await.expect("user");
        let grace = db.create_user("Grace", 1).await.expect("user");
        db.notify(ada, "low_balance", "before the start", None, 1).await.expect("old");
        let bus = EventBus::new(16);
        let mut listening = bus.subscribe();
        let mut announcer = UnreadAnnouncer::new(db.clone(), bus).await.expect("announcer");
        assert_eq!(announcer.announce_new().await.expect("nothing new"), 0);

        db.notify(ada, "job_finished", "one", Some(crate::db::JobId(1)), 2).await.expect("one");
        db.notify(ada, "job_finished", "two", Some(crate::db::JobId(2)), 3).await.expect("two");
        assert_eq!(announcer.announce_new().await.expect("announced"), 1, "one event per user");
        let event = listening.recv().await.expect("event");
        assert_eq!(event, Event::Notifications(UnreadNotifications { user_id: ada, unread: 3 }));
        assert_eq!(announcer.announce_new().await.expect("again"), 0, "not twice");

        db.mark_notifications_read(ada, 4).await.expect("read");
        db.notify(grace, "payout", "paid", None, 5).await.expect("grace");
        db.notify(ada, "low_balance", "low", None, 6).await.expect("ada");
        assert_eq!(announcer.announce_new().await.expect("both"), 2);
        let mut counts = vec![listening.recv().await.expect("e"), listening.recv().await.expect("e")];
        counts.sort_by_key(|event| format!("{event:?}"));
        assert_eq!(
            counts,
            vec![
                Event::Notifications(UnreadNotifications { user_id: ada, unread: 1 }),
                Event::Notifications(UnreadNotifications { user_id: grace, unread: 1 }),
            ]
        );
    }

    crate::both_backends!(each_new_notification_is_announced_once_to_its_user);
}
