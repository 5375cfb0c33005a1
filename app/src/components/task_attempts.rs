//! The attempts at one task of a job: which worker ran it, when, how it ended, the error and Blender's log.

use leptos::prelude::*;
use pictor_core::jobs::AttemptView;
use pictor_core::time::{format_duration, format_utc};

use crate::error::AppError;

#[server]
pub async fn load_attempts(job: i64, task: i64) -> Result<Vec<AttemptView>, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::jobs()?.attempts(&viewer, job, task).await)
}

/// The attempts of the selected task; reloaded when `revision` changes (the task's live state moved on).
#[component]
pub fn TaskAttempts(
    job: i64,
    task: i64,
    label: String,
    revision: Signal<String>,
    on_close: Callback<()>,
) -> impl IntoView {
    let attempts = Resource::new(move || revision.get(), move |_| load_attempts(job, task));
    view! {
        <section class="panel stack task-attempts" data-testid="task-attempts">
            <header class="panel-head">
                <h2>{format!("Attempts · {label}")}</h2>
                <button class="button ghost small" type="button" on:click=move |_| on_close.run(())>
                    "Close"
                </button>
            </header>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    attempts
                        .get()
                        .map(|result| match result {
                            Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                            Ok(list) if list.is_empty() => {
                                view! { <p class="muted">"Not started yet: no worker has taken this task."</p> }
                                    .into_any()
                            }
                            Ok(list) => list.into_iter().rev().map(attempt_view).collect_view().into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}

fn attempt_view(attempt: AttemptView) -> impl IntoView {
    let took = attempt.ended_at_ms.map_or_else(
        || "running".to_string(),
        |ended| format!("took {}", format_duration(ended - attempt.started_at_ms)),
    );
    let blender = if attempt.blender_version.is_empty() {
        String::new()
    } else {
        format!(" · Blender {}", attempt.blender_version)
    };
    let heading = format!(
        "Attempt {} · {}{blender} · started {} UTC · {took}",
        attempt.attempt,
        attempt.node_name,
        format_utc(attempt.started_at_ms)
    );
    let log = if attempt.log.trim().is_empty() { "(no output recorded)".to_string() } else { attempt.log.clone() };
    view! {
        <article class="attempt" data-testid="attempt" data-outcome=attempt.outcome.as_str()>
            <header class="attempt-head">
                <span>{heading}</span>
                <span class=format!("badge outcome {}", attempt.outcome)>{attempt.outcome.as_str()}</span>
            </header>
            {attempt.error.map(|error| view! { <p class="form-error" data-testid="attempt-error">{error}</p> })}
            <pre class="log" data-testid="attempt-log">{log}</pre>
        </article>
    }
}
