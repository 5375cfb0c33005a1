//! Credit coming in: welcome credits for a new account, the operator's grants, and payments confirmed by the payment
//! provider — each once per key, and each resuming the owner's jobs that were paused for credit.

use super::ledger::{transfer_in, Account, LedgerError, Moved, Transfer};
use super::users::UserId;
use super::Db;
use super::JobId;

/// What a top-up did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    pub moved: Moved,
    /// Paused jobs of the user that resumed with it.
    pub resumed: Vec<JobId>,
}

impl Db {
    /// Adds `amount_micro` from outside to `user`'s credit under `key` (a repeated key changes nothing).
    pub async fn top_up(
        &self,
        user: UserId,
        amount_micro: i64,
        key: &str,
        kind: &'static str,
        memo: &str,
        now_ms: i64,
    ) -> Result<TopUp, LedgerError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE id = $1").bind(user).fetch_optional(&mut *tx).await?;
        if exists.is_none() {
            return Err(LedgerError::Db(super::DbError::NotFound("user")));
        }
        let transfer = Transfer::new(key, Account::External, Account::Credit(user), amount_micro, kind).memo(memo);
        let moved = transfer_in(&mut tx, &transfer, now_ms).await?;
        let resumed = if moved == Moved::Now {
            super::payments::resume_paused_jobs(&mut tx, user, now_ms).await?
        } else {
            Vec::new()
        };
        tx.commit().await?;
        Ok(TopUp { moved, resumed })
    }

    /// A new account's welcome credits (once per account, whatever the number of sign-ins).
    pub async fn welcome(&self, user: UserId, amount_micro: i64, now_ms: i64) -> Result<(), LedgerError> {
        if amount_micro > 0 {
            self.top_up(user, amount_micro, &format!("user:{user}:welcome"), "welcome", "welcome credits", now_ms)
                .await?;
        }
        Ok(())
    }

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
