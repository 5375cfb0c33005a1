//! The training template on scikit-learn's digits (when the dataset is in the model cache) and on a small synthetic
//! table: it learns, a resumed run ends bit-exact where an uninterrupted one does, and a replay catches tampering.

use std::path::PathBuf;

use candle_core::Device;
use pictor_core::ai_training::Hyperparameters;

use super::*;

/// A learnable synthetic table: the label is which of three pixel groups is brightest.
fn synthetic() -> PixelTable {
    let mut rng = super::rng::SplitMix64::new(9, 9);
    let mut text = String::new();
    for _ in 0..300 {
        let pixels: Vec<u32> = (0..6).map(|_| (rng.next_f32() * 16.0) as u32).collect();
        let sums = [pixels[0] + pixels[1], pixels[2] + pixels[3], pixels[4] + pixels[5]];
        let label = (0..3).max_by_key(|i| sums[*i]).unwrap_or(0);
        let cells: Vec<String> = pixels.iter().map(u32::to_string).collect();
        text.push_str(&format!("{},{label}\n", cells.join(",")));
    }
    PixelTable::parse(&text).expect("valid")
}

fn hyper() -> Hyperparameters {
    Hyperparameters { epochs: 3, learning_rate: 0.01, batch_size: 16, seed: 11, checkpoint_every: 10 }
}

fn run(trainer: &mut Trainer, steps: u64) {
    for _ in 0..steps {
        trainer.train_step().expect("step");
    }
}

#[test]
fn a_resumed_run_ends_bit_exact_where_an_uninterrupted_one_does() {
    let device = Device::Cpu;
    let mut whole = Trainer::start(synthetic(), "sha", hyper(), &device).expect("start");
    let total = whole.total_steps();
    assert_eq!(total, 45, "240 training rows in batches of 16, 3 epochs");
    run(&mut whole, total);

    let mut first = Trainer::start(synthetic(), "sha", hyper(), &device).expect("start");
    run(&mut first, 20);
    let bytes = first.checkpoint().expect("checkpoint").to_bytes().expect("bytes");
    drop(first);
    let saved = Checkpoint::from_bytes(&bytes, &device).expect("read back");
    assert_eq!(saved.info.step, 20);
    let mut resumed = Trainer::resume(synthetic(), "sha", hyper(), saved, &device).expect("resume");
    run(&mut resumed, total - 20);
    let distance = resumed.checkpoint().unwrap().weight_distance(&whole.checkpoint().unwrap()).unwrap();
    assert_eq!(distance, 0.0, "bit-exact");
    assert!(whole.accuracy().expect("accuracy") > 0.6, "it learns");
}

#[test]
fn a_checkpoint_of_another_run_is_refused() {
    let device = Device::Cpu;
    let trainer = Trainer::start(synthetic(), "sha", hyper(), &device).expect("start");
    let other_seed = Hyperparameters { seed: 12, ..hyper() };
    let refused = Trainer::resume(synthetic(), "sha", other_seed, trainer.checkpoint().unwrap(), &device);
    assert!(refused.is_err());
    let refused = Trainer::resume(synthetic(), "other", hyper(), trainer.checkpoint().unwrap(), &device);
    assert!(refused.is_err());
    assert!(Checkpoint::from_bytes(b"not safetensors", &device).is_err());
}

#[test]
fn a_replay_matches_an_honest_segment_and_catches_a_tampered_one() {
    let device = Device::Cpu;
    let mut trainer = Trainer::start(synthetic(), "sha", hyper(), &device).expect("start");
    run(&mut trainer, 10);
    let from = trainer.checkpoint().unwrap().to_bytes().unwrap();
    run(&mut trainer, 10);
    let honest = trainer.checkpoint().unwrap();
    let load = |bytes: &[u8]| Checkpoint::from_bytes(bytes, &device).expect("checkpoint");
    let verdict = replay_segment(synthetic(), "sha", hyper(), load(&from), &honest, 0.0, &device).expect("replay");
    assert_eq!(verdict, ReplayVerdict { distance: 0.0, matches: true });

    // A worker that skipped the last step of the segment.
    let mut lazy = Trainer::resume(synthetic(), "sha", hyper(), load(&from), &device).expect("resume");
    run(&mut lazy, 9);
    let mut skipped = lazy.checkpoint().unwrap();
    skipped.info.step = 20;
    let verdict = replay_segment(synthetic(), "sha", hyper(), load(&from), &skipped, CROSS_BUILD_TOLERANCE, &device)
        .expect("replay");
    assert!(!verdict.matches, "one skipped step moves the weights by {}", verdict.distance);
    assert!(verdict.distance > 10.0 * CROSS_BUILD_TOLERANCE, "{}", verdict.distance);
}

/// scikit-learn's digits, where set-up put them (`PICTOR_MODELS/datasets/digits.csv`).
fn digits() -> Option<PixelTable> {
    let models = std::env::var_os("PICTOR_MODELS").map(PathBuf::from)?;
    let text = std::fs::read_to_string(models.join("datasets/digits.csv")).ok()?;
    Some(PixelTable::parse(&text).expect("digits parse"))
}

#[test]
fn the_digits_reach_high_held_out_accuracy() {
    let Some(table) = digits() else {
        eprintln!("skipped: run scripts/setup to fetch scikit-learn's digits");
        return;
    };
    assert_eq!((table.rows(), table.inputs, table.classes), (1797, 64, 10));
    let hyper = Hyperparameters { epochs: 20, learning_rate: 0.01, batch_size: 32, seed: 1, checkpoint_every: 100 };
    let mut trainer = Trainer::start(table, "digits", hyper, &Device::Cpu).expect("start");
    let started = std::time::Instant::now();
    let total = trainer.total_steps();
    run(&mut trainer, total);
    let accuracy = trainer.accuracy().expect("accuracy");
    eprintln!("digits: {} steps in {:?}, held-out accuracy {accuracy:.3}", trainer.step(), started.elapsed());
    assert!(accuracy >= 0.9, "held-out accuracy {accuracy}");
}
