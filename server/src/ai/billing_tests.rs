//! AI billing on SQLite and PostgreSQL: a reservation, one settlement whatever repeats, the worker's and the pool's
//! shares, welcome money held, own workers free, not enough credit refused with nothing changed, abandoned requests
//! released.

use super::billing::{reserve, settle, ReserveError, Served};
use crate::db::ai::NewRequest;
use crate::db::ledger::{Account, Transfer};
use crate::db::nodes::NodeKind;
use crate::db::users::UserId;
use crate::db::{Db, NodeId};

const NOW: i64 = 1_800_000_000_000;

async fn assert_sound(db: &Db) {
    assert_eq!(db.check_ledger().await.expect("check"), Vec::<String>::new());
}

/// A caller with `credit` micro-credits and a worker node of another user.
async fn world(db: &Db, credit: i64) -> (UserId, UserId, NodeId) {
    let caller = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    let node = db.create_node(lender, NodeKind::Worker, "w", NOW).await.expect("node");
    if credit > 0 {
        let top_up = Transfer::new("top-up", Account::External, Account::Credit(caller), credit, "top_up");
        db.transfer(&top_up, NOW).await.expect("credit");
    }
    (caller, lender, node)
}

fn request(id: &str, user: UserId, reserved_micro: i64) -> NewRequest<'_> {
    NewRequest {
        id,
        user,
        api_key: None,
        model: "smollm2-135m-instruct",
        kind: "chat",
        reserved_micro,
        reserved_welcome_micro: 0,
        created_at_ms: NOW,
    }
}

fn served(id: &str, worker: Option<(NodeId, UserId)>, prompt: u64, completion: u64) -> Served<'_> {
    Served {
        request: id,
        worker,
        prompt_tokens: prompt,
        completion_tokens: completion,
        input_price_micro_per_m: 200_000,
        output_price_micro_per_m: 400_000,
        checker_share_percent: 10,
        ttft_ms: Some(40),
        duration_ms: 900,
        outcome: "ok",
        replay: None,
    }
}

async fn reserve_now(db: &Db, new: &NewRequest<'_>) -> Result<(), ReserveError> {
    let mut tx = db.begin_write().await.expect("tx");
    reserve(&mut tx, new, NOW).await?;
    tx.commit().await.expect("commit");
    Ok(())
}

async fn settle_now(db: &Db, served: &Served<'_>) -> Option<i64> {
    let mut tx = db.begin_write().await.expect("tx");
    let charged = settle(&mut tx, served, NOW + 1_000).await.expect("settle");
    tx.commit().await.expect("commit");
    charged
}

async fn a_request_is_reserved_then_settled_once_with_the_worker_and_pool_paid(db: Db) {
    let (caller, lender, node) = world(&db, 1_000_000).await;
    reserve_now(&db, &request("chatcmpl-1", caller, 500)).await.expect("reserve");
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 999_500);
    assert_eq!(db.balance(Account::AiHold(caller)).await.unwrap(), 500);
    assert_eq!(db.ledger_overview(caller).await.unwrap().reserved_micro, 500);
    assert_sound(&db).await;

    // 1000 prompt tokens at 0.2/M and 500 completion tokens at 0.4/M: 200 + 200 = 400 micro-credits.
    let once = served("chatcmpl-1", Some((node, lender)), 1_000, 500);
    assert_eq!(settle_now(&db, &once).await, Some(400));
    assert_eq!(settle_now(&db, &once).await, None, "a second settlement pays nothing");
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 999_600);
    assert_eq!(db.balance(Account::AiHold(caller)).await.unwrap(), 0);
    assert_eq!(db.balance(Account::Earnings(lender)).await.unwrap(), 360);
    assert_eq!(db.balance(Account::CheckerPool).await.unwrap(), 40);
    let usage = db.ai_usage(caller, 10).await.unwrap();
    assert_eq!((usage[0].prompt_tokens, usage[0].completion_tokens, usage[0].cost_micro), (1_000, 500, 400));
    assert_eq!(usage[0].node, Some(node));
    assert_sound(&db).await;

    // A repeated request id is refused and moves nothing.
    assert!(matches!(reserve_now(&db, &request("chatcmpl-1", caller, 500)).await, Err(ReserveError::Duplicate(_))));
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 999_600);
}

