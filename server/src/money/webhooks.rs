//! Delivers notifications to users' webhooks: each body signed with the user's secret (HMAC-SHA256), retried with
//! growing delays until the receiver answers 2xx, given up after [`MAX_ATTEMPTS`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::signature::{sign, SIGNATURE_HEADER};
use super::webhook_target::{check, client_for};
use crate::clock::now_ms;
use crate::db::notifications::DueDelivery;
use crate::db::Db;

/// Tries per delivery.
pub const MAX_ATTEMPTS: i64 = 8;
/// The delay after the first failed try; doubled after each (1 s, 2 s, 4 s, … about 2 minutes at the end).
const FIRST_RETRY_MS: i64 = 1_000;

/// When to try again after `attempts` failed tries, or `None` to give up.
pub fn retry_at(attempts: i64, now_ms: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| now_ms + FIRST_RETRY_MS * (1 << attempts.clamp(0, 20)))
}

pub struct WebhookSender {
    db: Db,
    /// Hosts allowed although not public (see `ledger.webhook_allowed_hosts`).
    allowed_hosts: Vec<String>,
    every: Duration,
}

impl WebhookSender {
    pub fn new(db: Db, allowed_hosts: Vec<String>) -> Self {
        Self { db, allowed_hosts, every: Duration::from_millis(500) }
    }

    /// One try: the target is checked again (its name may resolve elsewhere since it was saved) and the request
    /// goes to the address just checked, without redirects.
    async fn deliver(&self, delivery: &DueDelivery) -> Result<(), String> {
        let target = check(&delivery.url, &self.allowed_hosts).await.map_err(|refused| refused.to_string())?;
        let http = client_for(&target).map_err(|error| error.to_string())?;
        let response = http
            .post(target.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&delivery.secret, delivery.body.as_bytes()))
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", response.status()))
        }
    }

    /// Tries every due delivery once.
    pub async fn send_due(&self) -> usize {
        let due = match self.db.due_deliveries(now_ms(), 50).await {
            Ok(due) => due,
            Err(error) => {
                tracing::error!(%error, "reading webhook deliveries failed");
                return 0;
            }
        };
        for delivery in &due {
            let outcome = self.deliver(delivery).await;
            let retry = outcome.as_ref().err().and_then(|_| retry_at(delivery.attempts + 1, now_ms()));
            if let Err(error) = &outcome {
                tracing::warn!(delivery = delivery.id, %error, retry = retry.is_some(), "webhook delivery failed");
            }
            let recorded = self
                .db
                .record_delivery(delivery.id, outcome.as_ref().map(|_| ()).map_err(String::as_str), retry, now_ms())
                .await;
            if let Err(error) = recorded {
                tracing::error!(%error, "recording a webhook delivery failed");
            }
        }
        due.len()
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            self.send_due().await;
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

    #[test]
    fn retries_back_off_then_give_up() {
        assert_eq!(retry_at(1, 0), Some(2_000));
        assert_eq!(retry_at(3, 0), Some(8_000));
        assert_eq!(retry_at(MAX_ATTEMPTS, 0), None);
    }
}
