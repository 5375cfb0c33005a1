//! Tests of the task gateway and the lease query, on SQLite and PostgreSQL.

use super::Engine;
use crate::db::job_lifecycle::NewJob;
use crate::db::nodes::NodeId;
use crate::db::nodes::NodeKind;
use crate::db::tasks::{Finished, Progress, TaskError, WorkerOffer};
use crate::db::users::UserId;
use crate::db::{Db, DbError, JobId, TaskId};

const NOW: i64 = 1_800_000_000_000;
const LEASE: i64 = 30_000;
/// The coordinator's default limit on one attempt's time.
const MAX_TASK_MS: i64 = 6 * 3_600_000;

/// A valid job spec (the job page reads it back), rendering frames 1 to `tasks`.
fn spec_json(name: &str, tasks: usize) -> String {
    let form = pictor_core::jobs::JobForm::cycles_png(name, &format!("1-{tasks}"), 64, 36, 1);
    serde_json::to_string(&form.validate().expect("valid form")).expect("json")
}

fn job(owner: UserId, name: &str, tier_rank: i64, tasks: usize) -> NewJob {
    NewJob {
        name: name.into(),
        spec_json: spec_json(name, tasks),
        scene_key: format!("scenes/{name}.blend"),
        tier_rank,
        ..NewJob::sample(owner, tasks)
    }
}

fn finished(log: &str) -> Finished<'_> {
    Finished { log, render_ms: Some(1_000) }
}

fn progress(percent: i64) -> Progress<'static> {
    Progress { percent, log_tail: "" }
}

fn offer(node: NodeId) -> WorkerOffer {
    WorkerOffer { node, workloads: "render".into(), engines: "cycles,eevee,workbench".into(), ..WorkerOffer::default() }
}

async fn setup(db: &Db) -> (UserId, NodeId, NodeId) {
    let owner = db.create_user("Ada", NOW).await.expect("user");
    let a = db.create_node(owner, NodeKind::Worker, "a", NOW).await.expect("node");
    let b = db.create_node(owner, NodeKind::Worker, "b", NOW).await.expect("node");
    (owner, a, b)
}

async fn state_of(db: &Db, task: TaskId) -> (String, i64) {
    sqlx::query_as("SELECT state, attempt FROM tasks WHERE id = $1")
        .bind(task)
        .fetch_one(db.reader())
        .await
        .expect("task")
}

async fn job_state(db: &Db, job: JobId) -> String {
    sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1").bind(job).fetch_one(db.reader()).await.expect("job")
}

async fn leases_go_to_the_highest_tier_then_the_oldest_job_each_task_once(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let old = Engine::new(db.clone()).create_job(&job(owner, "old", 1, 2), NOW).await.expect("job");
    let _new = Engine::new(db.clone()).create_job(&job(owner, "new", 1, 1), NOW + 1).await.expect("job");
    let urgent = Engine::new(db.clone()).create_job(&job(owner, "urgent", 2, 1), NOW + 2).await.expect("job");
    let first = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("a task");
    assert_eq!((first.job, first.attempt, first.frames.as_str()), (urgent, 1, "1"));
    let second = db.lease_task(&offer(b), NOW, LEASE).await.expect("lease").expect("a task");
    let third = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("a task");
    assert_eq!((second.job, third.job), (old, old), "then the oldest job, in frame order");
    assert_eq!((second.frames.as_str(), third.frames.as_str()), ("1", "2"));
    assert_eq!(job_state(&db, old).await, "active");
    let attempts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM task_attempts").fetch_one(db.reader()).await.expect("n");
    assert_eq!(attempts, 3, "one attempt row per lease");
}

