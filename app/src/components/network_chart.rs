//! Browser side of the Network panel: the SSE subscription and the charming (ECharts) chart it redraws.

#[cfg(feature = "hydrate")]
pub use browser::follow_network;

#[cfg(feature = "hydrate")]
mod browser {
    use charming::component::{Axis, Grid, Legend};
    use charming::element::{AxisLabel, AxisType, Color, LineStyle, SplitLine, TextStyle, Tooltip, Trigger};
    use charming::series::{Bar, Line};
    use charming::{Chart, Echarts, WasmRenderer};
    use leptos::prelude::*;
    use pictor_core::events::Event;
    use pictor_core::network::{push_bounded, NetworkSample};

    const CHART_ELEMENT_ID: &str = "network-chart";

    /// Redraws the chart on every network sample from the tab's event stream, until the panel's signals are gone
    /// (the page was left).
    pub fn follow_network(history: RwSignal<Vec<NetworkSample>>, updates: RwSignal<u64>) {
        let mut chart: Option<Echarts> = None;
        crate::components::live_events::follow_events("network", move |event| {
            let Event::Network(sample) = event else { return true };
            if history.try_update(|samples| push_bounded(samples, sample)).is_none() {
                return false;
            }
            updates.try_update(|count| *count += 1);
            history.with_untracked(|samples| redraw(&mut chart, samples));
            true
        });
    }

    fn redraw(chart: &mut Option<Echarts>, samples: &[NetworkSample]) {
        let spec = network_chart(samples, crate::components::theme_toggle::current_theme_is_dark());
        match chart {
            Some(existing) => WasmRenderer::update(existing, &spec),
            None => match WasmRenderer::new_opt(None, None).render(CHART_ELEMENT_ID, &spec) {
                Ok(created) => *chart = Some(created),
                Err(error) => leptos::logging::error!("cannot draw the network chart: {error:?}"),
            },
        }
    }

    /// `HH:MM:SS` (UTC) for the x axis.
    fn clock_label(at_ms: i64) -> String {
        let seconds = at_ms.div_euclid(1000).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    fn network_chart(samples: &[NetworkSample], dark: bool) -> Chart {
        let (text, grid) = if dark { ("#aab3c5", "#2a3142") } else { ("#4a5568", "#e2e8f0") };
        let labels: Vec<String> = samples.iter().map(|s| clock_label(s.at_ms)).collect();
        let workers: Vec<i64> = samples.iter().map(|s| s.online_workers).collect();
        let checkers: Vec<i64> = samples.iter().map(|s| s.online_checkers).collect();
        let tasks: Vec<i64> = samples.iter().map(|s| s.tasks_per_minute).collect();
        let axis_label = || AxisLabel::new().color(text);
        let split = || SplitLine::new().line_style(LineStyle::new().color(grid));
        Chart::new()
            .background_color("transparent")
            .color(["#7c5cff", "#22c55e", "#38bdf8"].into_iter().map(Color::from).collect())
            .tooltip(Tooltip::new().trigger(Trigger::Axis))
            .legend(Legend::new().top("0").text_style(TextStyle::new().color(text)))
            .grid(Grid::new().left("48").right("48").top("40").bottom("28"))
            .x_axis(Axis::new().type_(AxisType::Category).data(labels).axis_label(axis_label()))
            .y_axis(
                Axis::new()
                    .type_(AxisType::Value)
                    .name("nodes")
                    .min_interval(1)
                    .axis_label(axis_label())
                    .split_line(split()),
            )
            .y_axis(
                Axis::new()
                    .type_(AxisType::Value)
                    .name("tasks/min")
                    .min_interval(1)
                    .axis_label(axis_label())
                    .split_line(split()),
            )
            .series(Line::new().name("Workers online").smooth(true).data(workers))
            .series(Line::new().name("Checkers online").smooth(true).data(checkers))
            .series(Bar::new().name("Tasks / min").y_axis_index(1).data(tasks))
    }
}
