//! Tests of checks and verdicts on SQLite and PostgreSQL: leasing by quorum, passing, rejecting (with the worker's
//! unchecked results), unsure rounds, audits, expiry, and cancellation.

use pictor_core::verification::Verdict;

use super::verdicts::Settlement;
use super::Engine;
use crate::db::job_lifecycle::NewJob;
use crate::db::nodes::{Capabilities, NodeId, NodeKind};
use crate::db::tasks::{Finished, TaskError, WorkerOffer};
use crate::db::users::UserId;
use crate::db::verdicts::VerdictInput;
use crate::db::verifications::{LeasedVerification, NewVerification, VerificationId};
use crate::db::{Db, JobId, TaskId};

const NOW: i64 = 1_800_000_000_000;
const LEASE: i64 = 60_000;
const ENGINES: &str = "cycles,eevee,workbench";

struct World {
    db: Db,
    creator: UserId,
    worker: NodeId,
    checkers: Vec<NodeId>,
    checker_owner: UserId,
}

/// The Blender every node of these tests runs unless a test says otherwise.
const BLENDER: &str = "4.2.3";

fn capabilities(blender_version: &str) -> Capabilities {
    Capabilities {
        engines: ENGINES.into(),
        workloads: "render".into(),
        blender_version: blender_version.into(),
        ..Capabilities::default()
    }
}

async fn node(db: &Db, owner: UserId, kind: NodeKind, name: &str) -> NodeId {
    let id = db.create_node(owner, kind, name, NOW).await.expect("node");
    db.set_node_capabilities(id, &capabilities(BLENDER)).await.expect("capabilities");
    db.register_node(id, "test", "{}", None, 5_000, NOW).await.expect("online");
    id
}

async fn world(db: Db, checkers: usize) -> World {
    let creator = db.create_user("Ada", NOW).await.expect("user");
    let lender = db.create_user("Grace", NOW).await.expect("user");
    let checker_owner = db.create_user("Linus", NOW).await.expect("user");
    let worker = node(&db, lender, NodeKind::Worker, "w").await;
    let mut ids = Vec::new();
    for index in 0..checkers {
        ids.push(node(&db, checker_owner, NodeKind::Checker, &format!("c{index}")).await);
    }
    World { db, creator, worker, checkers: ids, checker_owner }
}

async fn job_with(world: &World, tasks: usize) -> JobId {
    let job = NewJob { name: "checked".into(), ..NewJob::sample(world.creator, tasks) };
    Engine::new(world.db.clone()).create_job(&job, NOW).await.expect("job")
}

fn offer(node: NodeId) -> WorkerOffer {
    WorkerOffer { node, workloads: "render".into(), engines: ENGINES.into(), ..WorkerOffer::default() }
}

/// The worker renders the next task; `quorum` asks for a check of it by any Blender (`None`: accepted unchecked).
async fn render(world: &World, quorum: Option<i64>) -> TaskId {
    let check = quorum.map(|quorum| NewVerification {
        crops_json: "[]".into(),
        quorum,
        blender_version: String::new(),
        ..Default::default()
    });
    render_checked(world, check).await
}

async fn render_checked(world: &World, check: Option<NewVerification>) -> TaskId {
    let lease = world.db.lease_task(&offer(world.worker), NOW, LEASE).await.expect("lease").expect("a task");
    let frame: i64 = lease.frames.parse().expect("one frame");
    let key = format!("outputs/{}/{}/{}/{frame}.png", lease.job, lease.task, lease.attempt);
    world.db.record_output(lease.held_by(world.worker), frame, &key, "00", 10, NOW).await.expect("output");
    let finished = Finished { log: "", render_ms: Some(2_000) };
    Engine::new(world.db.clone())
        .finish_task(lease.held_by(world.worker), &finished, check.as_ref(), NOW)
        .await
        .expect("done");
    lease.task
}

async fn lease_check(world: &World, checker: NodeId) -> Option<LeasedVerification> {
    world.db.lease_verification(checker, world.checker_owner, ENGINES, false, NOW, LEASE).await.expect("lease")
}

fn said(verdict: Verdict) -> VerdictInput {
    let min_ssim = match verdict {
        Verdict::Pass => 0.999,
        Verdict::Fail => 0.2,
        Verdict::Unsure => 0.93,
    };
    VerdictInput { verdict, min_ssim: Some(min_ssim), measurements_json: "[]".into(), render_ms: 150 }
}

