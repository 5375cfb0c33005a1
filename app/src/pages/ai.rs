//! AI: the model catalogue with the workers holding each model warm, a Playground that streams answers token by
//! token, batches run on the workers, usage per day and per model (live when a request is settled), API snippets.

use leptos::prelude::*;
use leptos_meta::Title;
use pictor_core::ai::{AiOverview, CatalogueModel, ModelKind};
use pictor_core::workers::format_credits;

use crate::components::ai_batches::Batches;
use crate::components::ai_models::{HostedModels, UploadForm};
use crate::components::ai_playground::Playground;
use crate::components::ai_training::Training;
use crate::error::AppError;

#[server]
pub async fn load_ai_overview() -> Result<AiOverview, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ai()?.overview(&viewer).await)
}

/// The models the viewer may call, with the workers holding each warm (without the usage figures).
#[server]
pub async fn load_ai_catalogue() -> Result<Vec<CatalogueModel>, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ai()?.catalogue(&viewer).await)
}

#[server]
pub async fn load_hosted_models() -> Result<Vec<pictor_core::ai::HostedModel>, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ai()?.hosted(&viewer).await)
}

/// How often "Your models" looks again at which workers hold each model.
const HOSTED_REFRESH: std::time::Duration = std::time::Duration::from_secs(3);

/// Credits per million tokens, as prices are shown.
fn per_million(micro: i64) -> String {
    format!("{} / M tokens", format_credits(micro))
}

#[component]
pub fn AiPage() -> impl IntoView {
    // Bumped whenever one of the viewer's requests is settled (the live event stream), so figures follow.
    let settled = RwSignal::new(0u64);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        crate::components::live_events::follow_events("ai_usage", move |_| {
            settled.try_update(|count| *count += 1).is_some()
        });
    });
    // The catalogue and the Playground load once (the Playground keeps its answer) unless the viewer's models
    // change; the usage follows live.
    // Bumped after an upload, a deployment or a deletion: the catalogue and the Playground's models follow.
    let changed_version = RwSignal::new(0u64);
    // Read in the browser, not rendered on the server: the catalogue holds every user's public models, which may
    // change between the server's render and hydration (a deployment elsewhere), and a different row count there
    // broke hydration of everything after it.
    let catalogue = LocalResource::new(move || {
        changed_version.track();
        load_ai_catalogue()
    });
    let usage = Resource::new(move || settled.get(), |_| load_ai_overview());
    // Your models follow what the workers hold (loads take seconds): looked at again every few seconds, and at
    // once after an upload, a deployment or a deletion.
    let hosted_version = crate::components::ticker::ticker(HOSTED_REFRESH);
    let hosted = Resource::new(move || changed_version.get(), |_| load_hosted_models());
    // Browser-only: the table is not redrawn (a half-typed deployment form survives), only its "warm on" cells.
    let live = LocalResource::new(move || {
        hosted_version.track();
        load_hosted_models()
    });
    let changed = Callback::new(move |()| changed_version.update(|v| *v += 1));
    view! {
        <Title text="AI" />
        <section class="page-head">
            <h1>"AI"</h1>
            <p class="muted">
                "Call hosted models through an OpenAI-compatible API, served by the network's workers and checked by its checkers."
            </p>
        </section>
        {move || match catalogue.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
            Some(Ok(models)) => view! { <Catalogue models /> }.into_any(),
        }}
        <UploadForm changed />
        <Transition fallback=|| ()>
            {move || {
                hosted
                    .get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(hosted) => view! { <HostedModels hosted live changed /> }.into_any(),
                    })
            }}
        </Transition>
        <Batches />
        <Training />
        <Transition fallback=|| ()>
            {move || {
                usage
                    .get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(overview) => view! { <Usage overview /> }.into_any(),
                    })
            }}
        </Transition>
        <Snippets />
    }
}

