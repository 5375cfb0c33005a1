//! Transitions racing each other on real concurrent transactions (PostgreSQL's READ COMMITTED is where they broke;
//! SQLite serialises writers and must give the same answers): quorums, job completion, leases past locked tasks,
//! payments refilling one escrow, epochs and webhook deliveries.

use pictor_core::verification::Verdict;

use super::verdicts::Settlement;
use super::Engine;
use crate::db::job_lifecycle::NewJob;
use crate::db::ledger::Account;
use crate::db::nodes::{Capabilities, NodeId, NodeKind};
use crate::db::tasks::{Finished, Lease, WorkerOffer};
use crate::db::users::UserId;
use crate::db::verdicts::VerdictInput;
use crate::db::verifications::NewVerification;
use crate::db::{Backend, Db, JobId, TaskId, VerificationId};

const NOW: i64 = 1_800_000_000_000;
const LEASE: i64 = 60_000;
const ENGINES: &str = "cycles,eevee,workbench";
/// Races are timing: each test plays its race this many times, so a broken guard shows in one run.
const TRIALS: usize = 12;

async fn node(db: &Db, owner: UserId, kind: NodeKind, name: &str) -> NodeId {
    let id = db.create_node(owner, kind, name, NOW).await.expect("node");
    let capabilities = Capabilities { engines: ENGINES.into(), workloads: "render".into(), ..Capabilities::default() };
    db.set_node_capabilities(id, &capabilities).await.expect("capabilities");
    db.register_node(id, "test", "{}", None, 5_000, NOW).await.expect("online");
    id
}

fn offer(node: NodeId, price: i64) -> WorkerOffer {
    WorkerOffer {
        node,
        workloads: "render".into(),
        engines: ENGINES.into(),
        price_micro_per_minute: price,
        ..WorkerOffer::default()
    }
}

/// Leases the next task to `worker` and uploads its one frame.
async fn lease_and_upload(db: &Db, worker: NodeId, price: i64) -> Lease {
    let lease = db.lease_task(&offer(worker, price), NOW, LEASE).await.expect("lease").expect("a task");
    let frame: i64 = lease.frames.parse().expect("one frame");
    let key = format!("outputs/{}/{}/{}/{frame}.png", lease.job, lease.task, lease.attempt);
    db.record_output(lease.held_by(worker), frame, &key, "00", 10, NOW).await.expect("output");
    lease
}

async fn finish(db: &Db, lease: &Lease, worker: NodeId, check: Option<&NewVerification>) {
    let finished = Finished { log: "", render_ms: Some(2_000) };
    Engine::new(db.clone()).finish_task(lease.held_by(worker), &finished, check, NOW).await.expect("done");
}

async fn state_of(db: &Db, table: &str, id: impl Into<i64>) -> String {
    let id: i64 = id.into();
    sqlx::query_scalar(&format!("SELECT state FROM {table} WHERE id = $1"))
        .bind(id)
        .fetch_one(db.reader())
        .await
        .expect("state")
}

fn passed() -> VerdictInput {
    VerdictInput { verdict: Verdict::Pass, min_ssim: Some(0.999), measurements_json: "[]".into(), render_ms: 100 }
}

