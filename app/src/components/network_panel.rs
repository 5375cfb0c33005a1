//! The live "Network" panel: headline figures and a chart, first rendered on the server, then fed by SSE.

use leptos::prelude::*;
use pictor_core::network::NetworkSample;

use crate::error::AppError;

/// The network's activity right now, for the first (server-side) render of the panel.
#[server]
pub async fn network_snapshot() -> Result<NetworkSample, AppError> {
    let source = use_context::<crate::ports::SharedNetworkStats>().ok_or(AppError::Unavailable)?;
    source.current().await.map_err(|reason| {
        leptos::logging::error!("network snapshot failed: {reason}");
        AppError::Unavailable
    })
}

/// Picks one figure out of a sample.
type Figure = fn(&NetworkSample) -> i64;

/// The headline tiles: label, test id, and which figure of the sample they show.
const KPIS: [(&str, &str, Figure); 4] = [
    ("Workers online", "kpi-workers", |s| s.online_workers),
    ("Checkers online", "kpi-checkers", |s| s.online_checkers),
    ("Tasks / minute", "kpi-tasks", |s| s.tasks_per_minute),
    ("Queued tasks", "kpi-queued", |s| s.queued_tasks),
];

/// Headline figures plus a chart that scrolls as samples arrive over server-sent events.
#[component]
pub fn NetworkPanel() -> impl IntoView {
    let snapshot = Resource::new(|| (), |_| network_snapshot());
    let history = RwSignal::new(Vec::<NetworkSample>::new());
    let updates = RwSignal::new(0_u64);

    // The SSE subscription lives only in the browser; it starts once, after hydration.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        super::network_chart::follow_network(history, updates);
    });

    let latest =
        move || history.with(|samples| samples.last().copied()).or_else(|| snapshot.get().and_then(Result::ok));
    let figure =
        move |pick: Figure| move || latest().map_or_else(|| "–".to_string(), |sample| pick(&sample).to_string());

    view! {
        <section class="panel network-panel" data-testid="network-panel">
            <header class="panel-head">
                <div>
                    <h2>"Network"</h2>
                    <p class="muted">"Nodes online and work finished across Pictor"</p>
                </div>
                <span
                    class="live-badge"
                    class:connected=move || { updates.get() > 0 }
                    data-testid="sse-updates"
                    data-updates=move || updates.get().to_string()
                >
                    <span class="live-dot"></span>
                    {move || match updates.get() {
                        0 => "connecting…".to_string(),
                        1 => "live · 1 update".to_string(),
                        n => format!("live · {n} updates"),
                    }}
                </span>
            </header>
            <Suspense fallback=|| view! { <div class="kpis loading">"Loading…"</div> }>
                <div class="kpis">
                    {KPIS
                        .iter()
                        .map(|&(label, test_id, pick)| {
                            view! {
                                <div class="kpi">
                                    <span class="kpi-label">{label}</span>
                                    <span class="kpi-value" data-testid=test_id>{figure(pick)}</span>
                                </div>
                            }
                        })
                        .collect_view()}
                </div>
            </Suspense>
            <div id="network-chart" class="chart" data-testid="network-chart"></div>
        </section>
    }
}
