//! What is no longer needed leaves the database: expired sessions, expired wallet nonces (used or not) and OpenID
//! Connect logins, and notifications older than the retention window with their finished webhook deliveries. So
//! that nobody can fill the database through the endpoints that need no account, and nothing grows for ever.

use super::{Db, DbError};

/// How many rows each kind lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub nonces: u64,
    pub logins: u64,
    pub deliveries: u64,
    pub notifications: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.sessions + self.nonces + self.logins + self.deliveries + self.notifications
    }
}

/// `next_attempt_at_ms` of a delivery given up (see `record_delivery`).
const GIVEN_UP: i64 = i64::MAX;

impl Db {
    /// Removes what expired by `now_ms`, and notifications (with their finished deliveries) created before
    /// `notifications_before_ms`. A delivery still being retried keeps its notification.
    pub async fn prune_stale(&self, now_ms: i64, notifications_before_ms: i64) -> Result<Pruned, DbError> {
        let expired = |table: &str| format!("DELETE FROM {table} WHERE expires_at_ms <= $1");
        let mut pruned = Pruned::default();
        for (table, count) in [
            ("sessions", &mut pruned.sessions),
            ("wallet_nonces", &mut pruned.nonces),
            ("oidc_logins", &mut pruned.logins),
        ] {
            *count = sqlx::query(&expired(table)).bind(now_ms).execute(self.writer()).await?.rows_affected();
        }
        pruned.deliveries = sqlx::query(
            "DELETE FROM webhook_deliveries
             WHERE (delivered_at_ms IS NOT NULL OR next_attempt_at_ms = $2)
               AND notification_id IN (SELECT id FROM notifications WHERE created_at_ms < $1)",
        )
        .bind(notifications_before_ms)
        .bind(GIVEN_UP)
        .execute(self.writer())
        .await?
        .rows_affected();
        pruned.notifications = sqlx::query(
            "DELETE FROM notifications WHERE created_at_ms < $1
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.notification_id = notifications.id)",
        )
        .bind(notifications_before_ms)
        .execute(self.writer())
        .await?
        .rows_affected();
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const DAY: i64 = 86_400_000;

    async fn count(db: &Db, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(db.reader()).await.expect("count")
    }

    async fn stale_rows_go_and_live_ones_stay(db: Db) {
        let user = db.create_user("Ada", NOW - 200 * DAY).await.expect("user");
        db.create_session("expired", user, NOW - 2 * DAY, NOW - DAY).await.expect("session");
        db.create_session("live", user, NOW, NOW + DAY).await.expect("session");
        db.issue_wallet_nonce("old", "0xabc", None, NOW - DAY, NOW - 1).await.expect("nonce");
        db.issue_wallet_nonce("fresh", "0xabc", None, NOW, NOW + 60_000).await.expect("nonce");
        db.set_webhook(user, Some(("https://hooks.example.com/x", "a secret long enough"))).await.expect("hook");
        db.notify(user, "job_finished", "old and delivered", None, NOW - 100 * DAY).await.expect("notify");
        db.notify(user, "job_finished", "old, still retried", None, NOW - 100 * DAY).await.expect("notify");
        db.notify(user, "job_finished", "recent", None, NOW - DAY).await.expect("notify");
        let deliveries: Vec<i64> = sqlx::query_scalar("SELECT id FROM webhook_deliveries ORDER BY id")
            .fetch_all(db.reader())
            .await
            .expect("ids");
        db.record_delivery(deliveries[0], Ok(()), None, NOW - 100 * DAY).await.expect("delivered");
        db.record_delivery(deliveries[1], Err("down"), Some(NOW + 1_000), NOW).await.expect("retried");

        let pruned = db.prune_stale(NOW, NOW - 90 * DAY).await.expect("prune");
        assert_eq!(
            pruned,
            Pruned { sessions: 1, nonces: 1, logins: 0, deliveries: 1, notifications: 1 },
            "one of each stale kind"
        );
        assert_eq!(count(&db, "sessions").await, 1);
        assert_eq!(count(&db, "wallet_nonces").await, 1);
        let texts: Vec<String> =
            sqlx::query_scalar("SELECT text FROM notifications ORDER BY id").fetch_all(db.reader()).await.expect("t");
        assert_eq!(texts, ["old, still retried", "recent"]);
        assert_eq!(db.prune_stale(NOW, NOW - 90 * DAY).await.expect("again").total(), 0, "nothing left to prune");
    }

    crate::both_backends!(stale_rows_go_and_live_ones_stay);
}
