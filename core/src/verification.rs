//! Verification of workers' results by checkers: which crops to re-render, what a checker reports, and how its
//! SSIM measurements become a verdict. Shared by the coordinator (planning, aggregation) and the checker agent.

use serde::{Deserialize, Serialize};

use crate::agent_protocol::{RenderSettings, TileRegion};

/// `POST` [`VerificationLeaseRequest`] → 200 [`VerificationAssignment`], or 204 when nothing waits (long poll).
pub const VERIFY_LEASE_PATH: &str = "/api/agent/v1/verifications/lease";

/// `GET` → the worker's output for `frame` of the verification, as uploaded (only for the checker leasing it).
pub fn verification_output_path(verification_id: i64, frame: i64) -> String {
    format!("/api/agent/v1/verifications/{verification_id}/frames/{frame}")
}

/// `POST` [`VerdictReport`] → 204; 409 when the verdict lease was lost.
pub fn verdict_path(verification_id: i64) -> String {
    format!("/api/agent/v1/verifications/{verification_id}/verdict")
}

/// SSIM limits: at or above `pass` the crop matches, below `fail` it does not, in between nobody can tell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub pass: f64,
    pub fail: f64,
}

/// Calibrated on real renders of the sample scene (`pictor-bench calibrate`, see BENCHMARKS.md): with dithering
/// off, a checker's re-render of a crop is bit-exact with the worker's honest render (SSIM 1.0, whatever the thread
/// count), while a quarter of the samples, a 2-pixel shift or the next frame often differ only slightly (SSIM
/// 0.99–0.999 on some crops). So a crop must match all but exactly; networks mixing Blender versions or GPU and CPU
/// renders, whose honest renders differ slightly, can lower these (`verification.pass_ssim`, `fail_ssim`).
pub const DEFAULT_THRESHOLDS: Thresholds = Thresholds { pass: 0.999, fail: 0.99 };

/// Crops per round and their side, as a share of the image's shorter side, with a floor in pixels. Round 2 (after an
/// unsure round 1) looks at more and larger crops.
pub const ROUND_ONE: CropPlan = CropPlan { count: 3, side_percent: 1.0, min_side: 8 };
pub const ROUND_TWO: CropPlan = CropPlan { count: 5, side_percent: 4.0, min_side: 24 };

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropPlan {
    pub count: u32,
    pub side_percent: f64,
    pub min_side: u32,
}

impl CropPlan {
    /// The side of a square crop in an image whose shorter side is `short`, never larger than the image.
    pub fn side(&self, short: u32) -> u32 {
        let scaled = (f64::from(short) * self.side_percent / 100.0).round() as u32;
        scaled.max(self.min_side).min(short).max(1)
    }
}

/// One crop to re-render: a frame and a square region in Blender's pixel coordinates (from the bottom left).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crop {
    pub frame: i64,
    pub region: TileRegion,
}

/// Picks `plan.count` crops over `frames` inside `area` (the whole image, or a tile) of an image whose shorter side
/// is `short`; `random` yields numbers in `[0, 1)`.
pub fn choose_crops(
    plan: &CropPlan,
    frames: &[i64],
    area: TileRegion,
    short: u32,
    mut random: impl FnMut() -> f64,
) -> Vec<Crop> {
    let width = area.max_x.saturating_sub(area.min_x);
    let height = area.max_y.saturating_sub(area.min_y);
    if frames.is_empty() || width == 0 || height == 0 {
        return Vec::new();
    }
    let side = plan.side(short).min(width).min(height);
    let mut pick = |span: u32| ((random() * f64::from(span + 1)) as u32).min(span);
    (0..plan.count)
        .map(|_| {
            let frame = frames[(pick(frames.len() as u32 - 1)) as usize];
            let x = area.min_x + pick(width - side);
            let y = area.min_y + pick(height - side);
            Crop { frame, region: TileRegion { min_x: x, max_x: x + side, min_y: y, max_y: y + side } }
        })
        .collect()
}

/// Where a worker's image of one frame shows something: for each square cell of a grid laid over the task's area
/// (from its bottom-left corner, cells of the crop's side), how much the pixels vary.
#[derive(Clone, Debug, PartialEq)]
pub struct DetailGrid {
    pub frame: i64,
    pub cell: u32,
    pub columns: u32,
    pub rows: u32,
    /// Row-major from the bottom row; non-negative.
    pub weights: Vec<f64>,
}

