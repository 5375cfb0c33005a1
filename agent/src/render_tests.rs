//! Tests of [`super`]: the command line and script inputs, and real renders with the installed Blender.

use super::*;
use crate::exec;
use crate::sandbox::Sandbox;

/// A small PNG job (64×36, 4 samples) with `engine`; shared with the sandbox tests.
pub(crate) fn settings(engine: &str) -> RenderSettings {
    RenderSettings {
        engine: engine.into(),
        file_format: "PNG".into(),
        extension: "png".into(),
        resolution_x: 64,
        resolution_y: 36,
        resolution_percent: 100,
        samples: 4,
    }
}

fn v(major: u32, minor: u32) -> BlenderVersion {
    BlenderVersion { major, minor, patch: 0 }
}

static UNCONFINED: Sandbox = Sandbox::Unconfined;

/// The sandbox real renders run in: bubblewrap where it works here (as on a worker), else none.
async fn sandbox() -> &'static Sandbox {
    static SANDBOX: tokio::sync::OnceCell<Sandbox> = tokio::sync::OnceCell::const_new();
    SANDBOX.get_or_init(Sandbox::detect).await
}

fn job<'a>(blender: &'a Path, scene: &'a Path, out_dir: &'a Path, settings: &'a RenderSettings) -> FrameJob<'a> {
    FrameJob { sandbox: &UNCONFINED, blender, version: v(3, 4), scene, out_dir, frame: 3, settings, tile: None }
}

fn env_value(env: &[(&'static str, String)], key: &str) -> String {
    env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("{key} missing"))
}

#[test]
fn blender_loads_the_scene_then_runs_the_script_then_sets_the_output_then_renders() {
    let s = settings("CYCLES");
    let (blender, scene, out) = (Path::new("blender"), Path::new("/w/scenes/ab.blend"), Path::new("/w/render/7"));
    let args: Vec<String> =
        arguments(&job(blender, scene, out, &s)).iter().map(|a| a.to_string_lossy().into()).collect();
    let expected = [
        "-b",
        "--disable-autoexec",
        "/w/scenes/ab.blend",
        "--python-exit-code",
        "1",
        "--python-expr",
        SETTINGS_SCRIPT,
        "-o",
        "/w/render/7/frame_####",
        "-F",
        "PNG",
        "-f",
        "3",
    ];
    assert_eq!(args, expected);
    assert!(!args.iter().any(|a| a == "--factory-startup"), "the scene's own add-ons must stay available");
}

#[test]
fn the_script_gets_the_jobs_values_through_the_environment() {
    let env = script_env(&settings("CYCLES"), None, v(3, 4));
    assert_eq!(env_value(&env, "PICTOR_ENGINE"), "CYCLES");
    assert_eq!(env_value(&env, "PICTOR_RESOLUTION_X"), "64");
    assert_eq!(env_value(&env, "PICTOR_RESOLUTION_Y"), "36");
    assert_eq!(env_value(&env, "PICTOR_RESOLUTION_PERCENT"), "100");
    assert_eq!(env_value(&env, "PICTOR_SAMPLES"), "4");
    assert_eq!(env_value(&env, "PICTOR_FILE_FORMAT"), "PNG");
    assert_eq!(env_value(&env, "PICTOR_TILE"), "");
    for key in ["PICTOR_ENGINE", "PICTOR_SAMPLES", "PICTOR_FILE_FORMAT", "PICTOR_TILE"] {
        assert!(SETTINGS_SCRIPT.contains(key), "the script reads {key}");
    }
    assert!(SETTINGS_SCRIPT.contains("use_denoising = False"));
    assert!(SETTINGS_SCRIPT.contains("taa_render_samples"));
}

#[test]
fn eevee_is_named_for_the_blender_in_use() {
    for job_engine in ["BLENDER_EEVEE", "BLENDER_EEVEE_NEXT"] {
        assert_eq!(env_value(&script_env(&settings(job_engine), None, v(3, 4)), "PICTOR_ENGINE"), "BLENDER_EEVEE");
        assert_eq!(env_value(&script_env(&settings(job_engine), None, v(4, 2)), "PICTOR_ENGINE"), "BLENDER_EEVEE_NEXT");
    }
    assert_eq!(
        env_value(&script_env(&settings("BLENDER_WORKBENCH"), None, v(4, 2)), "PICTOR_ENGINE"),
        "BLENDER_WORKBENCH"
    );
}

#[test]
fn a_tile_becomes_border_fractions_of_the_scaled_output() {
    let tile = TileRegion { min_x: 0, max_x: 160, min_y: 45, max_y: 90 };
    // 640×360 at 50 % renders 320×180.
    let mut s = settings("CYCLES");
    (s.resolution_x, s.resolution_y, s.resolution_percent) = (640, 360, 50);
    assert_eq!(output_size(&s), (320, 180));
    assert_eq!(border_fractions(tile, output_size(&s)), [0.0, 0.5, 0.25, 0.5]);
    assert_eq!(env_value(&script_env(&s, Some(tile), v(3, 4)), "PICTOR_TILE"), "0,0.5,0.25,0.5");
    // A region beyond the image is clamped rather than passed to Blender out of range.
    assert_eq!(
        border_fractions(TileRegion { min_x: 0, max_x: 999, min_y: 0, max_y: 1 }, (10, 0)),
        [0.0, 1.0, 0.0, 0.0]
    );
}

/// `(width, height)` from a PNG's IHDR chunk (bytes 16..24, big-endian).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{} is a PNG", path.display());
    let word = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (word(16), word(20))
}

