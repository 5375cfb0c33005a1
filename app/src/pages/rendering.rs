//! Rendering: submit a Blender scene as a job (frames or tiles, resolution, samples, engine, format, tier,
//! targeting) and follow the jobs list.

use leptos::prelude::*;
use leptos_meta::Title;
use pictor_core::jobs::{Engine, JobForm, JobSummary, OutputFormat, PriorityTier};
use pictor_core::ledger::Estimate;
use pictor_core::workers::format_credits;

use crate::components::job_list::JobList;
use crate::error::AppError;

#[server]
pub async fn estimate_job(form: JobForm) -> Result<Estimate, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.estimate(&viewer, form).await)
}

/// "About 2.4 credits: 10 frames, 3.1 s each at 0.5 credits per render-minute (from the network's history)."
pub fn estimate_text(estimate: &Estimate) -> String {
    let source =
        if estimate.source == "history" { "from the network's history" } else { "no history yet: a first guess" };
    format!(
        "About {} credits: {} frame(s), {:.1} s of rendering per task at {} credits per render-minute ({source}). \
         Submitting reserves this (or your budget cap) from your credit; what is not spent comes back.",
        format_credits(estimate.total_micro),
        estimate.frames,
        estimate.seconds_per_task,
        format_credits(estimate.price_micro_per_minute)
    )
}

#[server]
pub async fn load_jobs() -> Result<Vec<JobSummary>, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::jobs()?.jobs(&viewer).await)
}

/// The form's starting values: the sample scene's animation at its own resolution.
fn defaults() -> JobForm {
    JobForm::cycles_png("", "1-10", 320, 180, 16)
}

/// A text field of the job form, bound to its signal.
#[component]
fn Field(
    label: &'static str,
    name: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] hint: &'static str,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <input name=name bind:value=value placeholder=hint data-testid=format!("job-{name}") />
        </label>
    }
}

/// A choice among fixed options, bound to its signal.
#[component]
fn Choice(
    label: &'static str,
    name: &'static str,
    value: RwSignal<String>,
    options: Vec<&'static str>,
) -> impl IntoView {
    view! {
        <label>
            {label}
            <select name=name bind:value=value data-testid=format!("job-{name}")>
                {options.into_iter().map(|option| view! { <option value=option>{option}</option> }).collect_view()}
            </select>
        </label>
    }
}