async fn a_settlement_never_charges_more_than_was_reserved(db: Db) {
    let (caller, lender, node) = world(&db, 1_000).await;
    reserve_now(&db, &request("r", caller, 100)).await.expect("reserve");
    assert_eq!(settle_now(&db, &served("r", Some((node, lender)), 10_000_000, 0)).await, Some(100));
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 900);
    assert_sound(&db).await;
}

async fn not_enough_credit_is_refused_and_changes_nothing(db: Db) {
    let (caller, _, _) = world(&db, 100).await;
    let refused = reserve_now(&db, &request("r", caller, 101)).await;
    assert!(matches!(refused, Err(ReserveError::NotEnoughCredit { available: 100, needed: 101 })), "{refused:?}");
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 100);
    assert!(db.stale_ai_requests(NOW + 1).await.unwrap().is_empty(), "no request row was left behind");
    assert_sound(&db).await;
}

async fn own_workers_and_unserved_requests_cost_nothing(db: Db) {
    let (caller, _, _) = world(&db, 1_000).await;
    let own = db.create_node(caller, NodeKind::Worker, "mine", NOW).await.expect("node");
    reserve_now(&db, &request("own", caller, 300)).await.expect("reserve");
    assert_eq!(settle_now(&db, &served("own", Some((own, caller)), 1_000, 500)).await, Some(0));
    reserve_now(&db, &request("none", caller, 300)).await.expect("reserve");
    assert_eq!(settle_now(&db, &served("none", None, 0, 0)).await, Some(0));
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 1_000);
    assert_eq!(db.balance(Account::Earnings(caller)).await.unwrap(), 0);
    assert_sound(&db).await;
}

async fn welcome_money_pays_the_worker_held_and_never_the_pool(db: Db) {
    let (caller, lender, node) = world(&db, 0).await;
    // 1 000 micro-credits of welcome money only.
    let welcome = Transfer::new("welcome", Account::External, Account::Credit(caller), 1_000, "welcome");
    db.transfer(&welcome, NOW).await.expect("welcome");
    let mut tx = db.begin_write().await.unwrap();
    crate::db::welcome::add_to_credit(&mut tx, caller, 1_000).await.unwrap();
    tx.commit().await.unwrap();

    reserve_now(&db, &request("r", caller, 500)).await.expect("reserve");
    assert_eq!(settle_now(&db, &served("r", Some((node, lender)), 1_000, 500)).await, Some(360));
    assert_eq!(db.balance(Account::Earnings(lender)).await.unwrap(), 360);
    assert_eq!(db.held_earnings(lender).await.unwrap(), 360, "earned with welcome money: held");
    assert_eq!(db.balance(Account::CheckerPool).await.unwrap(), 0);
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 640);
    assert_sound(&db).await;
}

async fn abandoned_requests_are_released_by_the_sweep(db: Db) {
    use crate::sweeper::Sweep;
    let (caller, _, _) = world(&db, 1_000).await;
    reserve_now(&db, &request("lost", caller, 400)).await.expect("reserve");
    let sweep = crate::sweeper::ai_requests::AbandonedAiRequests::new(db.clone());
    assert_eq!(sweep.sweep_once(NOW + 60_000).await.unwrap(), 0, "a recent request is left to its coordinator");
    let later = NOW + crate::sweeper::ai_requests::ABANDONED_AFTER_MS + 1;
    assert_eq!(sweep.sweep_once(later).await.unwrap(), 1);
    assert_eq!(db.balance(Account::Credit(caller)).await.unwrap(), 1_000);
    assert_eq!(sweep.sweep_once(later).await.unwrap(), 0);
    assert_sound(&db).await;
}

crate::both_backends!(
    a_request_is_reserved_then_settled_once_with_the_worker_and_pool_paid,
    a_settlement_never_charges_more_than_was_reserved,
    not_enough_credit_is_refused_and_changes_nothing,
    own_workers_and_unserved_requests_cost_nothing,
    welcome_money_pays_the_worker_held_and_never_the_pool,
    abandoned_requests_are_released_by_the_sweep,
);