async fn a_worker_gets_only_jobs_it_can_render(db: Db) {
    let (owner, a, _) = setup(&db).await;
    let picky = NewJob {
        engine: "eevee".into(),
        min_vram_bytes: 8 << 30,
        gpu_model: Some("RTX 4090".into()),
        tags: vec!["studio".into()],
        max_price_micro_per_minute: 500_000,
        ..job(owner, "picky", 1, 1)
    };
    Engine::new(db.clone()).create_job(&picky, NOW).await.expect("job");
    let able = WorkerOffer {
        node: a,
        workloads: "render".into(),
        engines: "cycles,eevee".into(),
        vram_bytes: 24 << 30,
        gpu_models: "NVIDIA GeForce RTX 4090".into(),
        tags: "fast,studio".into(),
        price_micro_per_minute: 400_000,
        // Unboxed, so only its owner's jobs: this one is.
        only_owner: Some(owner),
    };
    for (why, unable) in [
        ("kind of work", WorkerOffer { workloads: String::new(), ..able.clone() }),
        ("another owner's job, unboxed", WorkerOffer { only_owner: Some(owner + 1), ..able.clone() }),
        ("engine", WorkerOffer { engines: "cycles".into(), ..able.clone() }),
        ("vram", WorkerOffer { vram_bytes: 4 << 30, ..able.clone() }),
        ("gpu model", WorkerOffer { gpu_models: "RTX 3060".into(), ..able.clone() }),
        ("tags", WorkerOffer { tags: "fast".into(), ..able.clone() }),
        ("price", WorkerOffer { price_micro_per_minute: 600_000, ..able.clone() }),
    ] {
        assert_eq!(db.lease_task(&unable, NOW, LEASE).await.expect("lease"), None, "{why}");
    }
    assert!(db.lease_task(&able, NOW, LEASE).await.expect("lease").is_some());
}

async fn a_taken_over_lease_cannot_overwrite_the_new_result(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let job_id = Engine::new(db.clone()).create_job(&job(owner, "one", 1, 1), NOW).await.expect("job");
    let stale = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    assert_eq!(
        Engine::new(db.clone()).requeue_expired(NOW + LEASE + 1, MAX_TASK_MS).await.expect("sweep"),
        vec![stale.task]
    );
    let fresh = db.lease_task(&offer(b), NOW + LEASE + 2, LEASE).await.expect("lease").expect("task");
    assert_eq!((fresh.task, fresh.attempt), (stale.task, 2));
    let late =
        Engine::new(db.clone()).finish_task(stale.held_by(a), &finished("stale log"), None, NOW + LEASE + 3).await;
    assert!(matches!(late, Err(TaskError::LeaseLost)), "{late:?}");
    assert!(matches!(
        db.extend_lease(stale.held_by(a), &progress(50), NOW + 2 * LEASE).await,
        Err(TaskError::LeaseLost)
    ));
    Engine::new(db.clone())
        .finish_task(fresh.held_by(b), &finished("fresh log"), None, NOW + LEASE + 4)
        .await
        .expect("finish");
    let logs: Vec<String> = sqlx::query_scalar("SELECT log FROM task_attempts WHERE outcome = 'uploaded'")
        .fetch_all(db.reader())
        .await
        .expect("rows");
    assert_eq!(logs, vec!["fresh log"], "only the new owner's attempt was recorded as uploaded");
    assert_eq!(job_state(&db, job_id).await, "completed", "the last task finished the job");
    let outcomes: Vec<String> = sqlx::query_scalar("SELECT outcome FROM task_attempts ORDER BY attempt")
        .fetch_all(db.reader())
        .await
        .expect("rows");
    assert_eq!(outcomes, vec!["expired", "uploaded"]);
}

async fn expired_leases_requeue_until_attempts_run_out_then_the_job_fails(db: Db) {
    let (owner, a, _) = setup(&db).await;
    let job_id = Engine::new(db.clone()).create_job(&job(owner, "doomed", 1, 1), NOW).await.expect("job");
    let mut now = NOW;
    for attempt in 1..=3 {
        let lease = db.lease_task(&offer(a), now, LEASE).await.expect("lease").expect("task");
        assert_eq!(lease.attempt, attempt);
        // A heartbeat keeps it alive once; then it lapses.
        db.extend_lease(lease.held_by(a), &progress(10), now + 2 * LEASE).await.expect("extend");
        assert!(
            Engine::new(db.clone()).requeue_expired(now + LEASE + 1, MAX_TASK_MS).await.expect("sweep").is_empty(),
            "extended"
        );
        now += 2 * LEASE + 1;
        assert_eq!(Engine::new(db.clone()).requeue_expired(now, MAX_TASK_MS).await.expect("sweep"), vec![lease.task]);
    }
    let task: TaskId = sqlx::query_scalar("SELECT id FROM tasks").fetch_one(db.reader()).await.expect("task");
    assert_eq!(state_of(&db, task).await, ("failed".to_string(), 3));
    assert_eq!(job_state(&db, job_id).await, "failed");
    assert_eq!(db.lease_task(&offer(a), now, LEASE).await.expect("lease"), None);
}