/// Blender and the sample scene, or None (with a note) where Blender is not installed.
async fn sample_scene(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let Some(blender) = exec::find_on_path("blender") else {
        eprintln!("note: blender is not installed here, real renders not tested");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/make_sample_scene.py");
    let scene = dir.join("scene.blend");
    let args = [
        "-b".into(),
        "--factory-startup".into(),
        "--python-exit-code".into(),
        "1".into(),
        "--python".into(),
        script.into_os_string(),
        "--".into(),
        scene.clone().into_os_string(),
    ];
    exec::run(&blender, args, &[], Duration::from_secs(120)).await.expect("the sample scene is made");
    Some((blender, scene))
}

async fn render_once(
    blender: &Path,
    scene: &Path,
    out: &Path,
    s: &RenderSettings,
    tile: Option<TileRegion>,
) -> Rendered {
    std::fs::create_dir_all(out).unwrap();
    let job = FrameJob { sandbox: sandbox().await, tile, ..job(blender, scene, out, s) };
    let (live, seen) = watch::channel(Live::default());
    let rendered =
        render_frame(&job, &live, &CancellationToken::new()).await.unwrap_or_else(|e| panic!("{e}: {}", e.log_tail()));
    assert_eq!(seen.borrow().fraction, 1.0, "the last sample line was seen");
    eprintln!("rendered {} in {:.2} s", rendered.output.display(), rendered.elapsed.as_secs_f64());
    rendered
}

#[tokio::test]
async fn the_sample_scene_renders_frame_3_at_the_jobs_size() {
    let dir = tempfile::tempdir().unwrap();
    let Some((blender, scene)) = sample_scene(dir.path()).await else { return };
    let s = settings("CYCLES");
    let rendered = render_once(&blender, &scene, &dir.path().join("full"), &s, None).await;
    assert_eq!(rendered.output.file_name().and_then(|n| n.to_str()), Some("frame_0003.png"));
    assert_eq!(png_size(&rendered.output), (64, 36));
    assert!(rendered.log_tail.contains("Saved:"), "{}", rendered.log_tail);

    let tile = TileRegion { min_x: 0, max_x: 32, min_y: 0, max_y: 18 };
    let rendered = render_once(&blender, &scene, &dir.path().join("tile"), &s, Some(tile)).await;
    assert_eq!(png_size(&rendered.output), (64, 36), "a tile is rendered into a full-size image");
}

#[tokio::test]
async fn a_failing_script_is_a_render_failure_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let Some((blender, scene)) = sample_scene(dir.path()).await else { return };
    let s = settings("NO_SUCH_ENGINE");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (live, _) = watch::channel(Live::default());
    let job = FrameJob { sandbox: sandbox().await, ..job(&blender, &scene, &out, &s) };
    let err = render_frame(&job, &live, &CancellationToken::new()).await.unwrap_err();
    assert!(matches!(&err, RenderError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("NO_SUCH_ENGINE"), "{err}\n{}", err.log_tail());
}

#[cfg(unix)]
#[tokio::test]
async fn cancel_kills_blender_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let Some((blender, scene)) = sample_scene(dir.path()).await else { return };
    let mut s = settings("CYCLES");
    (s.resolution_x, s.resolution_y, s.samples) = (640, 360, 2000);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (live, mut seen) = watch::channel(Live::default());
    let cancel = CancellationToken::new();
    let job = FrameJob { sandbox: sandbox().await, ..job(&blender, &scene, &out, &s) };
    let render = render_frame(&job, &live, &cancel);
    tokio::pin!(render);
    // Wait until Blender is sampling, so the kill hits a busy render rather than start-up.
    tokio::select! {
        result = &mut render => panic!("finished before being cancelled: {result:?}"),
        changed = seen.wait_for(|l| l.fraction > 0.0) => { changed.unwrap(); }
    }
    let pid = blender_pid(&scene).expect("Blender is running");
    let cancelled_at = Instant::now();
    cancel.cancel();
    let result = render.await;
    let took = cancelled_at.elapsed();
    assert!(matches!(result, Err(RenderError::Cancelled)), "{result:?}");
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "Blender (pid {pid}) is still running");
    eprintln!("cancel stopped Blender in {took:?}");
}

/// The pid of the Blender rendering `scene`, from /proc (the render API does not expose it).
#[cfg(unix)]
fn blender_pid(scene: &Path) -> Option<i32> {
    let needle = scene.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline).contains(&needle).then_some(pid)
    })
}

#[tokio::test]
async fn crops_re_rendered_in_a_warm_blender_match_the_full_frame() {
    let dir = tempfile::tempdir().unwrap();
    let Some((blender, scene)) = sample_scene(dir.path()).await else { return };
    let s = settings("CYCLES");
    let full = render_once(&blender, &scene, &dir.path().join("full"), &s, None).await;
    let version = v(3, 4);
    let key = crate::crop_render::renderer_key("scene", &s);
    let crops = dir.path().join("crops");
    std::fs::create_dir_all(&crops).unwrap();
    let mut renderer =
        crate::crop_render::CropRenderer::start(sandbox().await, &blender, version, &scene, &crops, &s, key)
            .await
            .expect("starts");
    let regions = [
        TileRegion { min_x: 0, max_x: 8, min_y: 0, max_y: 8 },
        TileRegion { min_x: 28, max_x: 36, min_y: 14, max_y: 22 },
        TileRegion { min_x: 56, max_x: 64, min_y: 28, max_y: 36 },
    ];
    for (index, region) in regions.into_iter().enumerate() {
        let out = crops.join(format!("crop-{index}.png"));
        renderer.render(3, region, &out).await.expect("crop renders");
        assert_eq!(png_size(&out), (8, 8), "cropped to the border");
        let measured = crate::compare::compare_files(&full.output, &out, region, (64, 36)).expect("compared");
        eprintln!("crop {region:?}: {measured:?}");
        assert!(measured.ssim > 0.99, "an honest crop matches: {measured:?}");
    }
}