async fn give(world: &World, verification: VerificationId, checker: NodeId, verdict: Verdict) -> Settlement {
    Engine::new(world.db.clone())
        .record_verdict(verification, checker, &said(verdict), "[\"round two\"]", NOW)
        .await
        .expect("verdict")
}

async fn task_state(db: &Db, task: TaskId) -> String {
    sqlx::query_scalar("SELECT state FROM tasks WHERE id = $1").bind(task).fetch_one(db.reader()).await.expect("task")
}

async fn job_state(db: &Db, job: JobId) -> String {
    sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1").bind(job).fetch_one(db.reader()).await.expect("job")
}

async fn streak(db: &Db, node: NodeId) -> i64 {
    db.worker_trust(node).await.expect("trust").valid_streak
}

async fn three_checkers_decide_by_majority_and_the_outvoted_one_loses_standing(db: Db) {
    let world = world(db, 4).await;
    let job = job_with(&world, 1).await;
    assert_eq!(
        world
            .db
            .eligible_checkers(world.db.worker_trust(world.worker).await.expect("t").owner, "cycles", "", NOW)
            .await
            .expect("n"),
        4
    );
    // A checker busy enough to miss heartbeats still counts; one silent for over ten minutes does not.
    let owner = world.db.worker_trust(world.worker).await.expect("t").owner;
    sqlx::query("UPDATE nodes SET online = 0 WHERE id = $1")
        .bind(world.checkers[3])
        .execute(world.db.writer())
        .await
        .expect("offline");
    assert_eq!(world.db.eligible_checkers(owner, "cycles", "", NOW + 60_000).await.expect("n"), 4);
    assert_eq!(world.db.eligible_checkers(owner, "cycles", "", NOW + 11 * 60_000).await.expect("n"), 0);
    let task = render(&world, Some(3)).await;
    assert_eq!(task_state(&world.db, task).await, "verifying");
    assert_eq!(job_state(&world.db, job).await, "active", "a result waiting for checkers does not finish the job");

    // A checker whose Blender runs unboxed takes checks of its owner's own jobs only: this job is another's.
    let unboxed = world.db.lease_verification(world.checkers[0], world.checker_owner, ENGINES, true, NOW, LEASE).await;
    assert_eq!(unboxed.expect("lease"), None);
    let mut leased = Vec::new();
    for checker in &world.checkers[..3] {
        leased.push(lease_check(&world, *checker).await.expect("a check"));
    }
    assert!(leased.iter().all(|check| check.id == leased[0].id && check.task == task));
    assert_eq!(lease_check(&world, world.checkers[3]).await, None, "the quorum is full");
    assert_eq!(lease_check(&world, world.checkers[0]).await, None, "nobody checks the same result twice");

    let id = leased[0].id;
    assert_eq!(give(&world, id, world.checkers[0], Verdict::Pass).await, Settlement::Pending);
    assert_eq!(give(&world, id, world.checkers[1], Verdict::Fail).await, Settlement::Pending);
    assert_eq!(give(&world, id, world.checkers[2], Verdict::Pass).await, Settlement::Passed { task, job });
    assert_eq!(task_state(&world.db, task).await, "verified");
    assert_eq!(job_state(&world.db, job).await, "completed");
    assert_eq!(streak(&world.db, world.worker).await, 1);
    let (_, outvoted) = world.db.checker_counts(world.checkers[1]).await.expect("read").expect("checker");
    assert_eq!((outvoted.verdicts, outvoted.agreed, outvoted.disagreed), (1, 0, 1));
    let (_, agreed) = world.db.checker_counts(world.checkers[0]).await.expect("read").expect("checker");
    assert_eq!((agreed.agreed, agreed.disagreed, agreed.suspended), (1, 0, false));
    // A late or repeated verdict changes nothing.
    let again =
        Engine::new(world.db.clone()).record_verdict(id, world.checkers[0], &said(Verdict::Fail), "[]", NOW).await;
    assert!(matches!(again, Err(TaskError::LeaseLost)), "{again:?}");
}