async fn three_failures_blocklist_a_worker_for_that_job_only(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let job_id = Engine::new(db.clone())
        .create_job(&NewJob { max_attempts: 10, ..job(owner, "flaky", 1, 1) }, NOW)
        .await
        .expect("job");
    let other = Engine::new(db.clone()).create_job(&job(owner, "other", 0, 1), NOW).await.expect("job");
    for _ in 0..3 {
        let lease = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
        assert_eq!(lease.job, job_id);
        Engine::new(db.clone()).fail_task(lease.held_by(a), "Blender crashed", "", NOW).await.expect("fail");
    }
    let next = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    assert_eq!(next.job, other, "blocklisted for the flaky job, not for others");
    let rescue = db.lease_task(&offer(b), NOW, LEASE).await.expect("lease").expect("task");
    assert_eq!((rescue.job, rescue.attempt), (job_id, 4), "another worker takes it over");
    let wrong_node = Engine::new(db.clone()).fail_task(rescue.held_by(a), "not mine", "", NOW).await;
    assert!(matches!(wrong_node, Err(TaskError::LeaseLost)), "only the lease holder may report");
}

async fn cancelling_stops_leases_and_hands_out_nothing_more(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let job_id = Engine::new(db.clone()).create_job(&job(owner, "cancel me", 1, 3), NOW).await.expect("job");
    let lease = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    let stranger = db.create_user("Mallory", NOW).await.expect("user");
    assert!(matches!(Engine::new(db.clone()).cancel_job(stranger, job_id, NOW).await, Err(DbError::NotFound(_))));
    Engine::new(db.clone()).cancel_job(owner, job_id, NOW).await.expect("cancel");
    assert_eq!(job_state(&db, job_id).await, "cancelled");
    assert!(matches!(db.extend_lease(lease.held_by(a), &progress(50), NOW + LEASE).await, Err(TaskError::LeaseLost)));
    assert_eq!(db.lease_task(&offer(b), NOW, LEASE).await.expect("lease"), None);
}

async fn failed_and_finished_tasks_can_be_rendered_again_with_fresh_attempts(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let job_id = Engine::new(db.clone()).create_job(&job(owner, "again", 1, 2), NOW).await.expect("job");
    let first = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    Engine::new(db.clone()).finish_task(first.held_by(a), &finished(""), None, NOW).await.expect("finish");
    for _ in 0..3 {
        let lease = db.lease_task(&offer(b), NOW, LEASE).await.expect("lease").expect("task");
        Engine::new(db.clone()).fail_task(lease.held_by(b), "crash", "", NOW).await.expect("fail");
    }
    assert_eq!(job_state(&db, job_id).await, "failed");
    let failed: TaskId =
        sqlx::query_scalar("SELECT id FROM tasks WHERE state = 'failed'").fetch_one(db.reader()).await.expect("id");
    let stranger = db.create_user("Mallory", NOW).await.expect("user");
    assert!(matches!(
        Engine::new(db.clone()).rerender_tasks(stranger, job_id, &[failed], NOW).await,
        Err(DbError::NotFound(_))
    ));
    assert_eq!(
        Engine::new(db.clone())
            .rerender_tasks(owner, job_id, &[failed, first.task, TaskId(999)], NOW)
            .await
            .expect("again")
            .len(),
        2
    );
    assert_eq!(job_state(&db, job_id).await, "active");
    let retried = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    assert_eq!((retried.task, retried.attempt), (first.task, 2), "re-render of the finished frame, in task order");
    let again = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    assert_eq!((again.task, again.attempt), (failed, 4), "attempt numbers keep rising: old uploads stay stale");
    Engine::new(db.clone()).fail_task(again.held_by(a), "crash", "", NOW).await.expect("fail");
    assert_eq!(state_of(&db, failed).await.0, "queued", "a fresh budget of attempts");
}

