//! Workers as their owners see them: status, settings (price, sleep schedule, tags, region), metrics history.

use serde::{Deserialize, Serialize};

use crate::agent_protocol::Hardware;

/// Where a node stands right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Created, never connected yet.
    New,
    Online,
    /// Online, inside its sleep schedule: takes no work.
    Asleep,
    Offline,
    /// Switched off by its owner; its token is refused.
    Disabled,
}

impl NodeStatus {
    pub fn label(self) -> &'static str {
        match self {
            NodeStatus::New => "Waiting for first connection",
            NodeStatus::Online => "Online",
            NodeStatus::Asleep => "Asleep",
            NodeStatus::Offline => "Offline",
            NodeStatus::Disabled => "Disabled",
        }
    }

    /// The CSS modifier for status dots and badges.
    pub fn css(self) -> &'static str {
        match self {
            NodeStatus::New => "new",
            NodeStatus::Online => "online",
            NodeStatus::Asleep => "asleep",
            NodeStatus::Offline => "offline",
            NodeStatus::Disabled => "disabled",
        }
    }
}

/// Days and hours in which a worker takes no work (as Flamenco's sleep scheduler), in the worker's time zone
/// given as a UTC offset. An end before the start wraps past midnight (22:00–07:00).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SleepSchedule {
    pub enabled: bool,
    /// Bit 0 = Monday … bit 6 = Sunday: the day on which a sleep period starts.
    pub days: u8,
    /// Minutes after local midnight.
    pub start_minute: u16,
    pub end_minute: u16,
    /// The worker's time zone as minutes east of UTC (e.g. 60 for CET, -300 for EST).
    pub utc_offset_minutes: i16,
}

const MINUTES_PER_DAY: i64 = 24 * 60;
pub const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl SleepSchedule {
    /// Whether the worker sleeps at `now_ms` (Unix milliseconds).
    pub fn is_asleep(&self, now_ms: i64) -> bool {
        if !self.enabled || self.days == 0 || self.start_minute == self.end_minute {
            return false;
        }
        let local_minutes = now_ms.div_euclid(60_000) + i64::from(self.utc_offset_minutes);
        let day = local_minutes.div_euclid(MINUTES_PER_DAY);
        let minute = local_minutes.rem_euclid(MINUTES_PER_DAY);
        // 1970-01-01 was a Thursday (index 3 with Monday = 0).
        let weekday = |day: i64| (day + 3).rem_euclid(7) as u8;
        let starts_on = |day: i64| self.days & (1 << weekday(day)) != 0;
        let (start, end) = (i64::from(self.start_minute), i64::from(self.end_minute));
        if start < end {
            starts_on(day) && (start..end).contains(&minute)
        } else {
            (starts_on(day) && minute >= start) || (starts_on(day - 1) && minute < end)
        }
    }

    /// Checks the ranges; errors say which field is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if i64::from(self.start_minute) >= MINUTES_PER_DAY || i64::from(self.end_minute) >= MINUTES_PER_DAY {
            return Err("sleep times must be between 00:00 and 23:59".into());
        }
        if !(-14 * 60..=14 * 60).contains(&self.utc_offset_minutes) {
            return Err("the time zone offset must be between UTC-14:00 and UTC+14:00".into());
        }
        if self.days >= 1 << 7 {
            return Err("unknown day in the sleep schedule".into());
        }
        if self.enabled && (self.days == 0 || self.start_minute == self.end_minute) {
            return Err("a sleep schedule needs at least one day and a start different from its end".into());
        }
        Ok(())
    }
}

/// `HH:MM` → minutes after midnight.
pub fn parse_clock(text: &str) -> Result<u16, String> {
    let problem = || format!("{text:?} is not a time like 22:30");
    let (hours, minutes) = text.trim().split_once(':').ok_or_else(problem)?;
    let hours: u16 = hours.parse().map_err(|_| problem())?;
    let minutes: u16 = minutes.parse().map_err(|_| problem())?;
    if hours > 23 || minutes > 59 {
        return Err(problem());
    }
    Ok(hours * 60 + minutes)
}

/// `+02:00`, `-05:30` or `UTC` → minutes east of UTC.
pub fn parse_utc_offset(text: &str) -> Result<i16, String> {
    let text = text.trim();
    let problem = || format!("{text:?} is not a UTC offset like +01:00 or -05:30");
    let rest = text.strip_prefix("UTC").unwrap_or(text).trim();
    if rest.is_empty() {
        return Ok(0);
    }
    let (sign, clock) = match rest.as_bytes()[0] {
        b'+' => (1, &rest[1..]),
        b'-' => (-1, &rest[1..]),
        _ => return Err(problem()),
    };
    let minutes = parse_clock(clock).map_err(|_| problem())?;
    if minutes > 14 * 60 {
        return Err(problem());
    }
    Ok(sign * minutes as i16)
}

