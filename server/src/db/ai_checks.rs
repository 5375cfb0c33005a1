//! The SQL of AI checks: a sampled request opened for checking, leased by a checker able to replay it, closed with
//! its verdict. Which requests are sampled and what a verdict does are decided in `ai::checks`.

use sqlx::Row;

use super::users::UserId;
use super::{Db, DbError, NodeId, Tx};

/// A check handed to a checker: the request to replay as the worker served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedCheck {
    pub id: i64,
    pub request: String,
    pub model: String,
    /// JSON: prompt, sampling and token ids, or inputs and vectors.
    pub replay: String,
}

/// A closed check and what is needed to act on its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedCheck {
    pub request: String,
    pub worker: NodeId,
    pub caller: UserId,
}

/// Opens a check of `request` served by `worker` (once per request).
pub async fn open(
    tx: &mut Tx<'_>,
    request: &str,
    worker: NodeId,
    model: &str,
    engine: &str,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO ai_checks (request_id, worker_node_id, model_id, engine, state, created_at_ms)
         VALUES ($1, $2, $3, $4, 'open', $5) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request)
    .bind(worker)
    .bind(model)
    .bind(engine)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Closes a check `checker` holds with `state` (passed or rejected); `None` when it does not hold it (any more).
pub async fn close(
    tx: &mut Tx<'_>,
    id: i64,
    checker: NodeId,
    state: &str,
    detail: &str,
    now_ms: i64,
) -> Result<Option<ClosedCheck>, DbError> {
    let row = sqlx::query(
        "UPDATE ai_checks SET state = $1, detail = $2, closed_at_ms = $3
         WHERE id = $4 AND checker_node_id = $5 AND state = 'leased'
         RETURNING request_id, worker_node_id,
                   (SELECT user_id FROM ai_requests r WHERE r.id = ai_checks.request_id) AS caller",
    )
    .bind(state)
    .bind(detail)
    .bind(now_ms)
    .bind(id)
    .bind(checker)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        Ok(ClosedCheck {
            request: row.try_get("request_id")?,
            worker: row.try_get("worker_node_id")?,
            caller: row.try_get("caller")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| DbError::from(e))
}

/// A worker's result passed a check: its streak grows.
pub async fn count_pass(tx: &mut Tx<'_>, worker: NodeId) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE nodes SET valid_streak = valid_streak + 1, results_verified = results_verified + 1 WHERE id = $1",
    )
    .bind(worker)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Leases the oldest open check (or one whose lease ran out) that `checker` can replay: a model it holds (or any
    /// model, when it fetches models), the same engine build, and a worker of another owner.
    pub async fn lease_ai_check(
        &self,
        checker: NodeId,
        checker_owner: UserId,
        asked: &pictor_core::ai::AiCheckLease,
        lease_ms: i64,
        now_ms: i64,
    ) -> Result<Option<LeasedCheck>, DbError> {
        let engine = asked.engine.as_str();
        // The models it holds first; then, when it fetches models, any other.
        let mut wanted: Vec<Option<&str>> = asked.models.iter().map(|model| Some(model.as_str())).collect();
        if asked.any_model {
            wanted.push(None);
        }
        for model in wanted {
            let candidates: Vec<i64> = sqlx::query_scalar(
                "SELECT c.id FROM ai_checks c JOIN nodes n ON n.id = c.worker_node_id
                 WHERE ($1 IS NULL OR c.model_id = $1) AND c.engine = $2 AND n.owner_id <> $3
                   AND (c.state = 'open' OR (c.state = 'leased' AND c.lease_until_ms < $4))
                 ORDER BY c.id LIMIT 8",
            )
            .bind(model)
            .bind(engine)
            .bind(checker_owner)
            .bind(now_ms)
            .fetch_all(self.reader())
            .await?;
            for id in candidates {
                let row = sqlx::query(
                    "UPDATE ai_checks SET state = 'leased', checker_node_id = $1, lease_until_ms = $2
                     WHERE id = $3 AND (state = 'open' OR (state = 'leased' AND lease_until_ms < $4))
                     RETURNING request_id, model_id,
                               (SELECT replay FROM ai_requests r WHERE r.id = ai_checks.request_id) AS replay",
                )
                .bind(checker)
                .bind(now_ms + lease_ms)
                .bind(id)
                .bind(now_ms)
                .fetch_optional(self.writer())
                .await?;
                if let Some(row) = row {
                    let replay: Option<String> = row.try_get("replay")?;
                    return Ok(Some(LeasedCheck {
                        id,
                        request: row.try_get("request_id")?,
                        model: row.try_get("model_id")?,
                        replay: replay.unwrap_or_default(),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Whether `checker` holds the lease of a check on `model` (so it may fetch the model's files).
    pub async fn checker_leases_model(&self, checker: NodeId, model: &str, now_ms: i64) -> Result<bool, DbError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM ai_checks
             WHERE checker_node_id = $1 AND model_id = $2 AND state = 'leased' AND lease_until_ms >= $3",
        )
        .bind(checker)
        .bind(model)
        .bind(now_ms)
        .fetch_one(self.reader())
        .await?;
        Ok(count > 0)
    }

    /// The checks of a worker's requests, by state (for the dashboard and tests).
    pub async fn ai_check_counts(&self, worker: NodeId) -> Result<Vec<(String, i64)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT state, CAST(COUNT(*) AS BIGINT) FROM ai_checks WHERE worker_node_id = $1 GROUP BY state ORDER BY state",
        )
        .bind(worker)
        .fetch_all(self.reader())
        .await?)
    }
}

/// How much moved under a ledger transfer key (0 when nothing did).
pub async fn moved_under(tx: &mut Tx<'_>, key: &str) -> Result<i64, DbError> {
    let amount: Option<i64> =
        sqlx::query_scalar("SELECT amount_micro FROM ledger_transfers WHERE idempotency_key = $1")
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(amount.unwrap_or(0))
}
