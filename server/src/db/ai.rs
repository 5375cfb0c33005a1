//! The SQL of the AI section: the model catalogue, API keys' AI limits, and request rows (reserve, settle, usage).
//! Prices, limits and who is paid what are decided in `ai::billing`.

use pictor_core::ai::{CatalogueModel, ModelKind};
use sqlx::Row;

use super::users::UserId;
use super::{Db, DbError, NodeId, Tx};

/// A model to add to the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewModel {
    pub id: String,
    pub kind: ModelKind,
    pub owner: Option<UserId>,
    pub public: bool,
    pub sha256: String,
    pub bytes: i64,
    pub context_length: i64,
    pub input_price_micro_per_m: i64,
    pub output_price_micro_per_m: i64,
}

/// An API key as the AI API sees it: whose it is and the limits set on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiKey {
    pub id: i64,
    pub user: UserId,
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub max_concurrent: Option<i64>,
    pub budget_micro: Option<i64>,
}

/// A request as it starts: reserved credit, and who is asking for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRequest<'a> {
    pub id: &'a str,
    pub user: UserId,
    pub api_key: Option<i64>,
    pub model: &'a str,
    pub kind: &'a str,
    pub reserved_micro: i64,
    pub reserved_welcome_micro: i64,
    pub created_at_ms: i64,
}

/// How a request ended, as recorded on its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEnd<'a> {
    pub node: Option<NodeId>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub ttft_ms: Option<i64>,
    pub duration_ms: i64,
    pub cost_micro: i64,
    pub outcome: &'a str,
    pub replay: Option<String>,
    pub settled_at_ms: i64,
}

/// What settlement needs to know of a reserved request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub user: UserId,
    pub reserved_micro: i64,
    pub reserved_welcome_micro: i64,
}

/// One row of a user's usage, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub id: String,
    pub model: String,
    pub kind: String,
    pub node: Option<NodeId>,
    pub api_key: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub ttft_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub cost_micro: i64,
    pub outcome: Option<String>,
    pub created_at_ms: i64,
}

pub(super) const MODEL_COLUMNS: &str =
    "m.id, m.kind, COALESCE(u.display_name, 'pictor') AS owned_by, m.sha256, m.bytes,
     m.context_length, m.input_price_micro_per_m, m.output_price_micro_per_m, m.public, m.created_at_ms";

impl Db {
    /// Adds a model unless one with its id is there already (the network's models are seeded at every start).
    pub async fn add_ai_model(&self, model: &NewModel, now_ms: i64) -> Result<bool, DbError> {
        self.insert_model(model, None, now_ms).await
    }