pub fn format_utc_offset(minutes: i16) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    format!("{sign}{}", format_clock(minutes.unsigned_abs()))
}

pub fn format_clock(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// What the owner sets for a worker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSettings {
    /// Credits per render-minute, in micro-credits (1 credit = 1 000 000).
    pub price_micro_per_minute: i64,
    pub sleep: SleepSchedule,
    pub tags: Vec<String>,
    pub region: String,
    pub enabled: bool,
}

/// Highest price a worker may ask: 1 000 credits per minute.
pub const MAX_PRICE_MICRO_PER_MINUTE: i64 = 1_000 * 1_000_000;
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_CHARS: usize = 32;

/// Parses a comma- or space-separated tag list: lower case, `a-z0-9-_.`, de-duplicated, sorted.
pub fn parse_tags(text: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in text.split([',', ' ']).map(str::trim).filter(|tag| !tag.is_empty()) {
        let tag = raw.to_lowercase();
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(format!("tag {raw:?} is longer than {MAX_TAG_CHARS} characters"));
        }
        if !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(format!("tag {raw:?} may only use letters, digits, '-', '_' and '.'"));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    tags.sort();
    Ok(tags)
}

/// Parses a price typed in credits ("0.5", "2") into micro-credits, exactly (no floats).
pub fn parse_credits(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let problem = || format!("{text:?} is not an amount of credits like 0.25");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(problem());
    }
    if fraction.len() > 6 || !whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()) {
        return Err(problem());
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| problem())? };
    let fraction: i64 = format!("{fraction:0<6}").parse().map_err(|_| problem())?;
    whole.checked_mul(1_000_000).and_then(|micro| micro.checked_add(fraction)).ok_or_else(problem)
}

/// Micro-credits as credits for display: `1500000` → `1.5`.
pub fn format_credits(micro: i64) -> String {
    let sign = if micro < 0 { "-" } else { "" };
    let micro = micro.unsigned_abs();
    let fraction = format!("{:06}", micro % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{sign}{}", micro / 1_000_000)
    } else {
        format!("{sign}{}.{fraction}", micro / 1_000_000)
    }
}

impl WorkerSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(0..=MAX_PRICE_MICRO_PER_MINUTE).contains(&self.price_micro_per_minute) {
            return Err("the price must be between 0 and 1000 credits per minute".into());
        }
        if self.region.chars().count() > 32 || self.region.chars().any(char::is_control) {
            return Err("the region must be at most 32 characters".into());
        }
        self.sleep.validate()
    }
}

/// One point of a worker's metrics history (an average over its bucket).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub at_ms: i64,
    pub cpu_percent: f64,
    pub ram_used_bytes: i64,
    pub ram_total_bytes: i64,
    /// Averages over the node's GPUs; `None` on CPU-only machines.
    pub gpu_percent: Option<f64>,
    pub gpu_temperature_c: Option<f64>,
}

/// A worker in the owner's list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub id: i64,
    pub name: String,
    pub status: NodeStatus,
    pub last_seen_at_ms: Option<i64>,
    /// "AMD Ryzen 9 · 2× RTX 4090", from the last registration.
    pub hardware_brief: Option<String>,
    pub benchmark_score: Option<u32>,
    pub settings: WorkerSettings,
    pub earned_micro: i64,
    pub tasks_done: i64,
    /// AI models it holds loaded right now (empty when it serves none or is offline).
    #[serde(default)]
    pub ai_models: Vec<String>,
    /// Tokens in and out of the AI requests it served.
    #[serde(default)]
    pub ai_tokens: i64,
    /// What its AI requests earned (after any claw-back).
    #[serde(default)]
    pub ai_earned_micro: i64,
}

/// The My Workers page.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkersOverview {
    pub workers: Vec<WorkerSummary>,
    pub earned_micro: i64,
    pub tasks_done: i64,
    pub tasks_failed: i64,
    /// Tasks the workers finished per hour over the last day, oldest first: (hour start, count).
    pub tasks_per_hour: Vec<(i64, i64)>,
    /// What the workers earned per UTC day over the last 30 days, oldest first: (day start, micro-credits).
    pub earnings_by_day: Vec<(i64, i64)>,
}

/// One attempt in a worker's task history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerTaskRow {
    pub job_id: i64,
    pub job_name: String,
    pub task_id: i64,
    pub frames: String,
    pub attempt: i64,
    pub outcome: crate::states::AttemptOutcome,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub render_ms: Option<i64>,
    /// What the attempt was paid (net of anything taken back).
    pub paid_micro: i64,
}

/// A page of a worker's task history, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerTaskPage {
    pub rows: Vec<WorkerTaskRow>,
    pub page: i64,
    pub pages: i64,
    pub total: i64,
}

impl WorkersOverview {
    pub fn count(&self, status: NodeStatus) -> usize {
        self.workers.iter().filter(|worker| worker.status == status).count()
    }
}

