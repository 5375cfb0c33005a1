//! Render job specifications: what a creator asks for, validated field by field, and how a job splits into tasks.

use serde::{Deserialize, Serialize};

use crate::frames::FrameList;
use crate::states::{AttemptOutcome, JobState, TaskState};
use crate::workers::parse_tags;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engine {
    Cycles,
    Eevee,
    Workbench,
}

impl Engine {
    pub const ALL: [Engine; 3] = [Engine::Cycles, Engine::Eevee, Engine::Workbench];

    pub fn label(self) -> &'static str {
        match self {
            Engine::Cycles => "Cycles",
            Engine::Eevee => "EEVEE",
            Engine::Workbench => "Workbench",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|engine| engine.label().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    Png,
    OpenExr,
    Jpeg,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 3] = [OutputFormat::Png, OutputFormat::OpenExr, OutputFormat::Jpeg];

    pub fn label(self) -> &'static str {
        match self {
            OutputFormat::Png => "PNG",
            OutputFormat::OpenExr => "OpenEXR",
            OutputFormat::Jpeg => "JPEG",
        }
    }

    /// Blender's `image_settings.file_format` value.
    pub fn blender_name(self) -> &'static str {
        match self {
            OutputFormat::Png => "PNG",
            OutputFormat::OpenExr => "OPEN_EXR",
            OutputFormat::Jpeg => "JPEG",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Png => "png",
            OutputFormat::OpenExr => "exr",
            OutputFormat::Jpeg => "jpg",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.label().eq_ignore_ascii_case(text.trim()))
    }
}

/// How urgent a job is: higher tiers are leased first and may pay workers more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityTier {
    Economy,
    Standard,
    Priority,
}

impl PriorityTier {
    pub const ALL: [PriorityTier; 3] = [PriorityTier::Economy, PriorityTier::Standard, PriorityTier::Priority];

    pub fn label(self) -> &'static str {
        match self {
            PriorityTier::Economy => "Economy",
            PriorityTier::Standard => "Standard",
            PriorityTier::Priority => "Priority",
        }
    }

    /// The highest worker price (micro-credits per render-minute) a job of this tier pays.
    pub fn max_price_micro_per_minute(self) -> i64 {
        match self {
            PriorityTier::Economy => 200_000,
            PriorityTier::Standard => 1_000_000,
            PriorityTier::Priority => 5_000_000,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tier| tier.label().eq_ignore_ascii_case(text.trim()))
    }
}

/// One rectangle of a single image split into tiles (Blender border render), in pixels from the bottom left, as
/// Blender counts them; `max` ends are exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tile {
    pub index: u32,
    pub min_x: u32,
    pub max_x: u32,
    pub min_y: u32,
    pub max_y: u32,
}

/// Splits a `width`×`height` image into `count` tiles on a near-square grid that covers it exactly once.
pub fn tiles(width: u32, height: u32, count: u32) -> Vec<Tile> {
    let count = count.max(1);
    let columns = (f64::from(count).sqrt().ceil() as u32).max(1);
    let rows = count.div_ceil(columns);
    let edge = |cells: u32, size: u32, i: u32| (u64::from(size) * u64::from(i) / u64::from(cells)) as u32;
    let mut tiles = Vec::new();
    for row in 0..rows {
        // The last row takes what is left, so `count` need not fill the grid.
        let in_row = if row + 1 == rows { count - columns * (rows - 1) } else { columns };
        for column in 0..in_row {
            tiles.push(Tile {
                index: tiles.len() as u32,
                min_x: edge(in_row, width, column),
                max_x: edge(in_row, width, column + 1),
                min_y: edge(rows, height, row),
                max_y: edge(rows, height, row + 1),
            });
        }
    }
    tiles
}

/// A field the creator filled in wrongly, with what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The new-job form as submitted (text fields, as typed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobForm {
    pub name: String,
    /// Frame list (`1-10,15`); ignored when `tiles` is set.
    pub frames: String,
    pub chunk_size: String,
    /// Split one frame (the first of `frames`) into this many tiles instead; empty for an animation.
    pub tiles: String,
    pub resolution_x: String,
    pub resolution_y: String,
    pub resolution_percent: String,
    pub samples: String,
    pub engine: String,
    pub format: String,
    pub tier: String,
    pub min_vram_gib: String,
    pub gpu_model: String,
    pub tags: String,
    /// The most the job may spend, in credits (`12.5`); empty: its estimate.
    #[serde(default)]
    pub budget: String,
    /// The longest one task may render, in minutes; empty: the coordinator's default. A task past it is stopped
    /// on its worker and tried again (a hung Blender must not hold a task for ever).
    #[serde(default)]
    pub max_task_minutes: String,
}

