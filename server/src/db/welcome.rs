//! The SQL that follows welcome money: the welcome part of each user's credit, of each job's escrow, and of each
//! user's earnings (held back from payouts). What moves when is decided in `engine::payments`.

use super::users::UserId;
use super::{DbError, JobId, Tx};

/// Adds `amount` (negative: takes it) to the welcome part of `user`'s credit.
pub async fn add_to_credit(tx: &mut Tx<'_>, user: UserId, amount: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET welcome_credit_micro = welcome_credit_micro + $1 WHERE id = $2")
        .bind(amount)
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Shrinks the welcome part of `user`'s credit to at most `credit` (what their credit now holds); returns how much
/// it shrank. The user's row is locked first on PostgreSQL, so two escrows of one owner take turns.
pub async fn cap_to_credit(tx: &mut Tx<'_>, user: UserId, credit: i64) -> Result<i64, DbError> {
    let lock = if tx.backend_name() == "PostgreSQL" { " FOR UPDATE" } else { "" };
    let part: Option<i64> = sqlx::query_scalar(&format!("SELECT welcome_credit_micro FROM users WHERE id = $1{lock}"))
        .bind(user)
        .fetch_optional(&mut **tx)
        .await?;
    let taken = (part.unwrap_or(0) - credit.max(0)).max(0);
    if taken > 0 {
        add_to_credit(tx, user, -taken).await?;
    }
    Ok(taken)
}

/// The welcome part of `job`'s escrow.
pub async fn in_escrow(tx: &mut Tx<'_>, job: JobId) -> Result<i64, DbError> {
    let part: Option<i64> = sqlx::query_scalar("SELECT escrow_welcome_micro FROM jobs WHERE id = $1")
        .bind(job)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(part.unwrap_or(0))
}

/// Adds `amount` (negative: takes it) to the welcome part of `job`'s escrow.
pub async fn add_to_escrow(tx: &mut Tx<'_>, job: JobId, amount: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE jobs SET escrow_welcome_micro = escrow_welcome_micro + $1 WHERE id = $2")
        .bind(amount)
        .bind(job)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The part of `user`'s earnings paid with welcome money.
pub async fn held_earnings(tx: &mut Tx<'_>, user: UserId) -> Result<i64, DbError> {
    let held: Option<i64> = sqlx::query_scalar("SELECT held_earnings_micro FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(held.unwrap_or(0))
}

impl super::Db {
    /// The part of `user`'s earnings that welcome credits paid (held back from payouts).
    pub async fn held_earnings(&self, user: UserId) -> Result<i64, DbError> {
        let held: Option<i64> = sqlx::query_scalar("SELECT held_earnings_micro FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(self.reader())
            .await?;
        Ok(held.unwrap_or(0))
    }
}

/// Adds `amount` (negative: releases it) to the held part of `user`'s earnings.
pub async fn add_to_held(tx: &mut Tx<'_>, user: UserId, amount: i64) -> Result<(), DbError> {
    sqlx::query("UPDATE users SET held_earnings_micro = held_earnings_micro + $1 WHERE id = $2")
        .bind(amount)
        .bind(user)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