/// Crops for one check, guided by where the frames show detail: the first is placed uniformly at random over the
/// area (so that no part of a frame is safe to fake), the others on cells drawn with probability proportional to
/// their detail (so that a sparse scene — an object on a plain background — is not checked on background alone).
/// Without a grid (or with no detail anywhere) every crop is placed uniformly.
pub fn choose_crops_guided(
    plan: &CropPlan,
    frames: &[i64],
    area: TileRegion,
    short: u32,
    grids: &[DetailGrid],
    mut random: impl FnMut() -> f64,
) -> Vec<Crop> {
    let mut crops = choose_crops(plan, frames, area, short, &mut random);
    let side = crops.first().map_or(0, |crop| crop.region.max_x - crop.region.min_x);
    for crop in crops.iter_mut().skip(1) {
        let Some(grid) = grids.iter().find(|grid| grid.frame == crop.frame) else { continue };
        let total: f64 = grid.weights.iter().sum();
        if total.is_nan() || total <= 0.0 || grid.cell == 0 {
            continue;
        }
        let mut target = random() * total;
        let mut chosen = grid.weights.len() - 1;
        for (index, weight) in grid.weights.iter().enumerate() {
            if target < *weight {
                chosen = index;
                break;
            }
            target -= weight;
        }
        let (column, row) = (chosen as u32 % grid.columns.max(1), chosen as u32 / grid.columns.max(1));
        // The crop covers its cell, moved back inside the area where the cell hangs over its edge.
        let x = (area.min_x + column * grid.cell).min(area.max_x.saturating_sub(side));
        let y = (area.min_y + row * grid.cell).min(area.max_y.saturating_sub(side));
        crop.region = TileRegion { min_x: x, max_x: x + side, min_y: y, max_y: y + side };
    }
    crops
}

/// What a checker is asked to do: re-render `crops` of a job's frames with the job's exact settings and compare
/// them with the worker's pixels. The worker is not named.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerificationAssignment {
    pub verification_id: i64,
    pub job_id: i64,
    pub scene_sha256: String,
    pub settings: RenderSettings,
    pub crops: Vec<Crop>,
    pub thresholds: Thresholds,
    /// Submit the verdict within this long, or the slot goes to another checker.
    pub lease_ms: u64,
    /// A training run's segment to replay instead of crops to render (`crops` is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<crate::ai_training::ReplayOrder>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationLeaseRequest {
    /// How long the coordinator may hold the request open waiting for work (capped by it).
    pub wait_ms: u64,
    /// Only checks of the node owner's own jobs: its Blender runs unboxed.
    #[serde(default)]
    pub own_jobs_only: bool,
}

/// The checker's judgement of a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unsure,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Unsure => "unsure",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pass" => Some(Verdict::Pass),
            "fail" => Some(Verdict::Fail),
            "unsure" => Some(Verdict::Unsure),
            _ => None,
        }
    }
}

/// The verdict for a set of crop scores: every crop must match; one clear mismatch fails the result.
pub fn verdict_for(ssims: &[f64], thresholds: &Thresholds) -> Verdict {
    let Some(worst) = ssims.iter().copied().reduce(f64::min) else { return Verdict::Unsure };
    if worst.is_nan() {
        Verdict::Unsure
    } else if worst >= thresholds.pass {
        Verdict::Pass
    } else if worst < thresholds.fail {
        Verdict::Fail
    } else {
        Verdict::Unsure
    }
}

/// One crop's comparison.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CropMeasurement {
    pub ssim: f64,
    /// Mean absolute difference per channel, 0–255.
    pub mean_abs_diff: f64,
}

