//! The AI page's Playground: pick a chat model, set temperature and length, ask; the answer grows token by token
//! as the worker makes it, then shows its speed and cost. A classifier (a deployed training run) is given a row of
//! pixels and answers its class.

use leptos::prelude::*;
use pictor_core::ai::{CatalogueModel, ModelKind};
use pictor_core::workers::format_credits;

/// What one answer was charged and how fast it came.
#[derive(Clone, Debug, Default, PartialEq)]
struct AnswerStats {
    tokens: i64,
    tokens_per_second: f64,
    cost_micro: i64,
}

#[component]
pub fn Playground(models: Vec<CatalogueModel>) -> impl IntoView {
    let first = models.first().map(|m| m.id.clone()).unwrap_or_default();
    let classifiers: Vec<String> =
        models.iter().filter(|m| m.kind == ModelKind::Classifier).map(|m| m.id.clone()).collect();
    let model = RwSignal::new(first);
    let prompt = RwSignal::new(String::new());
    let temperature = RwSignal::new("0.7".to_string());
    let max_tokens = RwSignal::new("128".to_string());
    let answer = RwSignal::new(String::new());
    let pieces = RwSignal::new(0usize);
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let stats = RwSignal::new(None::<AnswerStats>);
    let send = move |_| {
        if busy.get_untracked() || prompt.get_untracked().trim().is_empty() {
            return;
        }
        answer.set(String::new());
        pieces.set(0);
        problem.set(None);
        stats.set(None);
        busy.set(true);
        #[cfg(feature = "hydrate")]
        if classifiers.contains(&model.get_untracked()) {
            let body = serde_json::json!({ "model": model.get_untracked(), "input": prompt.get_untracked() });
            leptos::task::spawn_local(async move {
                match browser::classify(body.to_string()).await {
                    Ok(text) => {
                        answer.set(text);
                        pieces.set(1);
                    }
                    Err(error) => problem.set(Some(error)),
                }
                busy.set(false);
            });
            return;
        }
        #[cfg(feature = "hydrate")]
        {
            let body = serde_json::json!({
                "model": model.get_untracked(),
                "messages": [{"role": "user", "content": prompt.get_untracked()}],
                "temperature": temperature.get_untracked().trim().parse::<f64>().unwrap_or(0.7),
                "max_tokens": max_tokens.get_untracked().trim().parse::<u32>().unwrap_or(128),
                "stream": true,
                "stream_options": {"include_usage": true},
            });
            leptos::task::spawn_local(async move {
                let started = js_sys::Date::now();
                let mut first_piece = None;
                let result = browser::stream_chat(body.to_string(), |piece| {
                    first_piece.get_or_insert_with(js_sys::Date::now);
                    answer.update(|text| text.push_str(piece));
                    pieces.update(|count| *count += 1);
                })
                .await;
                match result {
                    Ok(Some((completion_tokens, cost_micro))) => {
                        let seconds = (js_sys::Date::now() - first_piece.unwrap_or(started)) / 1000.0;
                        stats.set(Some(AnswerStats {
                            tokens: completion_tokens,
                            tokens_per_second: if seconds > 0.0 { completion_tokens as f64 / seconds } else { 0.0 },
                            cost_micro,
                        }));
                    }
                    Ok(None) => {}
                    Err(error) => problem.set(Some(error)),
                }
                busy.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&temperature, &max_tokens, &classifiers);
    };
    view! {
        <section class="panel" data-testid="playground">
            <h2>"Playground"</h2>
            <div class="form-row">
                <label>
                    "Model "
                    <select data-testid="playground-model" on:change=move |ev| model.set(event_target_value(&ev))>
                        {models
                            .iter()
                            .map(|m| view! { <option value=m.id.clone()>{m.id.clone()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "Temperature "
                    <input
                        type="number"
                        min="0"
                        max="2"
                        step="0.1"
                        data-testid="playground-temperature"
                        prop:value=move || temperature.get()
                        on:input=move |ev| temperature.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Max tokens "
                    <input
                        type="number"
                        min="1"
                        max="4096"
                        data-testid="playground-max-tokens"
                        prop:value=move || max_tokens.get()
                        on:input=move |ev| max_tokens.set(event_target_value(&ev))
                    />
                </label>
            </div>
            <textarea
                data-testid="playground-prompt"
                rows="3"
                placeholder="Ask the model something…"
                prop:value=move || prompt.get()
                on:input=move |ev| prompt.set(event_target_value(&ev))
            ></textarea>
            <button class="button primary" data-testid="playground-send" on:click=send disabled=move || busy.get()>
                {move || if busy.get() { "Answering…" } else { "Send" }}
            </button>
            <div class="playground-answer" data-testid="playground-answer" data-pieces=move || pieces.get()>
                {move || answer.get()}
            </div>
            {move || problem.get().map(|text| view! { <p class="form-error" data-testid="playground-error">{text}</p> })}
            {move || {
                stats
                    .get()
                    .map(|stats| {
                        view! {
                            <p class="muted small" data-testid="playground-stats">
                                {format!(
                                    "{} tokens · {:.1} tokens/s · {}",
                                    stats.tokens,
                                    stats.tokens_per_second,
                                    format_credits(stats.cost_micro),
                                )}
                            </p>
                        }
                    })
            }}
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    /// Asks a classifier; its answer in words: the class (its name when it has one) and how sure it is.
    pub async fn classify(body: String) -> Result<String, String> {
        let request = gloo_net::http::Request::post("/api/ai/classifications")
            .header("Content-Type", "application/json")
            .body(body)
            .map_err(|e| e.to_string())?;
        let text = crate::components::api_answers::checked(request.send().await).await?;
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let first = &answer["data"][0];
        let class = match first["label_name"].as_str() {
            Some(name) => name.to_string(),
            None => format!("Class {}", first["label"].as_i64().unwrap_or(0)),
        };
        Ok(format!("{class} ({:.1} % sure)", first["probability"].as_f64().unwrap_or(0.0) * 100.0))
    }

    /// Posts the chat request to the Playground endpoint and calls `on_piece` with each piece of text as it
    /// arrives; returns the final chunk's completion tokens and what the request was charged.
    pub async fn stream_chat(body: String, mut on_piece: impl FnMut(&str)) -> Result<Option<(i64, i64)>, String> {
        let response = gloo_net::http::Request::post("/api/ai/playground")
            .header("Content-Type", "application/json")
            .body(body)
            .map_err(|e| e.to_string())?
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.ok() {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(message);
        }
        let stream = response.body().ok_or("the answer has no body")?;
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        let mut buffer = String::new();
        let mut bytes = Vec::new();
        let mut usage = None;
        loop {
            let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("{e:?}"))?;
            let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|v| v.as_bool()).unwrap_or(true);
            if done {
                break;
            }
            let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|e| format!("{e:?}"))?;
            bytes.extend(js_sys::Uint8Array::new(&value).to_vec());
            // Only whole UTF-8 text is decoded; a character split across chunks waits for the rest.
            let valid = match std::str::from_utf8(&bytes) {
                Ok(_) => bytes.len(),
                Err(error) => error.valid_up_to(),
            };
            buffer.push_str(std::str::from_utf8(&bytes[..valid]).unwrap_or_default());
            bytes.drain(..valid);
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for line in event.lines() {
                    let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
                    if data == "[DONE]" {
                        continue;
                    }
                    let Ok(chunk) = serde_json::from_str::<serde_json::Value>(data) else { continue };
                    if let Some(message) = chunk["error"]["message"].as_str() {
                        return Err(message.to_string());
                    }
                    if let Some(piece) = chunk["choices"][0]["delta"]["content"].as_str() {
                        if !piece.is_empty() {
                            on_piece(piece);
                        }
                    }
                    if let Some(completion) = chunk["usage"]["completion_tokens"].as_i64() {
                        usage = Some((completion, chunk["usage"]["cost_micro_credits"].as_i64().unwrap_or(0)));
                    }
                }
            }
        }
        Ok(usage)
    }
}
