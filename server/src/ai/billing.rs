//! Paying for AI requests: credit reserved before a request is served, settled after it (the worker's share, the
//! checker pool's share, the rest released), once per request id whatever happens in between.

use pictor_core::ai::cost_micro;

use crate::db::ai::{self as sql, NewRequest, RequestEnd};
use crate::db::ledger::{balance_in, transfer_in, Account, LedgerError, Moved, Transfer};
use crate::db::users::UserId;
use crate::db::{welcome, DbError, NodeId, Tx};

/// Why a request cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("not enough credit for this request: {available} micro-credits available, up to {needed} needed")]
    NotEnoughCredit { available: i64, needed: i64 },
    #[error("request id {0} was used before")]
    Duplicate(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// How a served request ended, for settlement.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<'a> {
    pub request: &'a str,
    /// The worker that served it; `None` when none did (nothing is paid).
    pub worker: Option<(NodeId, UserId)>,
    pub prompt_tokens: u64,
    /// Only tokens the caller received.
    pub completion_tokens: u64,
    pub input_price_micro_per_m: i64,
    pub output_price_micro_per_m: i64,
    pub checker_share_percent: i64,
    pub ttft_ms: Option<i64>,
    pub duration_ms: i64,
    pub outcome: &'a str,
    pub replay: Option<String>,
}

/// Records the request and moves `request.reserved_micro` from the caller's credit into their AI hold.
pub async fn reserve(tx: &mut Tx<'_>, request: &NewRequest<'_>, now_ms: i64) -> Result<(), ReserveError> {
    if !sql::insert_request(tx, request).await? {
        return Err(ReserveError::Duplicate(request.id.to_string()));
    }
    if request.reserved_micro == 0 {
        return Ok(());
    }
    let transfer = Transfer::new(
        format!("ai:{}:reserve", request.id),
        Account::Credit(request.user),
        Account::AiHold(request.user),
        request.reserved_micro,
        "ai_reserve",
    )
    .memo(format!("{} on {}", request.kind, request.model));
    match transfer_in(tx, &transfer, now_ms).await {
        Ok(_) => {}
        Err(LedgerError::Insufficient { available, needed }) => {
            return Err(ReserveError::NotEnoughCredit { available, needed })
        }
        Err(LedgerError::NotPositive) => return Err(DbError::Corrupt("negative reservation").into()),
        Err(LedgerError::Db(error)) => return Err(error.into()),
    }
    // Paid credit is spent first: welcome money went into the hold only as far as the credit left is now smaller
    // than its welcome part.
    let credit = balance_in(tx, Account::Credit(request.user)).await?;
    let welcome = welcome::cap_to_credit(tx, request.user, credit).await?;
    if welcome > 0 {
        sql::set_reserved_welcome(tx, request.id, welcome).await?;
    }
    Ok(())
}

/// Settles a request: charges its tokens at the model's prices (never more than was reserved), pays the worker and
/// the checker pool, releases the rest. Returns the amount charged, or `None` when it was settled before.
pub async fn settle(tx: &mut Tx<'_>, served: &Served<'_>, now_ms: i64) -> Result<Option<i64>, DbError> {
    let Some(reserved) = sql::reserved_request(tx, served.request).await? else { return Ok(None) };
    let user = reserved.user;
    let priced = cost_micro(
        served.prompt_tokens,
        served.completion_tokens,
        served.input_price_micro_per_m,
        served.output_price_micro_per_m,
    );
    // A user's own machines serve them for free (as they render for free): no credit turns into earnings that way.
    let worker = served.worker.filter(|(_, owner)| *owner != user);
    let cost = if worker.is_some() { priced.min(reserved.reserved_micro) } else { 0 };
    let pool = cost * served.checker_share_percent.clamp(0, 100) / 100;
    let worker_share = cost - pool;
    // Welcome money pays the worker first and is held in its earnings; it never feeds the checker pool.
    let held = worker_share.min(reserved.reserved_welcome_micro);
    let pool_paid = pool - pool.min(reserved.reserved_welcome_micro - held);
    let charged = worker_share + pool_paid;

    let end = RequestEnd {
        node: served.worker.map(|(node, _)| node),
        prompt_tokens: served.prompt_tokens as i64,
        completion_tokens: served.completion_tokens as i64,
        ttft_ms: served.ttft_ms,
        duration_ms: served.duration_ms,
        cost_micro: charged,
        outcome: served.outcome,
        replay: served.replay.clone(),
        settled_at_ms: now_ms,
    };
    if sql::settle_request(tx, served.request, &end).await?.is_none() {
        return Ok(None);
    }
    let key = |part: &str| format!("ai:{}:{part}", served.request);
    if let Some((node, owner)) = worker {
        if worker_share > 0 {
            let transfer = Transfer::new(
                key("worker"),
                Account::AiHold(user),
                Account::Earnings(owner),
                worker_share,
                "ai_worker",
            )
            .node(node);
            if move_money(tx, &transfer, now_ms).await? == Moved::Now && held > 0 {
                welcome::add_to_held(tx, owner, held).await?;
            }
        }
        if pool_paid > 0 {
            let transfer =
                Transfer::new(key("pool"), Account::AiHold(user), Account::CheckerPool, pool_paid, "ai_pool")
                    .node(node);
            move_money(tx, &transfer, now_ms).await?;
        }
    }
    let release = reserved.reserved_micro - charged;
    if release > 0 {
        let transfer =
            Transfer::new(key("release"), Account::AiHold(user), Account::Credit(user), release, "ai_release");
        move_money(tx, &transfer, now_ms).await?;
        // The welcome money not spent on the worker goes back to the welcome part of the credit.
        welcome::add_to_credit(tx, user, reserved.reserved_welcome_micro - held).await?;
    }
    Ok(Some(charged))
}

async fn move_money(tx: &mut Tx<'_>, transfer: &Transfer, now_ms: i64) -> Result<Moved, DbError> {
    transfer_in(tx, transfer, now_ms).await.map_err(|error| match error {
        LedgerError::Db(error) => error,
        // The hold holds the reservation, and settlement moves at most that much out of it: the cached balances
        // are off if this happens, so fail loudly.
        _ => DbError::Corrupt("AI hold"),
    })
}