#[component]
fn Catalogue(models: Vec<CatalogueModel>) -> impl IntoView {
    // The Playground asks chat models and classifiers (trained here and deployed); embedding models have no answer to show.
    let chat_models: Vec<CatalogueModel> =
        models.iter().filter(|m| matches!(m.kind, ModelKind::Chat | ModelKind::Classifier)).cloned().collect();
    view! {
        <section class="panel" data-testid="ai-models">
            <h2>"Models"</h2>
            <table class="ledger">
                <thead>
                    <tr>
                        <th>"Model"</th>
                        <th>"Kind"</th>
                        <th>"Owner"</th>
                        <th>"Context"</th>
                        <th>"Input"</th>
                        <th>"Output"</th>
                        <th>"Warm workers"</th>
                    </tr>
                </thead>
                <tbody>
                    {models
                        .iter()
                        .map(|model| {
                            view! {
                                <tr data-testid="ai-model-row" data-model=model.id.clone()>
                                    <td><code>{model.id.clone()}</code></td>
                                    <td>{model.kind.as_str()}</td>
                                    <td>{model.owned_by.clone()}</td>
                                    <td>
                                        // A classifier's context is its pixels per image, or a text classifier's tokens per text.
                                        {if model.kind == ModelKind::Classifier {
                                            format!("{} per input", model.context_length)
                                        } else {
                                            format!("{} tokens", model.context_length)
                                        }}
                                    </td>
                                    <td>{per_million(model.input_price_micro_per_m)}</td>
                                    <td>
                                        {if model.kind == ModelKind::Chat {
                                            per_million(model.output_price_micro_per_m)
                                        } else {
                                            "—".to_string()
                                        }}
                                    </td>
                                    <td data-testid="ai-warm-workers">{model.warm_workers}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
        <Playground models=chat_models />
    }
}

#[component]
fn Usage(overview: AiOverview) -> impl IntoView {
    let by_day = overview.by_day.clone();
    let tokens: i64 = overview.by_day.iter().map(|d| d.tokens).sum();
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let today = js_sys::Date::now() as i64;
            // Tokens per day (a user's own workers serve them for free, so credits alone could show nothing).
            let tokens: Vec<(i64, i64)> = by_day.iter().map(|d| (d.day_ms, d.tokens)).collect();
            let days = crate::components::daily_chart::fill_days(&tokens, today, 14);
            let labels =
                days.iter().map(|(day, _)| crate::components::daily_chart::day_label(*day)[5..].to_string()).collect();
            let values = days.iter().map(|(_, tokens)| *tokens as f64).collect();
            crate::components::daily_chart::draw_bars("ai-usage-chart", "Tokens", labels, values, "tokens");
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &by_day;
    });
    view! {
        <section class="panel" data-testid="ai-usage">
            <h2>"Usage"</h2>
            <div class="kpis">
                <div class="kpi">
                    <span class="kpi-label">"Requests"</span>
                    <span class="kpi-value" data-testid="ai-requests">{overview.requests}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Tokens (14 days)"</span>
                    <span class="kpi-value" data-testid="ai-tokens">{tokens}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Spent"</span>
                    <span class="kpi-value" data-testid="ai-spent">{format_credits(overview.spent_micro)}</span>
                </div>
            </div>
            <div id="ai-usage-chart" class="chart" data-testid="ai-usage-chart" data-tokens=tokens></div>
            <UsageTable testid="ai-by-model" label="Model" rows=overview.by_model.clone() />
            <UsageTable testid="ai-by-key" label="API key" rows=overview.by_key.clone() />
        </section>
    }
}

/// Usage grouped by model or by key: requests, tokens, time to first token p50/p95, cost.
#[component]
fn UsageTable(testid: &'static str, label: &'static str, rows: Vec<pictor_core::ai::ModelUsage>) -> impl IntoView {
    let ms = |value: Option<i64>| value.map_or("—".to_string(), |ms| format!("{ms} ms"));
    view! {
        <table class="ledger" data-testid=testid>
            <thead>
                <tr>
                    <th>{label}</th>
                    <th>"Requests"</th>
                    <th>"Tokens in / out"</th>
                    <th>"First token p50 / p95"</th>
                    <th>"Cost"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|usage| {
                        view! {
                            <tr>
                                <td><code>{usage.model}</code></td>
                                <td>{usage.requests}</td>
                                <td>{format!("{} / {}", usage.prompt_tokens, usage.completion_tokens)}</td>
                                <td>{format!("{} / {}", ms(usage.ttft_p50_ms), ms(usage.ttft_p95_ms))}</td>
                                <td>{format_credits(usage.cost_micro)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn Snippets() -> impl IntoView {
    view! {
        <section class="panel" data-testid="ai-snippets">
            <h2>"Use it from your code"</h2>
            <p class="muted">
                "Create an API key on the Account page; any OpenAI client works with Pictor's address and "
                <code>"/v1"</code> "."
            </p>
            <pre class="snippet" data-testid="ai-snippet-curl">
                {"curl $PICTOR_URL/v1/chat/completions \\\n  -H \"Authorization: Bearer $PICTOR_API_KEY\" \\\n  -H \"Content-Type: application/json\" \\\n  -d '{\"model\": \"smollm2-135m-instruct\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"stream\": true}'"}
            </pre>
            <pre class="snippet" data-testid="ai-snippet-python">
                {"from openai import OpenAI\n\nclient = OpenAI(base_url=PICTOR_URL + \"/v1\", api_key=PICTOR_API_KEY)\nanswer = client.chat.completions.create(\n    model=\"smollm2-135m-instruct\",\n    messages=[{\"role\": \"user\", \"content\": \"Hello!\"}],\n)\nprint(answer.choices[0].message.content)"}
            </pre>
        </section>
    }
}
