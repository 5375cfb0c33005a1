//! My Workers: the Summary (counts, earnings, live utilisation), onboarding (create → config file) and the list.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use pictor_core::workers::{format_credits, IssuedNodeConfig, NodeStatus, WorkerSummary, WorkersOverview};

#[cfg(feature = "hydrate")]
use crate::components::metrics_chart::push_recent;
use crate::components::metrics_chart::UtilisationPoint;
use crate::error::AppError;
#[cfg(feature = "hydrate")]
use pictor_core::events::Event;

#[server]
pub async fn load_workers() -> Result<WorkersOverview, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::workers()?.overview(&viewer).await)
}

#[server]
pub async fn create_worker(name: String) -> Result<IssuedNodeConfig, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::workers()?.create(&viewer, &name).await)
}

/// The config file as a `data:` link the browser downloads (the token never touches any other URL).
pub fn config_download_href(text: &str) -> String {
    let mut href = String::from("data:application/toml;charset=utf-8,");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            href.push(byte as char);
        } else {
            href.push_str(&format!("%{byte:02X}"));
        }
    }
    href
}

/// Shows a freshly issued config file once, with a download link.
#[component]
pub fn IssuedConfig(issued: IssuedNodeConfig) -> impl IntoView {
    let href = config_download_href(&issued.config_toml);
    // `worker.toml` or `checker.toml`: the agent's mode has the same name.
    let mode = issued.file_name.trim_end_matches(".toml").to_string();
    view! {
        <div class="issued-config" data-testid="issued-config">
            <p class="note">
                {format!(
                    "This file holds the {mode}'s secret token and is shown only once. Keep it private; \
                     if it leaks, re-issue the token."
                )}
            </p>
            <pre class="config-text" data-testid="config-text">{issued.config_toml.clone()}</pre>
            <div class="row-actions">
                <a class="button" href=href download=issued.file_name.clone() data-testid="download-config">
                    {format!("Download {}", issued.file_name)}
                </a>
                <code class="muted">{format!("pictor-agent {mode} --config {}", issued.file_name)}</code>
            </div>
        </div>
    }
}

/// "3 s ago", "5 min ago", from a timestamp and the time now.
pub fn ago(at_ms: Option<i64>, now_ms: i64) -> String {
    let Some(at_ms) = at_ms else { return "never".to_string() };
    let seconds = (now_ms - at_ms).max(0) / 1000;
    match seconds {
        0..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => format!("{} d ago", seconds / 86_400),
    }
}

#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<NodeStatus>) -> impl IntoView {
    view! {
        <span class=move || format!("status {}", status.get().css()) data-status=move || status.get().css()>
            <span class="status-dot"></span>
            {move || status.get().label()}
        </span>
    }
}

