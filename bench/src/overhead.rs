//! `pictor-bench agent-overhead`: the same frames rendered by bare `blender -b` (one process per frame, as the agent
//! runs it), by bare Blender inside the agent's bubblewrap sandbox, and by a real `pictor-agent` through a real
//! coordinator (lease, scene download, boxed render, upload, done); prints the wall times and their ratios.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pictor_server::db::Backend;
use pictor_server::testing::TestDb;
use serde_json::json;

use pictor_agent::sandbox::{Confinement, Sandbox};

use crate::coordinator::Coordinator;
use crate::render_job::{send, submit, wait_until_completed, FrameShape};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    shape: FrameShape,
    /// How many frames (1..=N).
    #[arg(long, default_value_t = 12)]
    frames: u32,
    #[arg(long, default_value = "target/release/pictor")]
    coordinator: PathBuf,
    #[arg(long, default_value = "target/release/pictor-agent")]
    agent: PathBuf,
    #[arg(long, default_value_t = 3292)]
    port: u16,
}

/// The settings the job carries, applied to bare Blender the way the agent's script applies them.
fn settings_expr(args: &Args) -> String {
    format!(
        "import bpy; s = bpy.context.scene; s.render.engine = 'CYCLES'; s.cycles.samples = {}; \
         s.cycles.use_denoising = False; s.render.resolution_x = {}; s.render.resolution_y = {}; \
         s.render.resolution_percentage = 100; s.render.dither_intensity = 0.0",
        args.shape.samples, args.shape.width, args.shape.height
    )
}

/// Blender's arguments for one frame of `scene` into `out`, as the agent passes them.
fn blender_args(args: &Args, scene: &Path, out: &Path, frame: u32) -> Vec<std::ffi::OsString> {
    let mut all: Vec<std::ffi::OsString> = vec!["-b".into(), "--disable-autoexec".into(), scene.into()];
    all.extend(["--python-exit-code", "1", "--python-expr"].map(Into::into));
    all.extend([settings_expr(args).into(), "-o".into(), out.join("frame_####").into()]);
    all.extend(["-F".into(), "PNG".into(), "-f".into(), frame.to_string().into()]);
    all
}

fn bare_blender(args: &Args, out: &Path) -> Duration {
    let started = Instant::now();
    for frame in 1..=args.frames {
        let status = Command::new("blender")
            .args(blender_args(args, &args.shape.scene, out, frame))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("blender runs");
        assert!(status.success(), "bare blender failed on frame {frame}");
    }
    started.elapsed()
}

/// The same renders inside the sandbox the agent boxes Blender in; `None` where bubblewrap is not usable.
async fn boxed_blender(args: &Args, out: &Path) -> Option<Duration> {
    let sandbox = Sandbox::detect().await;
    if !sandbox.is_confined() {
        return None;
    }
    let blender = pictor_agent::exec::find_on_path("blender").expect("blender on PATH");
    let scene = std::fs::canonicalize(&args.shape.scene).expect("the scene");
    std::fs::create_dir_all(out).expect("out dir");
    let started = Instant::now();
    for frame in 1..=args.frames {
        let status = sandbox
            .command(&blender, &Confinement { readable: &[&scene], writable: &[out] })
            .args(blender_args(args, &scene, out, frame))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .expect("boxed blender runs");
        assert!(status.success(), "boxed blender failed on frame {frame}");
    }
    Some(started.elapsed())
}

struct AgentProcess(Child);

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn through_pictor(args: &Args, work: &Path) -> Duration {
    let test_db = TestDb::new(Backend::Sqlite).await;
    let user = test_db.db.create_user("bench", 0).await.expect("user");
    let key = pictor_server::auth::api_keys::create(&test_db.db, user, "bench", 0).await.expect("key").secret;
    let coordinator = Coordinator::start(&args.coordinator, &test_db.url, args.port, &[]).await;
    let base = coordinator.base.clone();
    let client = reqwest::Client::new();
    let issued =
        send(client.post(format!("{base}/api/v1/workers")).bearer_auth(&key).json(&json!({"name": "one"}))).await;
    let config = work.join("worker.toml");
    let toml = format!("{}work_dir = {:?}\n", issued["config_toml"].as_str().expect("config"), work.join("agent"));
    std::fs::write(&config, toml).expect("config");
    let agent = Command::new(&args.agent)
        .args(["worker", "--no-benchmark", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the agent starts");
    let _agent = AgentProcess(agent);
    let node = issued["node_id"].as_i64().expect("node id");
    // Registered and idle before the clock starts.
    loop {
        let worker = send(client.get(format!("{base}/api/v1/workers/{node}")).bearer_auth(&key)).await;
        if worker["summary"]["status"] == "online" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let started = Instant::now();
    let job = submit(&client, &base, &key, "overhead", args.frames, &args.shape).await;
    wait_until_completed(&client, &base, &key, job, Duration::from_millis(50)).await;
    started.elapsed()
}

pub async fn run(args: Args) {
    let work = tempfile::tempdir().expect("tempdir");
    let bare = bare_blender(&args, work.path());
    let boxed = boxed_blender(&args, &work.path().join("boxed")).await;
    let pictor = through_pictor(&args, work.path()).await;
    let per = |total: Duration| total.as_secs_f64() / f64::from(args.frames);
    println!(
        "frames              {} at {}×{}, {} samples (Cycles)",
        args.frames, args.shape.width, args.shape.height, args.shape.samples
    );
    println!("bare blender -b     {:.2} s = {:.2} s per frame", bare.as_secs_f64(), per(bare));
    match boxed {
        Some(boxed) => println!(
            "in the sandbox      {:.2} s = {:.2} s per frame, ratio {:.3} (bubblewrap / bare)",
            boxed.as_secs_f64(),
            per(boxed),
            boxed.as_secs_f64() / bare.as_secs_f64()
        ),
        None => println!("in the sandbox      not measured: bubblewrap is not usable here"),
    }
    println!(
        "through pictor      {:.2} s = {:.2} s per frame (upload, submit, lease, render, upload, done)",
        pictor.as_secs_f64(),
        per(pictor)
    );
    println!("ratio               {:.3} (pictor / bare)", pictor.as_secs_f64() / bare.as_secs_f64());
}
