//! The AI page's "Your models": upload a model's files (with progress) and have it validated, deploy it with
//! prices, warm workers and requirements, see which workers hold it, delete it.

use leptos::prelude::*;
use pictor_core::ai::{HostedModel, ModelKind};
use pictor_core::workers::format_credits;

/// Credits typed in a form, as micro-credits (an empty or bad field is `None`).
fn micro_of(text: &str) -> Option<i64> {
    pictor_core::workers::parse_credits(text.trim()).ok()
}

/// The viewer's models as last looked at in the browser (refreshed every few seconds).
pub type LiveHosted = LocalResource<Result<Vec<HostedModel>, crate::error::AppError>>;

#[component]
pub fn HostedModels(hosted: Vec<HostedModel>, live: LiveHosted, changed: Callback<()>) -> impl IntoView {
    view! {
        <section class="panel" data-testid="hosted-models">
            <h2>"Your models"</h2>
            {if hosted.is_empty() {
                view! { <p class="muted" data-testid="hosted-empty">"You have not uploaded a model yet."</p> }.into_any()
            } else {
                view! {
                    <table class="ledger">
                        <thead>
                            <tr>
                                <th>"Model"</th>
                                <th>"Kind"</th>
                                <th>"Size"</th>
                                <th>"Visibility"</th>
                                <th>"Prices"</th>
                                <th>"Deployment"</th>
                                <th>"Warm on"</th>
                                <th></th>
                            </tr>
                        </thead>
                        <tbody>
                            {hosted
                                .into_iter()
                                .map(|model| view! { <HostedRow model live changed /> })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
fn HostedRow(model: HostedModel, live: LiveHosted, changed: Callback<()>) -> impl IntoView {
    let id = model.model.id.clone();
    let first_warm_on = model.warm_on.clone();
    let live_id = id.clone();
    let warm_on = move || {
        let now = live
            .get()
            .and_then(|result| result.ok())
            .and_then(|models| models.into_iter().find(|m| m.model.id == live_id).map(|m| m.warm_on));
        let names = now.unwrap_or_else(|| first_warm_on.clone());
        if names.is_empty() {
            "—".to_string()
        } else {
            names.join(", ")
        }
    };
    let deployment = model.deployment.clone();
    let status = match &deployment {
        None => "not deployed (loaded on first use)".to_string(),
        Some(d) => format!("{}–{} workers", d.min_warm, d.max_workers),
    };
    let prices = format!(
        "{} in · {} out / M tokens",
        format_credits(model.model.input_price_micro_per_m),
        format_credits(model.model.output_price_micro_per_m)
    );
    let delete_id = id.clone();
    let remove = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let id = delete_id.clone();
            leptos::task::spawn_local(async move {
                let _ = browser::delete_model(&id).await;
                changed.run(());
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&delete_id, changed);
    };
    view! {
        <tr data-testid="hosted-row" data-model=id.clone()>
            <td><code>{id.clone()}</code></td>
            <td>{model.model.kind.as_str()}</td>
            <td>{format!("{:.1} MB", model.model.bytes as f64 / 1e6)}</td>
            <td>{if model.model.public { "public" } else { "private" }}</td>
            <td>{prices}</td>
            <td data-testid="hosted-deployment">{status}</td>
            <td data-testid="hosted-warm-on">{warm_on}</td>
            <td>
                <button class="button" data-testid="hosted-delete" on:click=remove>"Delete"</button>
            </td>
        </tr>
        <tr>
            <td colspan="8">
                <DeployForm id deployment changed />
            </td>
        </tr>
    }
}

#[component]
fn DeployForm(id: String, deployment: Option<pictor_core::ai::Deployment>, changed: Callback<()>) -> impl IntoView {
    let current = deployment.clone();
    let input_price =
        RwSignal::new(current.as_ref().map_or("0.2".to_string(), |d| format_credits(d.input_price_micro_per_m)));
    let output_price =
        RwSignal::new(current.as_ref().map_or("0.4".to_string(), |d| format_credits(d.output_price_micro_per_m)));
    let min_warm = RwSignal::new(current.as_ref().map_or("1".to_string(), |d| d.min_warm.to_string()));
    let max_workers = RwSignal::new(current.as_ref().map_or("1".to_string(), |d| d.max_workers.to_string()));
    let tags = RwSignal::new(current.as_ref().map_or(String::new(), |d| d.requirements.tags.join(",")));
    let region = RwSignal::new(current.as_ref().and_then(|d| d.requirements.region.clone()).unwrap_or_default());
    let min_vram = RwSignal::new(
        current
            .as_ref()
            .map(|d| d.requirements.min_vram_gib)
            .filter(|v| *v > 0)
            .map(|v| v.to_string())
            .unwrap_or_default(),
    );
    let gpu_model = RwSignal::new(current.as_ref().and_then(|d| d.requirements.gpu_model.clone()).unwrap_or_default());
    let problem = RwSignal::new(None::<String>);
    let save_id = id.clone();
    let save = move |_| {
        problem.set(None);
        let (Some(input), Some(output)) =
            (micro_of(&input_price.get_untracked()), micro_of(&output_price.get_untracked()))
        else {
            problem.set(Some("prices are credits per million tokens, like 0.2".into()));
            return;
        };
        let (Ok(min), Ok(max)) =
            (min_warm.get_untracked().trim().parse::<u32>(), max_workers.get_untracked().trim().parse::<u32>())
        else {
            problem.set(Some("warm and maximum workers are whole numbers".into()));
            return;
        };
        let vram = min_vram.get_untracked();
        let Ok(min_vram_gib) = (if vram.trim().is_empty() { Ok(0) } else { vram.trim().parse::<u32>() }) else {
            problem.set(Some("minimum VRAM is a whole number of GiB".into()));
            return;
        };
        let requirements = pictor_core::ai::DeploymentRequirements {
            tags: tags
                .get_untracked()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            region: Some(region.get_untracked().trim().to_string()).filter(|r| !r.is_empty()),
            min_vram_gib,
            gpu_model: Some(gpu_model.get_untracked().trim().to_string()).filter(|g| !g.is_empty()),
        };
        let deployment = pictor_core::ai::Deployment {
            model: save_id.clone(),
            input_price_micro_per_m: input,
            output_price_micro_per_m: output,
            min_warm: min,
            max_workers: max,
            requirements,
        };
        if let Err(message) = deployment.validate() {
            problem.set(Some(message));
            return;
        }
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match browser::deploy(&deployment).await {
                Ok(()) => changed.run(()),
                Err(message) => problem.set(Some(message)),
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (deployment, changed);
    };
    view! {
        <details class="deploy-form" data-testid="deploy-form">
            <summary>{if deployment.is_some() { "Change the deployment" } else { "Deploy" }}</summary>
            <div class="form-row">
                <label>"Input price / M "<input data-testid="deploy-input-price" prop:value=move || input_price.get() on:input=move |ev| input_price.set(event_target_value(&ev)) /></label>
                <label>"Output price / M "<input data-testid="deploy-output-price" prop:value=move || output_price.get() on:input=move |ev| output_price.set(event_target_value(&ev)) /></label>
                <label>"Warm workers "<input type="number" min="0" data-testid="deploy-min-warm" prop:value=move || min_warm.get() on:input=move |ev| min_warm.set(event_target_value(&ev)) /></label>
                <label>"At most "<input type="number" min="1" data-testid="deploy-max-workers" prop:value=move || max_workers.get() on:input=move |ev| max_workers.set(event_target_value(&ev)) /></label>
                <label>"Tags "<input placeholder="gpu,fast" prop:value=move || tags.get() on:input=move |ev| tags.set(event_target_value(&ev)) /></label>
                <label>"Region "<input placeholder="any" prop:value=move || region.get() on:input=move |ev| region.set(event_target_value(&ev)) /></label>
                <label>"Min VRAM (GiB) "<input type="number" min="0" placeholder="0" prop:value=move || min_vram.get() on:input=move |ev| min_vram.set(event_target_value(&ev)) /></label>
                <label>"GPU model "<input placeholder="any, e.g. RTX 4090" prop:value=move || gpu_model.get() on:input=move |ev| gpu_model.set(event_target_value(&ev)) /></label>
                <button class="button primary" data-testid="deploy-save" on:click=save>"Save"</button>
            </div>
            {move || problem.get().map(|text| view! { <p class="form-error" data-testid="deploy-error">{text}</p> })}
        </details>
    }
}

#[component]
pub fn UploadForm(changed: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(ModelKind::Chat);
    let public = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let progress = RwSignal::new(None::<(String, f64)>);
    let problem = RwSignal::new(None::<String>);
    let done = RwSignal::new(None::<String>);
    let form = NodeRef::<leptos::html::Div>::new();
    let upload = move |_| {
        if busy.get_untracked() {
            return;
        }
        problem.set(None);
        done.set(None);
        if let Err(message) = pictor_core::ai::valid_model_id(name.get_untracked().trim()) {
            problem.set(Some(message));
            return;
        }
        #[cfg(feature = "hydrate")]
        {
            let Some(container) = form.get_untracked() else { return };
            let kind = kind.get_untracked();
            let mut chosen = Vec::new();
            for file_name in pictor_core::ai::model_file_names(kind) {
                match browser::chosen_file(&container, file_name) {
                    Some(file) => chosen.push((file_name.to_string(), file)),
                    None => {
                        problem.set(Some(format!("choose the {file_name} file")));
                        return;
                    }
                }
            }
            busy.set(true);
            progress.set(None);
            let (id, public) = (name.get_untracked().trim().to_string(), public.get_untracked());
            leptos::task::spawn_local(async move {
                let result = browser::upload_model(id.clone(), kind, public, chosen, move |file, fraction| {
                    progress.set(Some((file, fraction)))
                })
                .await;
                // The last file's bar stays (at 100 % once sent) beside what the check said.
                busy.set(false);
                match result {
                    Ok(()) => {
                        done.set(Some(format!("{id} was checked and added")));
                        changed.run(());
                    }
                    Err(message) => problem.set(Some(message)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&form, changed);
    };
    view! {
        <section class="panel upload-form" data-testid="model-upload">
            <h2>"Upload a model"</h2>
            <p class="muted small">
                "A GGUF chat model (llama architecture, ChatML template) or a BERT-family embedding model \
                 (model.safetensors, config.json, tokenizer.json). The files are checked before the model is \
                 accepted; pickles are refused. Deploy it below to set its prices and how many workers keep it warm."
            </p>
            <div node_ref=form>
            <div class="form-row">
                <label>"Name "<input data-testid="upload-name" placeholder="my-model" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                <label>
                    "Kind "
                    <select data-testid="upload-kind" on:change=move |ev| kind.set(ModelKind::parse(&event_target_value(&ev)).unwrap_or(ModelKind::Chat))>
                        <option value="chat">"chat (GGUF)"</option>
                        <option value="embedding">"embedding (safetensors)"</option>
                    </select>
                </label>
                <label><input type="checkbox" data-testid="upload-public" on:change=move |ev| public.set(event_target_checked(&ev)) />" public"</label>
            </div>
            <div class="form-row">
                <span class="upload-files">
                {move || {
                    pictor_core::ai::model_file_names(kind.get())
                        .iter()
                        .map(|file_name| {
                            view! {
                                <label>
                                    {format!("{file_name} ")}
                                    <input type="file" data-file=*file_name data-testid=format!("upload-file-{file_name}") />
                                </label>
                            }
                        })
                        .collect_view()
                }}
                </span>
                <button class="button primary" data-testid="upload-send" on:click=upload disabled=move || busy.get()>
                    {move || if busy.get() { "Uploading…" } else { "Upload" }}
                </button>
            </div>
            {move || {
                progress
                    .get()
                    .map(|(file, fraction)| {
                        view! {
                            <p class="muted small" data-testid="upload-progress">
                                <progress max="1" value=fraction></progress>
                                {if fraction >= 1.0 {
                                    format!(" {file}: uploaded")
                                } else {
                                    format!(" {file}: {:.0} %", fraction * 100.0)
                                }}
                            </p>
                        }
                    })
            }}
            {move || problem.get().map(|text| view! { <p class="form-error" data-testid="upload-error">{text}</p> })}
            {move || done.get().map(|text| view! { <p class="muted" data-testid="upload-done">{text}</p> })}
            </div>
        </section>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::collections::BTreeMap;

    use pictor_core::ai::{Deployment, ModelKind, NewHostedModel, UploadedModelFile};
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    /// The file chosen in the input for `file_name` inside `container`.
    pub fn chosen_file(container: &web_sys::HtmlDivElement, file_name: &str) -> Option<web_sys::File> {
        let input = container.query_selector(&format!("input[data-file='{file_name}']")).ok()??;
        input.dyn_into::<web_sys::HtmlInputElement>().ok()?.files()?.get(0)
    }

    fn error_of(text: &str, status: u16) -> String {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the coordinator answered {status}"))
    }

    /// `PUT /api/v1/ai/files` through XMLHttpRequest, whose upload reports progress (fetch's does not).
    async fn put_file(file: &web_sys::File, on_progress: impl Fn(f64) + 'static) -> Result<UploadedModelFile, String> {
        let request = web_sys::XmlHttpRequest::new().map_err(|e| format!("{e:?}"))?;
        request.open("PUT", "/api/v1/ai/files").map_err(|e| format!("{e:?}"))?;
        let _ = request.set_request_header("Content-Type", "application/octet-stream");
        let progress = Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
            if event.length_computable() && event.total() > 0.0 {
                on_progress(event.loaded() / event.total());
            }
        });
        if let Ok(upload) = request.upload() {
            upload.set_onprogress(Some(progress.as_ref().unchecked_ref()));
        }
        let finished = js_sys::Promise::new(&mut |resolve, reject| {
            request.set_onload(Some(&resolve));
            request.set_onerror(Some(&reject));
        });
        request.send_with_opt_blob(Some(file)).map_err(|e| format!("{e:?}"))?;
        JsFuture::from(finished).await.map_err(|_| "the upload was interrupted".to_string())?;
        drop(progress);
        let status = request.status().unwrap_or(0);
        let text = request.response_text().ok().flatten().unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(error_of(&text, status));
        }
        serde_json::from_str(&text).map_err(|e| e.to_string())
    }

    /// Uploads each file with progress, then asks for the model to be made of them.
    pub async fn upload_model(
        id: String,
        kind: ModelKind,
        public: bool,
        files: Vec<(String, web_sys::File)>,
        on_progress: impl Fn(String, f64) + Clone + 'static,
    ) -> Result<(), String> {
        let mut hashes = BTreeMap::new();
        for (name, file) in files {
            let report = on_progress.clone();
            let label = name.clone();
            report(label.clone(), 0.0);
            let uploaded = put_file(&file, move |fraction| report(label.clone(), fraction)).await?;
            on_progress(name.clone(), 1.0);
            hashes.insert(name, uploaded.sha256);
        }
        let body = NewHostedModel { id, kind, public, files: hashes };
        send_json(gloo_net::http::Request::post("/api/v1/ai/models"), &body).await
    }

    pub async fn deploy(deployment: &Deployment) -> Result<(), String> {
        let path = format!("/api/v1/ai/models/{}/deployment", deployment.model);
        send_json(gloo_net::http::Request::put(&path), deployment).await
    }

    /// Sends `body` as JSON; the coordinator's own words when it refuses.
    async fn send_json(request: gloo_net::http::RequestBuilder, body: &impl serde::Serialize) -> Result<(), String> {
        let response = request
            .json(body)
            .map_err(|e| e.to_string())?
            .send()
            .await
            .map_err(|e| format!("cannot reach Pictor: {e}"))?;
        if !response.ok() {
            let status = response.status();
            return Err(error_of(&response.text().await.unwrap_or_default(), status));
        }
        Ok(())
    }

    pub async fn delete_model(id: &str) -> Result<(), String> {
        let response = gloo_net::http::Request::delete(&format!("/api/v1/ai/models/{id}"))
            .send()
            .await
            .map_err(|e| format!("cannot reach Pictor: {e}"))?;
        if !response.ok() {
            return Err(format!("deleting failed ({})", response.status()));
        }
        Ok(())
    }
}