#[component]
pub fn WorkersPage() -> impl IntoView {
    let create = ServerAction::<CreateWorker>::new();
    // Bumped when a worker registers or signs off, so its row shows the hardware it just reported.
    let refresh = RwSignal::new(0_u64);
    let overview = Resource::new(move || (create.version().get(), refresh.get()), |_| load_workers());
    // Live changes since the page was rendered: status per worker, and the fleet's utilisation over time.
    let live_status = RwSignal::new(HashMap::<i64, NodeStatus>::new());
    let latest = RwSignal::new(HashMap::<i64, UtilisationPoint>::new());
    let history = RwSignal::new(Vec::<UtilisationPoint>::new());
    let heartbeats = RwSignal::new(0_u64);

    Effect::new(move |_| {
        // On the server there is no stream to follow: the page renders from the snapshot.
        #[cfg(not(feature = "hydrate"))]
        let _ = (latest, history);
        #[cfg(feature = "hydrate")]
        {
            let mut chart: crate::components::metrics_chart::ChartSlot = None;
            crate::components::live_events::follow_events("worker", move |event| {
                let Event::Worker(live) = event else { return true };
                if live_status.try_update(|statuses| statuses.insert(live.node_id, live.status)).is_none() {
                    return false;
                }
                if live.metrics.is_none() {
                    refresh.update(|count| *count += 1);
                }
                if let Some(metrics) = live.metrics {
                    latest.update(|points| {
                        points.insert(live.node_id, UtilisationPoint::from(&metrics));
                    });
                    let fleet = fleet_average(&latest.get_untracked(), metrics.at_ms);
                    history.update(|points| push_recent(points, fleet, 120));
                    heartbeats.update(|count| *count += 1);
                    history.with_untracked(|points| {
                        crate::components::metrics_chart::draw(&mut chart, "fleet-chart", points)
                    });
                } else if live.status != NodeStatus::Online && live.status != NodeStatus::Asleep {
                    latest.update(|points| {
                        points.remove(&live.node_id);
                    });
                }
                true
            });
        }
    });

    let status_of = move |worker: &WorkerSummary| {
        let (id, rendered) = (worker.id, worker.status);
        Signal::derive(move || live_status.with(|statuses| statuses.get(&id).copied().unwrap_or(rendered)))
    };

    view! {
        <Title text="My Workers" />
        <section class="page-head">
            <h1>"My Workers"</h1>
            <p class="muted">"Lend your GPUs to the network and earn for every verified frame."</p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(overview) => {
                            let statuses: Vec<(i64, NodeStatus)> = overview
                                .workers
                                .iter()
                                .map(|worker| (worker.id, worker.status))
                                .collect();
                            let count = move |wanted: NodeStatus| {
                                let statuses = statuses.clone();
                                move || {
                                    live_status
                                        .with(|live| {
                                            statuses
                                                .iter()
                                                .filter(|(id, rendered)| {
                                                    live.get(id).copied().unwrap_or(*rendered) == wanted
                                                })
                                                .count()
                                        })
                                        .to_string()
                                }
                            };
                            view! {
                                <section class="panel" data-testid="workers-summary">
                                    <header class="panel-head">
                                        <div>
                                            <h2>"Summary"</h2>
                                            <p class="muted">
                                                "Utilisation is the average over your online workers, live from their heartbeats."
                                            </p>
                                        </div>
                                        <span
                                            class="live-badge"
                                            class:connected=move || { heartbeats.get() > 0 }
                                            data-testid="fleet-heartbeats"
                                            data-updates=move || heartbeats.get().to_string()
                                        >
                                            <span class="live-dot"></span>
                                            {move || format!("{} heartbeats", heartbeats.get())}
                                        </span>
                                    </header>
                                    <div class="kpis">
                                        <div class="kpi">
                                            <span class="kpi-label">"Online"</span>
                                            <span class="kpi-value" data-testid="count-online">{count(NodeStatus::Online)}</span>
                                        </div>
                                        <div class="kpi">
                                            <span class="kpi-label">"Asleep"</span>
                                            <span class="kpi-value" data-testid="count-asleep">{count(NodeStatus::Asleep)}</span>
                                        </div>
                                        <div class="kpi">
                                            <span class="kpi-label">"Offline"</span>
                                            <span class="kpi-value" data-testid="count-offline">{count(NodeStatus::Offline)}</span>
                                        </div>
                                        <div class="kpi">
                                            <span class="kpi-label">"Earned (credits)"</span>
                                            <span class="kpi-value" data-testid="earned">{format_credits(overview.earned_micro)}</span>
                                        </div>
                                    </div>
                                    <p class="note" data-testid="task-stats">
                                        {format!(
                                            "Tasks finished: {} · failed or rejected: {}.",
                                            overview.tasks_done,
                                            overview.tasks_failed,
                                        )}
                                    </p>
                                    {(!overview.workers.is_empty())
                                        .then(|| {
                                            view! {
                                                <div id="fleet-chart" class="chart" data-testid="fleet-chart"></div>
                                                <WorkerCharts tasks_per_hour=overview.tasks_per_hour.clone() earnings_by_day=overview.earnings_by_day.clone() />
                                            }
                                        })}
                                </section>
                                <CreateWorker create />
                                <section class="panel stack" data-testid="worker-list">
                                    <h2>"Workers"</h2>
                                    {if overview.workers.is_empty() {
                                        view! {
                                            <p class="muted" data-testid="no-workers">
                                                "No workers yet: create one above, then start pictor-agent with its config file."
                                            </p>
                                        }
                                            .into_any()
                                    } else {
                                        view! {
                                            <ul class="rows">
                                                {overview
                                                    .workers
                                                    .iter()
                                                    .map(|worker| view! { <WorkerRow worker=worker.clone() status=status_of(worker) /> })
                                                    .collect_view()}
                                            </ul>
                                        }
                                            .into_any()
                                    }}
                                </section>
                            }
                                .into_any()
                        }
                    })
            }}
        </Suspense>
    }
}

/// The average utilisation of the workers heard from in the last minute.
pub fn fleet_average(latest: &HashMap<i64, UtilisationPoint>, at_ms: i64) -> UtilisationPoint {
    let fresh: Vec<&UtilisationPoint> = latest.values().filter(|point| at_ms - point.at_ms < 60_000).collect();
    if fresh.is_empty() {
        return UtilisationPoint { at_ms, ..UtilisationPoint::default() };
    }
    let count = fresh.len() as f64;
    let gpus: Vec<f64> = fresh.iter().filter_map(|point| point.gpu).collect();
    UtilisationPoint {
        at_ms,
        cpu: fresh.iter().map(|point| point.cpu).sum::<f64>() / count,
        gpu: (!gpus.is_empty()).then(|| gpus.iter().sum::<f64>() / gpus.len() as f64),
        ram: fresh.iter().map(|point| point.ram).sum::<f64>() / count,
    }
}

