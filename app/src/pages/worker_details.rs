//! Worker Details: live status and utilisation, hardware, settings (price, sleep schedule, tags, region), token.
// The settings server function takes the form's fields one by one (checkboxes are present only when ticked), and
// `#[server]` generates a client twin of it that an item-level `allow` does not reach.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use pictor_core::agent_protocol::Hardware;
use pictor_core::workers::{
    format_clock, format_credits, format_utc_offset, IssuedNodeConfig, NodeStatus, WorkerDetails, DAY_NAMES,
};

use super::workers::{ago, IssuedConfig, StatusBadge};
#[cfg(feature = "hydrate")]
use crate::components::metrics_chart::push_recent;
use crate::components::metrics_chart::UtilisationPoint;
use crate::components::worker_tasks::WorkerTasks;
use crate::error::AppError;
#[cfg(feature = "hydrate")]
use pictor_core::events::Event;

#[server]
pub async fn load_worker(worker: i64) -> Result<WorkerDetails, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::workers()?.details(&viewer, worker).await)
}

#[server]
pub async fn reissue_worker_token(worker: i64) -> Result<IssuedNodeConfig, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::workers()?.reissue_token(&viewer, worker).await)
}

#[server]
pub async fn delete_worker(worker: i64) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::workers()?.delete(&viewer, worker).await)?;
    leptos_axum::redirect("/workers");
    Ok(())
}

/// The settings form as the browser submits it: text fields and checkboxes (present only when ticked).
#[server]
pub async fn save_worker_settings(
    worker: i64,
    price: String,
    region: String,
    tags: String,
    enabled: Option<String>,
    sleep_enabled: Option<String>,
    sleep_start: String,
    sleep_end: String,
    utc_offset: String,
    day0: Option<String>,
    day1: Option<String>,
    day2: Option<String>,
    day3: Option<String>,
    day4: Option<String>,
    day5: Option<String>,
    day6: Option<String>,
) -> Result<(), AppError> {
    use pictor_core::workers::{
        parse_clock, parse_credits, parse_tags, parse_utc_offset, SleepSchedule, WorkerSettings,
    };
    let viewer = crate::auth::require_viewer()?;
    let bad = AppError::BadRequest;
    let days = [day0, day1, day2, day3, day4, day5, day6]
        .iter()
        .enumerate()
        .filter(|(_, ticked)| ticked.is_some())
        .fold(0_u8, |days, (index, _)| days | (1 << index));
    let parsed = (|| -> Result<WorkerSettings, AppError> {
        Ok(WorkerSettings {
            price_micro_per_minute: parse_credits(&price).map_err(bad)?,
            region: region.trim().to_string(),
            tags: parse_tags(&tags).map_err(bad)?,
            enabled: enabled.is_some(),
            sleep: SleepSchedule {
                enabled: sleep_enabled.is_some(),
                days,
                start_minute: parse_clock(&sleep_start).map_err(bad)?,
                end_minute: parse_clock(&sleep_end).map_err(bad)?,
                utc_offset_minutes: parse_utc_offset(&utc_offset).map_err(bad)?,
            },
        })
    })();
    let settings = crate::error::answer(parsed)?;
    crate::error::answer(crate::auth::workers()?.update_settings(&viewer, worker, settings).await)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1 << 30))
}

