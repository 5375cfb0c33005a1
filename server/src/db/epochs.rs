//! Epochs: at the end of each, the checker pool is shared out to checkers' owners in proportion to the work their
//! checkers did during it — render verdicts that agreed with the quorum and AI answers replayed — (rounded down; the
//! remainder stays for the next epoch).

use super::ledger::{balance_in, transfer_in, Account, Transfer};
use super::{Db, DbError};

/// One epoch closed by [`Db::close_epochs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedEpoch {
    pub id: i64,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub pool_micro: i64,
    pub distributed_micro: i64,
}

impl Db {
    /// When the current epoch began: where the last closed one ended, or the first payment into the pool.
    pub async fn epoch_start(&self) -> Result<Option<i64>, DbError> {
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(ended_at_ms) FROM epochs").fetch_one(self.reader()).await?;
        if last.is_some() {
            return Ok(last);
        }
        Ok(sqlx::query_scalar("SELECT MIN(created_at_ms) FROM ledger_transfers WHERE kind IN ('pay_pool', 'ai_pool')")
            .fetch_one(self.reader())
            .await?)
    }

    /// Closes every epoch of `epoch_ms` that has ended by `now_ms`, sharing out the pool at each.
    pub async fn close_epochs(&self, epoch_ms: i64, now_ms: i64) -> Result<Vec<ClosedEpoch>, DbError> {
        let mut closed = Vec::new();
        while let Some(start) = self.epoch_start().await? {
            let end = start + epoch_ms.max(1);
            if end > now_ms {
                break;
            }
            // `None`: another coordinator closed it a moment ago; the next start is read again.
            if let Some(epoch) = self.close_epoch(start, end, now_ms).await? {
                closed.push(epoch);
            }
        }
        Ok(closed)
    }

    /// Closes the epoch `[start, end)` once: the unique start makes a second closer (another replica) find it
    /// taken and change nothing.
    async fn close_epoch(&self, start: i64, end: i64, now_ms: i64) -> Result<Option<ClosedEpoch>, DbError> {
        let mut tx = self.begin_write().await?;
        let pool = balance_in(&mut tx, Account::CheckerPool).await?;
        // The work that earns a share: render verdicts that agreed with the quorum, and AI answers replayed to a
        // verdict (the pool is fed by both).
        let shares: Vec<(super::NodeId, i64, i64)> = sqlx::query_as(
            "SELECT w.node, n.owner_id, COUNT(*)
             FROM (SELECT d.checker_node_id AS node FROM verdicts d
                   WHERE d.agrees = 1 AND d.submitted_at_ms >= $1 AND d.submitted_at_ms < $2
                   UNION ALL
                   SELECT c.checker_node_id AS node FROM ai_checks c
                   WHERE c.state IN ('passed', 'rejected') AND c.checker_node_id IS NOT NULL
                     AND c.closed_at_ms >= $1 AND c.closed_at_ms < $2) w
             JOIN nodes n ON n.id = w.node
             GROUP BY w.node, n.owner_id ORDER BY w.node",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&mut *tx)
        .await?;
        let verdicts: i64 = shares.iter().map(|(_, _, count)| count).sum();
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO epochs (started_at_ms, ended_at_ms, pool_micro, distributed_micro, verdicts, closed_at_ms)
             VALUES ($1, $2, $3, 0, $4, $5) ON CONFLICT (started_at_ms) DO NOTHING RETURNING id",
        )
        .bind(start)
        .bind(end)
        .bind(pool)
        .bind(verdicts)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(None) };
        let mut distributed = 0;
        for (node, owner, count) in shares {
            let amount = (i128::from(pool) * i128::from(count) / i128::from(verdicts.max(1))) as i64;
            if amount > 0 {
                let share = Transfer::new(
                    format!("epoch:{id}:node:{node}"),
                    Account::CheckerPool,
                    Account::Earnings(owner),
                    amount,
                    "epoch",
                )
                .node(node)
                .memo(format!("{count} of {verdicts} agreeing verdicts and AI checks"));
                transfer_in(&mut tx, &share, now_ms).await.map_err(|error| match error {
                    super::ledger::LedgerError::Db(db) => db,
                    _ => DbError::Corrupt("checker pool"),
                })?;
                distributed += amount;
            }
        }
        sqlx::query("UPDATE epochs SET distributed_micro = $1 WHERE id = $2")
            .bind(distributed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(ClosedEpoch {
            id,
            started_at_ms: start,
            ended_at_ms: end,
            pool_micro: pool,
            distributed_micro: distributed,
        }))
    }
}
