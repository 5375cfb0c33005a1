//! Frame lists as render-farm users type them (`1-10,15,20-40:2`, `1..10`, `1-100x5`) and their split into chunks.

use std::collections::BTreeSet;

/// More frames than this in one job is a typo, not a render.
pub const MAX_FRAMES: usize = 100_000;
/// Blender's frame numbers stay within ±1 048 574.
pub const MAX_FRAME_NUMBER: i64 = 1_048_574;

/// Why a frame list was refused; each names the offending part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameListError {
    #[error("the frame list is empty")]
    Empty,
    #[error("{part:?} is not a frame, a range like 1-10, or a stepped range like 1-100:5")]
    Syntax { part: String },
    #[error("{part:?}: the range ends before it starts")]
    Backwards { part: String },
    #[error("{part:?}: the step must be at least 1")]
    BadStep { part: String },
    #[error("{part:?}: frame numbers must be between -{MAX_FRAME_NUMBER} and {MAX_FRAME_NUMBER}")]
    OutOfRange { part: String },
    #[error("more than {MAX_FRAMES} frames")]
    TooMany,
}

/// A validated, sorted, de-duplicated list of frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameList(Vec<i64>);

impl FrameList {
    /// Parses comma-separated parts: `7`, `1-10`, `1..10`, `1-100:5` or `1-100x5`. Spaces around parts and
    /// around `-`, `..`, `:` and `x` are ignored, but not between two digits (`1 10` is not frame 110); a leading
    /// minus is a negative frame (`-5--1` is -5 to -1).
    pub fn parse(text: &str) -> Result<Self, FrameListError> {
        if text.trim().is_empty() {
            return Err(FrameListError::Empty);
        }
        let mut frames = BTreeSet::new();
        for written in text.split(',') {
            let written = written.trim();
            if splits_a_number(written) {
                return Err(FrameListError::Syntax { part: written.to_string() });
            }
            let part: String = written.chars().filter(|c| !c.is_whitespace()).collect();
            let part = part.as_str();
            if part.is_empty() {
                continue;
            }
            let (range, step) = split_step(part)?;
            let (start, end) = split_range(range, part)?;
            if end < start {
                return Err(FrameListError::Backwards { part: part.to_string() });
            }
            // Count before inserting so "1-999999999" is refused without building it.
            let count = (end - start) / step + 1;
            if frames.len() as i64 + count > MAX_FRAMES as i64 * 2 {
                return Err(FrameListError::TooMany);
            }
            let mut frame = start;
            while frame <= end {
                frames.insert(frame);
                frame += step;
            }
            if frames.len() > MAX_FRAMES {
                return Err(FrameListError::TooMany);
            }
        }
        if frames.is_empty() {
            return Err(FrameListError::Empty);
        }
        Ok(FrameList(frames.into_iter().collect()))
    }

    pub fn frames(&self) -> &[i64] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Groups the sorted frames by count, as Flamenco does: `chunk_size` frames per task, the last one shorter.
    pub fn chunks(&self, chunk_size: usize) -> Vec<Vec<i64>> {
        self.0.chunks(chunk_size.max(1)).map(<[i64]>::to_vec).collect()
    }

    /// The list written back compactly: consecutive runs as ranges (`1-3,5,7-9`).
    pub fn compact(&self) -> String {
        let mut parts = Vec::new();
        let mut index = 0;
        while index < self.0.len() {
            let start = self.0[index];
            let mut end = start;
            while index + 1 < self.0.len() && self.0[index + 1] == end + 1 {
                index += 1;
                end = self.0[index];
            }
            parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
            index += 1;
        }
        parts.join(",")
    }
}

/// Whether whitespace stands between two digits (`1 10`, `1-1 0`): a typo, never a frame number to guess.
fn splits_a_number(part: &str) -> bool {
    let chars: Vec<char> = part.chars().collect();
    chars.iter().enumerate().any(|(at, c)| {
        c.is_whitespace()
            && chars[..at].iter().rev().find(|c| !c.is_whitespace()).is_some_and(char::is_ascii_digit)
            && chars[at..].iter().find(|c| !c.is_whitespace()).is_some_and(char::is_ascii_digit)
    })
}

/// `1-100:5` / `1-100x5` → (`1-100`, 5); no step → 1.
fn split_step(part: &str) -> Result<(&str, i64), FrameListError> {
    let Some(at) = part.rfind([':', 'x']) else { return Ok((part, 1)) };
    let step: i64 = part[at + 1..].parse().map_err(|_| FrameListError::Syntax { part: part.to_string() })?;
    if step < 1 {
        return Err(FrameListError::BadStep { part: part.to_string() });
    }
    Ok((&part[..at], step))
}

