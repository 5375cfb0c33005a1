//! `pictor-bench calibrate`: the experiment behind the checkers' crop count, crop size and SSIM thresholds.
//!
//! Renders frames of a scene honestly (as the agent does, and again on one thread), and tampered the ways a cheater
//! would (noise, a quarter of the samples, shifted two pixels, the next frame, blank, another scene); re-renders pools
//! of crops exactly as a checker does (a warm Blender, cropped border renders), placed uniformly or guided by the
//! detail of the image under check; scores every crop by SSIM; then draws many checks of K crops from the pools and
//! reports how often an honest frame would fail (false reject) and a tampered one pass (false accept).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use image::{Rgb, RgbImage};
use pictor_agent::blender::BlenderVersion;
use pictor_agent::crop_render::{renderer_key, CropRenderer};
use pictor_agent::render::{arguments, render_frame, script_env, FrameJob, Live};
use pictor_agent::sandbox::Sandbox;
use pictor_core::agent_protocol::{RenderSettings, TileRegion};
use pictor_core::verification::{choose_crops_guided, verdict_for, CropPlan, DetailGrid, Thresholds, Verdict};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::render_job::FrameShape;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    shape: FrameShape,
    #[arg(long, default_value_t = 6)]
    frames: i64,
    /// Crops rendered per frame, size and placement (the pools checks are drawn from).
    #[arg(long, default_value_t = 24)]
    pool: usize,
    /// Simulated checks per frame, variant and setting.
    #[arg(long, default_value_t = 4000)]
    trials: usize,
}

/// What the worker sent: an honest render, or a cheat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Honest,
    HonestOneThread,
    Noise,
    LowSamples,
    Shifted,
    WrongFrame,
    Blank,
    OtherScene,
}

const VARIANTS: [Variant; 8] = [
    Variant::Honest,
    Variant::HonestOneThread,
    Variant::Noise,
    Variant::LowSamples,
    Variant::Shifted,
    Variant::WrongFrame,
    Variant::Blank,
    Variant::OtherScene,
];

impl Variant {
    fn honest(self) -> bool {
        matches!(self, Variant::Honest | Variant::HonestOneThread)
    }

    fn label(self) -> &'static str {
        match self {
            Variant::Honest => "honest",
            Variant::HonestOneThread => "honest, 1 thread",
            Variant::Noise => "noise ±24",
            Variant::LowSamples => "1/4 samples",
            Variant::Shifted => "shifted 2 px",
            Variant::WrongFrame => "next frame",
            Variant::Blank => "blank",
            Variant::OtherScene => "another scene",
        }
    }
}

const SIZES: [(&str, CropPlan); 3] = [
    ("1 % (min 8 px)", CropPlan { count: 1, side_percent: 1.0, min_side: 8 }),
    ("2 % (min 8 px)", CropPlan { count: 1, side_percent: 2.0, min_side: 8 }),
    ("4 % (min 24 px)", CropPlan { count: 1, side_percent: 4.0, min_side: 24 }),
];

/// A deterministic source of numbers in [0, 1), so a run can be repeated.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1_u64 << 53) as f64
    }
}

async fn render_full(
    blender: &Path,
    version: BlenderVersion,
    scene: &Path,
    frame: i64,
    settings: &RenderSettings,
    out_dir: &Path,
    one_thread: bool,
) -> RgbImage {
    std::fs::create_dir_all(out_dir).expect("dir");
    // Calibration measures pixels, not the box: Blender runs as the agent would without bubblewrap.
    let job = FrameJob { sandbox: &Sandbox::Unconfined, blender, version, scene, out_dir, frame, settings, tile: None };
    let path = if one_thread {
        // The agent's own command, on one thread: Cycles must give the same pixels whatever the thread count.
        let status = tokio::process::Command::new(blender)
            .args(["-t", "1"])
            .args(arguments(&job))
            .envs(script_env(settings, None, version))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .expect("blender runs");
        assert!(status.success(), "render failed");
        out_dir.join(format!("frame_{frame:04}.png"))
    } else {
        let (live, _) = watch::channel(Live::default());
        render_frame(&job, &live, &CancellationToken::new()).await.expect("renders").output
    };
    image::open(path).expect("decodes").to_rgb8()
}

fn shifted(image: &RgbImage, by: u32) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| *image.get_pixel(x.saturating_sub(by), y))
}

fn noisy(image: &RgbImage, random: &mut Random) -> RgbImage {
    RgbImage::from_fn(image.width(), image.height(), |x, y| {
        let p = image.get_pixel(x, y).0;
        let mut jitter = || (random.next() * 49.0) as i16 - 24;
        Rgb([0, 1, 2].map(|c| (i16::from(p[c]) + jitter()).clamp(0, 255) as u8))
    })
}

