//! Verification with real agents and real Blender: an honest worker's frames pass the checkers; a cheating worker
//! (a test-only agent flag) is caught, its frames rendered again by an honest worker; a lying checker in the
//! minority is outvoted and loses standing.

use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use serde_json::{json, Value};

use crate::agent_process::Agent;
use crate::helpers::{spawn_app_with, TestApp};
use crate::render_blender::{sample_scene, start_agent, submit, wait_for_job};

/// A coordinator where checks are never swapped for audits (those are tested on their own).
async fn app_without_audits(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.heartbeat_interval_ms = 500;
        config.verification.audit_rate = 0.0;
    })
    .await
}

/// A checker of `cookie`'s account, started with its own work directory and `extra` flags.
pub async fn start_checker(
    app: &TestApp,
    cookie: &str,
    name: &str,
    work: &std::path::Path,
    extra: &[&str],
) -> (i64, Agent) {
    let created = app.post_json("/api/v1/checkers", &json!({ "name": name }), Some(cookie)).await;
    assert_eq!(created.status(), 201);
    let issued: Value = created.json().await.expect("json");
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).expect("work dir");
    let config =
        format!("{}work_dir = {:?}\n", issued["config_toml"].as_str().expect("config"), dir.display().to_string());
    let mut flags = vec!["--no-benchmark"];
    flags.extend_from_slice(extra);
    (issued["node_id"].as_i64().expect("id"), Agent::start_as("checker", &config, &flags))
}

