//! Reading Blender's console output while it renders: progress within the frame, the first error, the log tail.

use std::collections::VecDeque;

/// Lines kept for the job page; enough to show the error and what led to it.
pub const TAIL_LINES: usize = 40;
/// A single line longer than this is cut: the tail is sent with every progress report.
const MAX_LINE_CHARS: usize = 300;

/// The share of the current frame rendered, from one output line: Cycles' `… | Sample 12/64` (also
/// `Rendered 3/16 Tiles, Sample 12/64` in older versions) or EEVEE's `… | Rendering 3 / 64 samples`.
pub fn progress_fraction(line: &str) -> Option<f32> {
    let (done, total) = cycles_samples(line).or_else(|| eevee_samples(line))?;
    (total > 0).then(|| (done.min(total) as f32) / (total as f32))
}

fn cycles_samples(line: &str) -> Option<(u32, u32)> {
    let (_, rest) = line.rsplit_once("Sample ")?;
    let (done, rest) = rest.split_once('/')?;
    let total: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((done.trim().parse().ok()?, total.parse().ok()?))
}

fn eevee_samples(line: &str) -> Option<(u32, u32)> {
    let (_, rest) = line.rsplit_once("Rendering ")?;
    let rest = rest.strip_suffix("samples")?.trim_end();
    let (done, total) = rest.split_once('/')?;
    Some((done.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// Blender reports failures as `Error: …` lines (a missing texture, a denoiser it was built without).
pub fn blender_error(line: &str) -> Option<&str> {
    let line = line.trim();
    line.starts_with("Error:").then_some(line)
}

/// A Python exception in the settings script ends its traceback with `SomethingError: …`, which says more than
/// Blender's own `Error: Python: Traceback …` line.
pub fn python_error(line: &str) -> Option<&str> {
    let line = line.trim();
    let (name, _) = line.split_once(": ")?;
    let is_exception = name.len() > "Error".len()
        && name.ends_with("Error")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
    is_exception.then_some(line)
}

/// What has been read of Blender's output so far.
#[derive(Debug, Default)]
pub struct RenderLog {
    tail: VecDeque<String>,
    blender_error: Option<String>,
    python_error: Option<String>,
    fraction: f32,
}

impl RenderLog {
    /// Takes one line; returns true when the progress changed.
    pub fn push(&mut self, line: &str) -> bool {
        let line = crate::exec::shorten(line.trim_end(), MAX_LINE_CHARS);
        if self.blender_error.is_none() {
            self.blender_error = blender_error(&line).map(str::to_owned);
        }
        if self.python_error.is_none() {
            self.python_error = python_error(&line).map(str::to_owned);
        }
        let changed = match progress_fraction(&line) {
            Some(fraction) if fraction != self.fraction => {
                self.fraction = fraction;
                true
            }
            _ => false,
        };
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
        changed
    }

    pub fn fraction(&self) -> f32 {
        self.fraction
    }

    /// The most telling error seen: the script's exception, else Blender's first `Error:` line.
    pub fn first_error(&self) -> Option<&str> {
        self.python_error.as_deref().or(self.blender_error.as_deref())
    }

    pub fn tail(&self) -> String {
        self.tail.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from Blender 3.4.1 (`blender -b --factory-startup -E CYCLES -f 1`, and `-E BLENDER_EEVEE`).
    const CYCLES_SAMPLE: &str = "Fra:1 Mem:14.67M (Peak 14.67M) | Time:00:00.04 | Remaining:00:00.22 | \
                                 Mem:5.21M, Peak:5.21M | Scene, ViewLayer | Sample 1/16";
    const CYCLES_LAST: &str =
        "Fra:1 Mem:16.65M (Peak 20.60M) | Time:00:00.24 | Mem:5.21M, Peak:5.21M | Scene, ViewLayer | Sample 16/16";
    const CYCLES_BVH: &str = "Fra:1 Mem:9.71M (Peak 9.71M) | Time:00:00.02 | Mem:0.00M, Peak:0.00M | Scene, \
                              ViewLayer | Updating Scene BVH | Building BVH 0%";
    const EEVEE_SAMPLE: &str = "Fra:1 Mem:13.03M (Peak 14.14M) | Time:00:01.00 | Rendering 1 / 8 samples";
    const EEVEE_SYNC: &str = "Fra:1 Mem:13.02M (Peak 14.14M) | Time:00:00.71 | Syncing Cube";
    const DENOISE_ERROR: &str = "Error: Build without OpenImageDenoiser";

    #[test]
    fn cycles_and_eevee_sample_lines_give_the_share_of_the_frame() {
        assert_eq!(progress_fraction(CYCLES_SAMPLE), Some(1.0 / 16.0));
        assert_eq!(progress_fraction(CYCLES_LAST), Some(1.0));
        assert_eq!(progress_fraction(EEVEE_SAMPLE), Some(1.0 / 8.0));
        assert_eq!(progress_fraction("Fra:1 | Rendered 3/16 Tiles, Sample 32/64"), Some(0.5));
    }

    #[test]
    fn other_lines_carry_no_progress() {
        for line in [CYCLES_BVH, EEVEE_SYNC, DENOISE_ERROR, "Saved: '/tmp/c_0001.png'", "Sample 3/0", ""] {
            assert_eq!(progress_fraction(line), None, "{line}");
        }
    }

    #[test]
    fn the_first_error_line_is_kept() {
        let mut log = RenderLog::default();
        for line in [CYCLES_BVH, DENOISE_ERROR, "Error: second"] {
            log.push(line);
        }
        assert_eq!(log.first_error(), Some(DENOISE_ERROR));
        assert_eq!(blender_error(CYCLES_SAMPLE), None);
    }

    #[test]
    fn a_python_exception_says_more_than_blenders_traceback_line() {
        let mut log = RenderLog::default();
        for line in [
            "Error: Python: Traceback (most recent call last):",
            "  File \"<string>\", line 5, in <module>",
            "TypeError: bpy_struct: item.attr = val: enum \"NO_SUCH_ENGINE\" not found in ('CYCLES')",
            "Error: script failed, expr: 'import os, bpy",
        ] {
            log.push(line);
        }
        assert!(log.first_error().is_some_and(|e| e.starts_with("TypeError: ")), "{:?}", log.first_error());
        assert_eq!(python_error("Error: Python: Traceback"), None);
        assert_eq!(python_error(CYCLES_SAMPLE), None);
    }

    #[test]
    fn the_tail_keeps_the_last_forty_lines_and_reports_changes() {
        let mut log = RenderLog::default();
        assert!(log.push(CYCLES_SAMPLE));
        assert!(!log.push(CYCLES_SAMPLE));
        for i in 0..100 {
            log.push(&format!("line {i}"));
        }
        let tail = log.tail();
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.starts_with("line 60\n") && tail.ends_with("line 99"), "{tail}");
        assert_eq!(log.fraction(), 1.0 / 16.0);
    }
}
