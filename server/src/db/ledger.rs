//! The double-entry ledger: accounts with cached balances, and transfers that move a positive amount of
//! micro-credits from one account to another under a unique idempotency key. A transfer either happens once, whole,
//! inside the caller's transaction, or not at all; only the external world's account may go below zero, so all
//! balances always sum to zero and nobody spends what they do not have.

use pictor_core::ledger::{LedgerEntry, LedgerOverview};
use sqlx::Row;

use super::users::UserId;
use super::{Db, DbError};
use super::{JobId, NodeId, TaskId, Tx};

/// Where money can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    /// The world outside the network: top-ups come from it, payouts go to it (its balance is minus all money in).
    External,
    /// The operator's share (unused by default; kept so fees can be configured).
    Platform,
    /// Checkers' share of every paid task, shared out at the end of each epoch.
    CheckerPool,
    /// A user's credit, to spend on jobs.
    Credit(UserId),
    /// What a job holds to pay for its tasks; the rest goes back to the owner's credit when it ends.
    Escrow(JobId),
    /// What a user's workers and checkers earned, to be paid out.
    Earnings(UserId),
    /// A user's credit reserved by AI requests being served; settled (paid and the rest released) when each ends.
    /// Stored with the escrow kind: it is money held for work in progress, like a job's escrow.
    AiHold(UserId),
    /// Earnings on their way out: requested payouts waiting for the operator.
    Payouts(UserId),
}

impl Account {
    pub fn name(self) -> String {
        match self {
            Account::External => "external".into(),
            Account::Platform => "platform".into(),
            Account::CheckerPool => "checker_pool".into(),
            Account::Credit(user) => format!("credit:{user}"),
            Account::Escrow(job) => format!("escrow:{job}"),
            Account::Earnings(user) => format!("earnings:{user}"),
            Account::AiHold(user) => format!("ai_hold:{user}"),
            Account::Payouts(user) => format!("payouts:{user}"),
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Account::External => "external",
            Account::Platform => "platform",
            Account::CheckerPool => "checker_pool",
            Account::Credit(_) => "credit",
            Account::Escrow(_) | Account::AiHold(_) => "escrow",
            Account::Earnings(_) => "earnings",
            Account::Payouts(_) => "payouts",
        }
    }

    fn user(self) -> Option<UserId> {
        match self {
            Account::Credit(user) | Account::Earnings(user) | Account::Payouts(user) | Account::AiHold(user) => {
                Some(user)
            }
            _ => None,
        }
    }

    fn job(self) -> Option<JobId> {
        match self {
            Account::Escrow(job) => Some(job),
            _ => None,
        }
    }
}

/// One movement of money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Unique per movement: `task:7:attempt:2:worker`, `job:3:refund`, `payment:pi_123`, …
    pub key: String,
    pub from: Account,
    pub to: Account,
    pub amount_micro: i64,
    pub kind: &'static str,
    pub job: Option<JobId>,
    pub task: Option<TaskId>,
    pub node: Option<NodeId>,
    pub memo: String,
}

impl Transfer {
    pub fn new(key: impl Into<String>, from: Account, to: Account, amount_micro: i64, kind: &'static str) -> Self {
        Self { key: key.into(), from, to, amount_micro, kind, job: None, task: None, node: None, memo: String::new() }
    }

    pub fn job(mut self, job: JobId) -> Self {
        self.job = Some(job);
        self
    }

    pub fn task(mut self, task: TaskId) -> Self {
        self.task = Some(task);
        self
    }

    pub fn node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }

    pub fn memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = memo.into();
        self
    }
}

/// Whether a transfer moved money now or had moved it before (same key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moved {
    Now,
    Before,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("not enough credit: {available} available, {needed} needed (micro-credits)")]
    Insufficient { available: i64, needed: i64 },
    #[error("an amount must be a positive number of micro-credits")]
    NotPositive,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for LedgerError {
    fn from(error: sqlx::Error) -> Self {
        LedgerError::Db(DbError::from(error))
    }
}

/// The id of `account`, created on first use.
pub(super) async fn account_id(tx: &mut Tx<'_>, account: Account) -> Result<i64, DbError> {
    let name = account.name();
    sqlx::query("INSERT INTO ledger_accounts (name, kind, user_id, job_id) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING")
        .bind(&name)
        .bind(account.kind())
        .bind(account.user())
        .bind(account.job())
        .execute(&mut **tx)
        .await?;
    Ok(sqlx::query_scalar("SELECT id FROM ledger_accounts WHERE name = $1").bind(&name).fetch_one(&mut **tx).await?)
}

