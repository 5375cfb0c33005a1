//! Overview: the signed-in person's work across roles (jobs, credit, workers, checkers, AI), live, above the
//! network's activity.

use leptos::prelude::*;
use leptos_meta::Title;
use pictor_core::jobs::JobSummary;
use pictor_core::overview::PersonalOverview;
use pictor_core::workers::format_credits;

use crate::components::network_panel::NetworkPanel;
use crate::error::AppError;

/// The viewer's overview, put together from each section's own; `None` for a visitor who is not signed in.
#[server]
pub async fn my_overview() -> Result<Option<PersonalOverview>, AppError> {
    let Some(viewer) = crate::auth::viewer() else { return Ok(None) };
    let jobs = crate::auth::jobs()?.jobs(&viewer).await?;
    let money = crate::auth::ledger()?.balances(&viewer).await?;
    let workers = crate::auth::workers()?.overview(&viewer).await?;
    let checkers = crate::auth::checkers()?.overview(&viewer).await?;
    let ai = crate::auth::ai()?.overview(&viewer).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis());
    let today = pictor_core::overview::day_start(i64::try_from(now).unwrap_or(i64::MAX));
    Ok(Some(PersonalOverview::assemble(&jobs, &money, &workers, &checkers, &ai, today)))
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <Title text="Overview" />
        <section class="page-head">
            <h1>"Overview"</h1>
            <p class="muted">"Your work across Pictor — jobs, credit, workers, checkers and AI — and the network's."</p>
        </section>
        <Yours />
        <NetworkPanel />
    }
}

/// The viewer's figures, one card per role; fetched in the browser and again whenever one of the viewer's tasks,
/// nodes, payments or AI requests changes.
#[component]
fn Yours() -> impl IntoView {
    let version = RwSignal::new(0u64);
    let overview = LocalResource::new(move || {
        version.track();
        my_overview()
    });
    #[cfg(feature = "hydrate")]
    {
        let alive = RwSignal::new(true);
        on_cleanup(move || alive.set(false));
        let kinds = vec!["task", "worker", "checker", "notifications", "ai_usage"];
        crate::components::live_events::follow_kinds(kinds, move |_| {
            let live = alive.try_get_untracked().unwrap_or(false);
            if live {
                version.update(|v| *v += 1);
            }
            live
        });
    }
    view! {
        {move || match overview.get() {
            None => view! { <section class="panel muted">"Loading your overview…"</section> }.into_any(),
            Some(Err(error)) => view! { <section class="panel form-error">{error.to_string()}</section> }.into_any(),
            Some(Ok(None)) => {
                view! {
                    <section class="panel" data-testid="overview-visitor">
                        <a href="/signin">"Sign in"</a>
                        " to see your jobs, credit, workers, checkers and AI usage here."
                    </section>
                }
                    .into_any()
            }
            Some(Ok(Some(mine))) => view! { <Cards mine /> }.into_any(),
        }}
    }
}

