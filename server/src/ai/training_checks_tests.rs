//! Tests of training runs' checks and pay on SQLite and PostgreSQL: an attempt that only delivers weights an earlier
//! attempt trained has that attempt's last segment replayed, a mismatch discards the run from the replay's start and
//! counts against the trainer, and an accepted run pays every segment it was built from to the attempt that trained it.

use pictor_core::ai_training::ReplayOrder;
use pictor_core::verification::Verdict;
use pictor_core::workloads::WorkloadKind;

use super::training_workload::AiTrainWorkload;
use crate::clock::now_ms;
use crate::db::ai_trainings::{NewTraining, StoredCheckpoint};
use crate::db::job_lifecycle::{NewJob, NewTask};
use crate::db::ledger::{Account, Transfer};
use crate::db::nodes::{Capabilities, NodeId, NodeKind};
use crate::db::tasks::{Finished, Lease, WorkerOffer};
use crate::db::users::UserId;
use crate::db::verdicts::VerdictInput;
use crate::db::{Db, TaskId};
use crate::engine::verdicts::Settlement;
use crate::engine::workload::{Intake, Workload};
use crate::engine::Engine;

const LEASE: i64 = 600_000;
/// 60 000 micro-credits a minute: 1 000 a second of training.
const PRICE: i64 = 60_000;

async fn node(db: &Db, owner: UserId, kind: NodeKind, name: &str, now: i64) -> NodeId {
    let id = db.create_node(owner, kind, name, now).await.expect("node");
    let capabilities = Capabilities { engines: "train".into(), workloads: "ai_train".into(), ..Default::default() };
    db.set_node_capabilities(id, &capabilities).await.expect("capabilities");
    db.register_node(id, "test", "{}", None, 5_000, now).await.expect("online");
    id
}

fn offer(node: NodeId) -> WorkerOffer {
    WorkerOffer {
        node,
        workloads: "ai_train".into(),
        engines: "train".into(),
        price_micro_per_minute: PRICE,
        ..WorkerOffer::default()
    }
}

async fn checkpoint(db: &Db, lease: &Lease, node: NodeId, step: i64, at: i64) {
    let stored = StoredCheckpoint {
        task: lease.task,
        attempt: lease.attempt,
        step,
        object_key: format!("checkpoints/{}/{}/{step}", lease.task, lease.attempt),
        sha256: format!("{step:02}"),
        bytes: 1,
        loss: 1.0,
        accuracy: 0.5,
        created_at_ms: at,
    };
    assert!(db.record_checkpoint(lease.held_by(node), &stored).await.expect("checkpoint").0);
}

/// Delivers the trained weights and takes the attempt in as the coordinator does; returns the check it planned.
async fn deliver(db: &Db, lease: &Lease, node: NodeId, at: i64) -> Option<crate::db::verifications::NewVerification> {
    let key = format!("outputs/{}/{}/0.safetensors", lease.task, lease.attempt);
    db.record_output(lease.held_by(node), 0, &key, "00", 1, at).await.expect("output");
    let Intake::Accept(check) =
        AiTrainWorkload { db: db.clone() }.intake(lease.task, lease.attempt, node).await.expect("intake")
    else {
        panic!("refused")
    };
    let finished = Finished { log: "", render_ms: Some(1_000) };
    Engine::new(db.clone()).finish_task(lease.held_by(node), &finished, check.as_ref(), at).await.expect("done");
    check
}

async fn replay(db: &Db, checker: NodeId, checker_owner: UserId, verdict: Verdict, at: i64) -> Settlement {
    let leased = db.lease_verification(checker, checker_owner, "train", false, at, LEASE).await.expect("lease");
    let leased = leased.expect("a check");
    let input = VerdictInput { verdict, min_ssim: None, measurements_json: "[]".into(), render_ms: 500 };
    Engine::new(db.clone()).record_verdict(leased.id, checker, &input, "[]", at).await.expect("verdict")
}

async fn paid_segments(db: &Db, task: TaskId) -> Vec<(String, i64)> {
    let mut paid: Vec<(String, i64)> = sqlx::query_as(
        "SELECT idempotency_key, amount_micro FROM ledger_transfers WHERE kind = 'pay_worker' AND task_id = $1",
    )
    .bind(task)
    .fetch_all(db.reader())
    .await
    .expect("transfers");
    paid.sort();
    paid
}

