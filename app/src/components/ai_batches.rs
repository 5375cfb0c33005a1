//! The AI page's Batches: run a JSONL file of requests (OpenAI's Batch format) as a batch on the network's workers,
//! follow each batch's progress live, download its output and error files, cancel one that runs.

use leptos::prelude::*;
use pictor_core::workers::format_credits;
use serde::Deserialize;

/// How often the batches are looked at again while the page is open.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(2);

/// A batch as `/api/ai/batches` lists it (OpenAI's batch object, the fields shown).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BatchRow {
    pub id: String,
    pub status: String,
    pub model: String,
    pub endpoint: String,
    pub request_counts: Counts,
    pub output_file_id: Option<String>,
    pub error_file_id: Option<String>,
    #[serde(default)]
    pub cost_micro_credits: i64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Counts {
    pub total: i64,
    pub completed: i64,
    pub failed: i64,
}

#[cfg(feature = "hydrate")]
#[derive(Clone, Debug, PartialEq, Deserialize)]
struct BatchList {
    data: Vec<BatchRow>,
}

#[component]
pub fn Batches() -> impl IntoView {
    let version = crate::components::ticker::ticker(REFRESH);
    let batches = LocalResource::new(move || {
        version.track();
        list()
    });
    let refresh = Callback::new(move |()| version.update(|v| *v += 1));
    view! {
        <section class="panel" data-testid="ai-batches">
            <h2>"Batches"</h2>
            <p class="muted small">
                "A JSONL file, one request per line ("<code>"custom_id"</code>", "<code>"method"</code>", "
                <code>"url"</code>", "<code>"body"</code>") for /v1/chat/completions or /v1/embeddings, as OpenAI's \
                 Batch API takes it. Every line is checked first; the lines run in chunks on workers holding the \
                 model and are billed per token. A cancelled batch keeps the lines already answered."
            </p>
            <BatchForm refresh />
            {move || match batches.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="form-error">{error}</p> }.into_any(),
                Some(Ok(rows)) if rows.is_empty() => {
                    view! { <p class="muted" data-testid="batches-empty">"No batches yet."</p> }.into_any()
                }
                Some(Ok(rows)) => view! { <BatchTable rows refresh /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn BatchForm(refresh: Callback<()>) -> impl IntoView {
    let form = NodeRef::<leptos::html::Div>::new();
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let send = move |_| {
        problem.set(None);
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = form.get_untracked().and_then(|div| browser::chosen_file(&div)) else {
                problem.set(Some("choose a .jsonl file first".into()));
                return;
            };
            busy.set(true);
            leptos::task::spawn_local(async move {
                let result = browser::run_batch(file).await;
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
        <div class="form-row" node_ref=form>
            <label>"Requests (.jsonl) "<input type="file" accept=".jsonl,application/jsonl" data-testid="batch-file" /></label>
            <button class="button primary" data-testid="batch-send" on:click=send disabled=move || busy.get()>
                {move || if busy.get() { "Checking…" } else { "Run batch" }}
            </button>
        </div>
        {move || problem.get().map(|text| view! { <p class="form-error" data-testid="batch-error">{text}</p> })}
    }
}

#[component]
fn BatchTable(rows: Vec<BatchRow>, refresh: Callback<()>) -> impl IntoView {
    view! {
        <table class="ledger">
            <thead>
                <tr>
                    <th>"Batch"</th>
                    <th>"Model"</th>
                    <th>"Status"</th>
                    <th>"Lines"</th>
                    <th>"Cost"</th>
                    <th>"Files"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|row| view! { <BatchLine row refresh /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn BatchLine(row: BatchRow, refresh: Callback<()>) -> impl IntoView {
    let counts = row.request_counts.clone();
    let done = counts.completed + counts.failed;
    let fraction = if counts.total > 0 { done as f64 / counts.total as f64 } else { 0.0 };
    let lines = if counts.failed > 0 {
        format!("{} of {} answered · {} failed", counts.completed, counts.total, counts.failed)
    } else {
        format!("{} of {} answered", counts.completed, counts.total)
    };
    let running = row.status == "in_progress";
    let id = row.id.clone();
    let cancel = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                let _ = browser::cancel(&id).await;
                refresh.run(());
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&id, refresh);
    };
    let file_link = |file: Option<String>, label: &'static str, testid: &'static str| {
        file.map(|file| {
            view! {
                <a href=format!("/api/ai/files/{file}/content") download=format!("{file}.jsonl") data-testid=testid>{label}</a>
                " "
            }
        })
    };
    view! {
        <tr data-testid="batch-row" data-batch=row.id.clone()>
            <td><code>{row.id.chars().take(14).collect::<String>()}"…"</code></td>
            <td>{row.model.clone()}<br /><span class="muted small">{row.endpoint.clone()}</span></td>
            <td data-testid="batch-status">{row.status.clone()}</td>
            <td data-testid="batch-progress">
                <progress max="1" value=fraction></progress>
                " "
                {lines}
            </td>
            <td>{format_credits(row.cost_micro_credits)}</td>
            <td>
                {file_link(row.output_file_id.clone(), "output", "batch-output")}
                {file_link(row.error_file_id.clone(), "errors", "batch-errors")}
            </td>
            <td>
                {running.then(|| view! { <button class="button" data-testid="batch-cancel" on:click=cancel>"Cancel"</button> })}
            </td>
        </tr>
    }
}

/// The viewer's batches, newest first (in the browser; nothing on the server's first render).
async fn list() -> Result<Vec<BatchRow>, String> {
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
    use crate::components::api_answers::checked;
    pub use crate::components::api_answers::chosen_file;

    use super::{BatchList, BatchRow};

    /// Uploads the file (checked line by line), then runs it as a batch.
    pub async fn run_batch(file: web_sys::File) -> Result<(), String> {
        let form = web_sys::FormData::new().map_err(|e| format!("{e:?}"))?;
        form.append_with_str("purpose", "batch").map_err(|e| format!("{e:?}"))?;
        form.append_with_blob_and_filename("file", &file, &file.name()).map_err(|e| format!("{e:?}"))?;
        let request = gloo_net::http::Request::post("/api/ai/files").body(form).map_err(|e| e.to_string())?;
        let uploaded = checked(request.send().await).await?;
        let uploaded: serde_json::Value = serde_json::from_str(&uploaded).map_err(|e| e.to_string())?;
        let body = serde_json::json!({ "input_file_id": uploaded["id"], "completion_window": "24h" });
        let request = gloo_net::http::Request::post("/api/ai/batches").json(&body).map_err(|e| e.to_string())?;
        checked(request.send().await).await.map(drop)
    }

    pub async fn list() -> Result<Vec<BatchRow>, String> {
        let text = checked(gloo_net::http::Request::get("/api/ai/batches?limit=20").send().await).await?;
        serde_json::from_str::<BatchList>(&text).map(|list| list.data).map_err(|e| e.to_string())
    }

    pub async fn cancel(id: &str) -> Result<(), String> {
        let request = gloo_net::http::Request::post(&format!("/api/ai/batches/{id}/cancel"));
        checked(request.send().await).await.map(drop)
    }
}
