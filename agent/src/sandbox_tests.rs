//! Hostile scenes rendered with the installed Blender as a worker and as a checker would: none reads or writes the
//! worker's files, none runs its own Python, and an honest scene renders the same pixels inside the box.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pictor_core::agent_protocol::TileRegion;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::Sandbox;
use crate::blender::BlenderVersion;
use crate::crop_render::CropRenderer;
use crate::exec;
use crate::render::tests::settings;
use crate::render::{render_frame, FrameJob, Live, RenderError, Rendered};

/// Blender's version as the agent would find it.
async fn version(blender: &Path) -> BlenderVersion {
    let out = exec::run(blender, ["--version"], &[], Duration::from_secs(60)).await.expect("blender --version");
    crate::blender::parse_version(&out).expect("a version")
}

/// The attack scenes in `outside/scenes`, next to the worker's own files they go after; `None` without Blender.
async fn attack_scenes(outside: &Path) -> Option<PathBuf> {
    let Some(blender) = exec::find_on_path("blender") else {
        eprintln!("note: blender is not installed here, the sandbox is not tested with real scenes");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/make_attack_scenes.py");
    let args = [
        "-b".as_ref(),
        "--factory-startup".as_ref(),
        "--python".as_ref(),
        script.as_os_str(),
        "--".as_ref(),
        outside.as_os_str(),
    ];
    exec::run(&blender, args, &[], Duration::from_secs(120)).await.expect("the attack scenes are made");
    Some(blender)
}

async fn render(sandbox: &Sandbox, blender: &Path, scene: &Path, out_dir: &Path) -> Result<Rendered, RenderError> {
    std::fs::create_dir_all(out_dir).expect("out dir");
    let s = settings("CYCLES");
    let version = version(blender).await;
    let job = FrameJob { sandbox, blender, version, scene, out_dir, frame: 1, settings: &s, tile: None };
    let (live, _) = watch::channel(Live::default());
    render_frame(&job, &live, &CancellationToken::new()).await
}

/// Every file below `dir`, for "nothing new was written here".
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn hostile_scenes_neither_read_nor_write_the_workers_files_nor_run_their_python() {
    let dir = tempfile::tempdir().expect("dir");
    let outside = dir.path();
    let Some(blender) = attack_scenes(outside).await else { return };
    let sandbox = Sandbox::detect().await;
    eprintln!("sandbox: {sandbox:?}");
    let scenes = outside.join("scenes");
    let task = outside.join("render").join("task-1");
    let before = files_below(outside);

    // Reads: refused by name, before anything renders; no pixel of the worker's file reaches an output.
    for (scene, named) in [
        ("absolute_read.blend", "secret.png"),
        ("relative_read.blend", "//../secret.png"),
        ("linked_library.blend", "library.blend"),
    ] {
        let out = task.join(scene);
        let error = render(&sandbox, &blender, &scenes.join(scene), &out).await.expect_err(scene);
        let message = error.to_string();
        assert!(message.contains("did not pack") && message.contains(named), "{scene}: {message}");
        assert!(message.contains("Pack Resources"), "{scene} says how to fix it: {message}");
        assert!(files_below(&out).is_empty(), "{scene}: no output");
    }

    // Writes: the frame renders where Pictor says, and the scene's own File Output goes nowhere.
    for scene in ["absolute_write.blend", "relative_write.blend", "autorun.blend"] {
        let out = task.join(scene);
        let rendered = render(&sandbox, &blender, &scenes.join(scene), &out).await.expect(scene);
        assert_eq!(files_below(&out), vec![rendered.output.clone()], "{scene}: the one frame only");
    }
    assert!(!outside.join("written_absolute").exists() && !outside.join("written_relative").exists());
    let after: Vec<PathBuf> = files_below(outside).into_iter().filter(|path| !path.starts_with(&task)).collect();
    assert_eq!(after, before, "nothing written outside the task folder");
    assert!(files_below(&task).iter().all(|path| !path.ends_with("AUTORAN")), "the scene's Python never ran");

    // As a checker: a scene naming files it did not pack does not start; a writing one renders crops only.
    let crops = outside.join("checks").join("crops");
    std::fs::create_dir_all(&crops).expect("crops dir");
    let (s, version) = (settings("CYCLES"), version(&blender).await);
    let refused =
        CropRenderer::start(&sandbox, &blender, version, &scenes.join("absolute_read.blend"), &crops, &s, "a".into())
            .await;
    assert!(refused.is_err(), "a check of a scene with outside files does not start");
    let mut writer =
        CropRenderer::start(&sandbox, &blender, version, &scenes.join("absolute_write.blend"), &crops, &s, "b".into())
            .await
            .expect("starts");
    let crop = crops.join("crop.png");
    writer.render(1, TileRegion { min_x: 0, max_x: 8, min_y: 0, max_y: 8 }, &crop).await.expect("crop renders");
    assert!(crop.exists());
    drop(writer);
    assert!(!outside.join("written_absolute").exists(), "the checker's Blender wrote nothing outside either");
}

#[tokio::test]
async fn the_sample_scene_renders_the_same_pixels_inside_the_sandbox() {
    let sandbox = Sandbox::detect().await;
    if !sandbox.is_confined() {
        eprintln!("note: bubblewrap is not usable here, nothing to compare");
        return;
    }
    let Some(blender) = exec::find_on_path("blender") else { return };
    let dir = tempfile::tempdir().expect("dir");
    let scene = dir.path().join("scene").join("cube.blend");
    std::fs::create_dir_all(scene.parent().expect("parent")).expect("dir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/make_sample_scene.py");
    let args = ["-b".as_ref(), "--factory-startup".as_ref(), "--python".as_ref(), script.as_os_str()];
    let args = args.into_iter().chain(["--".as_ref(), scene.as_os_str()]);
    exec::run(&blender, args, &[], Duration::from_secs(120)).await.expect("sample scene");
    let boxed = render(&sandbox, &blender, &scene, &dir.path().join("boxed")).await.expect("boxed render");
    let plain = render(&Sandbox::Unconfined, &blender, &scene, &dir.path().join("plain")).await.expect("render");
    let pixels = |path: &Path| image::open(path).expect("a PNG").to_rgba8().into_raw();
    assert!(pixels(&boxed.output) == pixels(&plain.output), "bit-identical pixels inside and outside the box");
    eprintln!("boxed {:.2} s, plain {:.2} s", boxed.elapsed.as_secs_f64(), plain.elapsed.as_secs_f64());
}