#[component]
pub fn WorkerDetailsPage() -> impl IntoView {
    let params = use_params_map();
    let worker_id = move || params.with(|params| params.get("id").and_then(|id| id.parse::<i64>().ok()));
    let save = ServerAction::<SaveWorkerSettings>::new();
    let reissue = ServerAction::<ReissueWorkerToken>::new();
    let delete = ServerAction::<DeleteWorker>::new();
    let details = Resource::new(
        move || (worker_id(), save.version().get()),
        |(id, _)| async move {
            match id {
                Some(id) => load_worker(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    let live_status = RwSignal::new(None::<NodeStatus>);
    let points = RwSignal::new(Vec::<UtilisationPoint>::new());
    let heartbeats = RwSignal::new(0_u64);
    let last_seen = RwSignal::new(None::<i64>);

    // Once the details arrive in the browser: draw the history, then follow this worker's heartbeats.
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(Ok(loaded)) = details.get() else { return false };
        #[cfg(feature = "hydrate")]
        {
            use crate::components::metrics_chart::{draw, ChartSlot};
            use crate::components::when_mounted::when_mounted;
            use std::cell::RefCell;
            use std::rc::Rc;
            let id = loaded.summary.id;
            points.set(loaded.recent.iter().map(UtilisationPoint::from).collect());
            let day: Vec<UtilisationPoint> = loaded.day.iter().map(UtilisationPoint::from).collect();
            when_mounted("worker-day-chart", move || draw(&mut None, "worker-day-chart", &day));
            // One chart for the page, drawn once the element is there and updated by each heartbeat.
            let chart: Rc<RefCell<ChartSlot>> = Rc::new(RefCell::new(None));
            let first = chart.clone();
            when_mounted("worker-chart", move || {
                points.with_untracked(|points| draw(&mut first.borrow_mut(), "worker-chart", points))
            });
            crate::components::live_events::follow_events("worker", move |event| {
                let Event::Worker(live) = event else { return true };
                if live.node_id != id {
                    return true;
                }
                if live_status.try_set(Some(live.status)).is_some() {
                    return false;
                }
                if let Some(metrics) = live.metrics {
                    last_seen.set(Some(metrics.at_ms));
                    points.update(|points| push_recent(points, UtilisationPoint::from(&metrics), 720));
                    heartbeats.update(|count| *count += 1);
                    points.with_untracked(|points| draw(&mut chart.borrow_mut(), "worker-chart", points));
                }
                true
            });
        }
        let _ = &loaded;
        true
    });

    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                details
                    .get()
                    .map(|result| match result {
                        Err(error) => {
                            view! {
                                <Title text="Worker" />
                                <section class="page-head">
                                    <h1>"Worker"</h1>
                                </section>
                                <p class="form-error" data-testid="worker-error">{error.to_string()}</p>
                            }
                                .into_any()
                        }
                        Ok(details) => {
                            let rendered = details.summary.status;
                            let status = Signal::derive(move || live_status.get().unwrap_or(rendered));
                            let seen = details.summary.last_seen_at_ms;
                            let now = details.recent.last().map_or(details.created_at_ms, |point| point.at_ms);
                            view! {
                                <Title text=details.summary.name.clone() />
                                <section class="page-head">
                                    <h1 data-testid="worker-title">{details.summary.name.clone()}</h1>
                                    <p class="muted">
                                        <StatusBadge status />
                                        " · last heartbeat "
                                        <span data-testid="last-seen">
                                            {move || ago(last_seen.get().or(seen), last_seen.get().unwrap_or(now.max(seen.unwrap_or(0))))}
                                        </span>
                                    </p>
                                </section>
                                <section class="panel">
                                    <header class="panel-head">
                                        <div>
                                            <h2>"Utilisation"</h2>
                                            <p class="muted">"The last hour in 5-second buckets, then live."</p>
                                        </div>
                                        <span
                                            class="live-badge"
                                            class:connected=move || { heartbeats.get() > 0 }
                                            data-testid="worker-heartbeats"
                                            data-updates=move || heartbeats.get().to_string()
                                        >
                                            <span class="live-dot"></span>
                                            {move || format!("{} live heartbeats", heartbeats.get())}
                                        </span>
                                    </header>
                                    <div
                                        id="worker-chart"
                                        class="chart"
                                        data-testid="worker-chart"
                                        data-points=move || points.with(Vec::len).to_string()
                                    ></div>
                                    <h3>"Last 24 hours"</h3>
                                    <div id="worker-day-chart" class="chart short" data-testid="worker-day-chart"></div>
                                    <p class="note">
                                        {format!(
                                            "History kept: {} points of 5 s for the last hour, {} points of 15 min for the last day \
                                             (and 1-min points for a day, 15-min points for 30 days on the server).",
                                            details.recent.len(),
                                            details.day.len(),
                                        )}
                                    </p>
                                </section>
                                <WorkerTasks
                                    worker=details.summary.id
                                    earned_micro=details.summary.earned_micro
                                    tasks_done=details.summary.tasks_done
                                />
                                <HardwarePanel hardware=details.hardware.clone() agent=details.agent_version.clone() />
                                <SettingsPanel details=details.clone() save />
                                <TokenPanel worker=details.summary.id reissue delete />
                            }
                                .into_any()
                        }
                    })
            }}
        </Suspense>
    }
}

