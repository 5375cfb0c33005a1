//! Checker Nodes: create a checker (config file with its token), and follow each checker live — status, verdicts
//! given, agreement with the quorum, audits passed, suspension, rewards.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use pictor_core::checkers::{CheckerCounts, CheckerSummary, CheckersOverview};
#[cfg(feature = "hydrate")]
use pictor_core::events::Event;
use pictor_core::workers::{format_credits, IssuedNodeConfig, NodeStatus};

use super::workers::{IssuedConfig, StatusBadge};
use crate::error::AppError;

#[server]
pub async fn load_checkers() -> Result<CheckersOverview, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::checkers()?.overview(&viewer).await)
}

#[server]
pub async fn create_checker(name: String) -> Result<IssuedNodeConfig, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::checkers()?.create(&viewer, &name).await)
}

/// What changed since the page was rendered, per checker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Live {
    status: Option<NodeStatus>,
    counts: Option<CheckerCounts>,
}

#[component]
pub fn CheckersPage() -> impl IntoView {
    let create = ServerAction::<CreateChecker>::new();
    let refresh = RwSignal::new(0_u64);
    let overview = Resource::new(move || (create.version().get(), refresh.get()), |_| load_checkers());
    let live = RwSignal::new(HashMap::<i64, Live>::new());

    Effect::new(move |_| {
        #[cfg(not(feature = "hydrate"))]
        let _ = (live, refresh);
        #[cfg(feature = "hydrate")]
        crate::components::live_events::follow_kinds(vec!["checker", "worker"], move |event| {
            let updated = match event {
                Event::Checker(update) => live.try_update(|all| {
                    all.entry(update.node_id).or_default().counts = Some(update.counts);
                }),
                Event::Worker(update) => {
                    let changed = live.try_update(|all| {
                        all.entry(update.node_id).or_default().status = Some(update.status);
                    });
                    // A checker that registers has new hardware to show.
                    if update.metrics.is_none() {
                        refresh.update(|count| *count += 1);
                    }
                    changed
                }
                _ => Some(()),
            };
            updated.is_some()
        });
    });

    view! {
        <Title text="Checker Nodes" />
        <section class="page-head">
            <h1>"Checker Nodes"</h1>
            <p class="muted">
                "Checkers keep the network honest: they re-render small crops of workers' frames and compare them. "
                "Verdicts that agree with the quorum earn a share of the checker pool."
            </p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(overview) => view! { <CheckerSummaryPanel overview=overview.clone() live /> <CreateChecker create /> <CheckerList overview live /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn CheckerSummaryPanel(overview: CheckersOverview, live: RwSignal<HashMap<i64, Live>>) -> impl IntoView {
    let rendered: Vec<(i64, NodeStatus, CheckerCounts)> =
        overview.checkers.iter().map(|c| (c.id, c.status, c.counts)).collect();
    let current = move || {
        live.with(|live| {
            rendered
                .iter()
                .map(|(id, status, counts)| {
                    let now = live.get(id).copied().unwrap_or_default();
                    (now.status.unwrap_or(*status), now.counts.unwrap_or(*counts))
                })
                .collect::<Vec<_>>()
        })
    };
    let current = Signal::derive(current);
    let online = move || current.get().iter().filter(|(status, _)| *status == NodeStatus::Online).count();
    let verdicts = move || current.get().iter().map(|(_, counts)| counts.verdicts).sum::<i64>();
    let agreement = move || {
        let total = current.get().iter().fold(CheckerCounts::default(), |sum, (_, c)| CheckerCounts {
            agreed: sum.agreed + c.agreed,
            disagreed: sum.disagreed + c.disagreed,
            ..sum
        });
        total.agreement()
    };
    view! {
        <section class="panel" data-testid="checkers-summary">
            <h2>"Summary"</h2>
            <div class="kpis">
                <div class="kpi">
                    <span class="kpi-label">"Online"</span>
                    <span class="kpi-value" data-testid="checkers-online">{move || online().to_string()}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Verdicts"</span>
                    <span class="kpi-value" data-testid="checkers-verdicts">{move || verdicts().to_string()}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Agreement with quorum"</span>
                    <span class="kpi-value">{agreement}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Earned (credits)"</span>
                    <span class="kpi-value">{format_credits(overview.earned_micro)}</span>
                </div>
            </div>
        </section>
    }
}

#[component]
fn CreateChecker(create: ServerAction<CreateChecker>) -> impl IntoView {
    let issued = move || create.value().get().and_then(Result::ok);
    let problem = move || create.value().get().and_then(Result::err).map(|error| error.to_string());
    view! {
        <section class="panel stack" data-testid="create-checker">
            <h2>"Add a checker"</h2>
            <p class="muted">
                "Any machine with Blender can check: name it, download its config file and start "
                <code>"pictor-agent checker --config checker.toml"</code>
                ". It never checks workers of your own account."
            </p>
            <ActionForm action=create attr:class="inline-form">
                <label for="checker-name">"Name"</label>
                <input id="checker-name" name="name" maxlength="64" placeholder="verifier-1" data-testid="checker-name" />
                <button class="button" type="submit" data-testid="create-checker-button">"Create checker"</button>
            </ActionForm>
            <p class="form-error" role="alert">{problem}</p>
            {move || issued().map(|issued| view! { <IssuedConfig issued /> })}
        </section>
    }
}

#[component]
fn CheckerList(overview: CheckersOverview, live: RwSignal<HashMap<i64, Live>>) -> impl IntoView {
    view! {
        <section class="panel stack" data-testid="checker-list">
            <h2>"Checkers"</h2>
            {if overview.checkers.is_empty() {
                view! {
                    <p class="muted" data-testid="no-checkers">
                        "No checkers yet: create one above, then start pictor-agent checker with its config file."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <ul class="rows">
                        {overview
                            .checkers
                            .into_iter()
                            .map(|checker| view! { <CheckerRow checker live /> })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn CheckerRow(checker: CheckerSummary, live: RwSignal<HashMap<i64, Live>>) -> impl IntoView {
    let id = checker.id;
    let (rendered_status, rendered_counts) = (checker.status, checker.counts);
    let status = Signal::derive(move || live.with(|l| l.get(&id).and_then(|c| c.status)).unwrap_or(rendered_status));
    let counts = Signal::derive(move || live.with(|l| l.get(&id).and_then(|c| c.counts)).unwrap_or(rendered_counts));
    let hardware = checker.hardware_brief.clone().unwrap_or_else(|| "hardware not reported yet".to_string());
    let seen = checker
        .last_seen_at_ms
        .map_or_else(|| "never seen".to_string(), |at| format!("last seen {} UTC", pictor_core::time::format_utc(at)));
    view! {
        <li class="row checker-row" data-testid="checker-row" data-checker-id=id.to_string()>
            <StatusBadge status />
            <span class="grow worker-name">{checker.name.clone()}</span>
            <span class="muted ellipsis" title=seen>{hardware}</span>
            <span data-testid="checker-verdicts">{move || format!("{} verdicts", counts.get().verdicts)}</span>
            <span class="muted" title="Decided verdicts that agreed with the quorum">
                {move || format!("{} agree", counts.get().agreement())}
            </span>
            <span class="muted">{move || format!("{} audits passed", counts.get().audits_passed)}</span>
            {move || counts.get().suspended.then(|| view! { <span class="badge danger" data-testid="suspended">"suspended"</span> })}
            <span class="muted">{format!("{} cr", format_credits(checker.earned_micro))}</span>
        </li>
    }
}
