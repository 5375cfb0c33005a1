//! Browser sessions, keyed by the SHA-256 of the cookie's token (the token itself is never stored).

use super::users::UserId;
use super::{Db, DbError};

/// `last_seen_at_ms` is refreshed at most this often, so reads do not turn into a write per request.
const TOUCH_EVERY_MS: i64 = 60_000;

impl Db {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user: UserId,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at_ms, expires_at_ms, last_seen_at_ms)
             VALUES ($1, $2, $3, $4, $3)",
        )
        .bind(token_hash)
        .bind(user)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The user of a live session, or `None` for an unknown or expired token.
    pub async fn session_user(&self, token_hash: &str, now_ms: i64) -> Result<Option<UserId>, DbError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT user_id, last_seen_at_ms FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(self.reader())
        .await?;
        let Some((user, last_seen)) = row else { return Ok(None) };
        if now_ms - last_seen > TOUCH_EVERY_MS {
            sqlx::query("UPDATE sessions SET last_seen_at_ms = $1 WHERE token_hash = $2")
                .bind(now_ms)
                .bind(token_hash)
                .execute(self.writer())
                .await?;
        }
        Ok(Some(user))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(self.writer()).await?;
        Ok(())
    }

    /// "Sign out everywhere": ends every session of `user`.
    pub async fn delete_sessions_of(&self, user: UserId) -> Result<u64, DbError> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user).execute(self.writer()).await?;
        Ok(result.rows_affected())
    }

    pub async fn count_active_sessions(&self, user: UserId, now_ms: i64) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at_ms > $2")
            .bind(user)
            .bind(now_ms)
            .fetch_one(self.reader())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sessions_expire_and_can_be_ended_everywhere(db: Db) {
        let user = db.create_user("Ada", 0).await.expect("user");
        db.create_session("h1", user, 1_000, 10_000).await.expect("session 1");
        db.create_session("h2", user, 1_000, 5_000).await.expect("session 2");
        assert_eq!(db.session_user("h1", 2_000).await.expect("lookup"), Some(user));
        assert_eq!(db.session_user("h2", 6_000).await.expect("lookup"), None, "expired");
        assert_eq!(db.session_user("nope", 2_000).await.expect("lookup"), None, "unknown");
        assert_eq!(db.count_active_sessions(user, 2_000).await.expect("count"), 2);
        assert_eq!(db.delete_sessions_of(user).await.expect("sign out everywhere"), 2);
        assert_eq!(db.session_user("h1", 2_000).await.expect("lookup"), None);
    }

    crate::both_backends!(sessions_expire_and_can_be_ended_everywhere);
}