#[component]
fn HardwarePanel(hardware: Option<Hardware>, agent: Option<String>) -> impl IntoView {
    let Some(hardware) = hardware else {
        return view! {
            <section class="panel" data-testid="hardware">
                <h2>"Hardware"</h2>
                <p class="muted">"Reported when the agent first connects."</p>
            </section>
        }
        .into_any();
    };
    let gpus = if hardware.gpus.is_empty() {
        "none found (CPU rendering)".to_string()
    } else {
        hardware
            .gpus
            .iter()
            .map(|gpu| {
                let driver = gpu.driver.as_deref().map(|d| format!(", driver {d}")).unwrap_or_default();
                let cuda = gpu.cuda.as_deref().map(|c| format!(", CUDA {c}")).unwrap_or_default();
                format!("{} ({}{driver}{cuda})", gpu.model, gib(gpu.vram_bytes))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let rows = vec![
        ("Host", hardware.hostname.clone()),
        ("System", hardware.os.clone()),
        ("CPU", format!("{} · {} cores", hardware.cpu_model, hardware.cpu_cores)),
        ("Memory", gib(hardware.ram_bytes)),
        ("GPUs", gpus),
        ("Agent", agent.unwrap_or_default()),
        // Whether scenes render boxed away from the machine's files (see the README's security model).
        ("Sandbox", if hardware.sandbox.is_empty() { "not reported".to_string() } else { hardware.sandbox.clone() }),
    ];
    view! {
        <section class="panel stack" data-testid="hardware">
            <h2>"Hardware"</h2>
            <dl class="facts">
                {rows.into_iter().map(|(label, value)| view! { <dt>{label}</dt><dd>{value}</dd> }).collect_view()}
            </dl>
            <h3>"Blender"</h3>
            <ul class="rows" data-testid="blenders">
                {hardware
                    .blenders
                    .iter()
                    .map(|blender| {
                        let benchmark = blender.benchmark.as_ref().map_or_else(
                            || "no benchmark".to_string(),
                            |b| format!("benchmark {:.1} s · score {}", b.seconds, b.score),
                        );
                        view! {
                            <li class="row">
                                <span class="badge">{format!("Blender {}", blender.version)}</span>
                                <span class="grow">{blender.engines.join(" · ")}</span>
                                <span class="muted">{benchmark}</span>
                                <code class="muted ellipsis">{blender.path.clone()}</code>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
    .into_any()
}

#[component]
fn SettingsPanel(details: WorkerDetails, save: ServerAction<SaveWorkerSettings>) -> impl IntoView {
    let settings = details.summary.settings.clone();
    let sleep = settings.sleep;
    let saved = move || save.value().get().and_then(Result::ok).map(|_| "Saved.");
    let problem = move || save.value().get().and_then(Result::err).map(|error| error.to_string());
    view! {
        <section class="panel stack" data-testid="settings">
            <h2>"Settings"</h2>
            <ActionForm action=save attr:class="settings-form">
                <input type="hidden" name="worker" value=details.summary.id.to_string() />
                <label>
                    "Price (credits per render-minute)"
                    <input name="price" value=format_credits(settings.price_micro_per_minute) data-testid="price" />
                </label>
                <label>
                    "Region"
                    <input name="region" maxlength="32" value=settings.region.clone() placeholder="eu-west" />
                </label>
                <label>
                    "Tags"
                    <input name="tags" value=settings.tags.join(", ") placeholder="rtx4090, fast-ssd" data-testid="tags" />
                </label>
                <label class="check">
                    <input type="checkbox" name="enabled" value="on" checked=settings.enabled data-testid="enabled" />
                    "Enabled (takes work when online)"
                </label>
                <fieldset>
                    <legend>
                        <label class="check">
                            <input type="checkbox" name="sleep_enabled" value="on" checked=sleep.enabled data-testid="sleep-enabled" />
                            "Sleep schedule: take no work during these hours"
                        </label>
                    </legend>
                    <div class="days">
                        {DAY_NAMES
                            .iter()
                            .enumerate()
                            .map(|(index, day)| {
                                view! {
                                    <label class="check">
                                        <input
                                            type="checkbox"
                                            name=format!("day{index}")
                                            value="on"
                                            checked=sleep.days & (1 << index) != 0
                                        />
                                        {*day}
                                    </label>
                                }
                            })
                            .collect_view()}
                    </div>
                    <label>"From" <input name="sleep_start" value=format_clock(sleep.start_minute) size="5" data-testid="sleep-start" /></label>
                    <label>"to" <input name="sleep_end" value=format_clock(sleep.end_minute) size="5" data-testid="sleep-end" /></label>
                    <label>
                        "Time zone (UTC offset)"
                        <input name="utc_offset" value=format_utc_offset(sleep.utc_offset_minutes) size="6" data-testid="utc-offset" />
                    </label>
                </fieldset>
                <button class="button" type="submit" data-testid="save-settings">"Save settings"</button>
            </ActionForm>
            <p class="note" data-testid="settings-saved">{saved}</p>
            <p class="form-error" role="alert" data-testid="settings-error">{problem}</p>
        </section>
    }
}

#[component]
fn TokenPanel(
    worker: i64,
    reissue: ServerAction<ReissueWorkerToken>,
    delete: ServerAction<DeleteWorker>,
) -> impl IntoView {
    let issued = move || reissue.value().get().and_then(Result::ok);
    view! {
        <section class="panel stack" data-testid="token">
            <h2>"Token and removal"</h2>
            <p class="muted">
                "Re-issuing the token disconnects the running agent at once; start it again with the new config file."
            </p>
            <div class="row-actions">
                <ActionForm action=reissue>
                    <input type="hidden" name="worker" value=worker.to_string() />
                    <button class="button ghost" type="submit" data-testid="reissue-token">"Re-issue token"</button>
                </ActionForm>
                <ActionForm action=delete>
                    <input type="hidden" name="worker" value=worker.to_string() />
                    <button class="button ghost danger" type="submit" data-testid="delete-worker">"Delete worker"</button>
                </ActionForm>
            </div>
            {move || issued().map(|issued| view! { <IssuedConfig issued /> })}
            <p class="form-error">{move || delete.value().get().and_then(Result::err).map(|e| e.to_string())}</p>
        </section>
    }
}