/// How the job is cut into tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    Frames { frames: Vec<i64>, chunk_size: u32 },
    Tiles { frame: i64, tiles: u32 },
}

/// A validated job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    pub split: Split,
    pub resolution_x: u32,
    pub resolution_y: u32,
    pub resolution_percent: u32,
    pub samples: u32,
    pub engine: Engine,
    pub format: OutputFormat,
    pub tier: PriorityTier,
    pub min_vram_gib: u32,
    pub gpu_model: Option<String>,
    pub tags: Vec<String>,
    /// The creator's spending cap in micro-credits, if they set one.
    #[serde(default)]
    pub budget_micro: Option<i64>,
    /// The creator's limit on one task's render time, if they set one (else the coordinator's default applies).
    #[serde(default)]
    pub max_task_minutes: Option<u32>,
}

impl JobSpec {
    /// The settings its tasks (and the checks of their results) render with.
    pub fn render_settings(&self) -> crate::agent_protocol::RenderSettings {
        let engine = match self.engine {
            Engine::Cycles => "CYCLES",
            // The agent maps this to BLENDER_EEVEE_NEXT on the Blender versions that call it so.
            Engine::Eevee => "BLENDER_EEVEE",
            Engine::Workbench => "BLENDER_WORKBENCH",
        };
        crate::agent_protocol::RenderSettings {
            engine: engine.to_string(),
            file_format: self.format.blender_name().to_string(),
            extension: self.format.extension().to_string(),
            resolution_x: self.resolution_x,
            resolution_y: self.resolution_y,
            resolution_percent: self.resolution_percent,
            samples: self.samples,
        }
    }
}

impl JobSpec {
    /// The image size Blender renders: resolution × percentage.
    pub fn output_size(&self) -> (u32, u32) {
        let scale = |size: u32| (u64::from(size) * u64::from(self.resolution_percent) / 100).max(1) as u32;
        (scale(self.resolution_x), scale(self.resolution_y))
    }

    /// Frames per task, or the tiles, as the list of task payloads.
    pub fn task_count(&self) -> usize {
        match &self.split {
            Split::Frames { frames, chunk_size } => frames.len().div_ceil(*chunk_size as usize),
            Split::Tiles { tiles, .. } => *tiles as usize,
        }
    }
}

/// The longest render time a job may allow one task: a week.
pub const MAX_TASK_MINUTES: u32 = 7 * 24 * 60;

/// The largest budget a job may be given: a billion credits.
pub const MAX_BUDGET_MICRO: i64 = 1_000_000_000 * 1_000_000;

/// Reads a whole number within `range`, or says which field is wrong and why.
fn number(field: &str, text: &str, range: std::ops::RangeInclusive<u32>, errors: &mut Vec<FieldError>) -> u32 {
    match text.trim().parse::<u32>() {
        Ok(value) if range.contains(&value) => value,
        _ => {
            errors.push(FieldError {
                field: field.to_string(),
                message: format!("must be a whole number from {} to {}", range.start(), range.end()),
            });
            *range.start()
        }
    }
}

impl JobForm {
    /// The everyday job as typed: Cycles to PNG in the Standard tier, one frame per task, whole frames, no
    /// requirements or budget.
    pub fn cycles_png(name: &str, frames: &str, width: u32, height: u32, samples: u32) -> Self {
        JobForm {
            name: name.to_string(),
            frames: frames.to_string(),
            chunk_size: "1".into(),
            resolution_x: width.to_string(),
            resolution_y: height.to_string(),
            resolution_percent: "100".into(),
            samples: samples.to_string(),
            engine: Engine::Cycles.label().into(),
            format: OutputFormat::Png.label().into(),
            tier: PriorityTier::Standard.label().into(),
            ..JobForm::default()
        }
    }

