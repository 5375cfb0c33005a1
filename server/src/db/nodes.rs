//! Worker and checker nodes: creation with a hashed token, token lookup, the owner's settings, disable and delete.

use pictor_core::workers::{SleepSchedule, WorkerSettings};

use super::users::UserId;
use super::{Db, DbError};

/// Primary key of a node.
pub use super::NodeId;

/// What a node does in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Worker,
    Checker,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Worker => "worker",
            NodeKind::Checker => "checker",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "worker" => Some(NodeKind::Worker),
            "checker" => Some(NodeKind::Checker),
            _ => None,
        }
    }
}

/// What a node can render, from its registration: what the lease queries match on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Comma-separated lower-case engine names, from every Blender it has.
    pub engines: String,
    /// Its largest GPU memory.
    pub vram_bytes: i64,
    /// Its GPU models, ` | `-separated.
    pub gpu_models: String,
    /// The Blender it renders with (its first); checks go to checkers with the same one.
    pub blender_version: String,
    /// Comma-separated kinds of work it can run (`render`).
    pub workloads: String,
}

/// The node a token belongs to, as the agent API needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenNode {
    pub id: NodeId,
    pub owner: UserId,
    pub kind: NodeKind,
    pub name: String,
    pub disabled: bool,
    /// Read with the token so a heartbeat can answer "asleep" without another query.
    pub sleep: SleepSchedule,
}

impl Db {
    /// Registers a node for `owner` without a token (tests and seeding); it is new until its first heartbeat.
    pub async fn create_node(&self, owner: UserId, kind: NodeKind, name: &str, now_ms: i64) -> Result<NodeId, DbError> {
        self.issue_node(owner, kind, name, None, now_ms).await
    }

    /// Creates a node whose agent will present the token hashed as `token_hash`.
    pub async fn issue_node(
        &self,
        owner: UserId,
        kind: NodeKind,
        name: &str,
        token_hash: Option<&str>,
        now_ms: i64,
    ) -> Result<NodeId, DbError> {
        let id: NodeId = sqlx::query_scalar(
            "INSERT INTO nodes (owner_id, kind, name, token_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)
             RETURNING id",
        )
        .bind(owner)
        .bind(kind.as_str())
        .bind(name)
        .bind(token_hash)
        .bind(now_ms)
        .fetch_one(self.writer())
        .await?;
        Ok(id)
    }

    /// The (not deleted) node whose token hashes to `token_hash`.
    pub async fn node_by_token(&self, token_hash: &str) -> Result<Option<TokenNode>, DbError> {
        type Row = (NodeId, i64, String, String, Option<i64>, i64, i64, i64, i64, i64);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, owner_id, kind, name, disabled_at_ms, sleep_enabled, sleep_days, sleep_start_minute,
                    sleep_end_minute, utc_offset_minutes
             FROM nodes WHERE token_hash = $1 AND deleted_at_ms IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.reader())
        .await?;
        Ok(row.and_then(|(id, owner, kind, name, disabled, enabled, days, start, end, offset)| {
            Some(TokenNode {
                id,
                owner,
                kind: NodeKind::parse(&kind)?,
                name,
                disabled: disabled.is_some(),
                sleep: SleepSchedule {
                    enabled: enabled != 0,
                    days: u8::try_from(days).ok()?,
                    start_minute: u16::try_from(start).ok()?,
                    end_minute: u16::try_from(end).ok()?,
                    utc_offset_minutes: i16::try_from(offset).ok()?,
                },
            })
        }))
    }

    /// Replaces the node's token: the old one stops working at once. Only the owner may.
    pub async fn reissue_node_token(&self, owner: UserId, node: NodeId, token_hash: &str) -> Result<String, DbError> {
        let name: Option<String> = sqlx::query_scalar(
            "UPDATE nodes SET token_hash = $1 WHERE id = $2 AND owner_id = $3 AND deleted_at_ms IS NULL RETURNING name",
        )
        .bind(token_hash)
        .bind(node)
        .bind(owner)
        .fetch_optional(self.writer())
        .await?;
        name.ok_or(DbError::NotFound("node"))
    }

    /// Switches a node on or off; a disabled node's token is refused and it counts as offline.
    pub async fn set_node_enabled(
        &self,
        owner: UserId,
        node: NodeId,
        enabled: bool,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let disabled_at = (!enabled).then_some(now_ms);
        let result = sqlx::query(
            "UPDATE nodes SET disabled_at_ms = $1, online = CASE WHEN $1 IS NULL THEN online ELSE 0 END
             WHERE id = $2 AND owner_id = $3 AND deleted_at_ms IS NULL",
        )
        .bind(disabled_at)
        .bind(node)
        .bind(owner)
        .execute(self.writer())
        .await?;
        super::touched(result, "node")
    }

    /// Removes a node from its owner's lists and forgets its token; its history stays for the ledger.
    pub async fn delete_node(&self, owner: UserId, node: NodeId, now_ms: i64) -> Result<(), DbError> {
        let result = sqlx::query(
            "UPDATE nodes SET deleted_at_ms = $1, token_hash = NULL, online = 0
             WHERE id = $2 AND owner_id = $3 AND deleted_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(node)
        .bind(owner)
        .execute(self.writer())
        .await?;
        super::touched(result, "node")
    }

    /// Saves validated settings (the caller validates; this stores exactly what it is given).
    pub async fn update_worker_settings(
        &self,
        owner: UserId,
        node: NodeId,
        settings: &WorkerSettings,
        now_ms: i64,
    ) -> Result<(), DbError> {
        let result = sqlx::query(
            "UPDATE nodes SET price_micro_per_minute = $1, tags = $2, region = $3, sleep_enabled = $4,
                    sleep_days = $5, sleep_start_minute = $6, sleep_end_minute = $7, utc_offset_minutes = $8,
                    disabled_at_ms = CASE WHEN $9 = 1 THEN NULL ELSE COALESCE(disabled_at_ms, $10) END,
                    online = CASE WHEN $9 = 1 THEN online ELSE 0 END
             WHERE id = $11 AND owner_id = $12 AND kind = 'worker' AND deleted_at_ms IS NULL",
        )
        .bind(settings.price_micro_per_minute)
        .bind(settings.tags.join(","))
        .bind(&settings.region)
        .bind(i64::from(settings.sleep.enabled))
        .bind(i64::from(settings.sleep.days))
        .bind(i64::from(settings.sleep.start_minute))
        .bind(i64::from(settings.sleep.end_minute))
        .bind(i64::from(settings.sleep.utc_offset_minutes))
        .bind(i64::from(settings.enabled))
        .bind(now_ms)
        .bind(node)
        .bind(owner)
        .execute(self.writer())
        .await?;
        super::touched(result, "worker")
    }

    /// Takes a node out of service; it no longer counts as online.
    pub async fn disable_node(&self, node: NodeId, now_ms: i64) -> Result<(), DbError> {
        let result = sqlx::query("UPDATE nodes SET disabled_at_ms = $1 WHERE id = $2 AND disabled_at_ms IS NULL")
            .bind(now_ms)
            .bind(node)
            .execute(self.writer())
            .await?;
        super::touched(result, "enabled node")
    }
}