#[component]
fn NewJob(submitted: RwSignal<u64>) -> impl IntoView {
    let start = defaults();
    let fields = [
        ("Name", "name", RwSignal::new(start.name), "Spinning cube"),
        ("Frames", "frames", RwSignal::new(start.frames), "1-10,15,20-40:2"),
        ("Frames per task", "chunk_size", RwSignal::new(start.chunk_size), ""),
        ("Tiles (one frame split)", "tiles", RwSignal::new(start.tiles), "empty: animation"),
        ("Width", "resolution_x", RwSignal::new(start.resolution_x), ""),
        ("Height", "resolution_y", RwSignal::new(start.resolution_y), ""),
        ("Resolution %", "resolution_percent", RwSignal::new(start.resolution_percent), ""),
        ("Samples", "samples", RwSignal::new(start.samples), ""),
        ("Min VRAM (GiB)", "min_vram_gib", RwSignal::new(start.min_vram_gib), "any"),
        ("GPU model", "gpu_model", RwSignal::new(start.gpu_model), "any"),
        ("Worker tags", "tags", RwSignal::new(start.tags), "any"),
        ("Budget cap (credits)", "budget", RwSignal::new(start.budget), "the estimate"),
        ("Max minutes per task", "max_task_minutes", RwSignal::new(start.max_task_minutes), "network default"),
    ];
    let engine = RwSignal::new(start.engine);
    let format = RwSignal::new(start.format);
    let tier = RwSignal::new(start.tier);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let (busy, set_busy) = signal(false);
    let (problem, set_problem) = signal(None::<String>);
    let get =
        move |name: &str| fields.iter().find(|field| field.1 == name).map(|field| field.2.get()).unwrap_or_default();
    let current = move || JobForm {
        name: get("name"),
        frames: get("frames"),
        chunk_size: get("chunk_size"),
        tiles: get("tiles"),
        resolution_x: get("resolution_x"),
        resolution_y: get("resolution_y"),
        resolution_percent: get("resolution_percent"),
        samples: get("samples"),
        engine: engine.get(),
        format: format.get(),
        tier: tier.get(),
        min_vram_gib: get("min_vram_gib"),
        gpu_model: get("gpu_model"),
        tags: get("tags"),
        budget: get("budget"),
        max_task_minutes: get("max_task_minutes"),
    };
    let estimate = Action::new(move |form: &JobForm| estimate_job(form.clone()));
    let estimated = move || {
        estimate.value().get().map(|result| match result {
            Ok(estimate) => estimate_text(&estimate),
            Err(error) => error.to_string(),
        })
    };
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let form = current();
        // Checked here first so mistakes are named before a large upload starts; the server checks again.
        if let Err(errors) = form.validate() {
            let text = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
            set_problem.set(Some(text));
            return;
        }
        #[cfg(feature = "hydrate")]
        {
            let Some(file) = file_input.get().and_then(|input| input.files()).and_then(|files| files.get(0)) else {
                set_problem.set(Some("choose a .blend file first".into()));
                return;
            };
            set_busy.set(true);
            set_problem.set(None);
            leptos::task::spawn_local(async move {
                match crate::components::job_submit::submit_job(file, form).await {
                    Ok(_) => submitted.update(|count| *count += 1),
                    Err(message) => set_problem.set(Some(message)),
                }
                set_busy.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (form, file_input, set_busy, submitted);
    };
    view! {
        <section class="panel stack" data-testid="new-job">
            <h2>"New render job"</h2>
            <p class="muted">
                "Upload a .blend (try samples/spinning-cube.blend, made by scripts/setup). Scripts in scenes never run."
            </p>
            <form class="settings-form" on:submit=submit>
                <label>
                    "Scene (.blend)"
                    <input type="file" accept=".blend" node_ref=file_input data-testid="job-file" />
                </label>
                {fields
                    .into_iter()
                    .map(|(label, name, value, hint)| view! { <Field label name value hint /> })
                    .collect_view()}
                <Choice label="Engine" name="engine" value=engine options=Engine::ALL.iter().map(|e| e.label()).collect() />
                <Choice label="Output" name="format" value=format options=OutputFormat::ALL.iter().map(|f| f.label()).collect() />
                <Choice label="Tier" name="tier" value=tier options=PriorityTier::ALL.iter().map(|t| t.label()).collect() />
                <div class="row-actions">
                    <button
                        class="button ghost"
                        type="button"
                        data-testid="estimate-job"
                        on:click=move |_| {
                            estimate.dispatch(current());
                        }
                    >
                        "Estimate cost"
                    </button>
                    <button class="button" type="submit" disabled=move || busy.get() data-testid="submit-job">
                        {move || if busy.get() { "Uploading…" } else { "Submit job" }}
                    </button>
                </div>
            </form>
            {move || estimated().map(|text| view! { <p class="estimate" data-testid="job-estimate">{text}</p> })}
            <p class="form-error" role="alert" data-testid="job-error">{move || problem.get()}</p>
        </section>
    }
}

#[component]
pub fn RenderingPage() -> impl IntoView {
    let submitted = RwSignal::new(0_u64);
    let jobs = Resource::new(move || submitted.get(), |_| load_jobs());
    view! {
        <Title text="Rendering" />
        <section class="page-head">
            <h1>"Rendering"</h1>
            <p class="muted">"Submit Blender scenes and watch their frames render across the network."</p>
        </section>
        <NewJob submitted />
        <section class="panel stack" data-testid="job-list">
            <h2>"Jobs"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    jobs.get()
                        .map(|result| match result {
                            Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                            Ok(jobs) if jobs.is_empty() => {
                                view! { <p class="muted" data-testid="no-jobs">"No jobs yet."</p> }.into_any()
                            }
                            Ok(jobs) => view! { <JobList jobs /> }.into_any(),
                        })
                }}
            </Suspense>
        </section>
    }
}