    /// Every field checked; all problems reported at once.
    pub fn validate(&self) -> Result<JobSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| errors.push(FieldError { field: field.to_string(), message });
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
            fail("name", "give the job a name of at most 120 characters".into());
        }
        let frames = match FrameList::parse(&self.frames) {
            Ok(frames) => Some(frames),
            Err(error) => {
                fail("frames", error.to_string());
                None
            }
        };
        let engine = Engine::parse(&self.engine);
        if engine.is_none() {
            fail("engine", "choose Cycles, EEVEE or Workbench".into());
        }
        let format = OutputFormat::parse(&self.format);
        if format.is_none() {
            fail("format", "choose PNG, OpenEXR or JPEG".into());
        }
        let tier = PriorityTier::parse(&self.tier);
        if tier.is_none() {
            fail("tier", "choose Economy, Standard or Priority".into());
        }
        let tags = parse_tags(&self.tags).unwrap_or_else(|message| {
            fail("tags", message);
            Vec::new()
        });
        let budget_micro = if self.budget.trim().is_empty() {
            None
        } else {
            match crate::workers::parse_credits(&self.budget) {
                Ok(micro) if (1..=MAX_BUDGET_MICRO).contains(&micro) => Some(micro),
                Ok(_) => {
                    fail("budget", "a budget must be more than 0 and at most 1 000 000 000 credits".into());
                    None
                }
                Err(message) => {
                    fail("budget", message);
                    None
                }
            }
        };
        let gpu_model = Some(self.gpu_model.trim().to_string()).filter(|model| !model.is_empty());
        if gpu_model.as_ref().is_some_and(|model| model.chars().count() > 64) {
            fail("gpu_model", "at most 64 characters".into());
        }
        let max_task_minutes = if self.max_task_minutes.trim().is_empty() {
            None
        } else {
            Some(number("max_task_minutes", &self.max_task_minutes, 1..=MAX_TASK_MINUTES, &mut errors))
        };
        let resolution_x = number("resolution_x", &self.resolution_x, 16..=16_384, &mut errors);
        let resolution_y = number("resolution_y", &self.resolution_y, 16..=16_384, &mut errors);
        let resolution_percent = number("resolution_percent", &self.resolution_percent, 1..=100, &mut errors);
        let samples = number("samples", &self.samples, 1..=65_536, &mut errors);
        let min_vram_gib = if self.min_vram_gib.trim().is_empty() {
            0
        } else {
            number("min_vram_gib", &self.min_vram_gib, 0..=256, &mut errors)
        };
        let split = if self.tiles.trim().is_empty() {
            let chunk_size = number("chunk_size", &self.chunk_size, 1..=1_000, &mut errors);
            frames.map(|frames| Split::Frames { frames: frames.frames().to_vec(), chunk_size })
        } else {
            let tiles = number("tiles", &self.tiles, 2..=256, &mut errors);
            match frames {
                Some(frames) if frames.len() == 1 => Some(Split::Tiles { frame: frames.frames()[0], tiles }),
                Some(_) => {
                    errors.push(FieldError {
                        field: "frames".into(),
                        message: "a tiled render is one frame: give a single frame number".into(),
                    });
                    None
                }
                None => None,
            }
        };
        match (split, engine, format, tier) {
            (Some(split), Some(engine), Some(format), Some(tier)) if errors.is_empty() => Ok(JobSpec {
                name,
                split,
                resolution_x,
                resolution_y,
                resolution_percent,
                samples,
                engine,
                format,
                tier,
                min_vram_gib,
                gpu_model,
                tags,
                budget_micro,
                max_task_minutes,
            }),
            _ => Err(errors),
        }
    }
}

/// A job in its owner's list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: i64,
    pub name: String,
    pub state: JobState,
    pub created_at_ms: i64,
    pub tasks_total: i64,
    pub tasks_done: i64,
    pub tasks_failed: i64,
}

/// One task of a job as the job page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub id: i64,
    pub frames: String,
    pub tile_index: Option<i64>,
    pub state: TaskState,
    pub attempt: i64,
    pub progress_percent: i64,
    pub node_id: Option<i64>,
    pub last_error: Option<String>,
}

