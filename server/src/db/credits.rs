//! Credit coming in from outside (welcome credits, the operator's grants, confirmed payments), once per key; and
//! who may grant it. What a top-up resumes is decided in the engine.

use super::ledger::{transfer_in, Account, LedgerError, Moved, Transfer};
use super::users::UserId;
use super::{Db, Tx};

/// Moves `amount_micro` from outside into `user`'s credit under `key` (a repeated key changes nothing).
pub async fn credit_in(
    tx: &mut Tx<'_>,
    user: UserId,
    amount_micro: i64,
    key: &str,
    kind: &'static str,
    memo: &str,
    now_ms: i64,
) -> Result<Moved, LedgerError> {
    let exists: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = $1").bind(user).fetch_optional(&mut **tx).await?;
    if exists.is_none() {
        return Err(LedgerError::Db(super::DbError::NotFound("user")));
    }
    let transfer = Transfer::new(key, Account::External, Account::Credit(user), amount_micro, kind).memo(memo);
    transfer_in(tx, &transfer, now_ms).await
}

impl Db {
    pub async fn is_operator(&self, user: UserId) -> Result<bool, super::DbError> {
        let flag: Option<i64> = sqlx::query_scalar("SELECT is_operator FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(self.reader())
            .await?;
        Ok(flag == Some(1))
    }

    /// Makes `user` an operator (who may grant credit and settle payouts), or not.
    pub async fn set_operator(&self, user: UserId, operator: bool) -> Result<(), super::DbError> {
        let result = sqlx::query("UPDATE users SET is_operator = $1 WHERE id = $2")
            .bind(i64::from(operator))
            .bind(user)
            .execute(self.writer())
            .await?;
        super::touched(result, "user")
    }
}
