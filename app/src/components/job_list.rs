//! The creator's jobs: filtered by state and name, each with its state, progress and a link to its page.

use leptos::prelude::*;
use leptos_router::components::A;
use pictor_core::jobs::JobSummary;
use pictor_core::states::JobState;

/// The state filters above the list, and which job states each one shows.
const FILTERS: [(&str, &[JobState]); 5] = [
    ("All", &[]),
    ("Running", &[JobState::Queued, JobState::Active, JobState::Paused]),
    ("Completed", &[JobState::Completed]),
    ("Failed", &[JobState::Failed]),
    ("Cancelled", &[JobState::Cancelled]),
];

/// Whether `job` passes the chosen state filter and contains `search` in its name (any case).
pub fn shown(job: &JobSummary, states: &[JobState], search: &str) -> bool {
    let search = search.trim().to_lowercase();
    (states.is_empty() || states.contains(&job.state))
        && (search.is_empty() || job.name.to_lowercase().contains(&search))
}

#[component]
pub fn JobList(jobs: Vec<JobSummary>) -> impl IntoView {
    let filter = RwSignal::new(0_usize);
    let search = RwSignal::new(String::new());
    let jobs = StoredValue::new(jobs);
    let visible = move || {
        let states = FILTERS[filter.get()].1;
        let search = search.get();
        jobs.with_value(|jobs| jobs.iter().filter(|job| shown(job, states, &search)).cloned().collect::<Vec<_>>())
    };
    view! {
        <div class="job-filters" role="toolbar" aria-label="Filter jobs">
            {FILTERS
                .iter()
                .enumerate()
                .map(|(index, (label, states))| {
                    let count = jobs.with_value(|jobs| jobs.iter().filter(|job| shown(job, states, "")).count());
                    view! {
                        <button
                            type="button"
                            class=move || if filter.get() == index { "chip active" } else { "chip" }
                            aria-pressed=move || (filter.get() == index).to_string()
                            data-testid=format!("job-filter-{}", label.to_lowercase())
                            on:click=move |_| filter.set(index)
                        >
                            {format!("{label} ({count})")}
                        </button>
                    }
                })
                .collect_view()}
            <input
                class="job-search"
                type="search"
                placeholder="Find by name"
                bind:value=search
                data-testid="job-search"
            />
        </div>
        {move || {
            let visible = visible();
            if visible.is_empty() {
                view! { <p class="muted" data-testid="no-matching-jobs">"No job matches."</p> }.into_any()
            } else {
                view! {
                    <ul class="rows">{visible.into_iter().map(|job| view! { <JobRow job /> }).collect_view()}</ul>
                }
                    .into_any()
            }
        }}
    }
}

#[component]
fn JobRow(job: JobSummary) -> impl IntoView {
    let percent = if job.tasks_total > 0 { job.tasks_done * 100 / job.tasks_total } else { 0 };
    view! {
        <li class="row" data-testid="job-row">
            <span class=format!("badge job-state {}", job.state)>{job.state.as_str()}</span>
            <A href=format!("/rendering/{}", job.id) attr:class="grow worker-name">
                {job.name.clone()}
            </A>
            <span class="progress" title=format!("{percent} %")>
                <span class="progress-fill" style=format!("width: {percent}%")></span>
            </span>
            <span class="muted">{format!("{}/{} tasks", job.tasks_done, job.tasks_total)}</span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, state: JobState) -> JobSummary {
        JobSummary { id: 1, name: name.into(), state, created_at_ms: 0, tasks_total: 1, tasks_done: 0, tasks_failed: 0 }
    }

    #[test]
    fn filters_match_state_groups_and_names_in_any_case() {
        let running = FILTERS[1].1;
        assert!(shown(&job("Cube", JobState::Active), running, ""));
        assert!(shown(&job("Cube", JobState::Paused), running, "cu"));
        assert!(!shown(&job("Cube", JobState::Completed), running, ""));
        assert!(shown(&job("Spinning Cube", JobState::Completed), &[], " CUBE "));
        assert!(!shown(&job("Sphere", JobState::Completed), &[], "cube"));
    }
}
