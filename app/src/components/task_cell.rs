//! One task of a job's live grid: its frames or tile, state and progress, a thumbnail once rendered, and actions.

use std::collections::HashMap;

use leptos::prelude::*;
use pictor_core::jobs::TaskView;
use pictor_core::states::TaskState;

use crate::error::AppError;

/// Renders one task of a job again (the cell's "Render again").
#[server]
pub async fn rerender_task(job: i64, task: i64) -> Result<u64, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::jobs()?.rerender(&viewer, job, Some(vec![task])).await)
}

/// A task's live state and progress, overriding what the page was rendered with.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveTask {
    pub state: TaskState,
    pub progress: i64,
}

/// What the grid calls a task: its tile, or its frames ("Frame 7", "Frames 1–4", "Frames 1–3, 9").
pub fn task_label(task: &TaskView) -> String {
    match task.tile_index {
        Some(tile) => format!("Tile {tile}"),
        None => frames_label(&task.frames),
    }
}

/// A task's frame list (`"1,2,3,9"`) in words, runs of consecutive frames joined with an en dash.
pub fn frames_label(list: &str) -> String {
    let mut frames: Vec<i64> = list.split(',').filter_map(|frame| frame.trim().parse().ok()).collect();
    frames.sort_unstable();
    frames.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for frame in &frames {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == *frame => *end = *frame,
            _ => runs.push((*frame, *frame)),
        }
    }
    let parts: Vec<String> = runs
        .iter()
        .map(|(start, end)| if start == end { start.to_string() } else { format!("{start}–{end}") })
        .collect();
    match frames.len() {
        0 => format!("Frames {list}"),
        1 => format!("Frame {}", parts.join(", ")),
        _ => format!("Frames {}", parts.join(", ")),
    }
}

#[component]
pub fn TaskCell(
    job: i64,
    task: TaskView,
    live: RwSignal<HashMap<i64, LiveTask>>,
    rerender: ServerAction<RerenderTask>,
    /// The task whose attempts are shown below the grid.
    selected: RwSignal<Option<i64>>,
) -> impl IntoView {
    let id = task.id;
    let rendered = LiveTask { state: task.state, progress: task.progress_percent };
    let current = Signal::derive(move || live.with(|live| live.get(&id).cloned().unwrap_or_else(|| rendered.clone())));
    let label = task_label(&task);
    let error = task.last_error.clone().unwrap_or_default();
    // The first frame of an accepted task, as its thumbnail (tiles of one image share the stitched frame). A result
    // still being checked is not served yet: the creator gets only what passed.
    let first_frame = task.frames.split(',').next().unwrap_or_default().to_string();
    let frame_url = format!("/api/v1/jobs/{job}/frames/{first_frame}");
    let thumbnail = move || {
        let state = current.get().state;
        state.is_done().then(|| {
            view! {
                <a href=frame_url.clone() rel="external" target="_blank" data-testid="thumbnail-link">
                    <img class="thumbnail" loading="lazy" alt=format!("frame {first_frame}") src=frame_url.clone() />
                </a>
            }
        })
    };
    let can_rerender = move || current.get().state.can_rerender();
    view! {
        <div
            class=move || {
                let chosen = if selected.get() == Some(id) { " selected" } else { "" };
                format!("task-cell {}{chosen}", current.get().state)
            }
            data-testid="task-cell"
            data-state=move || current.get().state.as_str()
            title=error
        >
            {thumbnail}
            <span class="task-label">{label}</span>
            <span class="task-state">
                {move || {
                    let now = current.get();
                    if now.state == TaskState::Leased {
                        format!("rendering {} %", now.progress)
                    } else {
                        now.state.to_string()
                    }
                }}
            </span>
            <div class="task-actions">
                <button
                    class="button ghost small"
                    type="button"
                    data-testid="show-attempts"
                    on:click=move |_| selected.update(|chosen| *chosen = if *chosen == Some(id) { None } else { Some(id) })
                >
                    "Attempts"
                </button>
                {move || {
                    can_rerender()
                        .then(|| {
                            view! {
                                <ActionForm action=rerender>
                                    <input type="hidden" name="job" value=job.to_string() />
                                    <input type="hidden" name="task" value=id.to_string() />
                                    <button class="button ghost small" type="submit" data-testid="rerender-task">
                                        "Render again"
                                    </button>
                                </ActionForm>
                            }
                        })
                }}
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::frames_label;

    #[test]
    fn frames_read_as_runs() {
        assert_eq!(frames_label("7"), "Frame 7");
        assert_eq!(frames_label("1,2,3,4"), "Frames 1–4");
        assert_eq!(frames_label("1,2,3,9"), "Frames 1–3, 9");
        assert_eq!(frames_label("5,3"), "Frames 3, 5");
    }
}
