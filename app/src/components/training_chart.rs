//! A training run's curves (mean training loss and held-out accuracy by step) as a line chart, drawn with charming
//! (ECharts) in the browser and redrawn as checkpoints arrive.

#[cfg(feature = "hydrate")]
pub use browser::draw_curves;

/// The chart's element.
pub const CHART_ID: &str = "training-chart";

#[cfg(feature = "hydrate")]
mod browser {
    use charming::component::{Axis, Grid, Legend};
    use charming::element::{AxisLabel, AxisType, Color, LineStyle, SplitLine, Tooltip, Trigger};
    use charming::series::Line;
    use charming::{Chart, WasmRenderer};

    use super::CHART_ID;

    /// Draws `(step, loss, accuracy)` points once the chart's element is there.
    pub fn draw_curves(points: Vec<(i64, f64, f64)>) {
        crate::components::when_mounted::when_mounted(CHART_ID, move || draw_now(&points));
    }

    fn draw_now(points: &[(i64, f64, f64)]) {
        let dark = crate::components::theme_toggle::current_theme_is_dark();
        let (text, grid) = if dark { ("#aab3c5", "#2a3142") } else { ("#4a5568", "#e2e8f0") };
        // Step 0 has no training loss yet (only the initial weights' accuracy).
        let loss: Vec<Vec<f64>> =
            points.iter().filter(|(step, _, _)| *step > 0).map(|(step, loss, _)| vec![*step as f64, *loss]).collect();
        let accuracy: Vec<Vec<f64>> = points.iter().map(|(step, _, accuracy)| vec![*step as f64, *accuracy]).collect();
        let value_axis = |name: &str| {
            Axis::new()
                .type_(AxisType::Value)
                .name(name)
                .axis_label(AxisLabel::new().color(text))
                .split_line(SplitLine::new().line_style(LineStyle::new().color(grid)))
        };
        let chart = Chart::new()
            .animation(false)
            .background_color("transparent")
            .color(vec![Color::from("#7c5cff"), Color::from("#22c55e")])
            .tooltip(Tooltip::new().trigger(Trigger::Axis))
            .legend(
                Legend::new()
                    .data(vec!["loss", "accuracy"])
                    .text_style(charming::element::TextStyle::new().color(text)),
            )
            .grid(Grid::new().left("48").right("48").top("32").bottom("28"))
            .x_axis(
                Axis::new()
                    .type_(AxisType::Value)
                    .name("step")
                    .axis_label(AxisLabel::new().color(text))
                    .split_line(SplitLine::new().line_style(LineStyle::new().color(grid))),
            )
            .y_axis(value_axis("loss"))
            .y_axis(value_axis("accuracy").min(0).max(1))
            .series(Line::new().name("loss").data(loss).show_symbol(false))
            .series(Line::new().name("accuracy").data(accuracy).y_axis_index(1).show_symbol(false));
        if let Err(error) = WasmRenderer::new_opt(None, None).render(CHART_ID, &chart) {
            leptos::logging::error!("cannot draw the training chart: {error:?}");
        }
    }
}
