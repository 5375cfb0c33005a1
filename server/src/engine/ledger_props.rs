//! Property test of the ledger: random sequences of top-ups, submissions, renders (checked or not), verdicts
//! (pass or fail), cancellations, re-renders, epochs and payouts, with the ledger's invariants checked after every
//! step — all balances sum to zero, none but the outside world's is below zero, every cached balance equals its
//! transfers, no task attempt is paid twice — on SQLite and on PostgreSQL.

use pictor_core::verification::Verdict;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::Engine;
use crate::db::job_lifecycle::NewJob;
use crate::db::ledger::Account;
use crate::db::nodes::NodeKind;
use crate::db::tasks::{Finished, WorkerOffer};
use crate::db::verdicts::VerdictInput;
use crate::db::verifications::NewVerification;
use crate::db::{Backend, Db, JobId, NodeId, TaskId};
use crate::testing::TestDb;

const CREDIT: i64 = 1_000_000;

#[derive(Clone, Debug)]
enum Op {
    TopUp {
        user: usize,
        credits: i64,
    },
    /// `budgeted`: the escrow is also the job's budget cap.
    Submit {
        user: usize,
        tasks: usize,
        escrow_credits: i64,
        budgeted: bool,
    },
    Render {
        worker: usize,
        seconds: i64,
        checked: bool,
    },
    Verdict {
        pass: bool,
    },
    Cancel {
        job: usize,
    },
    Rerender {
        job: usize,
    },
    Epoch,
    Payout {
        user: usize,
        credits: i64,
        paid: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 1..30i64).prop_map(|(user, credits)| Op::TopUp { user, credits }),
        (0..2usize, 1..4usize, 0..15i64, any::<bool>()).prop_map(|(user, tasks, escrow_credits, budgeted)| {
            Op::Submit { user, tasks, escrow_credits, budgeted }
        }),
        (0..2usize, 1..150i64, any::<bool>()).prop_map(|(worker, seconds, checked)| Op::Render {
            worker,
            seconds,
            checked
        }),
        any::<bool>().prop_map(|pass| Op::Verdict { pass }),
        (0..6usize).prop_map(|job| Op::Cancel { job }),
        (0..6usize).prop_map(|job| Op::Rerender { job }),
        Just(Op::Epoch),
        (0..2usize, 1..5i64, any::<bool>()).prop_map(|(user, credits, paid)| Op::Payout { user, credits, paid }),
    ]
}

struct Network {
    users: Vec<i64>,
    workers: Vec<NodeId>,
    checker: NodeId,
    checker_owner: i64,
    jobs: Vec<JobId>,
    now: i64,
}

async fn network(db: &Db) -> Network {
    let mut users = Vec::new();
    for name in ["creator", "lender"] {
        users.push(db.create_user(name, 0).await.expect("user"));
    }
    let mut workers = Vec::new();
    for (index, owner) in users.iter().enumerate() {
        let node = db.create_node(*owner, NodeKind::Worker, &format!("w{index}"), 0).await.expect("node");
        sqlx::query("UPDATE nodes SET price_micro_per_minute = $1, engines = 'cycles' WHERE id = $2")
            .bind(CREDIT * (index as i64 + 1))
            .bind(node)
            .execute(db.writer())
            .await
            .expect("price");
        workers.push(node);
    }
    let checker_owner = db.create_user("checker", 0).await.expect("user");
    let checker = db.create_node(checker_owner, NodeKind::Checker, "c", 0).await.expect("node");
    Network { users, workers, checker, checker_owner, jobs: Vec::new(), now: 1_800_000_000_000 }
}