/// Tasks finished per hour over the last day, and earnings per day over the last month.
#[component]
fn WorkerCharts(tasks_per_hour: Vec<(i64, i64)>, earnings_by_day: Vec<(i64, i64)>) -> impl IntoView {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            use crate::components::daily_chart::{draw_bars, draw_daily, fill_days, fill_hours};
            let now = js_sys::Date::now() as i64;
            let hours = fill_hours(&tasks_per_hour, now, 24);
            let labels =
                hours.iter().map(|(hour, _)| pictor_core::time::format_utc(*hour)[11..16].to_string()).collect();
            let counts = hours.iter().map(|(_, count)| *count as f64).collect();
            draw_bars("tasks-chart", "Tasks finished", labels, counts, "tasks");
            draw_daily("worker-earnings-chart", "Earned", &fill_days(&earnings_by_day, now, 30));
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&tasks_per_hour, &earnings_by_day);
    });
    view! {
        <div class="chart-pair">
            <div>
                <h3>"Tasks finished per hour (UTC, last 24 h)"</h3>
                <div id="tasks-chart" class="chart small" data-testid="tasks-chart"></div>
            </div>
            <div>
                <h3>"Earnings per day (last 30 days)"</h3>
                <div id="worker-earnings-chart" class="chart small" data-testid="worker-earnings-chart"></div>
            </div>
        </div>
    }
}

#[component]
fn CreateWorker(create: ServerAction<CreateWorker>) -> impl IntoView {
    let issued = move || create.value().get().and_then(Result::ok);
    let problem = move || create.value().get().and_then(Result::err).map(|error| error.to_string());
    view! {
        <section class="panel stack" data-testid="create-worker">
            <h2>"Add a worker"</h2>
            <p class="muted">
                "Name the machine, download its config file, and start "
                <code>"pictor-agent worker --config worker.toml"</code>
                " on it. It reports its hardware, runs a short Blender benchmark and appears here."
            </p>
            <ActionForm action=create attr:class="inline-form">
                <label for="worker-name">"Name"</label>
                <input id="worker-name" name="name" maxlength="64" placeholder="studio-rtx4090" data-testid="worker-name" />
                <button class="button" type="submit" data-testid="create-worker-button">"Create worker"</button>
            </ActionForm>
            <p class="form-error" role="alert">{problem}</p>
            {move || issued().map(|issued| view! { <IssuedConfig issued /> })}
        </section>
    }
}

#[component]
fn WorkerRow(worker: WorkerSummary, status: Signal<NodeStatus>) -> impl IntoView {
    let href = format!("/workers/{}", worker.id);
    let hardware = worker.hardware_brief.clone().unwrap_or_else(|| "hardware not reported yet".to_string());
    let score = worker.benchmark_score.map_or_else(|| "–".to_string(), |score| score.to_string());
    let price = format!("{} cr/min", format_credits(worker.settings.price_micro_per_minute));
    let ai = (!worker.ai_models.is_empty() || worker.ai_tokens > 0).then(|| {
        let models =
            if worker.ai_models.is_empty() { "no model loaded".to_string() } else { worker.ai_models.join(", ") };
        view! {
            <span class="muted" data-testid="worker-ai" title="AI models loaded now · tokens served · AI earnings">
                {format!("AI: {models} · {} tokens · {}", worker.ai_tokens, format_credits(worker.ai_earned_micro))}
            </span>
        }
    });
    view! {
        <li class="row worker-row" data-testid="worker-row" data-worker-id=worker.id.to_string()>
            <StatusBadge status />
            <A href=href attr:class="grow worker-name">
                {worker.name.clone()}
            </A>
            <span class="muted ellipsis">{hardware}</span>
            <span class="muted" title="Benchmark score (higher is faster)">{format!("score {score}")}</span>
            <span class="muted">{price}</span>
            {ai}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_download_link_encodes_the_whole_file() {
        let href = config_download_href("token = \"pn_a b\"\n# x");
        assert_eq!(href, "data:application/toml;charset=utf-8,token%20%3D%20%22pn_a%20b%22%0A%23%20x");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(ago(None, 0), "never");
        assert_eq!(ago(Some(0), 5_000), "5 s ago");
        assert_eq!(ago(Some(0), 120_000), "2 min ago");
        assert_eq!(ago(Some(0), 7_200_000), "2 h ago");
    }

    #[test]
    fn the_fleet_average_ignores_silent_workers() {
        let point = |at_ms, cpu, gpu| UtilisationPoint { at_ms, cpu, gpu, ram: 50.0 };
        let latest = HashMap::from([
            (1, point(100_000, 20.0, Some(90.0))),
            (2, point(100_000, 40.0, None)),
            (3, point(0, 99.0, None)),
        ]);
        let average = fleet_average(&latest, 100_000);
        assert_eq!((average.cpu, average.gpu, average.ram), (30.0, Some(90.0), 50.0));
    }
}