/// Variance of luminance per `cell`-sided square, as the coordinator measures it for guided crops.
fn detail_grid(image: &RgbImage, frame: i64, cell: u32) -> DetailGrid {
    let (width, height) = image.dimensions();
    let (columns, rows) = (width.div_ceil(cell), height.div_ceil(cell));
    let mut weights = Vec::new();
    for row in 0..rows {
        for column in 0..columns {
            let (mut sum, mut squares, mut count) = (0.0, 0.0, 0.0);
            for y in row * cell..((row + 1) * cell).min(height) {
                for x in column * cell..((column + 1) * cell).min(width) {
                    let p = image.get_pixel(x, height - 1 - y).0;
                    let luma = (0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])) / 255.0;
                    sum += luma;
                    squares += luma * luma;
                    count += 1.0;
                }
            }
            weights.push(if count > 0.0 { (squares / count - (sum / count).powi(2)).max(0.0) } else { 0.0 });
        }
    }
    DetailGrid { frame, cell, columns, rows, weights }
}

pub async fn run(args: Args) {
    let started = Instant::now();
    let Some((install, version)) = pictor_agent::blender::discover(&Sandbox::Unconfined, &[]).await.into_iter().next()
    else {
        eprintln!("pictor-bench: error: no Blender found on PATH");
        std::process::exit(2);
    };
    let blender = PathBuf::from(&install.path);
    let work = tempfile::tempdir().expect("tempdir");
    let settings = RenderSettings {
        engine: "CYCLES".into(),
        file_format: "PNG".into(),
        extension: "png".into(),
        resolution_x: args.shape.width,
        resolution_y: args.shape.height,
        resolution_percent: 100,
        samples: args.shape.samples,
    };
    let low = RenderSettings { samples: (args.shape.samples / 4).max(1), ..settings.clone() };
    // Another scene: Blender's own default (a grey cube), rendered with the same settings.
    let other_scene = work.path().join("other.blend");
    let made = std::process::Command::new(&blender)
        .args(["-b", "--factory-startup", "--python-expr"])
        .arg(format!("import bpy; bpy.ops.wm.save_as_mainfile(filepath={:?})", other_scene.display().to_string()))
        .stdout(Stdio::null())
        .status()
        .expect("blender runs");
    assert!(made.success(), "cannot make the other scene");

    let mut random = Random(2026);
    let shorter = args.shape.width.min(args.shape.height);
    // scores[size][variant] = per (frame, placement) pools of SSIMs.
    let mut uniform_scores = vec![vec![Vec::<Vec<f64>>::new(); VARIANTS.len()]; SIZES.len()];
    let mut guided_scores = uniform_scores.clone();
    let mut crop_seconds = Vec::new();
    let mut full_seconds = Vec::new();
    let key = renderer_key("calibration", &settings);
    let mut renderer =
        CropRenderer::start(&Sandbox::Unconfined, &blender, version, &args.shape.scene, work.path(), &settings, key)
            .await
            .expect("blender");
    for frame in 1..=args.frames {
        let dir = work.path().join(format!("frame-{frame}"));
        let render_started = Instant::now();
        let honest = render_full(&blender, version, &args.shape.scene, frame, &settings, &dir.join("h"), false).await;
        full_seconds.push(render_started.elapsed().as_secs_f64());
        let images = [
            honest.clone(),
            render_full(&blender, version, &args.shape.scene, frame, &settings, &dir.join("t1"), true).await,
            noisy(&honest, &mut random),
            render_full(&blender, version, &args.shape.scene, frame, &low, &dir.join("low"), false).await,
            shifted(&honest, 2),
            render_full(&blender, version, &args.shape.scene, frame + 1, &settings, &dir.join("next"), false).await,
            RgbImage::from_pixel(args.shape.width, args.shape.height, Rgb([0, 0, 0])),
            render_full(&blender, version, &other_scene, frame, &settings, &dir.join("other"), false).await,
        ];
        let whole = TileRegion { min_x: 0, max_x: args.shape.width, min_y: 0, max_y: args.shape.height };
        for (size_index, (_, size)) in SIZES.iter().enumerate() {
            let plan = CropPlan { count: args.pool as u32, ..*size };
            let side = plan.side(shorter);
            let uniform = choose_crops_guided(&plan, &[frame], whole, shorter, &[], || random.next());
            for (variant_index, image) in images.iter().enumerate() {
                let grid = detail_grid(image, frame, side);
                // Guided pools: every crop after a first uniform one is drawn by detail.
                let guided = choose_crops_guided(&plan, &[frame], whole, shorter, &[grid], || random.next());
                for (pool, skip, target) in [(&uniform, 0, &mut uniform_scores), (&guided, 1, &mut guided_scores)] {
                    let mut scores = Vec::new();
                    for (index, crop) in pool.iter().enumerate().skip(skip) {
                        let out = dir.join(format!("crop-{size_index}-{variant_index}-{index}.png"));
                        let took = renderer.render(frame, crop.region, &out).await.expect("crop renders");
                        crop_seconds.push(took.as_secs_f64());
                        let rendered = image::open(&out).expect("crop decodes").to_rgb8();
                        let expected = pictor_agent::compare::cut(image, crop.region).expect("inside");
                        scores.push(pictor_agent::compare::measure(&expected, &rendered).expect("same size").ssim);
                    }
                    target[size_index][variant_index].push(scores);
                }
            }
        }
        eprintln!("frame {frame} done ({:.0} s so far)", started.elapsed().as_secs_f64());
    }
    report(&args, &uniform_scores, &guided_scores, &mut random);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "\ncost: a full {}×{} frame at {} samples took {:.2} s; one crop in the warm Blender {:.3} s on average \
         (three crops = {:.1} % of a frame)",
        args.shape.width,
        args.shape.height,
        args.shape.samples,
        mean(&full_seconds),
        mean(&crop_seconds),
        300.0 * mean(&crop_seconds) / mean(&full_seconds)
    );
    println!("experiment took {:.0} s", started.elapsed().as_secs_f64());
}

