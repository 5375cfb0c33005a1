//! A worker's utilisation over time (CPU, GPU, RAM in %), drawn with charming (ECharts) in the browser.

#[cfg(feature = "hydrate")]
pub use browser::{draw, ChartSlot};

/// One line of the chart: CPU, GPU and RAM use in percent at a moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UtilisationPoint {
    pub at_ms: i64,
    pub cpu: f64,
    pub gpu: Option<f64>,
    pub ram: f64,
}

impl From<&pictor_core::workers::MetricPoint> for UtilisationPoint {
    fn from(point: &pictor_core::workers::MetricPoint) -> Self {
        let ram = if point.ram_total_bytes > 0 {
            point.ram_used_bytes as f64 * 100.0 / point.ram_total_bytes as f64
        } else {
            0.0
        };
        Self { at_ms: point.at_ms, cpu: point.cpu_percent, gpu: point.gpu_percent, ram }
    }
}

/// Keeps the last `limit` points, appending `point` (points arrive in time order).
pub fn push_recent(points: &mut Vec<UtilisationPoint>, point: UtilisationPoint, limit: usize) {
    points.push(point);
    if points.len() > limit {
        let excess = points.len() - limit;
        points.drain(..excess);
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use charming::component::{Axis, Grid, Legend};
    use charming::element::{AxisLabel, AxisType, Color, LineStyle, SplitLine, TextStyle, Tooltip, Trigger};
    use charming::series::Line;
    use charming::{Chart, Echarts, WasmRenderer};

    use super::UtilisationPoint;

    /// A drawn chart and the element it lives in (pages may re-render that element).
    pub type ChartSlot = Option<(web_sys::Element, Echarts)>;

    /// Draws `points` into the element `element_id`: updated in place while the element stays, created anew when the
    /// page replaced it, skipped when the page shows no chart.
    pub fn draw(slot: &mut ChartSlot, element_id: &str, points: &[UtilisationPoint]) {
        let Some(element) = web_sys::window()
            .and_then(|window| window.document())
            .and_then(|document| document.get_element_by_id(element_id))
        else {
            *slot = None;
            return;
        };
        let spec = utilisation_chart(points, crate::components::theme_toggle::current_theme_is_dark());
        match slot {
            Some((drawn_in, existing)) if drawn_in.is_same_node(Some(&element)) => {
                WasmRenderer::update(existing, &spec)
            }
            _ => match WasmRenderer::new_opt(None, None).render(element_id, &spec) {
                Ok(created) => *slot = Some((element, created)),
                Err(error) => leptos::logging::error!("cannot draw the utilisation chart: {error:?}"),
            },
        }
    }

    fn clock_label(at_ms: i64) -> String {
        let seconds = at_ms.div_euclid(1000).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    fn round1(value: f64) -> f64 {
        (value * 10.0).round() / 10.0
    }

    fn utilisation_chart(points: &[UtilisationPoint], dark: bool) -> Chart {
        let (text, grid) = if dark { ("#aab3c5", "#2a3142") } else { ("#4a5568", "#e2e8f0") };
        let labels: Vec<String> = points.iter().map(|p| clock_label(p.at_ms)).collect();
        let cpu: Vec<f64> = points.iter().map(|p| round1(p.cpu)).collect();
        let ram: Vec<f64> = points.iter().map(|p| round1(p.ram)).collect();
        let has_gpu = points.iter().any(|p| p.gpu.is_some());
        // A line needs two points; one or two alone are shown as dots.
        let dots = points.len() < 3;
        let mut chart = Chart::new()
            .background_color("transparent")
            .color(["#7c5cff", "#38bdf8", "#22c55e"].into_iter().map(Color::from).collect())
            .tooltip(Tooltip::new().trigger(Trigger::Axis))
            .legend(Legend::new().top("0").text_style(TextStyle::new().color(text)))
            .grid(Grid::new().left("48").right("24").top("40").bottom("28"))
            .x_axis(Axis::new().type_(AxisType::Category).data(labels).axis_label(AxisLabel::new().color(text)))
            .y_axis(
                Axis::new()
                    .type_(AxisType::Value)
                    .name("%")
                    .min(0)
                    .max(100)
                    .axis_label(AxisLabel::new().color(text))
                    .split_line(SplitLine::new().line_style(LineStyle::new().color(grid))),
            )
            .series(Line::new().name("CPU %").smooth(true).show_symbol(dots).data(cpu));
        if has_gpu {
            let gpu: Vec<f64> = points.iter().map(|p| round1(p.gpu.unwrap_or_default())).collect();
            chart = chart.series(Line::new().name("GPU %").smooth(true).show_symbol(dots).data(gpu));
        }
        chart.series(Line::new().name("RAM %").smooth(true).show_symbol(dots).data(ram))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_most_recent_points_are_kept() {
        let mut points = Vec::new();
        for at_ms in 0..5 {
            push_recent(&mut points, UtilisationPoint { at_ms, ..UtilisationPoint::default() }, 3);
        }
        assert_eq!(points.iter().map(|p| p.at_ms).collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    #[test]
    fn ram_is_shown_as_a_share_of_the_total() {
        let point = pictor_core::workers::MetricPoint {
            ram_used_bytes: 1,
            ram_total_bytes: 4,
            ..pictor_core::workers::MetricPoint::default()
        };
        assert_eq!(UtilisationPoint::from(&point).ram, 25.0);
    }
}
