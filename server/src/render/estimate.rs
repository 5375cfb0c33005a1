//! What a job will cost before it runs: render seconds per task from the network's recent history at the same engine
//! (pixel-samples per second of render time), or a cautious default with no history, times the median price of the
//! workers that could take it (capped by its tier).

use pictor_core::jobs::{JobSpec, Split};
use pictor_core::ledger::Estimate;

use crate::db::{Db, DbError};

/// With no history: pixel-samples per second of a modest CPU (the sample scene renders at about 1.4 million on the
/// development machine's two cores); slower than most GPUs, so a first estimate errs on the high side.
pub const DEFAULT_PIXEL_SAMPLES_PER_SECOND: f64 = 1_000_000.0;

/// The work in one task of `spec`: pixels × samples × frames (a tile is its share of one frame).
pub fn pixel_samples(spec: &JobSpec, frames_in_task: usize) -> f64 {
    let (width, height) = spec.output_size();
    let per_frame = f64::from(width) * f64::from(height) * f64::from(spec.samples);
    match spec.split {
        Split::Tiles { tiles, .. } => per_frame / f64::from(tiles.max(1)),
        Split::Frames { .. } => per_frame * frames_in_task as f64,
    }
}

/// The middle value (the lower middle for an even count).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|value| value.is_finite() && *value > 0.0);
    values.sort_by(f64::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// The estimate from a throughput (pixel-samples per second, `None` for no history) and the workers' prices.
pub fn estimate_from(spec: &JobSpec, throughput: Option<f64>, prices: &[i64]) -> Estimate {
    let cap = spec.tier.max_price_micro_per_minute();
    let price = median(prices.iter().filter(|p| **p <= cap).map(|p| *p as f64).collect()).map_or(0, |p| p as i64);
    let (rate, source) = match throughput {
        Some(rate) => (rate, "history"),
        None => (DEFAULT_PIXEL_SAMPLES_PER_SECOND, "default"),
    };
    let (frames, per_task_frames, tasks) = match &spec.split {
        Split::Frames { frames, chunk_size } => (frames.len(), *chunk_size as usize, spec.task_count()),
        Split::Tiles { tiles, .. } => (1, 1, *tiles as usize),
    };
    let seconds_per_task = pixel_samples(spec, per_task_frames.min(frames.max(1))) / rate;
    let seconds_total = match &spec.split {
        Split::Frames { .. } => pixel_samples(spec, frames) / rate,
        Split::Tiles { .. } => seconds_per_task * tasks as f64,
    };
    let total = (price as f64 * seconds_total / 60.0).ceil();
    Estimate {
        frames: frames as i64,
        seconds_per_task,
        source: source.to_string(),
        price_micro_per_minute: price,
        total_micro: if total.is_finite() { total.min(i64::MAX as f64) as i64 } else { i64::MAX },
    }
}

/// The estimate for `spec` on this network now.
pub async fn estimate(db: &Db, spec: &JobSpec) -> Result<Estimate, DbError> {
    let engine = spec.engine.label().to_ascii_lowercase();
    let rates: Vec<f64> = db
        .recent_renders(&engine, 200)
        .await?
        .into_iter()
        .filter_map(|(render_ms, spec_json, frames)| {
            let done: JobSpec = serde_json::from_str(&spec_json).ok()?;
            let frames = frames.split(',').filter(|f| !f.trim().is_empty()).count();
            (render_ms > 0).then(|| pixel_samples(&done, frames) / (render_ms as f64 / 1000.0))
        })
        .collect();
    let prices = db.worker_prices().await?;
    Ok(estimate_from(spec, median(rates), &prices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_core::jobs::JobForm;

    fn spec(frames: &str, tiles: &str) -> JobSpec {
        JobForm { chunk_size: "2".into(), tiles: tiles.into(), ..JobForm::cycles_png("e", frames, 100, 100, 10) }
            .validate()
            .expect("valid")
    }

    #[test]
    fn the_estimate_is_work_over_throughput_at_the_median_eligible_price() {
        // 10 frames of 100 000 pixel-samples at 50 000 per second: 20 s of rendering, at 0.6 credits a minute.
        let estimate = estimate_from(&spec("1-10", ""), Some(50_000.0), &[600_000, 300_000, 900_000, 99_000_000]);
        assert_eq!(estimate.price_micro_per_minute, 600_000, "the priciest worker is above the tier and not counted");
        assert_eq!(estimate.source, "history");
        assert_eq!(estimate.seconds_per_task, 4.0, "two frames per task");
        assert_eq!(estimate.total_micro, 200_000);
        let fresh = estimate_from(&spec("1-10", ""), None, &[]);
        assert_eq!((fresh.source.as_str(), fresh.total_micro), ("default", 0), "no priced workers: free");
        let tiled = estimate_from(&spec("5", "4"), Some(25_000.0), &[600_000]);
        assert_eq!((tiled.frames, tiled.seconds_per_task, tiled.total_micro), (1, 1.0, 40_000));
    }
}
