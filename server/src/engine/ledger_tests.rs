//! Tests of the ledger and of the money moved by jobs, on SQLite and PostgreSQL: idempotent transfers, escrow,
//! payment at the worker's price, refunds, pausing and resuming, claw-backs, epochs and payouts — with the
//! invariants checked after each.

use pictor_core::verification::Verdict;

use super::verdicts::Settlement;
use super::Engine;
use crate::db::job_lifecycle::NewJob;
use crate::db::ledger::{Account, LedgerError, Moved, Transfer};
use crate::db::nodes::{NodeId, NodeKind};
use crate::db::tasks::{Finished, WorkerOffer};
use crate::db::users::UserId;
use crate::db::verdicts::VerdictInput;
use crate::db::verifications::NewVerification;
use crate::db::{Db, DbError, JobId, TaskId};

const NOW: i64 = 1_800_000_000_000;
const CREDIT: i64 = 1_000_000;
const ENGINES: &str = "cycles";

async fn assert_sound(db: &Db) {
    assert_eq!(db.check_ledger().await.expect("check"), Vec::<String>::new());
}

struct World {
    db: Db,
    creator: UserId,
    lender: UserId,
    worker: NodeId,
}

/// A creator with `credit` credits, and a worker of another user at 1 credit per render-minute.
async fn world(db: Db, credit: i64) -> World {
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    let worker = db.create_node(lender, NodeKind::Worker, "w", NOW).await.expect("node");
    sqlx::query("UPDATE nodes SET price_micro_per_minute = $1, engines = $2 WHERE id = $3")
        .bind(CREDIT)
        .bind(ENGINES)
        .bind(worker)
        .execute(db.writer())
        .await
        .expect("price");
    if credit > 0 {
        Engine::new(db.clone()).top_up(creator, credit, "grant:start", "grant", "", NOW).await.expect("top up");
    }
    World { db, creator, lender, worker }
}

/// A new checker (of its own owner) leases the waiting check and gives `verdict` at `min_ssim`.
async fn check_once(world: &World, verdict: Verdict, min_ssim: f64) -> Settlement {
    let checker_owner = world.db.create_user("Linus", NOW).await.expect("user");
    let checker = world.db.create_node(checker_owner, NodeKind::Checker, "c", NOW).await.expect("node");
    let check = world
        .db
        .lease_verification(checker, checker_owner, ENGINES, false, NOW, 60_000)
        .await
        .expect("lease")
        .expect("a check");
    let given = VerdictInput { verdict, min_ssim: Some(min_ssim), measurements_json: "[]".into(), render_ms: 10 };
    Engine::new(world.db.clone()).record_verdict(check.id, checker, &given, "[]", NOW).await.expect("verdict")
}

fn job(world: &World, tasks: usize, escrow: i64) -> NewJob {
    NewJob {
        name: "paid".into(),
        max_price_micro_per_minute: 5 * CREDIT,
        escrow_micro: escrow,
        estimate_micro: escrow,
        estimate_source: "history".into(),
        ..NewJob::sample(world.creator, tasks)
    }
}

fn offer(node: NodeId) -> WorkerOffer {
    WorkerOffer {
        node,
        workloads: "render".into(),
        engines: ENGINES.into(),
        price_micro_per_minute: CREDIT,
        ..WorkerOffer::default()
    }
}

/// The worker renders the next task in `seconds` of Blender time; `check` asks for a check (quorum 1).
async fn render(world: &World, seconds: i64, check: bool) -> (TaskId, i64) {
    let lease = world.db.lease_task(&offer(world.worker), NOW, 60_000).await.expect("lease").expect("a task");
    let finished = Finished { log: "", render_ms: Some(seconds * 1000) };
    let verification = check.then(|| NewVerification {
        crops_json: "[]".into(),
        quorum: 1,
        blender_version: String::new(),
        ..Default::default()
    });
    Engine::new(world.db.clone())
        .finish_task(lease.held_by(world.worker), &finished, verification.as_ref(), NOW)
        .await
        .expect("done");
    (lease.task, lease.attempt)
}