/// A live update about one task, for the job owner's pages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLive {
    pub job_id: i64,
    pub owner_id: i64,
    pub task_id: i64,
    pub state: TaskState,
    pub attempt: i64,
    pub progress_percent: i64,
}

/// A job with its tasks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetails {
    pub summary: JobSummary,
    pub spec: JobSpec,
    pub tasks: Vec<TaskView>,
    /// How long a finished attempt of this job took on average, for the ETA; `None` before the first one.
    pub avg_task_ms: Option<i64>,
    pub cost: JobCost,
    /// Where the job's results stand with the network's checkers.
    #[serde(default)]
    pub checks: CheckStanding,
}

/// How a job's results stand with checkers: waiting (and for how long), accepted unchecked, and whether a checker
/// that could check them is online.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStanding {
    /// Results waiting for a checker's verdict.
    pub waiting: i64,
    /// How long the oldest of them has waited, when the job was read.
    pub waiting_ms: Option<i64>,
    /// Results accepted without a check (no checker could take them).
    pub unchecked: i64,
    /// Checkers online now that run the job's engine.
    pub checkers_online: i64,
    /// How long a result waits for a checker before it is accepted unchecked (the coordinator's setting).
    pub accepted_unchecked_after_ms: i64,
}

impl CheckStanding {
    /// The job page's sentence about checks, `None` when there is nothing to say (no result yet, or every result
    /// checked).
    pub fn sentence(&self) -> Option<String> {
        let results = |count: i64| if count == 1 { "1 result".to_string() } else { format!("{count} results") };
        let waited = self.waiting_ms.map(|ms| format!(" for {}", crate::time::format_duration(ms))).unwrap_or_default();
        match (self.waiting, self.checkers_online, self.unchecked) {
            (0, _, 0) => None,
            (0, _, unchecked) => {
                Some(format!("{} accepted unchecked: no checker was online to verify them.", results(unchecked)))
            }
            (waiting, 0, _) => Some(format!(
                "{} waiting for a checker{waited}: no checker is online. They are accepted unchecked after {} \
                 without one.",
                results(waiting),
                crate::time::format_duration(self.accepted_unchecked_after_ms)
            )),
            (waiting, online, _) => Some(format!(
                "{} waiting for a checker's verdict{waited} ({online} checker{} online).",
                results(waiting),
                if online == 1 { "" } else { "s" }
            )),
        }
    }
}

/// What a job was expected to cost and what it has cost so far, in micro-credits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCost {
    pub estimate_micro: i64,
    /// "history" or "default": how the estimate was made.
    pub estimate_source: String,
    pub budget_micro: Option<i64>,
    /// Paid to workers and the checker pool (net of anything taken back).
    pub spent_micro: i64,
    /// Still held for the job (refunded when it ends).
    pub escrow_micro: i64,
}

/// One attempt at a task: who ran it, when, how it ended, and Blender's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    pub attempt: i64,
    pub node_id: i64,
    pub node_name: String,
    /// The Blender the worker rendered it with (empty when its agent did not say).
    #[serde(default)]
    pub blender_version: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
    /// The end of Blender's output (live while the attempt runs).
    pub log: String,
}