/// Draws checks of K crops (the first uniform, the rest from the guided pool when `guided`) and prints the share
/// of verdicts per variant.
fn report(args: &Args, uniform: &[Vec<Vec<Vec<f64>>>], guided: &[Vec<Vec<Vec<f64>>>], random: &mut Random) {
    let thresholds = [
        Thresholds { pass: 0.999, fail: 0.99 },
        Thresholds { pass: 0.995, fail: 0.95 },
        Thresholds { pass: 0.97, fail: 0.90 },
    ];
    println!(
        "lowest single-crop SSIM seen for honest renders, and share of crops of tampered renders scoring ≥ 0.995:"
    );
    for (size_index, (label, _)) in SIZES.iter().enumerate() {
        let all = |variant: usize| -> Vec<f64> {
            uniform[size_index][variant].iter().chain(&guided[size_index][variant]).flatten().copied().collect()
        };
        let honest_min = all(0).into_iter().chain(all(1)).fold(f64::INFINITY, f64::min);
        let passing: Vec<String> = VARIANTS
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.honest())
            .map(|(i, v)| {
                let crops = all(i);
                let share = crops.iter().filter(|s| **s >= 0.995).count() as f64 / crops.len().max(1) as f64;
                format!("{} {:.0} %", v.label(), share * 100.0)
            })
            .collect();
        println!("  {label}: honest ≥ {honest_min:.4}; {}", passing.join(", "));
    }
    println!(
        "\nfalse reject (honest not passing) and false accept (tampered passing), {} checks per frame:",
        args.trials
    );
    println!("| crop side | K | placement | pass / fail SSIM | false reject | {} |", tamper_labels().join(" | "));
    println!("|---|---|---|---|---|{}", "---|".repeat(tamper_labels().len()));
    for (size_index, (label, _)) in SIZES.iter().enumerate() {
        for k in [1_usize, 3, 5] {
            for (placement, guided_rest) in [("uniform", false), ("guided", true)] {
                for t in &thresholds {
                    let mut rates = Vec::new();
                    let mut false_reject = (0, 0);
                    for (variant_index, variant) in VARIANTS.iter().enumerate() {
                        let (mut bad, mut total) = (0, 0);
                        for frame in 0..args.frames as usize {
                            let first = &uniform[size_index][variant_index][frame];
                            let rest = if guided_rest { &guided[size_index][variant_index][frame] } else { first };
                            for _ in 0..args.trials {
                                let mut ssims = vec![first[(random.next() * first.len() as f64) as usize]];
                                for _ in 1..k {
                                    ssims.push(rest[(random.next() * rest.len() as f64) as usize]);
                                }
                                let verdict = verdict_for(&ssims, t);
                                let wrong =
                                    if variant.honest() { verdict != Verdict::Pass } else { verdict == Verdict::Pass };
                                bad += usize::from(wrong);
                                total += 1;
                            }
                        }
                        if variant.honest() {
                            false_reject = (false_reject.0 + bad, false_reject.1 + total);
                        } else {
                            rates.push(format!("{:.2} %", 100.0 * bad as f64 / total as f64));
                        }
                    }
                    println!(
                        "| {label} | {k} | {placement} | {:.3} / {:.3} | {:.2} % | {} |",
                        t.pass,
                        t.fail,
                        100.0 * false_reject.0 as f64 / false_reject.1.max(1) as f64,
                        rates.join(" | ")
                    );
                }
            }
        }
    }
}

fn tamper_labels() -> Vec<&'static str> {
    VARIANTS.iter().filter(|v| !v.honest()).map(|v| v.label()).collect()
}
