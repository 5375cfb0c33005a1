//! Sign-in: Petra wallet or Google (any OpenID Connect provider); supported software and live activity beside it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use pictor_core::signin::{OidcProblem, SignInOptions};

use crate::components::network_panel::NetworkPanel;
use crate::components::petra::NO_WALLET;
use crate::components::theme_toggle::ThemeToggle;
use crate::error::AppError;

/// Which sign-in methods are configured, and the software the network renders with.
#[server]
pub async fn load_sign_in_options() -> Result<SignInOptions, AppError> {
    crate::auth::accounts()?.sign_in_options().await
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| load_sign_in_options());
    let (busy, set_busy) = signal(false);
    let (problem, set_problem) = signal(None::<String>);
    // Back from the OpenID Connect provider with `?oidc_error=<code>`: only known codes are worded.
    let query = use_query_map();
    let oidc_problem =
        move || query.with(|query| query.get("oidc_error")).and_then(|code| OidcProblem::from_code(&code));
    let petra = move |_| {
        set_busy.set(true);
        set_problem.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match crate::components::petra::sign_in_with_petra(false).await {
                Ok(next) => {
                    let _ = window().location().set_href(&next);
                }
                Err(message) => {
                    set_problem.set(Some(message));
                    set_busy.set(false);
                }
            }
        });
    };
    view! {
        <Title text="Sign in" />
        <div class="signin">
            <header class="signin-top">
                <a class="brand" href="/">
                    <span class="brand-mark">"◆"</span>
                    <span class="brand-name">"Pictor"</span>
                </a>
                <ThemeToggle />
            </header>
            <div class="signin-grid">
                <div class="signin-column">
                    <section class="panel signin-card">
                        <h1>"Sign in to Pictor"</h1>
                        <p class="muted">
                            "Render on community GPUs, lend yours, or verify the work of others — one account for all three."
                        </p>
                        <button
                            class="button wide"
                            data-testid="signin-petra"
                            disabled=move || busy.get()
                            on:click=petra
                        >
                            {move || if busy.get() { "Waiting for Petra…" } else { "Continue with Petra wallet" }}
                        </button>
                        <Suspense fallback=|| ()>
                            {move || {
                                options
                                    .get()
                                    .and_then(Result::ok)
                                    .map(|options| view! { <OidcButton options problem=oidc_problem() /> })
                            }}
                        </Suspense>
                        <p class="form-error" role="alert" data-testid="signin-error">
                            {move || problem.get()}
                        </p>
                        <p class="note">
                            "Petra signs a one-time message; no transaction, no gas. " <noscript>{NO_WALLET}</noscript>
                        </p>
                    </section>
                    <Suspense fallback=|| ()>
                        {move || options.get().and_then(Result::ok).map(|options| view! { <SoftwareList options /> })}
                    </Suspense>
                </div>
                <NetworkPanel />
            </div>
        </div>
    }
}

#[component]
fn OidcButton(options: SignInOptions, problem: Option<OidcProblem>) -> impl IntoView {
    let label = format!("Continue with {}", options.oidc_provider);
    let problem = problem.map(|problem| {
        view! {
            <p class="form-error" role="alert" data-testid="oidc-error">
                {problem.message(&options.oidc_provider)}
            </p>
        }
    });
    let button = if options.oidc_enabled {
        view! {
            <a class="button wide ghost" rel="external" href="/auth/oidc/start" data-testid="signin-google">
                {label}
            </a>
        }
        .into_any()
    } else {
        view! {
            <button class="button wide ghost" disabled=true data-testid="signin-google">
                {label}
            </button>
            <p class="note" data-testid="oidc-hint">{options.oidc_hint.clone().unwrap_or_default()}</p>
        }
        .into_any()
    };
    view! {
        {button}
        {problem}
    }
}

#[component]
fn SoftwareList(options: SignInOptions) -> impl IntoView {
    view! {
        <section class="panel software" data-testid="software-list">
            <h2>"Supported software"</h2>
            <p class="muted">"Green: a worker with it is online now."</p>
            <ul class="software-list">
                {options
                    .software
                    .into_iter()
                    .map(|software| {
                        view! {
                            <li>
                                <span class="software-name">{format!("{} {}", software.name, software.version)}</span>
                                <span class="engines">
                                    {software
                                        .engines
                                        .into_iter()
                                        .map(|engine| {
                                            let online = engine.workers_online > 0;
                                            view! {
                                                <span class="engine" class:online=online>
                                                    {engine.name}
                                                </span>
                                            }
                                        })
                                        .collect_view()}
                                </span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