/// The time left for a job's `remaining` tasks at `avg_task_ms` each, `parallel` at a time (at least one).
pub fn eta_ms(remaining: usize, avg_task_ms: i64, parallel: usize) -> i64 {
    let rounds = remaining.div_ceil(parallel.max(1));
    avg_task_ms.max(0).saturating_mul(i64::try_from(rounds).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_check_sentence_says_what_waits_and_why() {
        let half_hour = 30 * 60_000;
        assert_eq!(CheckStanding::default().sentence(), None);
        let alone = CheckStanding {
            waiting: 3,
            waiting_ms: Some(125_000),
            unchecked: 0,
            checkers_online: 0,
            accepted_unchecked_after_ms: half_hour,
        };
        assert_eq!(
            alone.sentence().unwrap(),
            "3 results waiting for a checker for 2 min 05 s: no checker is online. They are accepted unchecked after \
             30 min 00 s without one."
        );
        let checked = CheckStanding { waiting: 1, waiting_ms: Some(4_000), checkers_online: 2, ..alone.clone() };
        assert_eq!(
            checked.sentence().unwrap(),
            "1 result waiting for a checker's verdict for 4.0 s (2 checkers online)."
        );
        let unchecked = CheckStanding { waiting: 0, waiting_ms: None, unchecked: 2, ..alone };
        assert!(unchecked.sentence().unwrap().starts_with("2 results accepted unchecked"));
    }

    use super::*;

    fn form() -> JobForm {
        JobForm {
            name: "Spinning cube".into(),
            frames: "1-10".into(),
            chunk_size: "3".into(),
            tiles: String::new(),
            resolution_x: "1920".into(),
            resolution_y: "1080".into(),
            resolution_percent: "50".into(),
            samples: "64".into(),
            engine: "cycles".into(),
            format: "PNG".into(),
            tier: "standard".into(),
            min_vram_gib: String::new(),
            gpu_model: String::new(),
            tags: "gpu".into(),
            budget: String::new(),
            max_task_minutes: String::new(),
        }
    }

    #[test]
    fn a_tasks_time_limit_is_optional_and_bounded() {
        assert_eq!(form().validate().expect("valid").max_task_minutes, None);
        let limited = JobForm { max_task_minutes: " 90 ".into(), ..form() };
        assert_eq!(limited.validate().expect("valid").max_task_minutes, Some(90));
        for bad in ["0", "-5", "1.5", "a week", "10081"] {
            let errors = JobForm { max_task_minutes: bad.into(), ..form() }.validate().expect_err(bad);
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].field, "max_task_minutes", "{bad}");
        }
    }

    #[test]
    fn the_eta_counts_rounds_of_parallel_tasks() {
        assert_eq!(eta_ms(0, 5_000, 2), 0);
        assert_eq!(eta_ms(4, 5_000, 2), 10_000);
        assert_eq!(eta_ms(5, 5_000, 2), 15_000, "a last partial round still takes a whole task");
        assert_eq!(eta_ms(3, 5_000, 0), 15_000, "nobody rendering yet counts as one at a time");
    }

    #[test]
    fn a_good_form_becomes_a_job_split_into_chunks() {
        let spec = form().validate().expect("valid");
        assert_eq!(spec.split, Split::Frames { frames: (1..=10).collect(), chunk_size: 3 });
        assert_eq!(spec.task_count(), 4);
        assert_eq!(spec.output_size(), (960, 540));
        assert_eq!((spec.engine, spec.format, spec.tier), (Engine::Cycles, OutputFormat::Png, PriorityTier::Standard));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let bad = JobForm {
            name: " ".into(),
            frames: "5-1".into(),
            samples: "0".into(),
            engine: "mantra".into(),
            resolution_percent: "150".into(),
            tags: "no/slash".into(),
            ..form()
        };
        let errors = bad.validate().expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        for field in ["name", "frames", "samples", "engine", "resolution_percent", "tags"] {
            assert!(fields.contains(&field), "{field} missing from {errors:?}");
        }
    }

    #[test]
    fn a_tiled_job_renders_one_frame() {
        let tiled = JobForm { frames: "7".into(), tiles: "4".into(), ..form() };
        assert_eq!(tiled.validate().expect("valid").split, Split::Tiles { frame: 7, tiles: 4 });
        let animation = JobForm { tiles: "4".into(), ..form() };
        assert_eq!(animation.validate().expect_err("invalid")[0].field, "frames");
    }

    #[test]
    fn tiles_cover_the_image_exactly_once() {
        for (width, height, count) in [(960, 540, 4), (100, 100, 5), (17, 33, 7), (64, 64, 2)] {
            let tiles = tiles(width, height, count);
            assert_eq!(tiles.len() as u32, count);
            let area: u64 = tiles.iter().map(|t| u64::from(t.max_x - t.min_x) * u64::from(t.max_y - t.min_y)).sum();
            assert_eq!(area, u64::from(width) * u64::from(height), "{width}x{height}/{count}");
            for (a, b) in tiles.iter().flat_map(|a| tiles.iter().map(move |b| (a, b))) {
                let overlap = a.index != b.index
                    && a.min_x < b.max_x
                    && b.min_x < a.max_x
                    && a.min_y < b.max_y
                    && b.min_y < a.max_y;
                assert!(!overlap, "{a:?} overlaps {b:?}");
            }
        }
    }
}