async fn concurrent_workers_never_share_a_task(db: Db) {
    let owner = db.create_user("Ada", NOW).await.expect("user");
    Engine::new(db.clone()).create_job(&job(owner, "many", 1, 40), NOW).await.expect("job");
    let mut nodes = Vec::new();
    for index in 0..8 {
        nodes.push(db.create_node(owner, NodeKind::Worker, &format!("w{index}"), NOW).await.expect("node"));
    }
    let mut handles = Vec::new();
    for node in nodes {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(lease) = db.lease_task(&offer(node), NOW, LEASE).await.expect("lease") {
                mine.push(lease.task);
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.expect("joined"));
    }
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!((count, all.len()), (40, 40), "every task leased exactly once");
}

async fn each_attempt_keeps_its_error_and_log_for_the_owner_only(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let job_id = Engine::new(db.clone()).create_job(&job(owner, "logged", 1, 1), NOW).await.expect("job");
    let first = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    let live = Progress { percent: 40, log_tail: "Fra:1 | Sample 3/8" };
    db.extend_lease(first.held_by(a), &live, NOW + LEASE).await.expect("extend");
    let running = db.task_attempts(owner, job_id, first.task).await.expect("read").expect("owned");
    assert_eq!((running[0].outcome.as_str(), running[0].log.as_str()), ("running", "Fra:1 | Sample 3/8"));
    Engine::new(db.clone()).requeue_expired(NOW + 2 * LEASE + 1, MAX_TASK_MS).await.expect("sweep");
    let second = db.lease_task(&offer(b), NOW + 3 * LEASE, LEASE).await.expect("lease").expect("task");
    Engine::new(db.clone())
        .fail_task(second.held_by(b), "Error: out of memory", "Fra:1 | Sample 1/8\nError", NOW + 3 * LEASE)
        .await
        .expect("fail");
    let third = db.lease_task(&offer(a), NOW + 4 * LEASE, LEASE).await.expect("lease").expect("task");
    Engine::new(db.clone())
        .finish_task(third.held_by(a), &finished("Fra:1 | Finished"), None, NOW + 4 * LEASE + 2_000)
        .await
        .expect("done");

    let attempts = db.task_attempts(owner, job_id, first.task).await.expect("read").expect("owned");
    let seen: Vec<(i64, &str, Option<&str>, &str)> =
        attempts.iter().map(|a| (a.attempt, a.outcome.as_str(), a.error.as_deref(), a.log.as_str())).collect();
    assert_eq!(
        seen,
        vec![
            (1, "expired", Some("the lease expired"), "Fra:1 | Sample 3/8"),
            (2, "failed", Some("Error: out of memory"), "Fra:1 | Sample 1/8\nError"),
            (3, "uploaded", None, "Fra:1 | Finished"),
        ]
    );
    assert_eq!((attempts[0].node_name.as_str(), attempts[1].node_name.as_str()), ("a", "b"));
    let details = db.job_of(owner, job_id).await.expect("read").expect("job");
    assert_eq!(details.avg_task_ms, Some(2_000), "only finished attempts count toward the ETA");
    let stranger = db.create_user("Mallory", NOW).await.expect("user");
    assert_eq!(db.task_attempts(stranger, job_id, first.task).await.expect("read"), None);
}

/// The engine publishes what a transition changed once it committed, and nothing when it did not happen.
async fn the_engine_announces_committed_transitions_only(db: Db) {
    use std::time::Duration;

    use pictor_core::events::Event;

    use crate::engine::changes::Publisher;
    use crate::events::EventBus;

    let bus = EventBus::new(64);
    let mut events = bus.subscribe();
    let publisher = Publisher::new(db.clone(), bus);
    let engine = Engine::publishing(db.clone(), publisher.clone());
    let (owner, a, b) = setup(&db).await;
    let work = publisher.work_available().notified();
    engine.create_job(&job(owner, "cube", 1, 2), NOW).await.expect("job");
    tokio::time::timeout(Duration::from_secs(1), work).await.expect("a new job wakes waiting workers");
    let lease = engine.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("a task");
    let Ok(Event::Task(live)) = events.try_recv() else { panic!("the lease is announced") };
    assert_eq!((live.task_id, live.state), (lease.task.0, pictor_core::states::TaskState::Leased));

    // A report for a lease the node does not hold changes nothing and announces nothing.
    let stolen = lease.held_by(b);
    assert!(matches!(engine.fail_task(stolen, "no", "", NOW).await, Err(TaskError::LeaseLost)));
    assert!(events.try_recv().is_err(), "nothing was announced");

    let work = publisher.work_available().notified();
    engine.fail_task(lease.held_by(a), "out of memory", "", NOW).await.expect("fail");
    tokio::time::timeout(Duration::from_secs(1), work).await.expect("the requeued task wakes waiting workers");
    let Ok(Event::Task(live)) = events.try_recv() else { panic!("the failure is announced") };
    assert_eq!((live.task_id, live.state), (lease.task.0, pictor_core::states::TaskState::Queued));
}

