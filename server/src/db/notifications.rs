//! Notifications for users (job finished, job paused for credit, low balance): kept for the dashboard, and queued
//! for delivery to the user's webhook (if set) with retries.

use pictor_core::ledger::Notification;

use super::users::UserId;
use super::{Db, DbError};
use super::{JobId, Tx};

/// id, kind, text, job, created, read.
type NotificationRow = (i64, String, String, Option<i64>, i64, Option<i64>);

/// A webhook delivery that is due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: i64,
}

/// Records a notification for `user` inside the caller's transaction, and queues it for their webhook.
pub async fn notify_in(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: &str,
    text: &str,
    job: Option<JobId>,
    now_ms: i64,
) -> Result<(), DbError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notifications (user_id, kind, text, job_id, created_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(user)
    .bind(kind)
    .bind(text)
    .bind(job)
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await?;
    let url: Option<Option<String>> =
        sqlx::query_scalar("SELECT webhook_url FROM users WHERE id = $1").bind(user).fetch_optional(&mut **tx).await?;
    if let Some(url) = url.flatten() {
        let body = serde_json::json!({ "id": id, "kind": kind, "text": text, "job_id": job, "created_at_ms": now_ms });
        sqlx::query(
            "INSERT INTO webhook_deliveries (user_id, notification_id, url, body, next_attempt_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user)
        .bind(id)
        .bind(url)
        .bind(body.to_string())
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Db {
    pub async fn notify(
        &self,
        user: UserId,
        kind: &str,
        text: &str,
        job: Option<JobId>,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        notify_in(&mut tx, user, kind, text, job, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The user's latest notifications, newest first.
    pub async fn notifications_of(&self, user: UserId, limit: i64) -> Result<Vec<Notification>, DbError> {
        let rows: Vec<NotificationRow> = sqlx::query_as(
            "SELECT id, kind, text, job_id, created_at_ms, read_at_ms FROM notifications
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(user)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, text, job_id, created_at_ms, read)| Notification {
                id,
                kind,
                text,
                job_id,
                created_at_ms,
                read: read.is_some(),
            })
            .collect())
    }

    /// How many of the user's notifications are unread.
    pub async fn unread_notifications(&self, user: UserId) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at_ms IS NULL")
            .bind(user)
            .fetch_one(self.reader())
            .await?)
    }

    /// The newest notification's id (0 when there is none).
    pub async fn latest_notification_id(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM notifications")
            .fetch_one(self.reader())
            .await?)
    }

    /// The users notified after notification `after`, each with the newest id of theirs.
    pub async fn notified_since(&self, after: i64) -> Result<Vec<(UserId, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT user_id, CAST(MAX(id) AS BIGINT) FROM notifications WHERE id > $1 GROUP BY user_id ORDER BY user_id",
        )
        .bind(after)
        .fetch_all(self.reader())
        .await?)
    }

    pub async fn mark_notifications_read(&self, user: UserId, now_ms: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE notifications SET read_at_ms = $1 WHERE user_id = $2 AND read_at_ms IS NULL")
            .bind(now_ms)
            .bind(user)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// Where the user's notifications are also sent, and the secret they are signed with; `None` turns it off.
    pub async fn set_webhook(&self, user: UserId, webhook: Option<(&str, &str)>) -> Result<(), DbError> {
        sqlx::query("UPDATE users SET webhook_url = $1, webhook_secret = $2 WHERE id = $3")
            .bind(webhook.map(|(url, _)| url))
            .bind(webhook.map(|(_, secret)| secret))
            .bind(user)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    /// The user's webhook URL, if set (the secret is never read back).
    pub async fn webhook_of(&self, user: UserId) -> Result<Option<String>, DbError> {
        let url: Option<Option<String>> = sqlx::query_scalar("SELECT webhook_url FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(self.reader())
            .await?;
        Ok(url.flatten())
    }

    /// Deliveries due at `now_ms` (not delivered, next try reached), oldest first.
    pub async fn due_deliveries(&self, now_ms: i64, limit: i64) -> Result<Vec<DueDelivery>, DbError> {
        let rows: Vec<(i64, String, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT d.id, d.url, u.webhook_secret, d.body, d.attempts FROM webhook_deliveries d
               JOIN users u ON u.id = d.user_id
             WHERE d.delivered_at_ms IS NULL AND d.next_attempt_at_ms <= $1 ORDER BY d.id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, url, secret, body, attempts)| DueDelivery {
                id,
                url,
                secret: secret.unwrap_or_default(),
                body,
                attempts,
            })
            .collect())
    }

    /// Records one try: delivered, or failed with the next try at `retry_at_ms` (`None`: given up).
    pub async fn record_delivery(
        &self,
        delivery: i64,
        outcome: Result<(), &str>,
        retry_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let (delivered, error) = match outcome {
            Ok(()) => (Some(now_ms), None),
            Err(error) => (None, Some(error)),
        };
        // A delivery given up is parked far in the future: kept for the record, never tried again.
        let next = retry_at_ms.unwrap_or(i64::MAX);
        // Guarded: a failed try recorded after a successful one (two senders, or a slow first try) leaves the
        // delivery delivered instead of undoing it and sending it again.
        sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, delivered_at_ms = $1, last_error = $2,
                    next_attempt_at_ms = $3 WHERE id = $4 AND delivered_at_ms IS NULL",
        )
        .bind(delivered)
        .bind(error)
        .bind(next)
        .bind(delivery)
        .execute(self.writer())
        .await?;
        Ok(())
    }
}
