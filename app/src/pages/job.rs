//! A render job: its settings, a live grid of its tasks (queued, leased with progress, uploaded, failed), the
//! attempts and logs of a chosen task, ETA, retry, re-render, cancel and download.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
#[cfg(feature = "hydrate")]
use pictor_core::events::Event;
use pictor_core::jobs::{eta_ms, JobDetails, Split};
use pictor_core::states::{JobState, TaskState};
use pictor_core::time::format_duration;

use crate::components::task_attempts::TaskAttempts;
use crate::components::task_cell::{task_label, LiveTask, RerenderTask, TaskCell};
use crate::error::AppError;

#[server]
pub async fn load_job(job: i64) -> Result<JobDetails, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::jobs()?.job(&viewer, job).await)
}

#[server]
pub async fn cancel_job(job: i64) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::jobs()?.cancel(&viewer, job).await)
}

#[server]
pub async fn retry_failed(job: i64) -> Result<u64, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::jobs()?.rerender(&viewer, job, None).await)
}

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let job_id = move || params.with(|params| params.get("id").and_then(|id| id.parse::<i64>().ok()));
    let cancel = ServerAction::<CancelJob>::new();
    let rerender = ServerAction::<RerenderTask>::new();
    let retry = ServerAction::<RetryFailed>::new();
    let details = Resource::new(
        move || (job_id(), cancel.version().get() + rerender.version().get() + retry.version().get()),
        |(id, _)| async move {
            match id {
                Some(id) => load_job(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    let live = RwSignal::new(HashMap::<i64, LiveTask>::new());
    let updates = RwSignal::new(0_u64);
    let selected = RwSignal::new(None::<i64>);

    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        let Some(id) = job_id() else { return false };
        #[cfg(feature = "hydrate")]
        crate::components::live_events::follow_events("task", move |event| {
            let Event::Task(task) = event else { return true };
            if task.job_id != id {
                return true;
            }
            let update = LiveTask { state: task.state, progress: task.progress_percent };
            if live.try_update(|tasks| tasks.insert(task.task_id, update)).is_none() {
                return false;
            }
            updates.update(|count| *count += 1);
            true
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (id, live, updates);
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
                                <Title text="Job" />
                                <section class="page-head"><h1>"Job"</h1></section>
                                <p class="form-error" data-testid="job-page-error">{error.to_string()}</p>
                            }
                                .into_any()
                        }
                        Ok(job) => {
                            let spec = job.spec.clone();
                            let (width, height) = spec.output_size();
                            let split = match &spec.split {
                                Split::Frames { frames, chunk_size } => {
                                    format!("{} frames, {} per task", frames.len(), chunk_size)
                                }
                                Split::Tiles { frame, tiles } => format!("frame {frame} in {tiles} tiles"),
                            };
                            let summary = format!(
                                "{split} · {width}×{height} · {} samples · {} · {} · {}",
                                spec.samples,
                                spec.engine.label(),
                                spec.format.label(),
                                spec.tier.label()
                            );
                            let cost = cost_line(&job.cost);
                            let checks = job.checks.sentence();
                            let total = job.tasks.len();
                            let ids: Vec<(i64, TaskState)> = job.tasks.iter().map(|t| (t.id, t.state)).collect();
                            // Every task's state now: live updates over what the page was rendered with.
                            let states = Signal::derive(move || {
                                live.with(|live| {
                                    ids.iter()
                                        .map(|(id, rendered)| live.get(id).map_or(*rendered, |t| t.state))
                                        .collect::<Vec<TaskState>>()
                                })
                            });
                            let done = move || {
                                states.get().iter().filter(|state| state.is_done()).count()
                            };
                            let rendered_state = job.summary.state;
                            let job_state = Signal::derive(move || live_job_state(rendered_state, &states.get()));
                            let running = move || job_state.get().is_running();
                            let avg_task_ms = job.avg_task_ms;
                            let eta = move || {
                                let states = states.get();
                                let remaining = states.iter().filter(|state| state.is_pending()).count();
                                let parallel = states.iter().filter(|state| **state == TaskState::Leased).count();
                                match (running(), avg_task_ms) {
                                    (false, _) => String::new(),
                                    (true, None) => " · ETA after the first task".to_string(),
                                    (true, Some(avg)) => format!(" · about {} left", format_duration(eta_ms(remaining, avg, parallel))),
                                }
                            };
                            let labels: HashMap<i64, String> = job.tasks.iter().map(|task| (task.id, task_label(task))).collect();
                            let rendered_tasks: HashMap<i64, String> = job.tasks.iter().map(|task| (task.id, task.state.to_string())).collect();
                            let job_key = job.summary.id;
                            let attempts_panel = move || {
                                let task = selected.get()?;
                                let label = labels.get(&task).cloned().unwrap_or_default();
                                let rendered = rendered_tasks.get(&task).cloned().unwrap_or_default();
                                // Reload the attempts whenever that task's live state or progress moves on.
                                let revision = Signal::derive(move || {
                                    live.with(|live| live.get(&task).map_or(rendered.clone(), |t| format!("{}:{}", t.state, t.progress)))
                                });
                                let on_close = Callback::new(move |()| selected.set(None));
                                Some(view! { <TaskAttempts job=job_key task label revision on_close /> })
                            };
                            view! {
                                <Title text=job.summary.name.clone() />
                                <section class="page-head">
                                    <h1 data-testid="job-title">{job.summary.name.clone()}</h1>
                                    <p class="muted">{summary}</p>
                                    <p class="muted" data-testid="job-cost">{cost}</p>
                                </section>
                                <section class="panel stack">
                                    <header class="panel-head">
                                        <div>
                                            <h2>"Tasks"</h2>
                                            <p class="muted" data-testid="job-progress">
                                                {move || format!("{} of {total} done{}", done(), eta())}
                                            </p>
                                            {checks.map(|text| view! { <p class="muted small" data-testid="job-checks">{text}</p> })}
                                        </div>
                                        <span class=move || format!("badge job-state {}", job_state.get()) data-testid="job-state">
                                            {move || job_state.get().as_str()}
                                        </span>
                                    </header>
                                    <div class="task-grid" data-testid="task-grid" data-updates=move || updates.get().to_string()>
                                        {job
                                            .tasks
                                            .into_iter()
                                            .map(|task| view! { <TaskCell job=job.summary.id task live rerender selected /> })
                                            .collect_view()}
                                    </div>
                                    {attempts_panel}
                                    {move || {
                                        (done() > 0)
                                            .then(|| {
                                                view! {
                                                    <a
                                                        class="button ghost"
                                                        rel="external"
                                                        download
                                                        href=format!("/api/v1/jobs/{}/outputs.zip", job_id().unwrap_or_default())
                                                        data-testid="download-zip"
                                                    >
                                                        "Download all (zip)"
                                                    </a>
                                                }
                                            })
                                    }}
                                    {(job.summary.tasks_failed > 0)
                                        .then(|| {
                                            view! {
                                                <ActionForm action=retry>
                                                    <input type="hidden" name="job" value=job.summary.id.to_string() />
                                                    <button class="button ghost" type="submit" data-testid="retry-failed">
                                                        {format!("Retry {} failed", job.summary.tasks_failed)}
                                                    </button>
                                                </ActionForm>
                                            }
                                        })}
                                    {move || {
                                        running()
                                        .then(|| {
                                            view! {
                                                <ActionForm action=cancel>
                                                    <input type="hidden" name="job" value=job.summary.id.to_string() />
                                                    <button class="button ghost danger" type="submit" data-testid="cancel-job">
                                                        "Cancel job"
                                                    </button>
                                                </ActionForm>
                                            }
                                        })
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

/// "1.25 credits spent of an estimated 1.4 (89 %, from the network's history) · 0.15 still held".
pub fn cost_line(cost: &pictor_core::jobs::JobCost) -> String {
    use pictor_core::workers::format_credits;
    let source = if cost.estimate_source == "history" { "from the network's history" } else { "a first guess" };
    let estimate = if cost.estimate_micro > 0 {
        format!(
            " of an estimated {} ({} %, {source})",
            format_credits(cost.estimate_micro),
            cost.spent_micro * 100 / cost.estimate_micro
        )
    } else {
        String::new()
    };
    let budget = cost.budget_micro.map(|b| format!(" · budget cap {}", format_credits(b))).unwrap_or_default();
    format!(
        "{} credits spent{estimate} · {} still held{budget}",
        format_credits(cost.spent_micro),
        format_credits(cost.escrow_micro)
    )
}

/// The job's state as its tasks say it is now: done when every task is, active once one is leased.
fn live_job_state(rendered: JobState, tasks: &[TaskState]) -> JobState {
    match rendered {
        JobState::Cancelled | JobState::Failed | JobState::Paused => rendered,
        _ if !tasks.is_empty() && tasks.iter().all(|state| state.is_done()) => JobState::Completed,
        _ if tasks.iter().any(|state| *state == TaskState::Leased || state.is_done()) => JobState::Active,
        _ => rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_reads_against_the_estimate() {
        let cost = pictor_core::jobs::JobCost {
            estimate_micro: 2_000_000,
            estimate_source: "history".into(),
            budget_micro: None,
            spent_micro: 1_500_000,
            escrow_micro: 500_000,
        };
        assert_eq!(
            cost_line(&cost),
            "1.5 credits spent of an estimated 2 (75 %, from the network's history) · 0.5 still held"
        );
        let free = pictor_core::jobs::JobCost::default();
        assert_eq!(cost_line(&free), "0 credits spent · 0 still held");
    }

    #[test]
    fn the_job_state_follows_its_tasks() {
        use JobState as J;
        use TaskState as T;
        assert_eq!(live_job_state(J::Queued, &[T::Queued, T::Leased]), J::Active);
        assert_eq!(live_job_state(J::Active, &[T::Uploaded, T::Verified]), J::Completed);
        assert_eq!(live_job_state(J::Queued, &[T::Queued]), J::Queued);
        assert_eq!(live_job_state(J::Cancelled, &[T::Uploaded]), J::Cancelled);
    }
}