/// Race 1: the last two verdicts of a quorum arrive together. Each used to see two of three and leave the check
/// open for ever (or, the other way round, both decided and counted the worker's streak twice).
async fn the_last_verdicts_of_a_quorum_arriving_together_decide_it_once(db: Db) {
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    let checking = db.create_user("Linus", NOW).await.expect("user");
    let worker = node(&db, lender, NodeKind::Worker, "w").await;
    let mut checkers = Vec::new();
    for index in 0..3 {
        checkers.push(node(&db, checking, NodeKind::Checker, &format!("c{index}")).await);
    }
    for trial in 0..TRIALS {
        let job = Engine::new(db.clone()).create_job(&NewJob::sample(creator, 1), NOW).await.expect("job");
        let lease = lease_and_upload(&db, worker, 0).await;
        let check = NewVerification {
            crops_json: "[]".into(),
            quorum: 3,
            blender_version: String::new(),
            ..Default::default()
        };
        finish(&db, &lease, worker, Some(&check)).await;
        let mut verification = VerificationId(0);
        for checker in &checkers {
            let leased = db.lease_verification(*checker, checking, ENGINES, false, NOW, LEASE).await.expect("lease");
            verification = leased.expect("a slot of the quorum").id;
        }
        let first = Engine::new(db.clone())
            .record_verdict(verification, checkers[0], &passed(), "[]", NOW)
            .await
            .expect("verdict");
        assert_eq!(first, Settlement::Pending);
        let pass = passed();
        let engine = Engine::new(db.clone());
        let (second, third) = tokio::join!(
            engine.record_verdict(verification, checkers[1], &pass, "[]", NOW),
            engine.record_verdict(verification, checkers[2], &pass, "[]", NOW),
        );
        let settlements = [second.expect("second verdict"), third.expect("third verdict")];
        let decided = settlements.iter().filter(|s| matches!(s, Settlement::Passed { .. })).count();
        assert_eq!(decided, 1, "trial {trial}: decided exactly once: {settlements:?}");
        assert_eq!(state_of(&db, "tasks", lease.task).await, "verified", "trial {trial}");
        assert_eq!(state_of(&db, "jobs", job).await, "completed", "trial {trial}");
        let streak = db.worker_trust(worker).await.expect("trust").valid_streak;
        assert_eq!(streak, trial as i64 + 1, "trial {trial}: the worker's streak grew once per result");
    }
}

/// Race 2: a job's last two tasks finish together (free workers). Each used to see the other still leased, and the
/// job stayed active for ever with every task done.
async fn the_last_two_tasks_finishing_together_complete_their_job(db: Db) {
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    let (left, right) =
        (node(&db, lender, NodeKind::Worker, "a").await, node(&db, lender, NodeKind::Worker, "b").await);
    for trial in 0..TRIALS {
        let job = Engine::new(db.clone()).create_job(&NewJob::sample(creator, 2), NOW).await.expect("job");
        let (first, second) = (lease_and_upload(&db, left, 0).await, lease_and_upload(&db, right, 0).await);
        tokio::join!(finish(&db, &first, left, None), finish(&db, &second, right, None));
        assert_eq!(state_of(&db, "jobs", job).await, "completed", "trial {trial}");
    }
}

/// Race 4: two paid results of one job whose escrow is short are paid together; each refills the escrow from the
/// owner's credit. The refill's key was numbered from a count both read alike: one failed with a 500.
async fn payments_of_one_job_at_once_each_refill_its_escrow(db: Db) {
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    Engine::new(db.clone()).top_up(creator, 100_000_000, "grant:races", "grant", "", NOW).await.expect("credit");
    let (left, right) =
        (node(&db, lender, NodeKind::Worker, "a").await, node(&db, lender, NodeKind::Worker, "b").await);
    let price = 1_000_000;
    for trial in 0..TRIALS {
        // No escrow up front: every payment must refill it.
        let job = Engine::new(db.clone()).create_job(&NewJob::sample(creator, 2), NOW).await.expect("job");
        let (first, second) = (lease_and_upload(&db, left, price).await, lease_and_upload(&db, right, price).await);
        tokio::join!(finish(&db, &first, left, None), finish(&db, &second, right, None));
        assert_eq!(state_of(&db, "jobs", job).await, "completed", "trial {trial}");
    }
    // 2 s at 1 credit a minute is 33 333 micro-credits a result, 90 % of it the worker's.
    let per_result = super::payments::charge(price, price, 2_000, 10).0;
    let earned = db.balance(Account::Earnings(lender)).await.expect("earnings");
    assert_eq!(earned, per_result * 2 * TRIALS as i64, "every result paid, once");
    assert_eq!(db.check_ledger().await.expect("check"), Vec::<String>::new());
}