async fn job_state(db: &Db, job: JobId) -> String {
    sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1").bind(job).fetch_one(db.reader()).await.expect("job")
}

async fn transfers_are_idempotent_and_never_overdraw(db: Db) {
    let user = db.create_user("Ada", NOW).await.expect("user");
    let grant = Transfer::new("grant:1", Account::External, Account::Credit(user), 5 * CREDIT, "grant");
    assert_eq!(db.transfer(&grant, NOW).await.expect("grant"), Moved::Now);
    assert_eq!(db.transfer(&grant, NOW).await.expect("again"), Moved::Before, "the same key moves nothing twice");
    assert_eq!(db.balance(Account::Credit(user)).await.expect("balance"), 5 * CREDIT);
    assert_eq!(db.balance(Account::External).await.expect("balance"), -5 * CREDIT, "the outside world paid it");
    let too_much = Transfer::new("spend:1", Account::Credit(user), Account::Platform, 6 * CREDIT, "test");
    assert!(
        matches!(db.transfer(&too_much, NOW).await, Err(LedgerError::Insufficient { available, .. }) if available == 5 * CREDIT)
    );
    let nothing = Transfer::new("spend:2", Account::Credit(user), Account::Platform, 0, "test");
    assert!(matches!(db.transfer(&nothing, NOW).await, Err(LedgerError::NotPositive)));
    let negative = Transfer::new("spend:3", Account::Credit(user), Account::Platform, -1, "test");
    assert!(matches!(db.transfer(&negative, NOW).await, Err(LedgerError::NotPositive)));
    assert_eq!(db.balance(Account::Credit(user)).await.expect("balance"), 5 * CREDIT, "refusals change nothing");
    // The key of a refused transfer stays free: the whole transaction was rolled back.
    let fine = Transfer::new("spend:1", Account::Credit(user), Account::Platform, CREDIT, "test");
    assert_eq!(db.transfer(&fine, NOW).await.expect("spend"), Moved::Now);
    assert_sound(&db).await;
}

async fn two_concurrent_payments_of_one_thing_pay_once(db: Db) {
    let user = db.create_user("Ada", NOW).await.expect("user");
    Engine::new(db.clone()).top_up(user, 10 * CREDIT, "grant:1", "grant", "", NOW).await.expect("top up");
    let mut racers = Vec::new();
    for _ in 0..8 {
        let db = db.clone();
        racers.push(tokio::spawn(async move {
            let pay = Transfer::new(
                "task:1:attempt:1:worker",
                Account::Credit(user),
                Account::Earnings(user),
                3 * CREDIT,
                "pay_worker",
            );
            db.transfer(&pay, NOW).await.expect("pay")
        }));
    }
    let mut now = 0;
    for racer in racers {
        now += usize::from(racer.await.expect("joined") == Moved::Now);
    }
    assert_eq!(now, 1, "exactly one of eight racers moved the money");
    assert_eq!(db.balance(Account::Earnings(user)).await.expect("balance"), 3 * CREDIT);
    assert_sound(&db).await;
}

async fn a_job_escrows_pays_each_accepted_result_and_refunds_the_rest(db: Db) {
    let world = world(db, 20 * CREDIT).await;
    let id = Engine::new(world.db.clone()).create_job(&job(&world, 2, 10 * CREDIT), NOW).await.expect("job");
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 10 * CREDIT);
    assert_eq!(world.db.balance(Account::Escrow(id)).await.expect("b"), 10 * CREDIT);
    // 90 s at 1 credit a minute: 1.5 credits, 10 % to the checker pool.
    render(&world, 90, false).await;
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 1_350_000);
    assert_eq!(world.db.balance(Account::CheckerPool).await.expect("b"), 150_000);
    // The second result waits for a checker: paid once it passes.
    let (task, _) = render(&world, 60, true).await;
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 1_350_000, "not paid yet");
    assert_eq!(check_once(&world, Verdict::Pass, 1.0).await, Settlement::Passed { task, job: id });
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 2_250_000);
    // The job is complete: 2.5 credits spent, 7.5 back to the creator's credit.
    assert_eq!(job_state(&world.db, id).await, "completed");
    assert_eq!(world.db.balance(Account::Escrow(id)).await.expect("b"), 0);
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 17_500_000);
    let overview = world.db.ledger_overview(world.creator).await.expect("overview");
    assert_eq!((overview.credit_micro, overview.reserved_micro), (17_500_000, 0));
    let notes = world.db.notifications_of(world.creator, 10).await.expect("notes");
    assert!(notes.iter().any(|note| note.kind == "job_finished"), "{notes:?}");
    assert_sound(&world.db).await;
}