#[component]
fn Cards(mine: PersonalOverview) -> impl IntoView {
    let credit = format_credits(mine.credit_micro);
    let reserved = format_credits(mine.reserved_micro);
    let earned_today = format_credits(mine.workers_earned_today_micro);
    let ai_today = format_credits(mine.ai_spent_today_micro);
    let checkers_earned = format_credits(mine.checkers_earned_micro);
    view! {
        <div class="overview-cards" data-testid="overview-yours">
            <section class="panel overview-card overview-jobs" data-testid="overview-jobs">
                <header class="panel-head">
                    <h2>"Jobs in flight"</h2>
                    <a href="/rendering" class="small">"Rendering →"</a>
                </header>
                <p class="kpi-value" data-testid="overview-jobs-count">{mine.jobs_in_flight_total}</p>
                {if mine.jobs_total == 0 {
                    view! {
                        <p class="muted small" data-testid="overview-jobs-empty">
                            "No jobs yet. Submit a Blender scene in "<a href="/rendering">"Rendering"</a>
                            ", or batch and train models in "<a href="/ai">"AI"</a>"."
                        </p>
                    }
                        .into_any()
                } else if mine.jobs_in_flight.is_empty() {
                    view! { <p class="muted small">"Nothing running: every job has finished."</p> }.into_any()
                } else {
                    view! { <ul class="overview-job-list">{mine.jobs_in_flight.into_iter().map(job_row).collect_view()}</ul> }
                        .into_any()
                }}
            </section>
            <section class="panel overview-card" data-testid="overview-credit">
                <header class="panel-head">
                    <h2>"Credit"</h2>
                    <a href="/credit" class="small">"Credit →"</a>
                </header>
                <p class="kpi-value" data-testid="overview-credit-available">{credit}</p>
                <p class="muted small">
                    "available · "<span data-testid="overview-credit-reserved">{reserved}</span>" reserved by running jobs"
                </p>
            </section>
            <section class="panel overview-card" data-testid="overview-workers">
                <header class="panel-head">
                    <h2>"Workers"</h2>
                    <a href="/workers" class="small">"My Workers →"</a>
                </header>
                {if mine.workers_total == 0 {
                    view! {
                        <p class="muted small" data-testid="overview-workers-empty">
                            "Lend a GPU and earn: "<a href="/workers">"add a worker"</a>
                            ", download its config and run pictor-agent."
                        </p>
                    }
                        .into_any()
                } else {
                    view! {
                        <p class="kpi-value" data-testid="overview-workers-online">
                            {format!("{} of {} online", mine.workers_online, mine.workers_total)}
                        </p>
                        <p class="muted small">
                            <span data-testid="overview-earned-today">{earned_today}</span>" earned today"
                        </p>
                    }
                        .into_any()
                }}
            </section>
            <section class="panel overview-card" data-testid="overview-checkers">
                <header class="panel-head">
                    <h2>"Checkers"</h2>
                    <a href="/checkers" class="small">"Checker Nodes →"</a>
                </header>
                {if mine.checkers_total == 0 {
                    view! {
                        <p class="muted small" data-testid="overview-checkers-empty">
                            "Verify other workers' results and earn a share of the pool: "
                            <a href="/checkers">"add a checker"</a>"."
                        </p>
                    }
                        .into_any()
                } else {
                    let suspended = (mine.checkers_suspended > 0)
                        .then(|| format!(" · {} suspended", mine.checkers_suspended));
                    view! {
                        <p class="kpi-value" data-testid="overview-checkers-online">
                            {format!("{} of {} online", mine.checkers_online, mine.checkers_total)}
                        </p>
                        <p class="muted small" data-testid="overview-checker-standing">
                            {format!(
                                "{} verdicts · {} agreement · {checkers_earned} earned",
                                mine.checker_verdicts,
                                mine.checker_agreement,
                            )}
                            {suspended}
                        </p>
                    }
                        .into_any()
                }}
            </section>
            <section class="panel overview-card" data-testid="overview-ai">
                <header class="panel-head">
                    <h2>"AI today"</h2>
                    <a href="/ai" class="small">"AI →"</a>
                </header>
                {if mine.ai_requests_total == 0 {
                    view! {
                        <p class="muted small" data-testid="overview-ai-empty">
                            "Ask a model in the "<a href="/ai">"Playground"</a>
                            ", or call it with any OpenAI client and an API key."
                        </p>
                    }
                        .into_any()
                } else {
                    view! {
                        <p class="kpi-value" data-testid="overview-ai-tokens">
                            {format!("{} tokens", mine.ai_tokens_today)}
                        </p>
                        <p class="muted small">{ai_today}" credits spent today"</p>
                    }
                        .into_any()
                }}
            </section>
        </div>
    }
}

/// One job in flight: its name (linking to its page), progress and state.
fn job_row(job: JobSummary) -> impl IntoView {
    let percent = if job.tasks_total > 0 { job.tasks_done * 100 / job.tasks_total } else { 0 };
    view! {
        <li class="overview-job" data-testid="overview-job">
            <a href=format!("/rendering/{}", job.id)>{job.name}</a>
            <span class="progress" title=format!("{percent} %")>
                <span class="progress-fill" style=format!("width: {percent}%")></span>
            </span>
            <span class="muted small" data-testid="overview-job-progress">
                {format!("{} of {} · {}", job.tasks_done, job.tasks_total, job.state.as_str())}
            </span>
        </li>
    }
}
