//! Users and their sign-in identities: find-or-create at sign-in, link, unlink.

use pictor_core::accounts::{IdentityProvider, IdentitySummary, Viewer};
use sqlx::Row;

use super::users::UserId;
use super::{Db, DbError};

/// A verified identity presented at sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub provider: IdentityProvider,
    /// Stable id within the provider: the normalised wallet address, or `issuer|sub`.
    pub subject: String,
    /// What to show: the address or the e-mail.
    pub label: String,
    /// A display name for a new account.
    pub suggested_name: String,
}

/// Why an identity could not be attached to an account.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this {0} is already linked to another account")]
    TakenByAnotherAccount(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl Db {
    /// The account owning `identity`, created (with the identity) if this is its first sign-in.
    pub async fn find_or_create_user(&self, identity: &VerifiedIdentity, now_ms: i64) -> Result<UserId, DbError> {
        let mut tx = self.begin_write().await?;
        let existing: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM identities WHERE provider = $1 AND subject = $2")
                .bind(identity.provider.as_str())
                .bind(&identity.subject)
                .fetch_optional(&mut *tx)
                .await?;
        let user = match existing {
            Some(user) => user,
            None => {
                let user: i64 =
                    sqlx::query_scalar("INSERT INTO users (display_name, created_at_ms) VALUES ($1, $2) RETURNING id")
                        .bind(&identity.suggested_name)
                        .bind(now_ms)
                        .fetch_one(&mut *tx)
                        .await?;
                insert_identity(&mut tx, user, identity, now_ms).await?;
                user
            }
        };
        tx.commit().await?;
        Ok(user)
    }

    /// Attaches `identity` to `user`; fine if it is already theirs, refused if it belongs to someone else.
    pub async fn link_identity(&self, user: UserId, identity: &VerifiedIdentity, now_ms: i64) -> Result<(), LinkError> {
        let mut tx = self.begin_write().await?;
        let owner: Option<i64> =
            sqlx::query_scalar("SELECT user_id FROM identities WHERE provider = $1 AND subject = $2")
                .bind(identity.provider.as_str())
                .bind(&identity.subject)
                .fetch_optional(&mut *tx)
                .await
                .map_err(DbError::from)?;
        match owner {
            Some(owner) if owner == user => {}
            Some(_) => {
                let what = match identity.provider {
                    IdentityProvider::Aptos => "wallet",
                    IdentityProvider::Oidc => "account",
                };
                return Err(LinkError::TakenByAnotherAccount(what));
            }
            None => insert_identity(&mut tx, user, identity, now_ms).await?,
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Removes one sign-in method, but never the last one: the account must stay reachable.
    pub async fn unlink_identity(&self, user: UserId, identity_id: i64) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE user_id = $1")
            .bind(user)
            .fetch_one(&mut *tx)
            .await?;
        if count <= 1 {
            return Err(DbError::Conflict("the last sign-in method cannot be removed"));
        }
        let removed = sqlx::query("DELETE FROM identities WHERE id = $1 AND user_id = $2")
            .bind(identity_id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(DbError::NotFound("sign-in method"));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn identities_of(&self, user: UserId) -> Result<Vec<IdentitySummary>, DbError> {
        let rows = sqlx::query(
            "SELECT id, provider, label, created_at_ms FROM identities WHERE user_id = $1 ORDER BY created_at_ms, id",
        )
        .bind(user)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                let provider: String = row.try_get("provider")?;
                Ok(IdentitySummary {
                    id: row.try_get("id")?,
                    provider: IdentityProvider::parse(&provider).ok_or(DbError::Corrupt("identity provider"))?,
                    label: row.try_get("label")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    pub async fn viewer(&self, user: UserId) -> Result<Viewer, DbError> {
        let name: Option<String> = sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(self.reader())
            .await?;
        let display_name = name.ok_or(DbError::NotFound("user"))?;
        Ok(Viewer { user_id: user, display_name })
    }

    pub async fn rename_user(&self, user: UserId, display_name: &str) -> Result<(), DbError> {
        let updated = sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
            .bind(display_name)
            .bind(user)
            .execute(self.writer())
            .await?;
        if updated.rows_affected() == 0 {
            return Err(DbError::NotFound("user"));
        }
        Ok(())
    }

    /// Number of accounts; used by tests to prove a rejected sign-in created nothing.
    pub async fn count_users(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.reader()).await?)
    }
}

async fn insert_identity(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user: UserId,
    identity: &VerifiedIdentity,
    now_ms: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO identities (user_id, provider, subject, label, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user)
    .bind(identity.provider.as_str())
    .bind(&identity.subject)
    .bind(&identity.label)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet(address: &str) -> VerifiedIdentity {
        VerifiedIdentity {
            provider: IdentityProvider::Aptos,
            subject: address.to_string(),
            label: address.to_string(),
            suggested_name: "Wallet".to_string(),
        }
    }

    fn google(sub: &str) -> VerifiedIdentity {
        VerifiedIdentity {
            provider: IdentityProvider::Oidc,
            subject: format!("https://accounts.google.com|{sub}"),
            label: format!("{sub}@example.com"),
            suggested_name: "Ada".to_string(),
        }
    }

    async fn the_same_identity_always_finds_the_same_account(db: Db) {
        let first = db.find_or_create_user(&wallet("0xa"), 1).await.expect("create");
        let again = db.find_or_create_user(&wallet("0xa"), 2).await.expect("find");
        let other = db.find_or_create_user(&wallet("0xb"), 3).await.expect("create other");
        assert_eq!(first, again);
        assert_ne!(first, other);
        assert_eq!(db.count_users().await.expect("count"), 2);
    }

    async fn a_wallet_and_a_google_account_share_one_user(db: Db) {
        let user = db.find_or_create_user(&wallet("0xa"), 1).await.expect("create");
        db.link_identity(user, &google("ada"), 2).await.expect("link");
        db.link_identity(user, &google("ada"), 3).await.expect("linking twice is harmless");
        assert_eq!(db.find_or_create_user(&google("ada"), 4).await.expect("find"), user);
        let identities = db.identities_of(user).await.expect("list");
        assert_eq!(identities.len(), 2);

        let someone_else = db.find_or_create_user(&wallet("0xb"), 5).await.expect("create");
        let taken = db.link_identity(someone_else, &google("ada"), 6).await.expect_err("taken");
        assert!(matches!(taken, LinkError::TakenByAnotherAccount("account")), "{taken}");

        db.unlink_identity(user, identities[1].id).await.expect("unlink google");
        let last = db.unlink_identity(user, identities[0].id).await.expect_err("keep the last");
        assert!(matches!(last, DbError::Conflict(_)), "{last}");
        let not_mine = db.unlink_identity(someone_else, identities[0].id).await.expect_err("not theirs");
        assert!(matches!(not_mine, DbError::Conflict(_) | DbError::NotFound(_)), "{not_mine}");
        assert_eq!(db.identities_of(user).await.expect("list").len(), 1);
    }

    crate::both_backends!(
        the_same_identity_always_finds_the_same_account,
        a_wallet_and_a_google_account_share_one_user
    );
}