async fn a_job_beyond_the_credit_is_refused_and_nothing_is_created(db: Db) {
    let world = world(db, 2 * CREDIT).await;
    let refused = Engine::new(world.db.clone()).create_job(&job(&world, 3, 5 * CREDIT), NOW).await;
    assert!(
        matches!(refused, Err(DbError::InsufficientCredit { available, needed }) if available == 2 * CREDIT && needed == 5 * CREDIT)
    );
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(world.db.reader()).await.expect("n");
    let tasks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks").fetch_one(world.db.reader()).await.expect("n");
    assert_eq!((jobs, tasks), (0, 0));
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 2 * CREDIT);
    assert_sound(&world.db).await;
}

async fn a_job_pauses_when_credit_runs_out_and_resumes_after_a_top_up(db: Db) {
    let world = world(db, 3 * CREDIT).await;
    // Three one-minute tasks, one credit each, but only two credits in escrow and one left in credit.
    let id = Engine::new(world.db.clone()).create_job(&job(&world, 4, 2 * CREDIT), NOW).await.expect("job");
    render(&world, 60, false).await;
    assert_eq!(job_state(&world.db, id).await, "active", "the escrow still covers the next one");
    render(&world, 60, false).await;
    // The escrow is empty: refilled from the last credit for one more task, then nothing is left for the fourth.
    assert_eq!(job_state(&world.db, id).await, "active");
    render(&world, 60, false).await;
    assert_eq!(job_state(&world.db, id).await, "paused");
    assert_eq!(
        world.db.lease_task(&offer(world.worker), NOW, 60_000).await.expect("lease"),
        None,
        "no work while paused"
    );
    let notes = world.db.notifications_of(world.creator, 10).await.expect("notes");
    assert!(notes.iter().any(|note| note.kind == "job_paused"), "{notes:?}");
    let topped = Engine::new(world.db.clone())
        .top_up(world.creator, 5 * CREDIT, "payment:p1", "payment", "", NOW)
        .await
        .expect("top up");
    assert_eq!(topped.resumed, vec![id]);
    assert_eq!(job_state(&world.db, id).await, "active");
    render(&world, 60, false).await;
    assert_eq!(job_state(&world.db, id).await, "completed");
    assert_eq!(
        world.db.balance(Account::Earnings(world.lender)).await.expect("b"),
        4 * 900_000,
        "every task paid in full"
    );
    assert_sound(&world.db).await;
}

async fn cancelling_refunds_the_rest_and_a_caught_cheater_gives_back_its_pay(db: Db) {
    let world = world(db, 10 * CREDIT).await;
    let id = Engine::new(world.db.clone()).create_job(&job(&world, 3, 6 * CREDIT), NOW).await.expect("job");
    let (unchecked, _) = render(&world, 60, false).await;
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 900_000);
    // Its next result is rejected: the unchecked one is requeued and its pay taken back.
    render(&world, 60, true).await;
    let settled = check_once(&world, Verdict::Fail, 0.1).await;
    assert!(matches!(settled, Settlement::Rejected { ref requeued, .. } if requeued.contains(&unchecked)));
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 0, "paid back");
    assert!(world.db.ledger_history(world.lender, Some("clawback"), 10).await.expect("history").len() == 1);
    Engine::new(world.db.clone()).cancel_job(world.creator, id, NOW).await.expect("cancel");
    assert_eq!(world.db.balance(Account::Escrow(id)).await.expect("b"), 0);
    // Everything came back: what the rejected worker was paid (and the pool's share of it) was taken back.
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 10 * CREDIT);
    assert_sound(&world.db).await;
}