/// An agent that keeps reporting progress cannot hold a task past its job's time limit: the coordinator takes the
/// lease back (after a grace for the agent's own report) and the task goes to another try.
async fn a_lease_held_past_the_jobs_time_limit_is_taken_back(db: Db) {
    let (owner, a, b) = setup(&db).await;
    let limit = 10 * 60_000;
    let timed = NewJob { max_task_ms: Some(limit), ..job(owner, "timed", 1, 1) };
    Engine::new(db.clone()).create_job(&timed, NOW).await.expect("job");
    let lease = db.lease_task(&offer(a), NOW, LEASE).await.expect("lease").expect("task");
    let mut now = NOW;
    let limit_passed = NOW + limit + super::OVER_TIME_GRACE_MS;
    while now <= limit_passed + LEASE {
        now += LEASE / 2;
        db.extend_lease(lease.held_by(a), &progress(50), now + LEASE).await.expect("still reporting");
        let swept = Engine::new(db.clone()).requeue_expired(now, MAX_TASK_MS).await.expect("sweep");
        assert!(swept.is_empty() || now > limit_passed, "taken back only past the limit, at {}", now - NOW);
        if !swept.is_empty() {
            assert_eq!(swept, vec![lease.task]);
            break;
        }
    }
    assert_eq!(state_of(&db, lease.task).await, ("queued".to_string(), 1));
    let error: Option<String> = sqlx::query_scalar("SELECT error FROM task_attempts WHERE task_id = $1")
        .bind(lease.task)
        .fetch_one(db.reader())
        .await
        .expect("attempt");
    assert_eq!(error.as_deref(), Some("the attempt ran past its time limit"));
    let again = db.lease_task(&offer(b), now, LEASE).await.expect("lease").expect("another try");
    assert_eq!((again.task, again.attempt), (lease.task, 2));
    // The coordinator's default applies to jobs without a limit of their own.
    Engine::new(db.clone()).create_job(&job(owner, "default", 1, 1), now).await.expect("job");
    let plain = db.lease_task(&offer(a), now, LEASE).await.expect("lease").expect("task");
    db.extend_lease(plain.held_by(a), &progress(5), now + 10 * LEASE).await.expect("extend");
    db.extend_lease(again.held_by(b), &progress(5), now + 10 * LEASE).await.expect("extend");
    let past_default = now + 1_000 + super::OVER_TIME_GRACE_MS + 1;
    assert_eq!(Engine::new(db.clone()).requeue_expired(past_default, 1_000).await.expect("sweep"), vec![plain.task]);
}

crate::both_backends!(
    a_lease_held_past_the_jobs_time_limit_is_taken_back,
    the_engine_announces_committed_transitions_only,
    each_attempt_keeps_its_error_and_log_for_the_owner_only,
    leases_go_to_the_highest_tier_then_the_oldest_job_each_task_once,
    a_worker_gets_only_jobs_it_can_render,
    a_taken_over_lease_cannot_overwrite_the_new_result,
    expired_leases_requeue_until_attempts_run_out_then_the_job_fails,
    three_failures_blocklist_a_worker_for_that_job_only,
    cancelling_stops_leases_and_hands_out_nothing_more,
    failed_and_finished_tasks_can_be_rendered_again_with_fresh_attempts,
    concurrent_workers_never_share_a_task,
);
