//! Which results are re-rendered by checkers, and how many checkers must agree: adaptive replication as in BOINC,
//! tuned so that a worker cheating on one frame in ten cannot slip through a job.
//!
//! Every result of a worker with fewer than [`TRUST_AFTER`] consecutive verified results is checked; after that a
//! result is checked with probability `TRUST_AFTER / streak`, never below [`MIN_CHECK_RATE`]. A rejection resets
//! the streak, blocklists the worker from the job after two, and sends its unchecked results of the job back to
//! the queue; a worker rejected [`FLAG_AFTER_REJECTIONS`](crate::db::verdicts::FLAG_AFTER_REJECTIONS) times is
//! flagged and always checked.
//!
//! Why 40 and not BOINC's usual ~10: in a simulation of 50 000 jobs where a fresh worker renders 50 frames and
//! cheats on 10 % of them, a threshold of 10 let the cheater keep at least one bad frame in 18 % of jobs (it
//! passes 10 checks in a row with probability 0.9¹⁰ ≈ 35 %, then goes unchecked often enough); 40 brings the
//! share of cheated frames caught to 99.97 %. The cost falls on fresh workers only, and a check re-renders three
//! crops of about 1 % of the frame's side, so it stays a small share of the render (see BENCHMARKS.md).

use pictor_core::agent_protocol::TileRegion;
use pictor_core::jobs::{tiles, JobSpec, Split};
use pictor_core::verification::{choose_crops_guided, Crop, CropPlan, DetailGrid};

use crate::db::verifications::WorkerTrust;

/// Consecutive verified results before a worker is sampled instead of always checked.
pub const TRUST_AFTER: i64 = 40;
/// The lowest share of a trusted worker's results that is still checked.
pub const MIN_CHECK_RATE: f64 = 0.1;

/// The chance that a result of this worker is checked. `suspicious` results (a uniform image) are always checked.
pub fn check_probability(trust: &WorkerTrust, suspicious: bool) -> f64 {
    if suspicious || trust.flagged || trust.valid_streak < TRUST_AFTER {
        return 1.0;
    }
    (TRUST_AFTER as f64 / trust.valid_streak as f64).clamp(MIN_CHECK_RATE, 1.0)
}

/// Verdicts needed: the configured quorum if that many eligible checkers are online, else as many as there are;
/// always odd, so a majority exists. `None` when no checker could check it.
pub fn quorum(configured: u32, eligible: i64) -> Option<i64> {
    let possible = i64::from(configured).min(eligible);
    if possible < 1 {
        return None;
    }
    Some(if possible % 2 == 0 { possible - 1 } else { possible })
}

/// The area of the output a task's result covers: its tile, or the whole image.
pub fn task_area(spec: &JobSpec, tile_index: Option<i64>) -> TileRegion {
    let (width, height) = spec.output_size();
    let whole = TileRegion { min_x: 0, max_x: width, min_y: 0, max_y: height };
    match (&spec.split, tile_index) {
        (Split::Tiles { tiles: count, .. }, Some(index)) => {
            tiles(width, height, *count).into_iter().find(|tile| i64::from(tile.index) == index).map_or(whole, |tile| {
                TileRegion { min_x: tile.min_x, max_x: tile.max_x, min_y: tile.min_y, max_y: tile.max_y }
            })
        }
        _ => whole,
    }
}

/// Crops for one round of checking a task's result, guided by the detail of the worker's images where known.
pub fn crops_for(
    spec: &JobSpec,
    frames: &[i64],
    tile_index: Option<i64>,
    plan: &CropPlan,
    detail: &[DetailGrid],
    random: impl FnMut() -> f64,
) -> Vec<Crop> {
    let (width, height) = spec.output_size();
    choose_crops_guided(plan, frames, task_area(spec, tile_index), width.min(height), detail, random)
}

/// The side of a round's crops for a job (the size of a detail cell).
pub fn crop_side(spec: &JobSpec, plan: &CropPlan) -> u32 {
    let (width, height) = spec.output_size();
    plan.side(width.min(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(valid_streak: i64, flagged: bool) -> WorkerTrust {
        WorkerTrust { owner: 1, valid_streak, flagged }
    }

    #[test]
    fn new_and_flagged_workers_are_always_checked_then_less_and_less() {
        assert_eq!(check_probability(&trust(0, false), false), 1.0);
        assert_eq!(check_probability(&trust(39, false), false), 1.0);
        assert_eq!(check_probability(&trust(80, false), false), 0.5);
        assert_eq!(check_probability(&trust(4_000, false), false), MIN_CHECK_RATE, "never below the floor");
        assert_eq!(check_probability(&trust(4_000, true), false), 1.0, "flagged");
        assert_eq!(check_probability(&trust(4_000, false), true), 1.0, "a suspicious image");
    }

    #[test]
    fn the_quorum_is_odd_and_never_more_than_the_checkers_online() {
        assert_eq!(quorum(3, 0), None);
        assert_eq!(quorum(3, 1), Some(1));
        assert_eq!(quorum(3, 2), Some(1));
        assert_eq!(quorum(3, 7), Some(3));
        assert_eq!(quorum(1, 7), Some(1));
        assert_eq!(quorum(4, 9), Some(3));
    }

    #[test]
    fn a_tiles_crops_stay_inside_the_tile() {
        let form = pictor_core::jobs::JobForm {
            tiles: "4".into(),
            ..pictor_core::jobs::JobForm::cycles_png("t", "3", 200, 100, 1)
        };
        let spec = form.validate().expect("valid");
        let area = task_area(&spec, Some(3));
        assert_eq!(area, TileRegion { min_x: 100, max_x: 200, min_y: 50, max_y: 100 });
        let crops = crops_for(&spec, &[3], Some(3), &pictor_core::verification::ROUND_TWO, &[], || 0.999);
        assert!(crops.iter().all(|c| c.region.max_x <= 200 && c.region.min_y >= 50 && c.frame == 3));
    }
}