async fn a_rejected_result_is_rendered_again_with_the_workers_unchecked_ones(db: Db) {
    let world = world(db, 1).await;
    let job = job_with(&world, 4).await;
    let unchecked = render(&world, None).await;
    assert_eq!(task_state(&world.db, unchecked).await, "uploaded");
    let bad = render(&world, Some(1)).await;
    let check = lease_check(&world, world.checkers[0]).await.expect("a check");
    let settlement = give(&world, check.id, world.checkers[0], Verdict::Fail).await;
    assert_eq!(
        settlement,
        Settlement::Rejected { task: bad, job, worker: world.worker, requeued: vec![bad, unchecked] }
    );
    assert_eq!(task_state(&world.db, bad).await, "queued");
    assert_eq!(task_state(&world.db, unchecked).await, "queued");
    let outcomes: Vec<(TaskId, String, i64)> =
        sqlx::query_as("SELECT task_id, outcome, checked FROM task_attempts ORDER BY task_id")
            .fetch_all(world.db.reader())
            .await
            .expect("attempts");
    assert_eq!(outcomes, vec![(unchecked, "rejected".into(), 0), (bad, "rejected".into(), 1)]);
    let trust = world.db.worker_trust(world.worker).await.expect("trust");
    assert_eq!((trust.valid_streak, trust.flagged), (0, false));

    // A second rejection on the job blocklists the worker for it; another worker takes the tasks.
    let again = render(&world, Some(1)).await;
    let check = lease_check(&world, world.checkers[0]).await.expect("a check");
    assert!(matches!(give(&world, check.id, world.checkers[0], Verdict::Fail).await, Settlement::Rejected { .. }));
    assert_eq!(task_state(&world.db, again).await, "queued");
    assert_eq!(world.db.lease_task(&offer(world.worker), NOW, LEASE).await.expect("lease"), None, "blocklisted");
    let lender = world.db.worker_trust(world.worker).await.expect("trust").owner;
    let honest = node(&world.db, lender, NodeKind::Worker, "honest").await;
    let retry = world.db.lease_task(&offer(honest), NOW, LEASE).await.expect("lease").expect("a task");
    assert!([bad, unchecked].contains(&retry.task), "the rejected work goes to another worker");
    assert!(retry.attempt >= 2);
}

async fn a_checker_never_checks_the_workers_of_its_own_owner(db: Db) {
    let world = world(db, 0).await;
    let lender = world.db.worker_trust(world.worker).await.expect("trust").owner;
    let own = node(&world.db, lender, NodeKind::Checker, "own").await;
    assert_eq!(world.db.eligible_checkers(lender, "cycles", "", NOW).await.expect("count"), 0);
    job_with(&world, 1).await;
    render(&world, Some(1)).await;
    let leased = world.db.lease_verification(own, lender, ENGINES, false, NOW, LEASE).await.expect("lease");
    assert_eq!(leased, None);
}

async fn an_unsure_round_is_followed_by_a_larger_one_and_unsure_again_rejects(db: Db) {
    let world = world(db, 1).await;
    job_with(&world, 1).await;
    let task = render(&world, Some(1)).await;
    let first = lease_check(&world, world.checkers[0]).await.expect("round one");
    assert_eq!(give(&world, first.id, world.checkers[0], Verdict::Unsure).await, Settlement::NextRound { task });
    assert_eq!(task_state(&world.db, task).await, "verifying");
    // The same checker may look at the second round: it is a new check with other crops.
    let second = lease_check(&world, world.checkers[0]).await.expect("round two");
    assert_ne!(second.id, first.id);
    assert_eq!(second.crops_json, "[\"round two\"]");
    assert!(matches!(give(&world, second.id, world.checkers[0], Verdict::Unsure).await, Settlement::Rejected { .. }));
    assert_eq!(task_state(&world.db, task).await, "queued");
}