/// The balance of `account` inside a transaction (0 for an account never used).
pub async fn balance_in(tx: &mut Tx<'_>, account: Account) -> Result<i64, DbError> {
    let balance: Option<i64> = sqlx::query_scalar("SELECT balance_micro FROM ledger_accounts WHERE name = $1")
        .bind(account.name())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(balance.unwrap_or(0))
}

/// Moves money inside the caller's transaction: recorded under its key (a repeat is a no-op), taken from `from`
/// only if it has enough (the external account excepted), added to `to`. On an error the caller must roll back.
pub async fn transfer_in(tx: &mut Tx<'_>, transfer: &Transfer, now_ms: i64) -> Result<Moved, LedgerError> {
    if transfer.amount_micro <= 0 {
        return Err(LedgerError::NotPositive);
    }
    let from = account_id(tx, transfer.from).await?;
    let to = account_id(tx, transfer.to).await?;
    let recorded = sqlx::query(
        "INSERT INTO ledger_transfers (idempotency_key, from_account, to_account, amount_micro, kind, job_id, task_id,
                                       node_id, memo, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&transfer.key)
    .bind(from)
    .bind(to)
    .bind(transfer.amount_micro)
    .bind(transfer.kind)
    .bind(transfer.job)
    .bind(transfer.task)
    .bind(transfer.node)
    .bind(&transfer.memo)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    if recorded.rows_affected() == 0 {
        return Ok(Moved::Before);
    }
    let taken = sqlx::query(
        "UPDATE ledger_accounts SET balance_micro = balance_micro - $1
         WHERE id = $2 AND (kind = 'external' OR balance_micro >= $1)",
    )
    .bind(transfer.amount_micro)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() == 0 {
        let available = balance_in(tx, transfer.from).await?;
        return Err(LedgerError::Insufficient { available, needed: transfer.amount_micro });
    }
    sqlx::query("UPDATE ledger_accounts SET balance_micro = balance_micro + $1 WHERE id = $2")
        .bind(transfer.amount_micro)
        .bind(to)
        .execute(&mut **tx)
        .await?;
    Ok(Moved::Now)
}

impl Db {
    /// One transfer in its own transaction.
    pub async fn transfer(&self, transfer: &Transfer, now_ms: i64) -> Result<Moved, LedgerError> {
        let mut tx = self.begin_write().await?;
        let moved = transfer_in(&mut tx, transfer, now_ms).await?;
        tx.commit().await?;
        Ok(moved)
    }

    pub async fn balance(&self, account: Account) -> Result<i64, DbError> {
        let balance: Option<i64> = sqlx::query_scalar("SELECT balance_micro FROM ledger_accounts WHERE name = $1")
            .bind(account.name())
            .fetch_optional(self.reader())
            .await?;
        Ok(balance.unwrap_or(0))
    }