async fn an_epoch_shares_the_pool_by_agreeing_verdicts_and_payouts_hold_then_settle(db: Db) {
    let world = world(db, 0).await;
    let (a, b) = (world.db.create_user("A", NOW).await.expect("u"), world.db.create_user("B", NOW).await.expect("u"));
    let checker_a = world.db.create_node(a, NodeKind::Checker, "a", NOW).await.expect("node");
    let checker_b = world.db.create_node(b, NodeKind::Checker, "b", NOW).await.expect("node");
    let seed = Transfer::new("seed", Account::External, Account::CheckerPool, 1_000, "pay_pool");
    world.db.transfer(&seed, NOW).await.expect("seed");
    // Verdicts that agreed with the quorum inside the first epoch: two by a's checkers, one by b's.
    sqlx::query("INSERT INTO jobs (owner_id, name, created_at_ms) VALUES ($1, 'j', $2)")
        .bind(world.creator)
        .bind(NOW)
        .execute(world.db.writer())
        .await
        .expect("job");
    sqlx::query("INSERT INTO tasks (job_id, created_at_ms) VALUES (1, $1)")
        .bind(NOW)
        .execute(world.db.writer())
        .await
        .expect("task");
    sqlx::query(
        "INSERT INTO verifications (task_id, attempt, worker_node_id, crops_json, quorum, created_at_ms)
         VALUES (1, 1, $1, '[]', 3, $2)",
    )
    .bind(world.worker)
    .bind(NOW)
    .execute(world.db.writer())
    .await
    .expect("verification");
    let checker_a2 = world.db.create_node(a, NodeKind::Checker, "a2", NOW).await.expect("node");
    for (checker, at) in [(checker_a, NOW + 1), (checker_b, NOW + 2), (checker_a2, NOW + 3)] {
        sqlx::query(
            "INSERT INTO verdicts (verification_id, checker_node_id, state, leased_at_ms, lease_expires_at_ms, verdict,
                                   agrees, submitted_at_ms)
             VALUES (1, $1, 'submitted', $2, $2, 'pass', 1, $2)",
        )
        .bind(checker)
        .bind(at)
        .execute(world.db.writer())
        .await
        .expect("verdict");
    }
    let closed = world.db.close_epochs(10_000, NOW + 20_000).await.expect("close");
    assert_eq!(closed.len(), 2, "two whole epochs passed");
    assert_eq!((closed[0].pool_micro, closed[0].distributed_micro), (1_000, 999), "a remainder stays in the pool");
    assert_eq!(world.db.balance(Account::Earnings(a)).await.expect("b"), 666, "two of three agreeing verdicts");
    assert_eq!(world.db.balance(Account::Earnings(b)).await.expect("b"), 333);
    assert_eq!(world.db.balance(Account::CheckerPool).await.expect("b"), 1);

    // Payouts: nothing above the earnings; held at once; paid or returned by an operator.
    let address = format!("0x{}", "a".repeat(64));
    assert!(matches!(world.db.request_payout(a, 667, &address, NOW).await, Err(LedgerError::Insufficient { .. })));
    assert!(world.db.payouts_of(a).await.expect("payouts").is_empty(), "a refused request leaves no trace");
    let paid = world.db.request_payout(a, 600, &address, NOW).await.expect("request");
    let returned = world.db.request_payout(a, 66, &address, NOW).await.expect("request");
    assert_eq!(world.db.balance(Account::Earnings(a)).await.expect("b"), 0);
    world.db.decide_payout(paid, world.creator, true, "0xtx", NOW).await.expect("paid");
    world.db.decide_payout(returned, world.creator, false, "wrong address", NOW).await.expect("returned");
    assert!(world.db.decide_payout(paid, world.creator, true, "again", NOW).await.is_err(), "decided once");
    assert_eq!(world.db.balance(Account::Earnings(a)).await.expect("b"), 66);
    assert_eq!(world.db.balance(Account::Payouts(a)).await.expect("b"), 0);
    assert_sound(&world.db).await;
}

