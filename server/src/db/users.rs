//! Accounts.

use super::{Db, DbError};

/// Primary key of a user.
pub type UserId = i64;

impl Db {
    /// Creates an account and returns its id.
    pub async fn create_user(&self, display_name: &str, now_ms: i64) -> Result<UserId, DbError> {
        let id: i64 =
            sqlx::query_scalar("INSERT INTO users (display_name, created_at_ms) VALUES ($1, $2) RETURNING id")
                .bind(display_name)
                .bind(now_ms)
                .fetch_one(self.writer())
                .await?;
        Ok(id)
    }

    /// A user's display name; `None` when there is no such user.
    pub async fn user_name(&self, id: UserId) -> Result<Option<String>, DbError> {
        Ok(sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await?)
    }
}