async fn a_bad_segment_found_through_a_delivering_attempt_is_blamed_on_its_trainer_and_segments_are_paid(db: Db) {
    let now = now_ms();
    let creator = db.create_user("Ada", now).await.expect("user");
    let (grace, linus) =
        (db.create_user("Grace", now).await.expect("u"), db.create_user("Linus", now).await.expect("u"));
    let grant = Transfer::new("grant:ada", Account::External, Account::Credit(creator), 5_000_000, "grant");
    db.transfer(&grant, now).await.expect("grant");
    let (first, second) = (
        node(&db, grace, NodeKind::Worker, "first", now).await,
        node(&db, grace, NodeKind::Worker, "second", now).await,
    );
    let checker = node(&db, linus, NodeKind::Checker, "checker", now).await;
    let job = NewJob {
        kind: WorkloadKind::AiTrain,
        engine: "train".into(),
        spec_json: "{}".into(),
        // The run's one task has one output: the trained weights (0).
        tasks: vec![NewTask { frames: "0".into(), tile_index: None }],
        ..NewJob::sample(creator, 1)
    };
    let training = NewTraining {
        user: creator,
        template: "pixel_classifier".into(),
        hyper_json: serde_json::to_string(&pictor_core::ai_training::Hyperparameters::default()).expect("json"),
        dataset_key: "datasets/x.csv".into(),
        dataset_sha256: "00".into(),
        dataset_rows: 100,
        total_steps: 20,
        created_at_ms: now,
        starts_from: None,
    };
    Engine::new(db.clone()).create_training(&job, &training, now).await.expect("run");

    // The first worker checkpoints steps 0 (after 1 s of set-up), 10 and 20, and dies before `done`.
    let one = db.lease_task(&offer(first), now, LEASE).await.expect("lease").expect("the run");
    for (step, at) in [(0, 1_000), (10, 5_000), (20, 9_000)] {
        checkpoint(&db, &one, first, step, now + at).await;
    }
    Engine::new(db.clone()).fail_task(one.held_by(first), "gone", "", now + 10_000).await.expect("failed");
    // The second resumes at the last step: it trained nothing, and delivers the first's weights.
    let two = db.lease_task(&offer(second), now + 20_000, LEASE).await.expect("lease").expect("the run again");
    assert_eq!(two.attempt, 2);
    let check = deliver(&db, &two, second, now + 21_000).await.expect("the delivered weights are checked");
    let order: ReplayOrder = serde_json::from_str(&check.crops_json).expect("a replay");
    assert_eq!((order.from.step, order.to.step, order.to.attempt), (10, 20, 1), "the first's last segment");
    assert_eq!((check.checked_node, check.rejects_after_step), (Some(first), Some(10)));

    // The replay does not match: the run goes on from step 10, the first worker is blamed, nobody is paid.
    let rejected = replay(&db, checker, linus, Verdict::Fail, now + 22_000).await;
    assert!(matches!(rejected, Settlement::Rejected { worker, .. } if worker == first), "{rejected:?}");
    let resume = db.resume_point(one.task).await.expect("read").expect("a checkpoint");
    assert_eq!((resume.attempt, resume.step), (1, 10), "step 20 was built on the bad segment");
    assert_eq!(db.worker_trust(first).await.expect("trust").valid_streak, 0);
    assert!(paid_segments(&db, one.task).await.is_empty());

    // The second worker trains 10 → 20 again (3 s after its start) and passes its check: every segment of the run
    // is paid to its trainer, each for its own time, less the checker pool's tenth.
    let three = db.lease_task(&offer(second), now + 30_000, LEASE).await.expect("lease").expect("the run again");
    checkpoint(&db, &three, second, 20, now + 33_000).await;
    let check = deliver(&db, &three, second, now + 34_000).await.expect("checked");
    assert_eq!(check.checked_node, None, "its own segment");
    assert!(matches!(replay(&db, checker, linus, Verdict::Pass, now + 35_000).await, Settlement::Passed { .. }));
    let task = one.task;
    let expected = vec![
        (format!("task:{task}:attempt:1:segment:0:worker"), 900),
        (format!("task:{task}:attempt:1:segment:10:worker"), 3_600),
        (format!("task:{task}:attempt:3:segment:20:worker"), 2_700),
    ];
    assert_eq!(paid_segments(&db, task).await, expected);
    // Paid once: accepting the same attempt again moves nothing.
    let mut tx = db.begin_write().await.expect("tx");
    assert_eq!(crate::engine::payments::pay_attempt(&mut tx, task, 3, now + 36_000).await.expect("pay"), 0);
    tx.commit().await.expect("commit");
    assert_eq!(db.balance(Account::Earnings(grace)).await.expect("balance"), 7_200);
    let problems = db.check_ledger().await.expect("ledger");
    assert!(problems.is_empty(), "{problems:?}");
}

crate::both_backends!(a_bad_segment_found_through_a_delivering_attempt_is_blamed_on_its_trainer_and_segments_are_paid);
