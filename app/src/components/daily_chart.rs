//! Amounts per UTC day or hour as a bar chart (spending on the Credit page, earnings on Rewards and My Workers, tasks
//! per hour), drawn with charming (ECharts) in the browser once the page has hydrated.

#[cfg(feature = "hydrate")]
pub use browser::{draw_bars, draw_daily};

/// The last `hours` hours up to `now_ms`, each with its count (zero where `counts` has none), oldest first.
pub fn fill_hours(counts: &[(i64, i64)], now_ms: i64, hours: i64) -> Vec<(i64, i64)> {
    const HOUR: i64 = 3_600_000;
    let this_hour = now_ms.div_euclid(HOUR) * HOUR;
    (0..hours)
        .rev()
        .map(|back| {
            let hour = this_hour - back * HOUR;
            (hour, counts.iter().filter(|(at, _)| *at == hour).map(|(_, n)| n).sum())
        })
        .collect()
}

/// `2026-11-26` for the UTC day starting at `day_ms`.
pub fn day_label(day_ms: i64) -> String {
    pictor_core::time::format_utc(day_ms).chars().take(10).collect()
}

/// The last `days` UTC days up to `today_ms`, each with its amount (zero where `amounts` has none), oldest first.
pub fn fill_days(amounts: &[(i64, i64)], today_ms: i64, days: i64) -> Vec<(i64, i64)> {
    const DAY: i64 = 86_400_000;
    let today = today_ms.div_euclid(DAY) * DAY;
    (0..days)
        .rev()
        .map(|back| {
            let day = today - back * DAY;
            (day, amounts.iter().filter(|(at, _)| *at == day).map(|(_, amount)| amount).sum())
        })
        .collect()
}

#[cfg(feature = "hydrate")]
mod browser {
    use charming::component::{Axis, Grid};
    use charming::element::{AxisLabel, AxisType, Color, LineStyle, SplitLine, Tooltip, Trigger};
    use charming::series::Bar;
    use charming::{Chart, WasmRenderer};

    use super::day_label;

    /// Draws `days` (day start, micro-credits) as credits per day into the element `element_id` once it is there.
    pub fn draw_daily(element_id: &'static str, series_name: &'static str, days: &[(i64, i64)]) {
        let labels: Vec<String> = days.iter().map(|(day, _)| day_label(*day)[5..].to_string()).collect();
        let credits: Vec<f64> = days.iter().map(|(_, micro)| *micro as f64 / 1_000_000.0).collect();
        draw_bars(element_id, series_name, labels, credits, "credits");
    }

    /// Draws one bar per label into the element `element_id` once it is there.
    pub fn draw_bars(
        element_id: &'static str,
        series_name: &'static str,
        labels: Vec<String>,
        values: Vec<f64>,
        unit: &'static str,
    ) {
        crate::components::when_mounted::when_mounted(element_id, move || {
            draw_now(element_id, series_name, labels, values, unit)
        });
    }

    fn draw_now(element_id: &str, series_name: &str, labels: Vec<String>, values: Vec<f64>, unit: &str) {
        let dark = crate::components::theme_toggle::current_theme_is_dark();
        let (text, grid) = if dark { ("#aab3c5", "#2a3142") } else { ("#4a5568", "#e2e8f0") };
        // Drawn at once (no growing bars): the page shows the figures, not an animation.
        let chart = Chart::new()
            .animation(false)
            .background_color("transparent")
            .color(vec![Color::from("#7c5cff")])
            .tooltip(Tooltip::new().trigger(Trigger::Axis))
            .grid(Grid::new().left("56").right("16").top("24").bottom("28"))
            .x_axis(Axis::new().type_(AxisType::Category).data(labels).axis_label(AxisLabel::new().color(text)))
            .y_axis(
                Axis::new()
                    .type_(AxisType::Value)
                    .name(unit)
                    .axis_label(AxisLabel::new().color(text))
                    .split_line(SplitLine::new().line_style(LineStyle::new().color(grid))),
            )
            .series(Bar::new().name(series_name).data(values));
        if let Err(error) = WasmRenderer::new_opt(None, None).render(element_id, &chart) {
            leptos::logging::error!("cannot draw the {series_name} chart: {error:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_days_are_zero_and_the_window_ends_today() {
        const DAY: i64 = 86_400_000;
        let filled = fill_days(&[(10 * DAY, 5), (12 * DAY, 7)], 12 * DAY + 3_600_000, 4);
        assert_eq!(filled, vec![(9 * DAY, 0), (10 * DAY, 5), (11 * DAY, 0), (12 * DAY, 7)]);
        assert_eq!(day_label(0), "1970-01-01");
    }
}
