//! API keys for the public REST API and the CLI, stored as SHA-256 hashes.

use pictor_core::accounts::{ApiKeyLimits, ApiKeySummary};
use sqlx::Row;

use super::users::UserId;
use super::{Db, DbError};

const KEY_COLUMNS: &str = "id, name, prefix, created_at_ms, last_used_at_ms, revoked_at_ms, requests_per_minute, \
                           tokens_per_minute, max_concurrent, budget_micro";

impl Db {
    pub async fn create_api_key(
        &self,
        user: UserId,
        name: &str,
        prefix: &str,
        key_hash: &str,
        now_ms: i64,
    ) -> Result<ApiKeySummary, DbError> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at_ms) VALUES ($1, $2, $3, $4, $5)
             RETURNING {KEY_COLUMNS}"
        ))
        .bind(user)
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(now_ms)
        .fetch_one(self.writer())
        .await?;
        summary(&row)
    }

    /// The owner's keys, newest first, revoked ones included (marked).
    pub async fn api_keys_of(&self, user: UserId) -> Result<Vec<ApiKeySummary>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at_ms DESC, id DESC"
        ))
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(summary).collect()
    }

    pub async fn revoke_api_key(&self, user: UserId, key: i64, now_ms: i64) -> Result<(), DbError> {
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND user_id = $3 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(key)
        .bind(user)
        .execute(self.writer())
        .await?;
        if revoked.rows_affected() == 0 {
            return Err(DbError::NotFound("active API key"));
        }
        Ok(())
    }

    /// The owner of an active key with this hash, recording its use.
    pub async fn api_key_user(&self, key_hash: &str, now_ms: i64) -> Result<Option<UserId>, DbError> {
        let user: Option<i64> = sqlx::query_scalar(
            "UPDATE api_keys SET last_used_at_ms = $1 WHERE key_hash = $2 AND revoked_at_ms IS NULL RETURNING user_id",
        )
        .bind(now_ms)
        .bind(key_hash)
        .fetch_optional(self.writer())
        .await?;
        Ok(user)
    }
}

fn summary(row: &sqlx::any::AnyRow) -> Result<ApiKeySummary, DbError> {
    Ok(ApiKeySummary {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at_ms: row.try_get("created_at_ms")?,
        last_used_at_ms: row.try_get("last_used_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
        limits: ApiKeyLimits {
            requests_per_minute: row.try_get("requests_per_minute")?,
            tokens_per_minute: row.try_get("tokens_per_minute")?,
            max_concurrent: row.try_get("max_concurrent")?,
            budget_micro: row.try_get("budget_micro")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn revoked_keys_stop_working_and_only_the_owner_can_revoke(db: Db) {
        let ada = db.create_user("Ada", 0).await.expect("user");
        let bob = db.create_user("Bob", 0).await.expect("user");
        let key = db.create_api_key(ada, "cli", "pk_abc", "hash-1", 10).await.expect("create");
        assert_eq!(db.api_key_user("hash-1", 20).await.expect("auth"), Some(ada));
        assert_eq!(db.api_keys_of(ada).await.expect("list")[0].last_used_at_ms, Some(20));
        assert!(db.revoke_api_key(bob, key.id, 30).await.is_err(), "not Bob's key");
        db.revoke_api_key(ada, key.id, 30).await.expect("revoke");
        assert_eq!(db.api_key_user("hash-1", 40).await.expect("auth"), None);
        assert_eq!(db.api_keys_of(ada).await.expect("list")[0].revoked_at_ms, Some(30));
        assert!(db.revoke_api_key(ada, key.id, 50).await.is_err(), "already revoked");
    }

    crate::both_backends!(revoked_keys_stop_working_and_only_the_owner_can_revoke);
}