/// Race 5: two coordinators close the same epochs at the same moment. Each used to insert its own epoch and pay
/// the checker pool out twice.
async fn epochs_closed_by_two_coordinators_at_once_are_closed_once(db: Db) {
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    Engine::new(db.clone()).top_up(creator, 100_000_000, "grant:races", "grant", "", NOW).await.expect("credit");
    let worker = node(&db, lender, NodeKind::Worker, "w").await;
    Engine::new(db.clone()).create_job(&NewJob::sample(creator, 1), NOW).await.expect("job");
    let lease = lease_and_upload(&db, worker, 1_000_000).await;
    finish(&db, &lease, worker, None).await;
    // Many short epochs since the pool's first payment: plenty of chances to collide.
    let (epoch_ms, until) = (10, NOW + 400);
    let (left, right) = tokio::join!(db.close_epochs(epoch_ms, until), db.close_epochs(epoch_ms, until));
    let closed = left.expect("first closer").len() + right.expect("second closer").len();
    let (rows, starts): (i64, i64) = sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT started_at_ms) FROM epochs")
        .fetch_one(db.reader())
        .await
        .expect("epochs");
    assert_eq!(rows, starts, "one epoch per period");
    assert_eq!(rows, closed as i64, "each closer reports only the epochs it closed");
    assert_eq!(db.check_ledger().await.expect("check"), Vec::<String>::new());
}

/// Race 6: a webhook delivery's failed try is recorded after its successful one (a slow first try, or two
/// senders). It used to undo the delivery, which was then sent again.
async fn a_failed_webhook_try_recorded_after_a_success_leaves_it_delivered(db: Db) {
    let user = db.create_user("Ada", NOW).await.expect("user");
    db.set_webhook(user, Some(("https://hooks.example.com/pictor", "secret"))).await.expect("webhook");
    db.notify(user, "job_finished", "done", None, NOW).await.expect("notification");
    let due = db.due_deliveries(NOW, 10).await.expect("due");
    assert_eq!(due.len(), 1);
    db.record_delivery(due[0].id, Ok(()), None, NOW).await.expect("delivered");
    db.record_delivery(due[0].id, Err("timed out"), Some(NOW + 1_000), NOW + 1).await.expect("late failure");
    assert!(db.due_deliveries(NOW + 10_000_000, 10).await.expect("due").is_empty(), "never sent again");
    let delivered: Option<i64> = sqlx::query_scalar("SELECT delivered_at_ms FROM webhook_deliveries WHERE id = $1")
        .bind(due[0].id)
        .fetch_one(db.reader())
        .await
        .expect("delivery");
    assert_eq!(delivered, Some(NOW));
}

crate::both_backends!(
    the_last_verdicts_of_a_quorum_arriving_together_decide_it_once,
    the_last_two_tasks_finishing_together_complete_their_job,
    payments_of_one_job_at_once_each_refill_its_escrow,
    epochs_closed_by_two_coordinators_at_once_are_closed_once,
    a_failed_webhook_try_recorded_after_a_success_leaves_it_delivered,
);

/// Race 3 (PostgreSQL: replicas lease at once): the top job's only queued task is being leased by another request
/// right now (its row is locked). The worker used to be told "no work" for 25 s while a lower-ranked job waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_leased_a_lower_ranked_job_while_the_top_jobs_tasks_are_being_leased() {
    let test_db = crate::testing::TestDb::new(Backend::Postgres).await;
    let db = test_db.db.clone();
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    let worker = node(&db, lender, NodeKind::Worker, "w").await;
    let top: JobId = Engine::new(db.clone())
        .create_job(&NewJob { tier_rank: 2, ..NewJob::sample(creator, 1) }, NOW)
        .await
        .expect("priority job");
    let lower: JobId = Engine::new(db.clone())
        .create_job(&NewJob { tier_rank: 0, ..NewJob::sample(creator, 1) }, NOW)
        .await
        .expect("economy job");
    let top_task: TaskId = sqlx::query_scalar("SELECT id FROM tasks WHERE job_id = $1")
        .bind(top)
        .fetch_one(db.reader())
        .await
        .expect("task");

    // Another lease in flight holds the top job's task.
    let mut in_flight = db.begin_write().await.expect("transaction");
    sqlx::query("SELECT id FROM tasks WHERE id = $1 FOR UPDATE")
        .bind(top_task)
        .execute(&mut *in_flight)
        .await
        .expect("lock");
    let lease = db.lease_task(&offer(worker, 0), NOW, LEASE).await.expect("lease");
    in_flight.rollback().await.expect("rollback");
    assert_eq!(lease.map(|lease| lease.job), Some(lower), "the next job's task, not \"no work\"");
    // With nothing in flight, rank order holds.
    let next = db.lease_task(&offer(worker, 0), NOW, LEASE).await.expect("lease").expect("a task");
    assert_eq!(next.job, top);
}