/// What a checker sends back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictReport {
    pub verdict: Verdict,
    /// One per crop, in the assignment's order.
    pub crops: Vec<CropMeasurement>,
    /// Seconds Blender spent re-rendering the crops (the verification's compute).
    pub render_seconds: f64,
    /// For a training segment: the largest difference between the replayed and the worker's weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_distance: Option<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(width: u32, height: u32) -> TileRegion {
        TileRegion { min_x: 0, max_x: width, min_y: 0, max_y: height }
    }

    #[test]
    fn crops_are_one_percent_of_the_short_side_with_a_floor() {
        assert_eq!(ROUND_ONE.side(1080), 11);
        assert_eq!(ROUND_ONE.side(180), 8, "never under 8 pixels");
        assert_eq!(ROUND_ONE.side(5), 5, "never larger than the image");
        assert_eq!(ROUND_TWO.side(1080), 43);
    }

    #[test]
    fn crops_lie_inside_their_area_and_frames() {
        let mut state = 7_u64;
        let mut random = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        let tile = TileRegion { min_x: 100, max_x: 160, min_y: 20, max_y: 50 };
        for _ in 0..200 {
            for crop in choose_crops(&ROUND_ONE, &[4, 5, 6], tile, 1080, &mut random) {
                let r = crop.region;
                assert!(r.min_x >= 100 && r.max_x <= 160 && r.min_y >= 20 && r.max_y <= 50, "{r:?}");
                assert_eq!((r.max_x - r.min_x, r.max_y - r.min_y), (11, 11));
                assert!([4, 5, 6].contains(&crop.frame));
            }
        }
        // The extremes are reachable: random() → 0 and → just under 1.
        let low = choose_crops(&ROUND_ONE, &[1], whole(64, 36), 36, || 0.0);
        assert_eq!(low[0].region, TileRegion { min_x: 0, max_x: 8, min_y: 0, max_y: 8 });
        let high = choose_crops(&ROUND_ONE, &[1, 2], whole(64, 36), 36, || 0.999_999);
        assert_eq!((high[0].frame, high[0].region.max_x, high[0].region.max_y), (2, 64, 36));
        assert!(choose_crops(&ROUND_ONE, &[], whole(64, 36), 36, || 0.5).is_empty());
    }

    #[test]
    fn guided_crops_land_where_the_frame_shows_detail_but_the_first_does_not_have_to() {
        // A 64×36 frame with detail in one 8-pixel cell only: column 3, row 2.
        let mut weights = vec![0.0; 8 * 5];
        weights[2 * 8 + 3] = 5.0;
        let grid = DetailGrid { frame: 1, cell: 8, columns: 8, rows: 5, weights };
        let mut state = 11_u64;
        let mut random = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        for _ in 0..50 {
            let crops =
                choose_crops_guided(&ROUND_ONE, &[1], whole(64, 36), 36, std::slice::from_ref(&grid), &mut random);
            assert_eq!(crops.len(), 3);
            for crop in &crops[1..] {
                assert_eq!((crop.region.min_x, crop.region.min_y), (24, 16), "{crop:?}");
            }
        }
        // A cell on the top edge is moved down so the crop stays inside the image.
        let mut weights = vec![0.0; 8 * 5];
        weights[4 * 8 + 7] = 1.0;
        let edge = DetailGrid { frame: 1, cell: 8, columns: 8, rows: 5, weights };
        let crops = choose_crops_guided(&ROUND_ONE, &[1], whole(64, 36), 36, &[edge], || 0.5);
        assert_eq!(crops[1].region, TileRegion { min_x: 56, max_x: 64, min_y: 28, max_y: 36 });
        // No detail anywhere: all uniform, as without a grid.
        let flat = DetailGrid { frame: 1, cell: 8, columns: 8, rows: 5, weights: vec![0.0; 40] };
        assert_eq!(
            choose_crops_guided(&ROUND_ONE, &[1], whole(64, 36), 36, &[flat], || 0.25),
            choose_crops(&ROUND_ONE, &[1], whole(64, 36), 36, || 0.25)
        );
    }

    #[test]
    fn one_bad_crop_fails_and_the_middle_is_unsure() {
        let t = Thresholds { pass: 0.97, fail: 0.90 };
        assert_eq!(verdict_for(&[0.999, 0.995, 0.98], &t), Verdict::Pass);
        assert_eq!(verdict_for(&[0.999, 0.5, 0.98], &t), Verdict::Fail);
        assert_eq!(verdict_for(&[0.999, 0.93], &t), Verdict::Unsure);
        assert_eq!(verdict_for(&[1.0, 1.0, 1.0], &DEFAULT_THRESHOLDS), Verdict::Pass, "a bit-exact re-render");
        assert_eq!(verdict_for(&[1.0, 0.995], &DEFAULT_THRESHOLDS), Verdict::Unsure);
        assert_eq!(verdict_for(&[], &t), Verdict::Unsure);
        assert_eq!(verdict_for(&[f64::NAN], &t), Verdict::Unsure);
    }
}
