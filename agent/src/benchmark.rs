//! The standard benchmark: one small Cycles CPU frame of Blender's default scene, rendered once per Blender version.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use pictor_core::agent_protocol::{BenchmarkResult, BlenderInstall};

use crate::blender::BlenderVersion;
use crate::exec;
use crate::sandbox::{Confinement, Sandbox};
use crate::terminal::Terminal;

/// The frame takes about a second plus Blender's start-up; minutes mean something is wrong with this Blender.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Run by `--python-expr` on the factory-startup scene (the cube). Settings are pinned so every machine renders
/// the same work: no adaptive sampling or denoising, which vary with the build. The output directory comes in
/// through the environment to avoid quoting a path inside Python source.
pub const SCRIPT: &str = r#"import os, bpy
scene = bpy.context.scene
scene.render.engine = 'CYCLES'
scene.cycles.device = 'CPU'
scene.cycles.samples = 64
scene.cycles.use_adaptive_sampling = False
scene.cycles.use_denoising = False
scene.render.resolution_x = 256
scene.render.resolution_y = 256
scene.render.resolution_percentage = 100
scene.render.image_settings.file_format = 'PNG'
scene.render.filepath = os.path.join(os.environ['PICTOR_BENCHMARK_OUT'], 'benchmark_')
"#;

#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error("cannot make a temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Blender(#[from] exec::ExecError),
    #[error("Blender exited without writing the frame")]
    NoImage,
}

/// The arguments of the benchmark render: background, default scene, the script, frame 1.
pub fn arguments() -> [&'static str; 8] {
    // --python-exit-code makes an error in the script fail the run instead of rendering the unchanged scene.
    ["-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", SCRIPT, "-f", "1"]
}

/// Renders the benchmark frame with one Blender. The score uses the render time Blender reports (without start-up
/// and saving, which say little about a machine's rendering speed); the whole run's time if it reports none.
pub async fn render(sandbox: &Sandbox, blender: &Path) -> Result<BenchmarkResult, BenchmarkError> {
    let out = tempfile::Builder::new().prefix("pictor-benchmark-").tempdir().map_err(BenchmarkError::TempDir)?;
    let mut command = sandbox.command(blender, &Confinement { readable: &[], writable: &[out.path()] });
    command.args(arguments()).env("PICTOR_BENCHMARK_OUT", out.path());
    let started = Instant::now();
    let output = exec::output_of(command, &blender.display().to_string(), TIMEOUT).await?;
    let seconds = render_seconds(&output).unwrap_or_else(|| started.elapsed().as_secs_f64());
    if !wrote_png(out.path()) {
        return Err(BenchmarkError::NoImage);
    }
    Ok(BenchmarkResult::from_seconds(seconds))
}

/// `MM:SS.ss` (or `HH:MM:SS.ss`) → seconds.
fn clock_seconds(text: &str) -> Option<f64> {
    text.trim().split(':').try_fold(0.0, |total, part| Some(total * 60.0 + part.parse::<f64>().ok()?))
}

/// Blender's closing ` Time: 00:01.27 (Saving: 00:00.07)` line → the render time without saving.
pub fn render_seconds(output: &str) -> Option<f64> {
    let line = output.lines().rev().find_map(|line| line.trim().strip_prefix("Time: "))?;
    let (total, saving) = match line.split_once("(Saving:") {
        Some((total, saving)) => (total, clock_seconds(saving.trim_end_matches(')'))?),
        None => (line, 0.0),
    };
    let seconds = clock_seconds(total)? - saving;
    (seconds > 0.0).then_some(seconds)
}

fn wrote_png(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.path().extension() == Some(OsStr::new("png"))))
        .unwrap_or(false)
}

/// Benchmarks each distinct version once (installs of one version share the result), each under a spinner.
/// A Blender that fails keeps `benchmark: None` and the failure is logged.
pub async fn run_all(sandbox: &Sandbox, blenders: &mut [(BlenderInstall, BlenderVersion)], terminal: &Terminal) {
    for i in 0..blenders.len() {
        let version = blenders[i].1;
        if let Some(done) = blenders[..i].iter().find(|(b, v)| *v == version && b.benchmark.is_some()) {
            blenders[i].0.benchmark = done.0.benchmark.clone();
            continue;
        }
        let path = blenders[i].0.path.clone();
        let spinner = terminal.spinner(format!("benchmarking Blender {version} ({path})"));
        let result = render(sandbox, Path::new(&path)).await;
        spinner.finish_and_clear();
        match result {
            Ok(bench) => {
                tracing::info!("Blender {version} benchmark: {:.2} s (score {})", bench.seconds, bench.score);
                blenders[i].0.benchmark = Some(bench);
            }
            Err(e) => tracing::warn!("Blender {version} at {path}: benchmark failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_render_time_excludes_saving_and_start_up() {
        let output = "Fra:1 Mem:10.72M | Time:00:00.19 | Finished\nSaved: '/tmp/b_0001.png'\n Time: 00:01.27 (Saving: 00:00.07)\n";
        let seconds = render_seconds(output).expect("parsed");
        assert!((seconds - 1.2).abs() < 1e-9, "{seconds}");
        assert_eq!(render_seconds(" Time: 01:00:02.50\n"), Some(3602.5));
        assert_eq!(render_seconds("no timing here"), None);
    }

    #[test]
    fn the_benchmark_is_a_fixed_small_cycles_cpu_frame() {
        for setting in
            ["'CYCLES'", "'CPU'", "samples = 64", "resolution_x = 256", "resolution_y = 256", "= 100", "'PNG'"]
        {
            assert!(SCRIPT.contains(setting), "{setting}");
        }
        let args = arguments();
        assert_eq!(args[..2], ["-b", "--factory-startup"]);
        // Blender applies its arguments in order: the script must come before the render.
        let script = args.iter().position(|a| *a == "--python-expr").unwrap();
        assert_eq!(args[script + 1], SCRIPT);
        assert_eq!(args[6..], ["-f", "1"]);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_blender_that_fails_gives_an_error_not_a_panic() {
        let err = render(&Sandbox::Unconfined, Path::new("/bin/false")).await.unwrap_err();
        assert!(matches!(err, BenchmarkError::Blender(_)), "{err}");
        let err = render(&Sandbox::Unconfined, Path::new("/bin/true")).await.unwrap_err();
        assert!(matches!(err, BenchmarkError::NoImage), "{err}");
    }

    #[tokio::test]
    async fn the_installed_blender_renders_the_benchmark() {
        let Some(blender) = exec::find_on_path("blender") else {
            eprintln!("note: blender is not installed here, benchmark render not tested");
            return;
        };
        let result = render(&Sandbox::detect().await, &blender)
            .await
            .unwrap_or_else(|e| panic!("benchmark with {}: {e}", blender.display()));
        eprintln!("benchmark with {}: {:.2} s, score {}", blender.display(), result.seconds, result.score);
        assert!(result.seconds > 0.0 && result.seconds < TIMEOUT.as_secs_f64());
        assert!(result.score > 0);
    }
}