async fn play(db: &Db, net: &mut Network, op: &Op) {
    net.now += 1_000;
    let now = net.now;
    match *op {
        Op::TopUp { user, credits } => {
            let key = format!("grant:{now}");
            Engine::new(db.clone())
                .top_up(net.users[user], credits * CREDIT, &key, "grant", "", now)
                .await
                .expect("top up");
        }
        Op::Submit { user, tasks, escrow_credits, budgeted } => {
            let job = NewJob {
                name: "p".into(),
                max_price_micro_per_minute: 5 * CREDIT,
                escrow_micro: escrow_credits * CREDIT,
                estimate_micro: escrow_credits * CREDIT,
                estimate_source: "default".into(),
                budget_micro: budgeted.then_some(escrow_credits * CREDIT),
                ..NewJob::sample(net.users[user], tasks)
            };
            // Refused for want of credit, or created: both are fine, the invariants must hold either way.
            if let Ok(id) = Engine::new(db.clone()).create_job(&job, now).await {
                net.jobs.push(id);
            }
        }
        Op::Render { worker, seconds, checked } => {
            let node = net.workers[worker];
            let offer = WorkerOffer {
                node,
                workloads: "render".into(),
                engines: "cycles".into(),
                price_micro_per_minute: CREDIT * (worker as i64 + 1),
                ..WorkerOffer::default()
            };
            if let Some(lease) = db.lease_task(&offer, now, 60_000).await.expect("lease") {
                let finished = Finished { log: "", render_ms: Some(seconds * 1_000) };
                let check =
                    checked.then(|| NewVerification { crops_json: "[]".into(), quorum: 1, ..Default::default() });
                Engine::new(db.clone())
                    .finish_task(lease.held_by(node), &finished, check.as_ref(), now)
                    .await
                    .expect("done");
            }
        }
        Op::Verdict { pass } => {
            let leased = db.lease_verification(net.checker, net.checker_owner, "cycles", false, now, 60_000).await;
            if let Some(check) = leased.expect("lease") {
                let verdict = if pass { Verdict::Pass } else { Verdict::Fail };
                let input =
                    VerdictInput { verdict, min_ssim: Some(0.5), measurements_json: "[]".into(), render_ms: 10 };
                Engine::new(db.clone())
                    .record_verdict(check.id, net.checker, &input, "[]", now)
                    .await
                    .expect("verdict");
            }
        }
        Op::Cancel { job } => {
            if let Some(id) = net.jobs.get(job) {
                let owner: i64 = sqlx::query_scalar("SELECT owner_id FROM jobs WHERE id = $1")
                    .bind(id)
                    .fetch_one(db.reader())
                    .await
                    .expect("owner");
                let _ = Engine::new(db.clone()).cancel_job(owner, *id, now).await;
            }
        }
        Op::Rerender { job } => {
            if let Some(id) = net.jobs.get(job) {
                let (owner, tasks): (i64, Vec<TaskId>) = (
                    sqlx::query_scalar("SELECT owner_id FROM jobs WHERE id = $1")
                        .bind(id)
                        .fetch_one(db.reader())
                        .await
                        .expect("owner"),
                    sqlx::query_scalar("SELECT id FROM tasks WHERE job_id = $1")
                        .bind(id)
                        .fetch_all(db.reader())
                        .await
                        .expect("tasks"),
                );
                let _ = Engine::new(db.clone()).rerender_tasks(owner, *id, &tasks, now).await;
            }
        }
        Op::Epoch => {
            db.close_epochs(5_000, now).await.expect("epochs");
        }
        Op::Payout { user, credits, paid } => {
            let address = format!("0x{}", "b".repeat(64));
            if let Ok(id) = db.request_payout(net.users[user], credits * CREDIT, &address, now).await {
                db.decide_payout(id, net.checker_owner, paid, "ref", now).await.expect("decide");
            }
        }
    }
}

fn check_random_sequences(backend: Backend) {
    let mut runner = TestRunner::new(Config { cases: 32, failure_persistence: None, ..Config::default() });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        // Several threads: dropping a PostgreSQL test database drives its pool from another thread while this one waits.
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async {
            let test_db = TestDb::new(backend).await;
            let db = &test_db.db;
            let mut net = network(db).await;
            for (step, op) in ops.iter().enumerate() {
                play(db, &mut net, op).await;
                let violations = db.check_ledger().await.expect("check");
                prop_assert!(violations.is_empty(), "after step {} ({:?}): {:?}", step, op, violations);
                for user in net.users.iter().chain([&net.checker_owner]) {
                    prop_assert!(db.balance(Account::Credit(*user)).await.expect("balance") >= 0);
                }
            }
            Ok::<(), TestCaseError>(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn random_sequences_keep_the_ledger_sound_on_sqlite() {
    check_random_sequences(Backend::Sqlite);
}

#[test]
fn random_sequences_keep_the_ledger_sound_on_postgres() {
    check_random_sequences(Backend::Postgres);
}