async fn an_audit_goes_to_its_checker_alone_and_calling_it_good_suspends(db: Db) {
    let world = world(db, 2).await;
    job_with(&world, 1).await;
    let task = render(&world, Some(1)).await;
    let check = lease_check(&world, world.checkers[0]).await.expect("a check");
    give(&world, check.id, world.checkers[0], Verdict::Pass).await;
    let source = world.db.audit_candidate(world.checker_owner).await.expect("read").expect("a verified result");
    assert_eq!(source.task, task);
    let lender = world.db.worker_trust(world.worker).await.expect("trust").owner;
    assert_eq!(world.db.audit_candidate(lender).await.expect("read"), None, "never the checker owner's own work");

    let liar = world.checkers[1];
    world.db.create_audit(&source, "[]", liar, "audits/x.png", NOW).await.expect("audit");
    assert!(world.db.open_audit_exists(liar).await.expect("read"));
    assert_eq!(lease_check(&world, world.checkers[0]).await, None, "an audit is for its checker only");
    let audit = lease_check(&world, liar).await.expect("the audit");
    let output = world.db.verification_output(audit.id, liar, 1).await.expect("read").expect("output");
    assert_eq!(output.object_key, "audits/x.png", "the checker is shown the tampered copy");
    assert_eq!(give(&world, audit.id, liar, Verdict::Pass).await, Settlement::Audit { checker: liar, suspended: true });
    assert!(world.db.checker_suspended(liar).await.expect("read"));
    assert_eq!(task_state(&world.db, task).await, "verified", "an audit never touches the task");
}

async fn an_expired_verdict_lease_frees_the_slot_and_cancel_closes_checks(db: Db) {
    let world = world(db, 2).await;
    let job = job_with(&world, 2).await;
    let task = render(&world, Some(1)).await;
    let slow = lease_check(&world, world.checkers[0]).await.expect("a check");
    assert_eq!(lease_check(&world, world.checkers[1]).await, None);
    assert_eq!(world.db.expire_verdict_leases(NOW + LEASE + 1).await.expect("sweep"), 1);
    let taken = lease_check(&world, world.checkers[1]).await.expect("the freed slot");
    assert_eq!(taken.id, slow.id);
    let late =
        Engine::new(world.db.clone()).record_verdict(slow.id, world.checkers[0], &said(Verdict::Pass), "[]", NOW).await;
    assert!(matches!(late, Err(TaskError::LeaseLost)));

    Engine::new(world.db.clone()).cancel_job(world.creator, job, NOW).await.expect("cancel");
    assert_eq!(task_state(&world.db, task).await, "uploaded", "the result is kept, unchecked");
    assert_eq!(give(&world, taken.id, world.checkers[1], Verdict::Pass).await, Settlement::Closed);
}

async fn a_check_no_checker_can_take_is_accepted_after_a_while(db: Db) {
    let world = world(db, 1).await;
    let job = job_with(&world, 1).await;
    let task = render(&world, Some(1)).await;
    let wait = super::verdicts::UNCHECKED_AFTER_MS;
    // Its checker is still around (heard from just now): the check waits.
    world.db.record_heartbeat(world.checkers[0], NOW + wait).await.expect("heartbeat");
    assert_eq!(
        Engine::new(world.db.clone()).accept_when_no_checker_remains(NOW + wait + 1, wait).await.expect("sweep"),
        Vec::<TaskId>::new()
    );
    // The job page says a result waits, for how long, and that its checker is online.
    let standing = world.db.check_standing(job, NOW + wait + 1).await.expect("standing");
    assert_eq!((standing.waiting, standing.unchecked), (1, 0), "{standing:?}");
    assert!(standing.waiting_ms.is_some_and(|ms| ms >= wait - LEASE), "{standing:?}");
    // Gone for good: accepted as it is, and the job completes.
    let later = NOW + wait + crate::db::verifications::CHECKER_RECENT_MS + 1_000;
    let standing = world.db.check_standing(job, later).await.expect("standing");
    assert_eq!((standing.waiting, standing.checkers_online), (1, 0), "no checker online any more: {standing:?}");
    assert_eq!(
        Engine::new(world.db.clone()).accept_when_no_checker_remains(later, wait).await.expect("sweep"),
        vec![task]
    );
    assert_eq!(task_state(&world.db, task).await, "uploaded");
    assert_eq!(job_state(&world.db, job).await, "completed");
    let standing = world.db.check_standing(job, later).await.expect("standing");
    assert_eq!((standing.waiting, standing.waiting_ms, standing.unchecked), (0, None, 1), "{standing:?}");
    assert_eq!(
        Engine::new(world.db.clone()).accept_when_no_checker_remains(later, wait).await.expect("again"),
        Vec::<TaskId>::new(),
        "once"
    );
}

