//! The AI page's Training: start a run of either template (an image classifier from a CSV of pixels, or
//! all-MiniLM-L6-v2 fine-tuned on labelled texts) with its hyperparameters and a budget, follow its loss and accuracy live (task events on the event stream), download its checkpoints and the
//! trained weights, cancel it.

use leptos::prelude::*;
use pictor_core::ai_training::TrainingTemplate;
use serde::Deserialize;

use crate::components::training_chart::CHART_ID;

/// A run as `/api/ai/trainings` lists it (the fields shown).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RunRow {
    pub id: i64,
    pub task_id: i64,
    pub name: String,
    pub state: String,
    pub step: i64,
    pub total_steps: i64,
    pub dataset_rows: i64,
    pub accuracy: Option<f64>,
    pub points: Vec<Point>,
    pub checkpoints: Vec<CheckpointRow>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Point {
    pub step: i64,
    pub loss: f64,
    pub accuracy: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CheckpointRow {
    pub step: i64,
    pub attempt: i64,
    pub bytes: i64,
}

#[cfg(feature = "hydrate")]
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct RunList {
    data: Vec<RunRow>,
}

/// Whether a run can still change (and be cancelled).
fn running(state: &str) -> bool {
    matches!(state, "queued" | "active" | "paused")
}

/// The rows of a dataset as the coordinator counts them: lines that are not blank, less a header (`text,label`, or a
/// first line of words above rows of numbers).
pub fn data_rows(text: &str) -> u64 {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let Some(first) = lines.next() else { return 0 };
    let rest = lines.count() as u64;
    let starts_with_number = |line: &str| line.split(',').next().is_some_and(|cell| cell.trim().parse::<f64>().is_ok());
    let second_is_numbers =
        text.lines().map(str::trim).filter(|line| !line.is_empty()).nth(1).is_some_and(starts_with_number);
    let header = first.to_ascii_lowercase().replace(['"', ' '], "") == "text,label"
        || (!starts_with_number(first) && second_is_numbers);
    rest + u64::from(!header)
}

/// `epochs × ⌈training rows / batch⌉`, training rows being what is left after the 20 % held out.
pub fn estimated_steps(rows: u64, epochs: u64, batch_size: u64) -> u64 {
    let held_out = (rows * 20 / 100).max(1);
    epochs * rows.saturating_sub(held_out).div_ceil(batch_size.max(1))
}

#[component]
pub fn Training() -> impl IntoView {
    let version = RwSignal::new(0u64);
    let runs = LocalResource::new(move || {
        version.track();
        list()
    });
    let refresh = Callback::new(move |()| version.update(|v| *v += 1));
    #[cfg(feature = "hydrate")]
    {
        // Every checkpoint publishes its task: the list (and the chart) follow the event stream.
        let alive = RwSignal::new(true);
        on_cleanup(move || alive.set(false));
        crate::components::live_events::follow_events("task", move |_| {
            let live = alive.try_get_untracked().unwrap_or(false);
            if live {
                version.update(|v| *v += 1);
            }
            live
        });
    }
    let chosen = RwSignal::new(None::<i64>);
    // The form's budget is also what a resumed run gets.
    let budget = RwSignal::new("1".to_string());
    view! {
        <section class="panel" data-testid="ai-training">
            <h2>"Training"</h2>
            <p class="muted small">
                "Train an image classifier (a small MLP) from a CSV of pixels, one image per row, its label last — \
                 scikit-learn's digits.csv is one — or fine-tune all-MiniLM-L6-v2 into a text classifier from a CSV \
                 (text,label) or JSONL ({\"text\", \"label\"}) of labelled texts. A worker trains it with candle \
                 and uploads a checkpoint every N steps; if it stops, another worker goes on from the last \
                 checkpoint. A checker replays a segment of steps before the worker is paid (its price per minute \
                 of training, within your budget)."
            </p>
            <TrainingForm refresh budget />
            {move || match runs.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="form-error">{error}</p> }.into_any(),
                Some(Ok(rows)) if rows.is_empty() => {
                    view! { <p class="muted" data-testid="trainings-empty">"No training runs yet."</p> }.into_any()
                }
                Some(Ok(rows)) => {
                    let shown = chosen.get().and_then(|id| rows.iter().find(|row| row.id == id)).or(rows.first()).cloned();
                    view! {
                        <RunTable rows chosen refresh budget />
                        {shown.map(|run| view! { <RunCurves run /> })}
                    }
                    .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn TrainingForm(refresh: Callback<()>, budget: RwSignal<String>) -> impl IntoView {
    let form = NodeRef::<leptos::html::Div>::new();
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let rows = RwSignal::new(None::<u64>);
    let start = TrainingTemplate::PixelClassifier.default_hyperparameters();
    let name = RwSignal::new("digits".to_string());
    let epochs = RwSignal::new(start.epochs.to_string());
    let rate = RwSignal::new(start.learning_rate.to_string());
    let batch = RwSignal::new(start.batch_size.to_string());
    let every = RwSignal::new(start.checkpoint_every.to_string());
    // Choosing a template fills in the hyperparameters that suit it.
    let chose_template = move |event| {
        let Some(template) = TrainingTemplate::parse(&event_target_value(&event)) else { return };
        let hyper = template.default_hyperparameters();
        epochs.set(hyper.epochs.to_string());
        rate.set(hyper.learning_rate.to_string());
        batch.set(hyper.batch_size.to_string());
        every.set(hyper.checkpoint_every.to_string());
        name.set(if template == TrainingTemplate::PixelClassifier { "digits" } else { "topics" }.to_string());
    };
    let estimate = move || {
        let rows = rows.get()?;
        let epochs = epochs.get().trim().parse::<u64>().ok()?;
        let batch = batch.get().trim().parse::<u64>().ok()?;
        Some(format!(
            "{rows} rows → about {} steps; it costs at most {} credits (the rest comes back)",
            estimated_steps(rows, epochs, batch),
            budget.get()
        ))
    };
    let counted = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(file) = form.get_untracked().and_then(|div| browser::chosen_file(&div)) {
            leptos::task::spawn_local(async move { rows.set(browser::count_rows(&file).await) });
        }
    };
    let send = move |_| {
        problem.set(None);
        #[cfg(feature = "hydrate")]
        {
            let Some(div) = form.get_untracked() else { return };
            let Some(file) = browser::chosen_file(&div) else {
                problem.set(Some("choose a .csv or .jsonl dataset first".into()));
                return;
            };
            let query = browser::settings_query(&div);
            busy.set(true);
            leptos::task::spawn_local(async move {
                let result = browser::start(&query, file).await;
                busy.set(false);
                match result {
                    Ok(()) => refresh.run(()),
                    Err(message) => problem.set(Some(message)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&form, refresh);
    };
    view! {
        <div class="form-grid" node_ref=form>
            <label>"Template "
                <select name="template" data-testid="training-template" on:change=chose_template>
                    {TrainingTemplate::ALL
                        .into_iter()
                        .map(|template| view! { <option value=template.as_str()>{template.title()}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>"Dataset (.csv, .jsonl) "<input type="file" accept=".csv,.jsonl,text/csv" data-testid="training-file" on:change=counted /></label>
            <label>"Name "<input name="name" bind:value=name data-testid="training-name" /></label>
            <label>"Epochs "<input name="epochs" type="number" min="1" max="1000" bind:value=epochs data-testid="training-epochs" /></label>
            <label>"Learning rate "<input name="learning_rate" bind:value=rate data-testid="training-lr" /></label>
            <label>"Batch size "<input name="batch_size" type="number" min="1" bind:value=batch /></label>
            <label>"Seed "<input name="seed" type="number" min="0" value="1" /></label>
            <label>"Checkpoint every (steps) "<input name="checkpoint_every" type="number" min="1" bind:value=every data-testid="training-every" /></label>
            <label>"Budget (credits) "<input name="budget" bind:value=budget data-testid="training-budget" /></label>
        </div>
        <p class="muted small" data-testid="training-estimate">{move || estimate().unwrap_or_else(|| "Choose a dataset for an estimate.".into())}</p>
        <button class="button primary" data-testid="training-send" on:click=send disabled=move || busy.get()>
            {move || if busy.get() { "Checking…" } else { "Start training" }}
        </button>
        {move || problem.get().map(|text| view! { <p class="form-error" data-testid="training-error">{text}</p> })}
    }
}

#[component]
fn RunTable(
    rows: Vec<RunRow>,
    chosen: RwSignal<Option<i64>>,
    refresh: Callback<()>,
    budget: RwSignal<String>,
) -> impl IntoView {
    view! {
        <table class="ledger">
            <thead>
                <tr>
                    <th>"Run"</th>
                    <th>"State"</th>
                    <th>"Steps"</th>
                    <th>"Accuracy"</th>
                    <th>"Checkpoints"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <RunLine row chosen refresh budget /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RunLine(
    row: RunRow,
    chosen: RwSignal<Option<i64>>,
    refresh: Callback<()>,
    budget: RwSignal<String>,
) -> impl IntoView {
    let id = row.id;
    let fraction = if row.total_steps > 0 { row.step as f64 / row.total_steps as f64 } else { 0.0 };
    let cancel = move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let _ = browser::cancel(id).await;
            refresh.run(());
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (id, refresh);
    };
    let last = row.checkpoints.last().cloned();
    let deploying = RwSignal::new(false);
    let deployed = RwSignal::new(None::<String>);
    let deploy = move |_| {
        deploying.set(true);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let said = match browser::deploy(id).await {
                Ok(model) => format!("Deployed as {model}: it answers in the Playground once a worker holds it."),
                Err(error) => error,
            };
            deployed.set(Some(said));
            deploying.set(false);
        });
    };
    // A cancelled run goes on from its last checkpoint as a new run, with the form's budget.
    let resume = move |_| {
        deploying.set(true);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match browser::resume(id, &budget.get_untracked()).await {
                Ok(()) => refresh.run(()),
                Err(error) => deployed.set(Some(error)),
            }
            deploying.set(false);
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = budget;
    };
    let resumable = row.state == "cancelled" && !row.checkpoints.is_empty();
    view! {
        <tr data-testid="training-row" data-run=id>
            <td>
                <button class="link" on:click=move |_| chosen.set(Some(id))>{row.name.clone()}</button>
                <br /><span class="muted small">{format!("{} rows", row.dataset_rows)}</span>
            </td>
            <td data-testid="training-state">{row.state.clone()}</td>
            <td data-testid="training-progress">
                <progress max="1" value=fraction></progress>
                " "{format!("{} of {}", row.step, row.total_steps)}
            </td>
            <td data-testid="training-accuracy">{row.accuracy.map(|a| format!("{:.1} %", a * 100.0)).unwrap_or_default()}</td>
            <td>
                {row.checkpoints.len()}
                {last.map(|c| view! {
                    " · "
                    <a href=format!("/api/ai/trainings/{id}/checkpoints/{}?attempt={}", c.step, c.attempt)
                        download=format!("training-{id}-step-{}.safetensors", c.step) data-testid="training-checkpoint">
                        {format!("step {}", c.step)}
                    </a>
                })}
            </td>
            <td>
                {(row.state == "completed").then(|| view! {
                    <a class="button" href=format!("/api/ai/trainings/{id}/model") download=format!("training-{id}.safetensors")
                        data-testid="training-model">"Weights"</a>
                    " "
                    <button class="button primary" data-testid="training-deploy" on:click=deploy disabled=move || deploying.get()>
                        "Deploy"
                    </button>
                })}
                {move || deployed.get().map(|text| view! { <p class="small" data-testid="training-deployed">{text}</p> })}
                {running(&row.state).then(|| view! {
                    <button class="button" data-testid="training-cancel" on:click=cancel>"Cancel"</button>
                })}
                {resumable.then(|| view! {
                    <button class="button" data-testid="training-resume" on:click=resume disabled=move || deploying.get()
                        title="Go on from the last checkpoint as a new run, with the budget above">
                        "Resume"
                    </button>
                })}
            </td>
        </tr>
    }
}

#[component]
fn RunCurves(run: RunRow) -> impl IntoView {
    let points: Vec<(i64, f64, f64)> = run.points.iter().map(|p| (p.step, p.loss, p.accuracy)).collect();
    let count = points.len();
    #[cfg(feature = "hydrate")]
    crate::components::training_chart::draw_curves(points);
    #[cfg(not(feature = "hydrate"))]
    let _ = points;
    view! {
        <h3>{format!("{} — loss and held-out accuracy", run.name)}</h3>
        <div id=CHART_ID class="chart" data-testid="training-chart" data-points=count></div>
    }
}

/// The viewer's runs, newest first (in the browser; nothing on the server's first render).
async fn list() -> Result<Vec<RunRow>, String> {
    #[cfg(feature = "hydrate")]
    {
        browser::list().await
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Ok(Vec::new())
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;

    use crate::components::api_answers::checked;
    pub use crate::components::api_answers::chosen_file;

    use super::{RunList, RunRow};

    /// The dataset's rows (non-empty lines, a header not counted), for the estimate.
    pub async fn count_rows(file: &web_sys::File) -> Option<u64> {
        let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.ok()?.as_string()?;
        Some(super::data_rows(&text))
    }

    /// The form's settings as the query of `POST /api/ai/trainings`.
    pub fn settings_query(container: &web_sys::HtmlDivElement) -> String {
        let template = container
            .query_selector("select[name='template']")
            .ok()
            .flatten()
            .and_then(|select| select.dyn_into::<web_sys::HtmlSelectElement>().ok())
            .map(|select| select.value())
            .unwrap_or_else(|| "pixel_classifier".into());
        let mut parts = vec![format!("template={}", js_sys::encode_uri_component(&template))];
        for name in ["name", "epochs", "learning_rate", "batch_size", "seed", "checkpoint_every", "budget"] {
            let value = container
                .query_selector(&format!("input[name='{name}']"))
                .ok()
                .flatten()
                .and_then(|input| input.dyn_into::<web_sys::HtmlInputElement>().ok())
                .map(|input| input.value())
                .unwrap_or_default();
            parts.push(format!("{name}={}", js_sys::encode_uri_component(value.trim())));
        }
        parts.join("&")
    }

    /// Sends the dataset (checked row by row by the coordinator) and starts the run.
    pub async fn start(query: &str, file: web_sys::File) -> Result<(), String> {
        let request = gloo_net::http::Request::post(&format!("/api/ai/trainings?{query}"))
            .header("content-type", if file.name().ends_with(".jsonl") { "application/jsonl" } else { "text/csv" })
            .body(file)
            .map_err(|e| e.to_string())?;
        checked(request.send().await).await.map(drop)
    }

    pub async fn list() -> Result<Vec<RunRow>, String> {
        let text = checked(gloo_net::http::Request::get("/api/ai/trainings").send().await).await?;
        serde_json::from_str::<RunList>(&text).map(|list| list.data).map_err(|e| e.to_string())
    }

    /// Deploys a completed run; the model id it is served under.
    pub async fn deploy(id: i64) -> Result<String, String> {
        let text =
            checked(gloo_net::http::Request::post(&format!("/api/ai/trainings/{id}/deploy")).send().await).await?;
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(answer["model"].as_str().unwrap_or_default().to_string())
    }

    /// Resumes a cancelled run (a new run from its last checkpoint) with `budget` credits.
    pub async fn resume(id: i64, budget: &str) -> Result<(), String> {
        let budget = js_sys::encode_uri_component(budget.trim());
        let url = format!("/api/ai/trainings/{id}/resume?budget={budget}");
        checked(gloo_net::http::Request::post(&url).send().await).await.map(drop)
    }

    pub async fn cancel(id: i64) -> Result<(), String> {
        checked(gloo_net::http::Request::post(&format!("/api/ai/trainings/{id}/cancel")).send().await).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_steps_after_the_held_out_share() {
        // scikit-learn's digits: 1 797 rows, 359 held out, 1 438 trained on in batches of 32.
        assert_eq!(estimated_steps(1797, 20, 32), 20 * 45);
        assert_eq!(estimated_steps(10, 1, 1), 8);
        assert!(running("active") && !running("completed"));
        assert_eq!(data_rows("text,label\nBake it,cooking\n\nRain,weather\n"), 2);
        assert_eq!(data_rows("a,b,label\n1,2,0\n3,4,1\n"), 2);
        assert_eq!(data_rows("1,2,0\n3,4,1\n"), 2);
        assert_eq!(data_rows("Bake it,cooking\nRain,weather\n"), 2);
    }
}
