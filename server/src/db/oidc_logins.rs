//! OpenID Connect logins in flight: the PKCE verifier and nonce kept between redirect and callback.

use super::users::UserId;
use super::{Db, DbError};

/// What was remembered when the browser was sent to the identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingOidcLogin {
    pub pkce_verifier: String,
    pub nonce: String,
    pub link_user: Option<UserId>,
}

impl Db {
    pub async fn remember_oidc_login(
        &self,
        state: &str,
        login: &PendingOidcLogin,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        // Abandoned attempts (the user never came back) are swept here, where new ones arrive.
        sqlx::query("DELETE FROM oidc_logins WHERE expires_at_ms <= $1").bind(now_ms).execute(self.writer()).await?;
        sqlx::query(
            "INSERT INTO oidc_logins (state, pkce_verifier, nonce, link_user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state)
        .bind(&login.pkce_verifier)
        .bind(&login.nonce)
        .bind(login.link_user)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Removes and returns the login for `state`; `None` if unknown, already used or expired.
    pub async fn take_oidc_login(&self, state: &str, now_ms: i64) -> Result<Option<PendingOidcLogin>, DbError> {
        let row: Option<(String, String, Option<i64>, i64)> = sqlx::query_as(
            "DELETE FROM oidc_logins WHERE state = $1 RETURNING pkce_verifier, nonce, link_user_id, expires_at_ms",
        )
        .bind(state)
        .fetch_optional(self.writer())
        .await?;
        Ok(row.and_then(|(pkce_verifier, nonce, link_user, expires)| {
            (expires > now_ms).then_some(PendingOidcLogin { pkce_verifier, nonce, link_user })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn a_login_state_is_taken_once_and_expires(db: Db) {
        let login = PendingOidcLogin { pkce_verifier: "v".into(), nonce: "n".into(), link_user: None };
        db.remember_oidc_login("s1", &login, 0, 1_000).await.expect("remember");
        db.remember_oidc_login("s2", &login, 0, 1_000).await.expect("remember");
        assert_eq!(db.take_oidc_login("s1", 10).await.expect("take"), Some(login));
        assert_eq!(db.take_oidc_login("s1", 10).await.expect("take"), None, "single use");
        assert_eq!(db.take_oidc_login("s2", 1_000).await.expect("take"), None, "expired");
        assert_eq!(db.take_oidc_login("unknown", 10).await.expect("take"), None);
    }

    crate::both_backends!(a_login_state_is_taken_once_and_expires);
}