    /// Adds a model with its uploaded files (JSON) unless its id is taken; true when it was added.
    pub(super) async fn insert_model(
        &self,
        model: &NewModel,
        files: Option<String>,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let added = sqlx::query(
            "INSERT INTO ai_models (id, kind, owner_user_id, public, sha256, bytes, context_length,
                                    input_price_micro_per_m, output_price_micro_per_m, created_at_ms, files)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&model.id)
        .bind(model.kind.as_str())
        .bind(model.owner)
        .bind(i64::from(model.public))
        .bind(&model.sha256)
        .bind(model.bytes)
        .bind(model.context_length)
        .bind(model.input_price_micro_per_m)
        .bind(model.output_price_micro_per_m)
        .bind(now_ms)
        .bind(files)
        .execute(self.writer())
        .await?;
        Ok(added.rows_affected() == 1)
    }

    /// The models `user` may call: the public ones and their own, the network's first.
    pub async fn ai_models_for(&self, user: UserId) -> Result<Vec<CatalogueModel>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM ai_models m LEFT JOIN users u ON u.id = m.owner_user_id
             WHERE m.public = 1 OR m.owner_user_id = $1
             ORDER BY m.owner_user_id IS NOT NULL, m.id"
        ))
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(catalogue_model).collect()
    }

    /// One model `user` may call, by id.
    pub async fn ai_model_for(&self, user: UserId, id: &str) -> Result<Option<CatalogueModel>, DbError> {
        let row = sqlx::query(&format!(
            "SELECT {MODEL_COLUMNS} FROM ai_models m LEFT JOIN users u ON u.id = m.owner_user_id
             WHERE m.id = $1 AND (m.public = 1 OR m.owner_user_id = $2)"
        ))
        .bind(id)
        .bind(user)
        .fetch_optional(self.reader())
        .await?;
        row.as_ref().map(catalogue_model).transpose()
    }

    /// The active key with this hash and its limits, recording its use.
    pub async fn ai_key(&self, key_hash: &str, now_ms: i64) -> Result<Option<AiKey>, DbError> {
        let row = sqlx::query(
            "UPDATE api_keys SET last_used_at_ms = $1 WHERE key_hash = $2 AND revoked_at_ms IS NULL
             RETURNING id, user_id, requests_per_minute, tokens_per_minute, max_concurrent, budget_micro",
        )
        .bind(now_ms)
        .bind(key_hash)
        .fetch_optional(self.writer())
        .await?;
        row.map(|row| {
            Ok(AiKey {
                id: row.try_get("id")?,
                user: row.try_get("user_id")?,
                requests_per_minute: row.try_get("requests_per_minute")?,
                tokens_per_minute: row.try_get("tokens_per_minute")?,
                max_concurrent: row.try_get("max_concurrent")?,
                budget_micro: row.try_get("budget_micro")?,
            })
        })
        .transpose()
    }

    /// Sets (or clears, with `None`) the AI limits of one of `user`'s keys.
    pub async fn set_ai_key_limits(&self, user: UserId, key: &AiKey) -> Result<(), DbError> {
        let done = sqlx::query(
            "UPDATE api_keys SET requests_per_minute = $1, tokens_per_minute = $2, max_concurrent = $3,
                                 budget_micro = $4
             WHERE id = $5 AND user_id = $6 AND revoked_at_ms IS NULL",
        )
        .bind(key.requests_per_minute)
        .bind(key.tokens_per_minute)
        .bind(key.max_concurrent)
        .bind(key.budget_micro)
        .bind(key.id)
        .bind(user)
        .execute(self.writer())
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound("active API key"));
        }
        Ok(())
    }

    /// What a key has spent and holds reserved, in micro-credits (its budget counts both).
    pub async fn ai_key_spent(&self, key: i64) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'reserved' THEN reserved_micro ELSE cost_micro END), 0)
                    AS BIGINT)
             FROM ai_requests WHERE api_key_id = $1",
        )
        .bind(key)
        .fetch_one(self.reader())
        .await?)
    }

    /// A user's most recent requests.
    pub async fn ai_usage(&self, user: UserId, limit: i64) -> Result<Vec<UsageRow>, DbError> {
        let rows = sqlx::query(
            "SELECT id, model_id, kind, node_id, api_key_id, prompt_tokens, completion_tokens, ttft_ms, duration_ms,
                    cost_micro, outcome, created_at_ms
             FROM ai_requests WHERE user_id = $1 AND status = 'settled' ORDER BY created_at_ms DESC, id LIMIT $2",
        )
        .bind(user)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    id: row.try_get("id")?,
                    model: row.try_get("model_id")?,
                    kind: row.try_get("kind")?,
                    node: row.try_get("node_id")?,
                    api_key: row.try_get("api_key_id")?,
                    prompt_tokens: row.try_get("prompt_tokens")?,
                    completion_tokens: row.try_get("completion_tokens")?,
                    ttft_ms: row.try_get("ttft_ms")?,
                    duration_ms: row.try_get("duration_ms")?,
                    cost_micro: row.try_get("cost_micro")?,
                    outcome: row.try_get("outcome")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Requests still reserved since before `before_ms` (their coordinator stopped before settling them).
    pub async fn stale_ai_requests(&self, before_ms: i64) -> Result<Vec<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT id FROM ai_requests WHERE status = 'reserved' AND created_at_ms < $1")
            .bind(before_ms)
            .fetch_all(self.reader())
            .await?)
    }
}

