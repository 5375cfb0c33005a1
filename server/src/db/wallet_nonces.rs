//! Single-use nonces the server issues for wallet sign-in messages: bound to the address that asked for one, or
//! (Sign in with Aptos, where the wallet says who it is only as it signs) to none, issued with an empty address.

use super::users::UserId;
use super::{Db, DbError};

/// Why a nonce cannot be used; each is reported to the wallet user as is.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceProblem {
    #[error("this sign-in request was not issued by Pictor; start again")]
    Unknown,
    #[error("this sign-in request has expired; start again")]
    Expired,
    #[error("this sign-in request was already used; start again")]
    AlreadyUsed,
    #[error("this sign-in request was issued for another address")]
    OtherAddress,
}

/// A nonce that is still valid, with the account to link to (when the wallet is being linked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedNonce {
    pub link_user: Option<UserId>,
}

impl Db {
    pub async fn issue_wallet_nonce(
        &self,
        nonce: &str,
        address: &str,
        link_user: Option<UserId>,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO wallet_nonces (nonce, address, link_user_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(nonce)
        .bind(address)
        .bind(link_user)
        .bind(now_ms)
        .bind(expires_at_ms)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Checks a nonce without using it up.
    pub async fn check_wallet_nonce(
        &self,
        nonce: &str,
        address: &str,
        now_ms: i64,
    ) -> Result<Result<IssuedNonce, NonceProblem>, DbError> {
        let row: Option<(String, Option<i64>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT address, link_user_id, expires_at_ms, used_at_ms FROM wallet_nonces WHERE nonce = $1",
        )
        .bind(nonce)
        .fetch_optional(self.reader())
        .await?;
        Ok(match row {
            None => Err(NonceProblem::Unknown),
            Some((_, _, _, Some(_))) => Err(NonceProblem::AlreadyUsed),
            Some((_, _, expires, None)) if expires <= now_ms => Err(NonceProblem::Expired),
            Some((issued_for, _, _, None)) if !issued_for.is_empty() && issued_for != address => {
                Err(NonceProblem::OtherAddress)
            }
            Some((_, link_user, _, None)) => Ok(IssuedNonce { link_user }),
        })
    }

    /// Uses the nonce up. Exactly one of two concurrent callers wins; the other gets `AlreadyUsed`.
    pub async fn burn_wallet_nonce(
        &self,
        nonce: &str,
        address: &str,
        now_ms: i64,
    ) -> Result<Result<(), NonceProblem>, DbError> {
        let burned = sqlx::query(
            "UPDATE wallet_nonces SET used_at_ms = $1
             WHERE nonce = $2 AND (address = $3 OR address = '') AND used_at_ms IS NULL AND expires_at_ms > $1",
        )
        .bind(now_ms)
        .bind(nonce)
        .bind(address)
        .execute(self.writer())
        .await?;
        if burned.rows_affected() == 1 {
            return Ok(Ok(()));
        }
        Ok(Err(self.check_wallet_nonce(nonce, address, now_ms).await?.err().unwrap_or(NonceProblem::AlreadyUsed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn a_nonce_works_once_for_its_address_until_it_expires(db: Db) {
        db.issue_wallet_nonce("n1", "0xa", None, 0, 1_000).await.expect("issue");
        assert_eq!(db.check_wallet_nonce("n1", "0xa", 10).await.expect("db"), Ok(IssuedNonce { link_user: None }));
        assert_eq!(db.check_wallet_nonce("n1", "0xb", 10).await.expect("db"), Err(NonceProblem::OtherAddress));
        assert_eq!(db.check_wallet_nonce("zz", "0xa", 10).await.expect("db"), Err(NonceProblem::Unknown));
        assert_eq!(db.check_wallet_nonce("n1", "0xa", 1_000).await.expect("db"), Err(NonceProblem::Expired));
        assert_eq!(db.burn_wallet_nonce("n1", "0xa", 10).await.expect("db"), Ok(()));
        assert_eq!(db.burn_wallet_nonce("n1", "0xa", 11).await.expect("db"), Err(NonceProblem::AlreadyUsed));
        assert_eq!(db.check_wallet_nonce("n1", "0xa", 12).await.expect("db"), Err(NonceProblem::AlreadyUsed));
    }

    async fn an_unbound_nonce_works_once_for_whichever_address_signs(db: Db) {
        db.issue_wallet_nonce("n2", "", None, 0, 1_000).await.expect("issue");
        assert_eq!(db.check_wallet_nonce("n2", "0xb", 10).await.expect("db"), Ok(IssuedNonce { link_user: None }));
        assert_eq!(db.burn_wallet_nonce("n2", "0xa", 10).await.expect("db"), Ok(()));
        assert_eq!(db.burn_wallet_nonce("n2", "0xb", 11).await.expect("db"), Err(NonceProblem::AlreadyUsed));
    }

    crate::both_backends!(
        a_nonce_works_once_for_its_address_until_it_expires,
        an_unbound_nonce_works_once_for_whichever_address_signs
    );
}
