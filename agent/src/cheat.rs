//! Test-only misbehaviour, so that verification can be tested against real cheating and lying agents:
//! a worker that cheats on some frames, and a checker that lies. Only debug builds accept the flags (hidden
//! from `--help`); release builds cannot be told to cheat.

use std::path::Path;

use image::{Rgba, RgbaImage};
use pictor_core::agent_protocol::RenderSettings;

/// How a cheating worker fakes a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Cheat {
    /// An empty image of the right size.
    Blank,
    /// The real render with noise added.
    Noise,
    /// The next frame instead of the one asked for.
    WrongFrame,
    /// A quarter of the samples asked for.
    LowSamples,
    /// Training: half the steps of a segment skipped, its checkpoint claiming them all.
    SkipSteps,
}

/// A cheat and the share of frames it is applied to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cheating {
    pub cheat: Cheat,
    pub rate: f64,
}

impl Cheating {
    /// Whether this frame is faked (drawn at random, at `rate`).
    pub fn strikes(&self) -> bool {
        rand::random::<f64>() < self.rate
    }

    /// What to ask Blender for instead of `frame` at `settings`.
    pub fn render_instead(&self, frame: i64, settings: &RenderSettings) -> (i64, RenderSettings) {
        match self.cheat {
            Cheat::WrongFrame => (frame + 1, settings.clone()),
            Cheat::LowSamples => (frame, RenderSettings { samples: (settings.samples / 4).max(1), ..settings.clone() }),
            Cheat::Blank | Cheat::Noise | Cheat::SkipSteps => (frame, settings.clone()),
        }
    }

    /// Alters the rendered file in place (blank or noise).
    pub fn tamper(&self, output: &Path) -> Result<(), String> {
        if !matches!(self.cheat, Cheat::Blank | Cheat::Noise) {
            return Ok(());
        }
        let image = image::open(output).map_err(|e| e.to_string())?.to_rgba8();
        let tampered = match self.cheat {
            Cheat::Blank => RgbaImage::from_pixel(image.width(), image.height(), Rgba([0, 0, 0, 255])),
            _ => add_noise(image),
        };
        tampered.save(output).map_err(|e| e.to_string())
    }
}

fn add_noise(mut image: RgbaImage) -> RgbaImage {
    for pixel in image.pixels_mut() {
        for channel in &mut pixel.0[..3] {
            let jitter: i16 = rand::random::<i16>() % 48;
            *channel = (i16::from(*channel) + jitter).clamp(0, 255) as u8;
        }
    }
    image
}

/// What a lying checker always claims, whatever it measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lie {
    /// Every result is fine (a lazy or colluding checker).
    Pass,
    /// Every result is bad (a spiteful checker).
    Fail,
}

impl Lie {
    /// The SSIM it reports for every crop, consistent with its claim.
    pub fn claimed_ssim(self) -> f64 {
        match self {
            Lie::Pass => 1.0,
            Lie::Fail => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RenderSettings {
        RenderSettings {
            engine: "CYCLES".into(),
            file_format: "PNG".into(),
            extension: "png".into(),
            resolution_x: 64,
            resolution_y: 36,
            resolution_percent: 100,
            samples: 16,
        }
    }

    #[test]
    fn cheats_change_what_is_rendered_or_what_is_sent() {
        let wrong = Cheating { cheat: Cheat::WrongFrame, rate: 1.0 };
        assert_eq!(wrong.render_instead(5, &settings()).0, 6);
        let low = Cheating { cheat: Cheat::LowSamples, rate: 1.0 };
        assert_eq!(low.render_instead(5, &settings()).1.samples, 4);
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("frame.png");
        RgbaImage::from_fn(8, 8, |x, _| Rgba([x as u8 * 30, 9, 9, 255])).save(&path).expect("save");
        Cheating { cheat: Cheat::Blank, rate: 1.0 }.tamper(&path).expect("tampered");
        let blank = image::open(&path).expect("open").to_rgba8();
        assert!(blank.pixels().all(|p| p.0 == [0, 0, 0, 255]));
        assert!(!Cheating { cheat: Cheat::Noise, rate: 0.0 }.strikes());
    }
}
