//! Both training templates: the pixel classifier on scikit-learn's digits (when the dataset is in the model cache) and
//! on a small synthetic table, the text classifier on the sample topics fine-tuning all-MiniLM-L6-v2 (when it is in
//! the cache): they learn, a resumed run ends bit-exact where an uninterrupted one does, a replay catches tampering.

use std::path::PathBuf;

use candle_core::Device;
use pictor_core::ai_training::Hyperparameters;

use super::*;

/// A learnable synthetic table (as a dataset): the label is which of three pixel groups is brightest.
fn synthetic() -> Dataset {
    Dataset::Pixels(synthetic_table())
}

fn synthetic_table() -> PixelTable {
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

fn none() -> BaseModels {
    BaseModels::default()
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
    let mut whole = Trainer::start(synthetic(), "sha", hyper(), &none(), &device).expect("start");
    let total = whole.total_steps();
    assert_eq!(total, 45, "240 training rows in batches of 16, 3 epochs");
    run(&mut whole, total);

    let mut first = Trainer::start(synthetic(), "sha", hyper(), &none(), &device).expect("start");
    run(&mut first, 20);
    let bytes = first.checkpoint().expect("checkpoint").to_bytes().expect("bytes");
    drop(first);
    let saved = Checkpoint::from_bytes(&bytes, &device).expect("read back");
    assert_eq!(saved.info.step, 20);
    let mut resumed = Trainer::resume(synthetic(), "sha", hyper(), saved, &none(), &device).expect("resume");
    run(&mut resumed, total - 20);
    let distance = resumed.checkpoint().unwrap().weight_distance(&whole.checkpoint().unwrap()).unwrap();
    assert_eq!(distance, 0.0, "bit-exact");
    assert!(whole.accuracy().expect("accuracy") > 0.6, "it learns");
}

#[test]
fn a_checkpoint_of_another_run_is_refused() {
    let device = Device::Cpu;
    let trainer = Trainer::start(synthetic(), "sha", hyper(), &none(), &device).expect("start");
    let other_seed = Hyperparameters { seed: 12, ..hyper() };
    let refused = Trainer::resume(synthetic(), "sha", other_seed, trainer.checkpoint().unwrap(), &none(), &device);
    assert!(refused.is_err());
    let refused = Trainer::resume(synthetic(), "other", hyper(), trainer.checkpoint().unwrap(), &none(), &device);
    assert!(refused.is_err());
    assert!(Checkpoint::from_bytes(b"not safetensors", &device).is_err());
}

#[test]
fn a_replay_matches_an_honest_segment_and_catches_a_tampered_one() {
    let device = Device::Cpu;
    let mut trainer = Trainer::start(synthetic(), "sha", hyper(), &none(), &device).expect("start");
    run(&mut trainer, 10);
    let from = trainer.checkpoint().unwrap().to_bytes().unwrap();
    run(&mut trainer, 10);
    let honest = trainer.checkpoint().unwrap();
    let load = |bytes: &[u8]| Checkpoint::from_bytes(bytes, &device).expect("checkpoint");
    let verdict =
        replay_segment(synthetic(), "sha", hyper(), &none(), load(&from), &honest, 0.0, &device).expect("replay");
    assert_eq!(verdict, ReplayVerdict { distance: 0.0, matches: true });

    // A worker that skipped the last step of the segment.
    let mut lazy = Trainer::resume(synthetic(), "sha", hyper(), load(&from), &none(), &device).expect("resume");
    run(&mut lazy, 9);
    let mut skipped = lazy.checkpoint().unwrap();
    skipped.info.step = 20;
    let verdict =
        replay_segment(synthetic(), "sha", hyper(), &none(), load(&from), &skipped, CROSS_BUILD_TOLERANCE, &device)
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
    let mut trainer = Trainer::start(Dataset::Pixels(table), "digits", hyper, &none(), &Device::Cpu).expect("start");
    let started = std::time::Instant::now();
    let total = trainer.total_steps();
    run(&mut trainer, total);
    let accuracy = trainer.accuracy().expect("accuracy");
    eprintln!("digits: {} steps in {:?}, held-out accuracy {accuracy:.3}", trainer.step(), started.elapsed());
    assert!(accuracy >= 0.9, "held-out accuracy {accuracy}");
}

/// The network's MiniLM folder, where set-up put it.
fn minilm() -> Option<BaseModels> {
    let models = std::env::var_os("PICTOR_MODELS").map(PathBuf::from)?;
    let folder = models.join("all-minilm-l6-v2");
    folder.join("model.safetensors").exists().then_some(BaseModels { text_encoder: Some(folder) })
}

fn topics() -> Dataset {
    let text = include_str!("../../../samples/datasets/topics.csv");
    Dataset::parse(pictor_core::ai_training::TrainingTemplate::TextClassifier, text).expect("the sample parses")
}

#[test]
fn minilm_fine_tunes_into_a_text_classifier_resumes_bit_exact_and_replays() {
    let Some(bases) = minilm() else {
        eprintln!("skipped: run scripts/setup to fetch all-MiniLM-L6-v2");
        return;
    };
    let device = Device::Cpu;
    let hyper = pictor_core::ai_training::TrainingTemplate::TextClassifier.default_hyperparameters();
    let started = std::time::Instant::now();
    let mut whole = Trainer::start(topics(), "topics", hyper, &bases, &device).expect("start");
    let before = whole.accuracy().expect("accuracy");
    let total = whole.total_steps();
    assert_eq!(total, 24, "96 training rows in batches of 16, 4 epochs");
    run(&mut whole, 8);
    let from = whole.checkpoint().expect("checkpoint").to_bytes().expect("bytes");
    eprintln!("text checkpoint: {} bytes", from.len());
    run(&mut whole, 8);
    let at_16 = whole.checkpoint().expect("checkpoint");
    run(&mut whole, total - 16);
    let after = whole.accuracy().expect("accuracy");
    eprintln!("topics: {total} steps in {:?}, held-out accuracy {before:.3} → {after:.3}", started.elapsed());
    assert!(after >= 0.8 && after > before, "held-out accuracy {before} → {after}");

    let load = |bytes: &[u8]| Checkpoint::from_bytes(bytes, &device).expect("checkpoint");
    assert_eq!(load(&from).info.labels, ["computers", "cooking", "sports", "weather"]);
    let mut resumed = Trainer::resume(topics(), "topics", hyper, load(&from), &bases, &device).expect("resume");
    run(&mut resumed, total - 8);
    let distance = resumed.checkpoint().unwrap().weight_distance(&whole.checkpoint().unwrap()).unwrap();
    assert_eq!(distance, 0.0, "bit-exact");

    let verdict = replay_segment(topics(), "topics", hyper, &bases, load(&from), &at_16, 0.0, &device).expect("replay");
    assert!(verdict.matches, "an honest segment replays exactly ({})", verdict.distance);
    let mut lazy = Trainer::resume(topics(), "topics", hyper, load(&from), &bases, &device).expect("resume");
    run(&mut lazy, 7);
    let mut skipped = lazy.checkpoint().unwrap();
    skipped.info.step = 16;
    let verdict =
        replay_segment(topics(), "topics", hyper, &bases, load(&from), &skipped, CROSS_BUILD_TOLERANCE, &device)
            .expect("replay");
    assert!(
        verdict.distance > 10.0 * CROSS_BUILD_TOLERANCE,
        "one skipped step moves the weights by {}",
        verdict.distance
    );

    // The served model answers the held-out style of text with the trained classes and fine-tuned embeddings.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("model.safetensors");
    std::fs::write(&file, whole.checkpoint().unwrap().model_bytes().unwrap()).expect("write");
    let summary = crate::validate::trained_classifier(&file).expect("valid");
    assert_eq!((summary.classes, summary.inputs), (4, 384));
    let served = crate::Classifier::load(&file, &bases, &device).expect("load");
    let texts = ["Bake the bread until golden".to_string(), "Rain and wind are coming tonight".to_string()];
    let answers = served.classify(&texts).expect("classify");
    let names: Vec<usize> = answers.iter().map(|p| crate::best_class(p)).collect();
    assert_eq!(names, [1, 3], "cooking, weather: {answers:?}");
    let embedded = served.embed(&texts).expect("embed");
    assert_eq!(embedded.vectors[0].len(), 384);
    assert!((embedded.vectors[0].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
}
