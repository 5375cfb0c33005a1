//! A worker's earnings and task history on its details page: every attempt it made, newest first, a page at a time.

use leptos::prelude::*;
use pictor_core::time::{format_duration, format_utc};
use pictor_core::workers::{format_credits, WorkerTaskPage};

use crate::error::AppError;

#[server]
pub async fn load_worker_tasks(worker: i64, page: i64) -> Result<WorkerTaskPage, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::workers()?.task_history(&viewer, worker, page).await)
}

#[component]
pub fn WorkerTasks(worker: i64, earned_micro: i64, tasks_done: i64) -> impl IntoView {
    let page = RwSignal::new(1_i64);
    let history = Resource::new(move || page.get(), move |page| load_worker_tasks(worker, page));
    view! {
        <section class="panel stack" data-testid="worker-tasks">
            <header class="panel-head">
                <h2>"Earnings and tasks"</h2>
                <span class="muted" data-testid="worker-earned">
                    {format!("{} credits earned · {tasks_done} results accepted", format_credits(earned_micro))}
                </span>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    history
                        .get()
                        .map(|result| match result {
                            Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                            Ok(history) if history.rows.is_empty() => {
                                view! { <p class="muted" data-testid="no-tasks">"No tasks yet."</p> }.into_any()
                            }
                            Ok(history) => view! { <TaskTable history page /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn TaskTable(history: WorkerTaskPage, page: RwSignal<i64>) -> impl IntoView {
    let (current, pages) = (history.page, history.pages);
    view! {
        <div class="table-wrap">
            <table class="ledger" data-testid="worker-task-table">
                <thead>
                    <tr>
                        <th>"Started (UTC)"</th>
                        <th>"Job"</th>
                        <th>"Frames"</th>
                        <th>"Outcome"</th>
                        <th class="number">"Render"</th>
                        <th class="number">"Paid"</th>
                    </tr>
                </thead>
                <tbody>
                    {history
                        .rows
                        .into_iter()
                        .map(|row| {
                            view! {
                                <tr data-testid="worker-task-row">
                                    <td class="muted">{format_utc(row.started_at_ms)}</td>
                                    <td>
                                        <a href=format!("/rendering/{}", row.job_id)>{row.job_name.clone()}</a>
                                    </td>
                                    <td>{format!("{} (attempt {})", row.frames, row.attempt)}</td>
                                    <td>
                                        <span class=format!("badge outcome {}", row.outcome)>{row.outcome.as_str()}</span>
                                    </td>
                                    <td class="number">{row.render_ms.map(format_duration).unwrap_or_default()}</td>
                                    <td class="number">{format_credits(row.paid_micro)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <div class="row-actions pager">
            <button class="button ghost small" type="button" disabled={current <= 1} on:click=move |_| page.update(|p| *p -= 1)>
                "Newer"
            </button>
            <span class="muted" data-testid="task-page">{format!("page {current} of {pages} · {} attempts", history.total)}</span>
            <button class="button ghost small" type="button" data-testid="older-tasks" disabled={current >= pages} on:click=move |_| page.update(|p| *p += 1)>
                "Older"
            </button>
        </div>
    }
}