async fn a_short_escrow_is_topped_up_from_credit_so_results_are_paid_in_full(db: Db) {
    let world = world(db, 10 * CREDIT).await;
    // The estimate was low: half a credit held for two one-minute tasks, both rendering at once.
    let id = Engine::new(world.db.clone()).create_job(&job(&world, 2, CREDIT / 2), NOW).await.expect("job");
    let first = world.db.lease_task(&offer(world.worker), NOW, 60_000).await.expect("lease").expect("a task");
    let second = world.db.lease_task(&offer(world.worker), NOW, 60_000).await.expect("lease").expect("a task");
    let finished = Finished { log: "", render_ms: Some(60_000) };
    for lease in [first, second] {
        Engine::new(world.db.clone())
            .finish_task(lease.held_by(world.worker), &finished, None, NOW)
            .await
            .expect("done");
    }
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 2 * 900_000, "both in full");
    assert_eq!(job_state(&world.db, id).await, "completed");
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 8 * CREDIT);
    assert_sound(&world.db).await;
}

async fn a_budget_caps_what_a_job_spends_and_a_spent_budget_refuses_a_rerender(db: Db) {
    let world = world(db, 10 * CREDIT).await;
    let budget = 3 * CREDIT / 2;
    let capped = NewJob { budget_micro: Some(budget), ..job(&world, 3, budget) };
    let id = Engine::new(world.db.clone()).create_job(&capped, NOW).await.expect("job");
    // Two one-minute tasks at once: the second is paid only what is left of the budget, never from more credit.
    let first = world.db.lease_task(&offer(world.worker), NOW, 60_000).await.expect("lease").expect("a task");
    let second = world.db.lease_task(&offer(world.worker), NOW, 60_000).await.expect("lease").expect("a task");
    let finished = Finished { log: "", render_ms: Some(60_000) };
    for lease in [&first, &second] {
        Engine::new(world.db.clone())
            .finish_task(lease.held_by(world.worker), &finished, None, NOW)
            .await
            .expect("done");
    }
    let spent = world.db.balance(Account::Earnings(world.lender)).await.expect("b")
        + world.db.balance(Account::CheckerPool).await.expect("b");
    assert_eq!(spent, budget, "the budget, to the micro-credit");
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 10 * CREDIT - budget);
    assert_eq!(job_state(&world.db, id).await, "paused", "no third task past the budget");
    let notes = world.db.notifications_of(world.creator, 10).await.expect("notes");
    assert!(notes.iter().any(|note| note.kind == "job_paused" && note.text.contains("budget")), "{notes:?}");
    let again = Engine::new(world.db.clone()).rerender_tasks(world.creator, id, &[first.task], NOW).await;
    assert!(matches!(again, Err(DbError::Conflict(why)) if why.contains("budget")), "{again:?}");
    assert_eq!(world.db.balance(Account::Credit(world.creator)).await.expect("b"), 10 * CREDIT - budget);
    assert_sound(&world.db).await;
}

/// A user's own worker renders their job for free: no earnings, no pool share, the whole escrow comes back.
async fn an_owners_own_worker_is_never_paid_for_their_jobs(db: Db) {
    let world = world(db, 0).await;
    Engine::new(world.db.clone())
        .top_up(world.lender, 10 * CREDIT, "grant:own", "grant", "", NOW)
        .await
        .expect("credit");
    let own = NewJob { owner: world.lender, ..job(&world, 1, 5 * CREDIT) };
    let id = Engine::new(world.db.clone()).create_job(&own, NOW).await.expect("job");
    render(&world, 90, false).await;
    assert_eq!(job_state(&world.db, id).await, "completed");
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 0, "not paid for its own job");
    assert_eq!(world.db.balance(Account::CheckerPool).await.expect("b"), 0);
    assert_eq!(world.db.balance(Account::Credit(world.lender)).await.expect("b"), 10 * CREDIT, "all refunded");
    assert!(world.db.check_ledger().await.expect("check").is_empty());
}