/// `7` → (7, 7); `1-10` or `1..10` → (1, 10); negative numbers allowed on both sides.
fn split_range(range: &str, part: &str) -> Result<(i64, i64), FrameListError> {
    let syntax = || FrameListError::Syntax { part: part.to_string() };
    let number = |text: &str| -> Result<i64, FrameListError> {
        let value: i64 = text.parse().map_err(|_| syntax())?;
        if value.abs() > MAX_FRAME_NUMBER {
            return Err(FrameListError::OutOfRange { part: part.to_string() });
        }
        Ok(value)
    };
    if let Some((start, end)) = range.split_once("..") {
        return Ok((number(start)?, number(end)?));
    }
    // The separating dash is the first one after the first character (which may be a minus sign).
    match range.get(1..).and_then(|rest| rest.find('-')).map(|at| at + 1) {
        Some(at) => Ok((number(&range[..at])?, number(&range[at + 1..])?)),
        None => {
            let frame = number(range)?;
            Ok((frame, frame))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<i64> {
        FrameList::parse(text).expect("valid").frames().to_vec()
    }

    #[test]
    fn the_usual_syntaxes_parse_sorted_and_deduplicated() {
        assert_eq!(frames("1-5"), vec![1, 2, 3, 4, 5]);
        assert_eq!(frames("1..3"), vec![1, 2, 3]);
        assert_eq!(frames(" 10, 1-3 ,2 "), vec![1, 2, 3, 10]);
        assert_eq!(frames("1-10:3"), vec![1, 4, 7, 10]);
        assert_eq!(frames("1-10x4"), vec![1, 5, 9]);
        assert_eq!(frames("20-40:10,15,1-2"), vec![1, 2, 15, 20, 30, 40]);
        assert_eq!(frames("-3--1,0"), vec![-3, -2, -1, 0]);
        assert_eq!(frames("7"), vec![7]);
    }

    #[test]
    fn errors_name_the_offending_part() {
        assert_eq!(FrameList::parse("  "), Err(FrameListError::Empty));
        assert_eq!(FrameList::parse(",,"), Err(FrameListError::Empty));
        assert_eq!(FrameList::parse("1-5,a"), Err(FrameListError::Syntax { part: "a".into() }));
        assert_eq!(FrameList::parse("10-1"), Err(FrameListError::Backwards { part: "10-1".into() }));
        assert_eq!(FrameList::parse("1-10:0"), Err(FrameListError::BadStep { part: "1-10:0".into() }));
        assert_eq!(FrameList::parse("1-2-3"), Err(FrameListError::Syntax { part: "1-2-3".into() }));
        assert_eq!(FrameList::parse("1-9999999"), Err(FrameListError::OutOfRange { part: "1-9999999".into() }));
        assert_eq!(FrameList::parse("1-1000000"), Err(FrameListError::TooMany));
        let message = FrameList::parse("1-5,x7").expect_err("bad").to_string();
        assert!(message.contains("\"x7\""), "{message}");
    }

    #[test]
    fn whitespace_inside_a_number_is_an_error_naming_the_part() {
        assert_eq!(FrameList::parse("1 10"), Err(FrameListError::Syntax { part: "1 10".into() }));
        assert_eq!(FrameList::parse("5, 1-1 0"), Err(FrameListError::Syntax { part: "1-1 0".into() }));
        assert_eq!(FrameList::parse("1\t2"), Err(FrameListError::Syntax { part: "1\t2".into() }));
        // Around the operators it is only layout.
        assert_eq!(frames("1 - 3, 10 .. 11, 20-30 : 10"), vec![1, 2, 3, 10, 11, 20, 30]);
        assert_eq!(frames("- 2"), vec![-2]);
    }

    #[test]
    fn chunks_group_sorted_frames_by_count() {
        let list = FrameList::parse("1-7").expect("valid");
        assert_eq!(list.chunks(3), vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
        assert_eq!(list.chunks(0).len(), 7, "a chunk size of 0 means one frame per task");
        assert_eq!(FrameList::parse("1-3,5,7-9").expect("valid").compact(), "1-3,5,7-9");
    }

    /// Fuzzed: any text (and text made of the list alphabet, which reaches the deeper paths) either parses to a
    /// list that writes back to the same frames, or is refused; it never panics. `PROPTEST_CASES` sets how many.
    #[test]
    fn any_text_parses_to_a_list_that_round_trips_or_is_refused() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        let text = prop_oneof![".{0,40}", "[0-9 ,.:x-]{0,24}"];
        let accepted = std::cell::Cell::new(0);
        runner
            .run(&text, |text| {
                if let Ok(list) = FrameList::parse(&text) {
                    accepted.set(accepted.get() + 1);
                    let again = FrameList::parse(&list.compact()).expect("its own compact form parses");
                    prop_assert_eq!(again.frames(), list.frames());
                }
                Ok(())
            })
            .expect("no counterexample");
        eprintln!("frame lists: {} inputs, {} accepted", runner.config().cases, accepted.get());
    }
}