    /// A user's money at a glance: credit, what their running jobs hold, earnings, payouts on their way.
    pub async fn ledger_overview(&self, user: UserId) -> Result<LedgerOverview, DbError> {
        let reserved: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(a.balance_micro), 0) AS BIGINT) FROM ledger_accounts a JOIN jobs j ON j.id = a.job_id
             WHERE a.kind = 'escrow' AND j.owner_id = $1",
        )
        .bind(user)
        .fetch_one(self.reader())
        .await?;
        Ok(LedgerOverview {
            credit_micro: self.balance(Account::Credit(user)).await?,
            reserved_micro: reserved + self.balance(Account::AiHold(user)).await?,
            earnings_micro: self.balance(Account::Earnings(user)).await?,
            payouts_pending_micro: self.balance(Account::Payouts(user)).await?,
        })
    }

    /// The transfers touching `user`'s accounts (and their jobs' escrows), newest first; `kind` filters.
    pub async fn ledger_history(
        &self,
        user: UserId,
        kind: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>, DbError> {
        let rows = sqlx::query(
            "SELECT t.id, t.idempotency_key, t.kind, t.amount_micro, t.job_id, t.task_id, t.node_id, t.memo,
                    t.created_at_ms, f.name AS from_name, f.user_id AS from_user, f.job_id AS from_job,
                    d.name AS to_name, d.user_id AS to_user, d.job_id AS to_job
             FROM ledger_transfers t
               JOIN ledger_accounts f ON f.id = t.from_account
               JOIN ledger_accounts d ON d.id = t.to_account
             WHERE ($2 IS NULL OR t.kind = $2) AND (
                   f.user_id = $1 OR d.user_id = $1
                OR f.job_id IN (SELECT id FROM jobs WHERE owner_id = $1)
                OR d.job_id IN (SELECT id FROM jobs WHERE owner_id = $1))
             ORDER BY t.id DESC LIMIT $3",
        )
        .bind(user)
        .bind(kind)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                let from: String = row.try_get("from_name")?;
                let to: String = row.try_get("to_name")?;
                let own = |user_column: &str| -> Result<bool, sqlx::Error> {
                    Ok(row.try_get::<Option<i64>, _>(user_column)? == Some(user))
                };
                // Seen from the user: money into one of their own accounts (not escrow) counts in, out counts out.
                let inbound = own("to_user")? && !own("from_user")?;
                let outbound = own("from_user")? && !own("to_user")?;
                Ok(LedgerEntry {
                    id: row.try_get("id")?,
                    key: row.try_get("idempotency_key")?,
                    kind: row.try_get("kind")?,
                    amount_micro: row.try_get("amount_micro")?,
                    signed_micro: if inbound {
                        row.try_get("amount_micro")?
                    } else if outbound {
                        -row.try_get::<i64, _>("amount_micro")?
                    } else {
                        0
                    },
                    from,
                    to,
                    job_id: row.try_get("job_id")?,
                    task_id: row.try_get("task_id")?,
                    node_id: row.try_get("node_id")?,
                    memo: row.try_get("memo")?,
                    created_at_ms: row.try_get("created_at_ms")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DbError::from)
    }

    /// Checks the ledger's invariants on the live data; every violation found, in words (none: all good).
    pub async fn check_ledger(&self) -> Result<Vec<String>, DbError> {
        let mut violations = Vec::new();
        let total: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(SUM(balance_micro), 0) AS BIGINT) FROM ledger_accounts")
                .fetch_one(self.reader())
                .await?;
        if total != 0 {
            violations.push(format!("balances sum to {total}, not 0"));
        }
        let negative: Vec<(String, i64)> = sqlx::query_as(
            "SELECT name, balance_micro FROM ledger_accounts WHERE kind <> 'external' AND balance_micro < 0",
        )
        .fetch_all(self.reader())
        .await?;
        for (name, balance) in negative {
            violations.push(format!("{name} is below zero: {balance}"));
        }
        let drifted: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT a.name, a.balance_micro,
                    CAST(COALESCE((SELECT SUM(amount_micro) FROM ledger_transfers WHERE to_account = a.id), 0) AS BIGINT)
                  - CAST(COALESCE((SELECT SUM(amount_micro) FROM ledger_transfers WHERE from_account = a.id), 0) AS BIGINT)
             FROM ledger_accounts a",
        )
        .fetch_all(self.reader())
        .await?;
        for (name, cached, derived) in drifted {
            if cached != derived {
                violations.push(format!("{name} holds {cached} but its transfers add up to {derived}"));
            }
        }
        // A task is paid at most once per attempt that delivered a result; a training run at most once per
        // checkpoint segment its attempts trained.
        let overpaid: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT p.task_id, COUNT(*),
                    (SELECT COUNT(*) FROM task_attempts a
                     WHERE a.task_id = p.task_id AND a.outcome IN ('uploaded', 'verified', 'rejected')),
                    (SELECT COUNT(*) FROM training_checkpoints c WHERE c.task_id = p.task_id AND c.attempt > 0)
             FROM ledger_transfers p WHERE p.kind = 'pay_worker' AND p.task_id IS NOT NULL GROUP BY p.task_id",
        )
        .fetch_all(self.reader())
        .await?;
        for (task, payments, delivered, segments) in overpaid {
            if payments > delivered.max(segments) {
                violations.push(format!(
                    "task {task} was paid {payments} times for {delivered} delivered attempts ({segments} segments)"
                ));
            }
        }
        // No job takes more from its owner than its budget (reserved and refilled, less refunds).
        let over_budget: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT j.id, j.budget_micro,
                    CAST(SUM(CASE WHEN t.kind = 'refund' THEN -t.amount_micro ELSE t.amount_micro END) AS BIGINT)
             FROM jobs j JOIN ledger_transfers t ON t.job_id = j.id AND t.kind IN ('escrow', 'refill', 'refund')
             WHERE j.budget_micro IS NOT NULL
             GROUP BY j.id, j.budget_micro",
        )
        .fetch_all(self.reader())
        .await?;
        for (job, budget, committed) in over_budget {
            if committed > budget {
                violations.push(format!("job {job} took {committed} against a budget of {budget}"));
            }
        }
        Ok(violations)
    }
}