async fn welcome_part(db: &Db, user: UserId) -> (i64, i64) {
    sqlx::query_as("SELECT welcome_credit_micro, held_earnings_micro FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(db.reader())
        .await
        .expect("user")
}

/// Welcome credits pay another user's worker once paid credit is spent, but what they paid never leaves the network:
/// held in the worker's earnings (no payout of it), and adding nothing to the checker pool; a refund gives the
/// welcome part back as welcome credit.
async fn welcome_credits_pay_workers_but_are_never_withdrawn(db: Db) {
    let world = world(db, 0).await;
    let engine = Engine::new(world.db.clone());
    engine.welcome(world.creator, 3 * CREDIT, NOW).await.expect("welcome");
    engine.top_up(world.creator, 2 * CREDIT, "grant:paid", "grant", "", NOW).await.expect("paid credit");
    let id = engine.create_job(&job(&world, 2, 4 * CREDIT), NOW).await.expect("job");
    // The 2 paid credits went first, then 2 of the welcome credits: 1 is left.
    assert_eq!(welcome_part(&world.db, world.creator).await.0, CREDIT, "paid credit is spent first");
    // 90 s at 1 credit a minute: 1.35 to the worker, all of it welcome money; the pool's 0.15 is not charged.
    render(&world, 90, false).await;
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 1_350_000);
    assert_eq!(world.db.balance(Account::CheckerPool).await.expect("b"), 0);
    assert_eq!(welcome_part(&world.db, world.lender).await.1, 1_350_000, "held");
    // The second: 0.65 welcome money left in the escrow, then paid credit; the pool gets its share of that.
    render(&world, 90, false).await;
    assert_eq!(world.db.balance(Account::Earnings(world.lender)).await.expect("b"), 2_700_000);
    assert_eq!(welcome_part(&world.db, world.lender).await.1, 2_000_000);
    assert_eq!(world.db.held_earnings(world.lender).await.expect("held"), 2_000_000, "as the Rewards page shows it");
    assert_eq!(world.db.balance(Account::CheckerPool).await.expect("b"), 150_000);
    assert_eq!(job_state(&world.db, id).await, "completed");
    // Only what paid credit paid can leave.
    let refused = world.db.request_payout(world.lender, 800_000, "0xabc", NOW).await;
    assert!(matches!(refused, Err(LedgerError::Insufficient { available: 700_000, needed: 800_000 })), "{refused:?}");
    world.db.request_payout(world.lender, 700_000, "0xabc", NOW).await.expect("the paid part");
    assert!(world.db.check_ledger().await.expect("check").is_empty());

    // A cancelled job gives its unspent welcome money back as welcome credit.
    engine.welcome(world.lender, 3 * CREDIT, NOW).await.expect("the lender's welcome");
    let own = NewJob { owner: world.lender, ..job(&world, 1, 2 * CREDIT) };
    let cancelled = engine.create_job(&own, NOW).await.expect("job");
    assert_eq!(welcome_part(&world.db, world.lender).await.0, CREDIT);
    engine.cancel_job(world.lender, cancelled, NOW).await.expect("cancel");
    assert_eq!(welcome_part(&world.db, world.lender).await.0, 3 * CREDIT);
}

crate::both_backends!(
    welcome_credits_pay_workers_but_are_never_withdrawn,
    an_owners_own_worker_is_never_paid_for_their_jobs,
    a_short_escrow_is_topped_up_from_credit_so_results_are_paid_in_full,
    a_budget_caps_what_a_job_spends_and_a_spent_budget_refuses_a_rerender,
    transfers_are_idempotent_and_never_overdraw,
    two_concurrent_payments_of_one_thing_pay_once,
    a_job_escrows_pays_each_accepted_result_and_refunds_the_rest,
    a_job_beyond_the_credit_is_refused_and_nothing_is_created,
    a_job_pauses_when_credit_runs_out_and_resumes_after_a_top_up,
    cancelling_refunds_the_rest_and_a_caught_cheater_gives_back_its_pay,
    an_epoch_shares_the_pool_by_agreeing_verdicts_and_payouts_hold_then_settle,
);