/// Records a new request; false when its id is taken (a repeat).
pub async fn insert_request(tx: &mut Tx<'_>, request: &NewRequest<'_>) -> Result<bool, DbError> {
    let inserted = sqlx::query(
        "INSERT INTO ai_requests (id, user_id, api_key_id, model_id, kind, status, reserved_micro,
                                  reserved_welcome_micro, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, 'reserved', $6, $7, $8) ON CONFLICT (id) DO NOTHING",
    )
    .bind(request.id)
    .bind(request.user)
    .bind(request.api_key)
    .bind(request.model)
    .bind(request.kind)
    .bind(request.reserved_micro)
    .bind(request.reserved_welcome_micro)
    .bind(request.created_at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Marks a reserved request settled with how it ended; `None` when it was settled already (nothing to pay twice).
pub async fn settle_request(tx: &mut Tx<'_>, id: &str, end: &RequestEnd<'_>) -> Result<Option<Reserved>, DbError> {
    let row = sqlx::query(
        "UPDATE ai_requests SET status = 'settled', node_id = $1, prompt_tokens = $2, completion_tokens = $3,
                ttft_ms = $4, duration_ms = $5, cost_micro = $6, outcome = $7, replay = $8, settled_at_ms = $9
         WHERE id = $10 AND status = 'reserved'
         RETURNING user_id, reserved_micro, reserved_welcome_micro",
    )
    .bind(end.node)
    .bind(end.prompt_tokens)
    .bind(end.completion_tokens)
    .bind(end.ttft_ms)
    .bind(end.duration_ms)
    .bind(end.cost_micro)
    .bind(end.outcome)
    .bind(&end.replay)
    .bind(end.settled_at_ms)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(reserved).transpose()
}

/// The owner of a node (who earns for what it serves).
pub async fn node_owner(tx: &mut Tx<'_>, node: NodeId) -> Result<Option<UserId>, DbError> {
    Ok(sqlx::query_scalar("SELECT owner_id FROM nodes WHERE id = $1").bind(node).fetch_optional(&mut **tx).await?)
}

fn reserved(row: &sqlx::any::AnyRow) -> Result<Reserved, DbError> {
    Ok(Reserved {
        user: row.try_get("user_id")?,
        reserved_micro: row.try_get("reserved_micro")?,
        reserved_welcome_micro: row.try_get("reserved_welcome_micro")?,
    })
}

pub(super) fn catalogue_model(row: &sqlx::any::AnyRow) -> Result<CatalogueModel, DbError> {
    let kind: String = row.try_get("kind")?;
    let public: i64 = row.try_get("public")?;
    Ok(CatalogueModel {
        id: row.try_get("id")?,
        kind: ModelKind::parse(&kind).ok_or(DbError::NotFound("model kind"))?,
        owned_by: row.try_get("owned_by")?,
        sha256: row.try_get("sha256")?,
        bytes: row.try_get("bytes")?,
        context_length: row.try_get("context_length")?,
        input_price_micro_per_m: row.try_get("input_price_micro_per_m")?,
        output_price_micro_per_m: row.try_get("output_price_micro_per_m")?,
        public: public != 0,
        warm_workers: 0,
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

/// The reservation of a request still being served (locked on PostgreSQL); `None` once settled or unknown.
pub async fn reserved_request(tx: &mut Tx<'_>, id: &str) -> Result<Option<Reserved>, DbError> {
    let lock = if tx.backend_name() == "PostgreSQL" { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT user_id, reserved_micro, reserved_welcome_micro FROM ai_requests
         WHERE id = $1 AND status = 'reserved'{lock}"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(reserved).transpose()
}

/// Records how much of a request's reservation was welcome credit.
pub async fn set_reserved_welcome(tx: &mut Tx<'_>, id: &str, welcome_micro: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE ai_requests SET reserved_welcome_micro = $1 WHERE id = $2")
        .bind(welcome_micro)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One settled request's figures, for usage summaries.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageFigures {
    pub model_id: String,
    /// The API key's name; `None` for the dashboard's Playground.
    pub key_name: Option<String>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micro: i64,
    pub ttft_ms: Option<i64>,
    pub created_at_ms: i64,
}

impl Db {
    /// The figures of `user`'s settled requests since `since_ms`, oldest first (summed up in `ai::dashboard`).
    pub async fn ai_usage_since(&self, user: UserId, since_ms: i64) -> Result<Vec<UsageFigures>, DbError> {
        Ok(sqlx::query_as(
            "SELECT r.model_id, k.name AS key_name, r.prompt_tokens, r.completion_tokens, r.cost_micro, r.ttft_ms,
                    r.created_at_ms
             FROM ai_requests r LEFT JOIN api_keys k ON k.id = r.api_key_id
             WHERE r.user_id = $1 AND r.status = 'settled' AND r.created_at_ms >= $2 ORDER BY r.created_at_ms",
        )
        .bind(user)
        .bind(since_ms)
        .fetch_all(self.reader())
        .await?)
    }

    /// What `user` spent on AI in all, and in how many requests.
    pub async fn ai_spent(&self, user: UserId) -> Result<(i64, i64), DbError> {
        Ok(sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(cost_micro), 0) AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM ai_requests
             WHERE user_id = $1 AND status = 'settled'",
        )
        .bind(user)
        .fetch_one(self.reader())
        .await?)
    }
}
