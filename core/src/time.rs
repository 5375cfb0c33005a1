//! Times and durations as the dashboard prints them: UTC timestamps and short human durations.

/// `2026-11-26 08:33:20` (UTC) for milliseconds since the Unix epoch.
pub fn format_utc(ms: i64) -> String {
    let seconds = ms.div_euclid(1_000);
    let (days, in_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", in_day / 3_600, in_day % 3_600 / 60, in_day % 60)
}

/// `850 ms`, `12.4 s`, `3 min 05 s`, `2 h 07 min`.
pub fn format_duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..3_600_000 => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1_000),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_795_077_200_000), "2026-11-19 08:33:20");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00", "a leap day");
        assert_eq!(format_utc(-1_000), "1969-12-31 23:59:59");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(format_duration(850), "850 ms");
        assert_eq!(format_duration(12_400), "12.4 s");
        assert_eq!(format_duration(185_000), "3 min 05 s");
        assert_eq!(format_duration(7_620_000), "2 h 07 min");
        assert_eq!(format_duration(-5), "0 ms");
    }
}