async fn a_checker_that_signed_off_stops_counting_until_it_is_back(db: Db) {
    let world = world(db, 2).await;
    let owner = world.db.worker_trust(world.worker).await.expect("t").owner;
    assert!(world.db.mark_node_offline(world.checkers[0], NOW + 1_000).await.expect("sign off"));
    assert_eq!(world.db.eligible_checkers(owner, "cycles", "", NOW + 2_000).await.expect("n"), 1, "stopped on purpose");
    // Its results are checked by the one left; with both gone, a fresh result is not held for checks.
    assert!(world.db.mark_node_offline(world.checkers[1], NOW + 1_000).await.expect("sign off"));
    assert_eq!(world.db.eligible_checkers(owner, "cycles", "", NOW + 2_000).await.expect("n"), 0);
    assert!(world.db.record_heartbeat(world.checkers[0], NOW + 3_000).await.expect("back"));
    world.db.register_node(world.checkers[1], "test", "{}", None, 5_000, NOW + 3_000).await.expect("registered");
    assert_eq!(world.db.eligible_checkers(owner, "cycles", "", NOW + 4_000).await.expect("n"), 2, "both back");

    // A checker that signs off mid-check gives its check back at once, not when its lease runs out.
    job_with(&world, 1).await;
    render(&world, Some(1)).await;
    let leaving = lease_check(&world, world.checkers[0]).await.expect("a check");
    assert_eq!(lease_check(&world, world.checkers[1]).await, None, "quorum of one: taken");
    assert_eq!(world.db.release_verdict_leases_of(world.checkers[0]).await.expect("release"), 1);
    assert_eq!(lease_check(&world, world.checkers[1]).await.expect("given back").id, leaving.id);
    assert_eq!(world.db.release_verdict_leases_of(world.checkers[0]).await.expect("again"), 0);
}

async fn a_check_goes_to_checkers_running_the_blender_that_rendered_it(db: Db) {
    let world = world(db, 2).await;
    let (same, other) = (world.checkers[0], world.checkers[1]);
    world.db.set_node_capabilities(other, &capabilities("3.6.0")).await.expect("older Blender");
    let owner = world.db.worker_trust(world.worker).await.expect("t").owner;
    assert_eq!(world.db.eligible_checkers(owner, "cycles", BLENDER, NOW).await.expect("n"), 1);
    assert_eq!(world.db.eligible_checkers(owner, "cycles", "", NOW).await.expect("n"), 2, "any Blender");

    job_with(&world, 2).await;
    let check =
        NewVerification { crops_json: "[]".into(), quorum: 1, blender_version: BLENDER.into(), ..Default::default() };
    let task = render_checked(&world, Some(check)).await;
    assert_eq!(world.db.attempt_blender_version(task, 1).await.expect("version"), BLENDER, "the attempt says");
    assert_eq!(lease_check(&world, other).await, None, "another Blender may not reproduce the frame");
    let leased = lease_check(&world, same).await.expect("the same Blender takes it");
    // Unsure: the second round asks for the same Blender.
    assert!(matches!(give(&world, leased.id, same, Verdict::Unsure).await, Settlement::NextRound { .. }));
    assert_eq!(lease_check(&world, other).await, None, "round two keeps the version");

    // The checker with that Blender leaves for good: after the wait, the check is opened to any version rather
    // than accepted unchecked.
    let second = lease_check(&world, same).await.expect("round two");
    world.db.release_verdict_leases_of(same).await.expect("release");
    assert!(world.db.mark_node_offline(same, NOW + 1_000).await.expect("sign off"));
    let wait = 5_000;
    assert_eq!(
        Engine::new(world.db.clone()).accept_when_no_checker_remains(NOW + wait + 1, wait).await.expect("sweep"),
        Vec::<TaskId>::new()
    );
    assert_eq!(task_state(&world.db, task).await, "verifying", "still to be checked");
    assert_eq!(lease_check(&world, other).await.expect("any Blender now").id, second.id);
}

crate::both_backends!(
    a_check_goes_to_checkers_running_the_blender_that_rendered_it,
    a_checker_that_signed_off_stops_counting_until_it_is_back,
    a_check_no_checker_can_take_is_accepted_after_a_while,
    three_checkers_decide_by_majority_and_the_outvoted_one_loses_standing,
    a_rejected_result_is_rendered_again_with_the_workers_unchecked_ones,
    a_checker_never_checks_the_workers_of_its_own_owner,
    an_unsure_round_is_followed_by_a_larger_one_and_unsure_again_rejects,
    an_audit_goes_to_its_checker_alone_and_calling_it_good_suspends,
    an_expired_verdict_lease_frees_the_slot_and_cancel_closes_checks,
);