/// Waits until every one of `nodes` is online (checkers must be, to be counted when results come in).
pub async fn wait_online(app: &TestApp, nodes: &[i64], agents: &[&Agent]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut online = 0;
        for node in nodes {
            let status: Option<i64> = sqlx::query_scalar("SELECT online FROM nodes WHERE id = $1")
                .bind(node)
                .fetch_optional(app.db.reader())
                .await
                .expect("node");
            online += usize::from(status == Some(1));
        }
        if online == nodes.len() {
            return;
        }
        let logs: Vec<String> = agents.iter().map(|agent| agent.log()).collect();
        assert!(Instant::now() < deadline, "not online:\n{}", logs.join("\n----\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn attempts_of(app: &TestApp, job: i64) -> Vec<(i64, i64, String)> {
    sqlx::query_as(
        "SELECT a.task_id, a.node_id, a.outcome FROM task_attempts a JOIN tasks t ON t.id = a.task_id
         WHERE t.job_id = $1 ORDER BY a.task_id, a.attempt",
    )
    .bind(job)
    .fetch_all(app.db.reader())
    .await
    .expect("attempts")
}

async fn checker_counts(app: &TestApp, cookie: &str) -> Value {
    app.get_with_cookie("/api/v1/checkers", cookie).await.json().await.expect("json")
}

async fn an_honest_workers_frames_are_re_rendered_in_crops_and_verified(backend: Backend) {
    let app = app_without_audits(backend).await;
    let (_, creator) = app.sign_in_as("Ada").await;
    let (_, verifier) = app.sign_in_as("Linus").await;
    let work = tempfile::tempdir().expect("work");
    let (checker, checker_agent) = start_checker(&app, &verifier, "careful", work.path(), &[]).await;
    let (worker, worker_agent) = start_agent(&app, &creator, "honest", work.path()).await;
    wait_online(&app, &[checker, worker], &[&checker_agent, &worker_agent]).await;

    let id = submit(&app, &creator, sample_scene(work.path()), "1-3", (96, 54), 8).await;
    let done = wait_for_job(&app, &creator, id, &[&worker_agent, &checker_agent], |job| {
        job["summary"]["state"] == "completed"
    })
    .await;
    let states: Vec<&str> =
        done["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["state"].as_str()).collect();
    assert_eq!(states, vec!["verified"; 3], "every frame checked and passed: {done}");
    let outcomes: Vec<String> = attempts_of(&app, id).await.into_iter().map(|(_, _, outcome)| outcome).collect();
    assert_eq!(outcomes, vec!["verified"; 3]);
    let listed = checker_counts(&app, &verifier).await;
    assert_eq!(listed["checkers"][0]["counts"]["verdicts"], 3, "{listed}");
    assert_eq!(listed["checkers"][0]["counts"]["agreed"], 3, "{listed}");
    // Honest re-renders of a crop match the worker's pixels almost exactly.
    let lowest: f64 =
        sqlx::query_scalar("SELECT MIN(min_ssim) FROM verdicts").fetch_one(app.db.reader()).await.expect("ssim");
    assert!(lowest > 0.99, "lowest SSIM of an honest frame {lowest}");
}

async fn a_cheating_worker_is_caught_and_its_frames_rendered_again_by_an_honest_one(backend: Backend) {
    let app = app_without_audits(backend).await;
    let (_, creator) = app.sign_in_as("Ada").await;
    let (_, lender) = app.sign_in_as("Mallory").await;
    let (_, verifier) = app.sign_in_as("Linus").await;
    let work = tempfile::tempdir().expect("work");
    let (checker, checker_agent) = start_checker(&app, &verifier, "careful", work.path(), &[]).await;
    let (cheater, cheater_agent) = {
        let (id, _, config) = crate::agents::create_worker(&app, &lender, "cheater").await;
        let dir = work.path().join("cheater");
        std::fs::create_dir_all(&dir).expect("dir");
        let config = format!("{config}work_dir = {:?}\n", dir.display().to_string());
        (id, Agent::start(&config, &["--no-benchmark", "--cheat", "noise"]))
    };
    wait_online(&app, &[checker, cheater], &[&checker_agent, &cheater_agent]).await;
    let id = submit(&app, &creator, sample_scene(work.path()), "1-4", (96, 54), 8).await;
    // The cheater takes work first; once it has been caught twice on this job it gets no more of it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while attempts_of(&app, id).await.iter().filter(|(_, _, outcome)| outcome == "rejected").count() < 2 {
        assert!(
            Instant::now() < deadline,
            "cheater log:\n{}\nchecker log:\n{}",
            cheater_agent.log(),
            checker_agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (honest, honest_agent) = start_agent(&app, &creator, "honest", work.path()).await;
    let done = wait_for_job(&app, &creator, id, &[&honest_agent, &cheater_agent, &checker_agent], |job| {
        job["summary"]["state"] == "completed"
    })
    .await;

    let states: Vec<&str> =
        done["tasks"].as_array().expect("tasks").iter().filter_map(|t| t["state"].as_str()).collect();
    assert_eq!(states, vec!["verified"; 4], "{done}");
    let attempts = attempts_of(&app, id).await;
    for (task, node, outcome) in &attempts {
        match *node {
            n if n == cheater => assert_eq!(outcome, "rejected", "task {task}: every cheated frame was caught"),
            n if n == honest => assert_eq!(outcome, "verified", "task {task}"),
            other => panic!("unexpected node {other}"),
        }
    }
    let final_nodes: Vec<i64> = sqlx::query_scalar("SELECT node_id FROM tasks WHERE job_id = $1")
        .bind(id)
        .fetch_all(app.db.reader())
        .await
        .expect("tasks");
    assert!(final_nodes.iter().all(|node| *node == honest), "the honest worker rendered every accepted frame");
    let (streak, rejected): (i64, i64) =
        sqlx::query_as("SELECT valid_streak, results_rejected FROM nodes WHERE id = $1")
            .bind(cheater)
            .fetch_one(app.db.reader())
            .await
            .expect("cheater");
    let cheated = attempts.iter().filter(|(_, node, _)| *node == cheater).count() as i64;
    // It may have leased one more task while its second rejection was being decided.
    assert!((2..=3).contains(&cheated), "{attempts:?}");
    assert_eq!((streak, rejected), (0, cheated), "its streak is gone and every rejection counted");
    assert!(cheater_agent.log().contains("cheating on frame"), "the cheat really happened");
}

async fn a_lying_checker_in_the_minority_is_outvoted_and_loses_standing(backend: Backend) {
    let app = app_without_audits(backend).await;
    let (_, creator) = app.sign_in_as("Ada").await;
    let (_, lender) = app.sign_in_as("Mallory").await;
    let work = tempfile::tempdir().expect("work");
    let mut checkers = Vec::new();
    let mut agents = Vec::new();
    for (owner, name, extra) in
        [("Linus", "honest-1", &[][..]), ("Grace", "honest-2", &[][..]), ("Eve", "liar", &["--lie", "pass"][..])]
    {
        let (_, cookie) = app.sign_in_as(owner).await;
        let (id, agent) = start_checker(&app, &cookie, name, work.path(), extra).await;
        checkers.push((id, cookie));
        agents.push(agent);
    }
    let (cheater, cheater_agent) = {
        let (id, _, config) = crate::agents::create_worker(&app, &lender, "cheater").await;
        let dir = work.path().join("cheater");
        std::fs::create_dir_all(&dir).expect("dir");
        let config = format!("{config}work_dir = {:?}\n", dir.display().to_string());
        (id, Agent::start(&config, &["--no-benchmark", "--cheat", "blank"]))
    };
    let mut nodes: Vec<i64> = checkers.iter().map(|(id, _)| *id).collect();
    nodes.push(cheater);
    let mut all: Vec<&Agent> = agents.iter().collect();
    all.push(&cheater_agent);
    wait_online(&app, &nodes, &all).await;

    let id = submit(&app, &creator, sample_scene(work.path()), "1", (96, 54), 8).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let decided: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM verifications WHERE state = 'failed'")
            .fetch_one(app.db.reader())
            .await
            .expect("count");
        if decided >= 1 {
            break;
        }
        let logs: Vec<String> = all.iter().map(|agent| agent.log()).collect();
        assert!(Instant::now() < deadline, "job {id} not decided:\n{}", logs.join("\n----\n"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let quorum: i64 =
        sqlx::query_scalar("SELECT quorum FROM verifications").fetch_one(app.db.reader()).await.expect("q");
    assert_eq!(quorum, 3, "three checkers of other owners were online");
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM task_attempts WHERE node_id = $1")
        .bind(cheater)
        .fetch_one(app.db.reader())
        .await
        .expect("attempt");
    assert_eq!(outcome, "rejected", "two honest checkers outvote the liar");
    let liar = checker_counts(&app, &checkers[2].1).await;
    assert_eq!(liar["checkers"][0]["counts"]["disagreed"], 1, "{liar}");
    assert_eq!(liar["checkers"][0]["counts"]["agreed"], 0, "{liar}");
    let honest = checker_counts(&app, &checkers[0].1).await;
    assert_eq!(honest["checkers"][0]["counts"]["agreed"], 1, "{honest}");
}

crate::on_both_backends!(
    an_honest_workers_frames_are_re_rendered_in_crops_and_verified,
    a_cheating_worker_is_caught_and_its_frames_rendered_again_by_an_honest_one,
    a_lying_checker_in_the_minority_is_outvoted_and_loses_standing,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_catches_a_checker_that_calls_everything_good_and_suspends_it() {
    let app = spawn_app_with(Backend::Sqlite, |config| {
        config.heartbeat_interval_ms = 500;
        // Every lease may become an audit once a verified result exists to make one from.
        config.verification.audit_rate = 1.0;
    })
    .await;
    let (_, creator) = app.sign_in_as("Ada").await;
    let (_, liar_owner) = app.sign_in_as("Eve").await;
    let work = tempfile::tempdir().expect("work");
    let (liar, liar_agent) = start_checker(&app, &liar_owner, "lazy", work.path(), &["--lie", "pass"]).await;
    let (worker, worker_agent) = start_agent(&app, &creator, "honest", work.path()).await;
    wait_online(&app, &[liar, worker], &[&liar_agent, &worker_agent]).await;
    submit(&app, &creator, sample_scene(work.path()), "1-2", (96, 54), 8).await;

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let listed = checker_counts(&app, &liar_owner).await;
        if listed["checkers"][0]["counts"]["suspended"] == true {
            break;
        }
        let logs = format!("{}\n----\n{}", liar_agent.log(), worker_agent.log());
        assert!(Instant::now() < deadline, "not suspended: {listed}\n{logs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let audits: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT v.state, d.verdict FROM verifications v JOIN verdicts d ON d.verification_id = v.id
         WHERE v.audit_node_id IS NOT NULL",
    )
    .fetch_all(app.db.reader())
    .await
    .expect("audits");
    assert_eq!(audits, vec![("passed".to_string(), Some("pass".to_string()))], "it called the tampered copy good");
    let leased: Option<i64> =
        sqlx::query_scalar("SELECT COUNT(*) FROM verdicts WHERE checker_node_id = $1 AND state = 'leased'")
            .bind(liar)
            .fetch_optional(app.db.reader())
            .await
            .expect("count");
    assert_eq!(leased, Some(0), "a suspended checker holds no checks");
}