/// The Worker Details page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerDetails {
    pub summary: WorkerSummary,
    pub hardware: Option<Hardware>,
    pub agent_version: Option<String>,
    pub created_at_ms: i64,
    /// The last hour in detail (one point per heartbeat bucket).
    pub recent: Vec<MetricPoint>,
    /// The last day, coarse (one point per 15 minutes).
    pub day: Vec<MetricPoint>,
}

/// A node just created or given a new token: the config file is shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedNodeConfig {
    pub node_id: i64,
    pub name: String,
    pub file_name: String,
    pub config_toml: String,
}

/// A live update about one worker, for its owner's dashboards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerLive {
    pub node_id: i64,
    pub owner_id: i64,
    pub status: NodeStatus,
    /// Present when the update is a heartbeat.
    pub metrics: Option<MetricPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-23 was a Monday; this is 00:00 UTC on it.
    const MONDAY_MS: i64 = 1_795_392_000_000;

    fn at(day: i64, hour: i64, minute: i64) -> i64 {
        MONDAY_MS + ((day * 24 + hour) * 60 + minute) * 60_000
    }

    #[test]
    fn the_monday_constant_is_a_monday() {
        assert_eq!((MONDAY_MS / 86_400_000 + 3) % 7, 0);
    }

    #[test]
    fn a_night_schedule_wraps_past_midnight_on_its_start_days() {
        let weeknights = SleepSchedule {
            enabled: true,
            days: 0b001_1111,
            start_minute: 22 * 60,
            end_minute: 7 * 60,
            utc_offset_minutes: 0,
        };
        assert!(weeknights.is_asleep(at(0, 23, 0)), "Monday 23:00");
        assert!(weeknights.is_asleep(at(1, 6, 59)), "Tuesday 06:59 (Monday's night)");
        assert!(!weeknights.is_asleep(at(1, 7, 0)), "Tuesday 07:00");
        assert!(!weeknights.is_asleep(at(0, 6, 0)), "Monday 06:00: Sunday night is not in the schedule");
        assert!(weeknights.is_asleep(at(5, 6, 0)), "Saturday 06:00 (Friday's night)");
        assert!(!weeknights.is_asleep(at(5, 23, 0)), "Saturday 23:00");
    }

    #[test]
    fn the_schedule_is_read_in_the_workers_time_zone() {
        let office = SleepSchedule {
            enabled: true,
            days: 0b111_1111,
            start_minute: 9 * 60,
            end_minute: 17 * 60,
            utc_offset_minutes: 120,
        };
        assert!(office.is_asleep(at(0, 7, 30)), "09:30 at UTC+2");
        assert!(!office.is_asleep(at(0, 15, 30)), "17:30 at UTC+2");
        assert!(!SleepSchedule { enabled: false, ..office }.is_asleep(at(0, 7, 30)));
    }

    #[test]
    fn bad_schedules_and_settings_are_refused_with_reasons() {
        let bad = SleepSchedule { enabled: true, days: 1, start_minute: 1440, end_minute: 0, utc_offset_minutes: 0 };
        assert!(bad.validate().is_err());
        let empty = SleepSchedule { enabled: true, days: 0, start_minute: 60, end_minute: 120, utc_offset_minutes: 0 };
        assert!(empty.validate().expect_err("no days").contains("at least one day"));
        let price = WorkerSettings { price_micro_per_minute: -1, ..WorkerSettings::default() };
        assert!(price.validate().expect_err("negative").contains("price"));
    }

    #[test]
    fn clocks_tags_and_credits_parse_exactly() {
        assert_eq!(parse_clock("22:30"), Ok(22 * 60 + 30));
        assert!(parse_clock("24:00").is_err() && parse_clock("noon").is_err());
        assert_eq!(format_clock(7 * 60 + 5), "07:05");
        assert_eq!(parse_utc_offset("+02:00"), Ok(120));
        assert_eq!(parse_utc_offset("-05:30"), Ok(-330));
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert!(parse_utc_offset("+15:00").is_err() && parse_utc_offset("2").is_err());
        assert_eq!(format_utc_offset(-330), "-05:30");
        assert_eq!(parse_tags("GPU, rtx4090 gpu  eu-west"), Ok(vec!["eu-west".into(), "gpu".into(), "rtx4090".into()]));
        assert!(parse_tags("bad/tag").is_err());
        assert_eq!(parse_credits("0.25"), Ok(250_000));
        assert_eq!(parse_credits("2"), Ok(2_000_000));
        assert_eq!(parse_credits(".5"), Ok(500_000));
        assert!(parse_credits("-1").is_err() && parse_credits("1.0000001").is_err() && parse_credits("").is_err());
        assert!(parse_credits("99999999999999999").is_err(), "overflow is an error, not a wrap");
        assert_eq!(format_credits(1_500_000), "1.5");
        assert_eq!(format_credits(2_000_000), "2");
        assert_eq!(format_credits(-250_000), "-0.25");
    }
}
