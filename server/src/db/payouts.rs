//! Payouts: a user asks for earnings to be sent to their wallet address (the amount is held at once), and an operator
//! marks the request paid (it leaves the network) or rejected (it goes back to the user's earnings).

use pictor_core::ledger::Payout;

use super::ledger::{transfer_in, Account, LedgerError, Transfer};
use super::users::UserId;
use super::{Db, DbError};

const COLUMNS: &str =
    "SELECT p.id, p.user_id, u.display_name, p.amount_micro, p.address, p.state, p.created_at_ms, p.decided_at_ms, p.reference
     FROM payouts p JOIN users u ON u.id = p.user_id";

type PayoutRow = (i64, i64, String, i64, String, String, i64, Option<i64>, Option<String>);

fn payout(row: PayoutRow) -> Payout {
    let (id, user_id, user_name, amount_micro, address, state, created_at_ms, decided_at_ms, reference) = row;
    Payout { id, user_id, user_name, amount_micro, address, state, created_at_ms, decided_at_ms, reference }
}

impl Db {
    /// Holds `amount_micro` of `user`'s earnings for a payout to `address`; refused (nothing held) above the earnings
    /// that were not paid with welcome credits.
    pub async fn request_payout(
        &self,
        user: UserId,
        amount_micro: i64,
        address: &str,
        now_ms: i64,
    ) -> Result<i64, LedgerError> {
        let mut tx = self.begin_write().await?;
        // Earnings paid with welcome credits are held back: they count, but never leave the network.
        let withdrawable = super::ledger::balance_in(&mut tx, Account::Earnings(user)).await?
            - super::welcome::held_earnings(&mut tx, user).await?;
        if amount_micro > withdrawable {
            return Err(LedgerError::Insufficient { available: withdrawable.max(0), needed: amount_micro });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO payouts (user_id, amount_micro, address, created_at_ms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user)
        .bind(amount_micro)
        .bind(address)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let hold = Transfer::new(
            format!("payout:{id}:hold"),
            Account::Earnings(user),
            Account::Payouts(user),
            amount_micro,
            "payout_hold",
        );
        transfer_in(&mut tx, &hold, now_ms).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// An operator settles a requested payout: `paid` sends it out, otherwise it returns to the earnings.
    pub async fn decide_payout(
        &self,
        payout: i64,
        operator: UserId,
        paid: bool,
        reference: &str,
        now_ms: i64,
    ) -> Result<(), LedgerError> {
        let mut tx = self.begin_write().await?;
        let decided: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE payouts SET state = $1, decided_at_ms = $2, decided_by = $3, reference = $4
             WHERE id = $5 AND state = 'requested' RETURNING user_id, amount_micro",
        )
        .bind(if paid { "paid" } else { "rejected" })
        .bind(now_ms)
        .bind(operator)
        .bind(reference)
        .bind(payout)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user, amount)) = decided else {
            return Err(LedgerError::Db(DbError::Conflict("no such payout waiting to be decided")));
        };
        let transfer = if paid {
            Transfer::new(
                format!("payout:{payout}:paid"),
                Account::Payouts(user),
                Account::External,
                amount,
                "payout_paid",
            )
        } else {
            Transfer::new(
                format!("payout:{payout}:returned"),
                Account::Payouts(user),
                Account::Earnings(user),
                amount,
                "payout_returned",
            )
        };
        transfer_in(&mut tx, &transfer.memo(reference), now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn payouts_of(&self, user: UserId) -> Result<Vec<Payout>, DbError> {
        let rows: Vec<PayoutRow> =
            sqlx::query_as(&format!("{COLUMNS} WHERE p.user_id = $1 ORDER BY p.id DESC LIMIT 100"))
                .bind(user)
                .fetch_all(self.reader())
                .await?;
        Ok(rows.into_iter().map(payout).collect())
    }

    /// Every payout waiting for an operator, oldest first.
    pub async fn requested_payouts(&self) -> Result<Vec<Payout>, DbError> {
        let rows: Vec<PayoutRow> =
            sqlx::query_as(&format!("{COLUMNS} WHERE p.state = 'requested' ORDER BY p.id LIMIT 500"))
                .fetch_all(self.reader())
                .await?;
        Ok(rows.into_iter().map(payout).collect())
    }
}
