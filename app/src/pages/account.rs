//! Account: profile, linked sign-in methods (wallet, Google), API keys, and sessions.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use pictor_core::accounts::{AccountOverview, ApiKeySummary, CreatedApiKey, IdentityProvider, IdentitySummary};
use pictor_core::signin::OidcProblem;

use crate::error::AppError;

#[server]
pub async fn load_account() -> Result<AccountOverview, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::accounts()?.overview(&viewer).await)
}

#[server]
pub async fn rename_account(display_name: String) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::accounts()?.rename(&viewer, &display_name).await)
}

#[server]
pub async fn create_api_key(name: String) -> Result<CreatedApiKey, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::accounts()?.create_api_key(&viewer, &name).await)
}

#[server]
pub async fn revoke_api_key(key_id: i64) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::accounts()?.revoke_api_key(&viewer, key_id).await)
}

/// Limits on one key for the AI API; empty fields mean no limit, the budget is in credits.
#[server]
pub async fn set_key_limits(
    key_id: i64,
    requests_per_minute: String,
    tokens_per_minute: String,
    max_concurrent: String,
    budget: String,
) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    let limits =
        pictor_core::accounts::ApiKeyLimits::parse(&requests_per_minute, &tokens_per_minute, &max_concurrent, &budget)
            .map_err(AppError::BadRequest)?;
    crate::error::answer(crate::auth::accounts()?.set_api_key_limits(&viewer, key_id, limits).await)
}

#[server]
pub async fn unlink_identity(identity_id: i64) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::accounts()?.unlink_identity(&viewer, identity_id).await)
}

fn error_text<T>(result: Option<Result<T, AppError>>) -> Option<String> {
    result.and_then(|result| result.err()).map(|error| error.to_string())
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let rename = ServerAction::<RenameAccount>::new();
    let create_key = ServerAction::<CreateApiKey>::new();
    let revoke_key = ServerAction::<RevokeApiKey>::new();
    let set_limits = ServerAction::<SetKeyLimits>::new();
    let unlink = ServerAction::<UnlinkIdentity>::new();
    let overview = Resource::new(
        move || {
            (
                rename.version().get(),
                create_key.version().get(),
                revoke_key.version().get(),
                unlink.version().get(),
                set_limits.version().get(),
            )
        },
        |_| load_account(),
    );
    let (link_problem, set_link_problem) = signal(None::<String>);
    // Coming back from the OpenID Connect provider: `?linked=oidc` or `?oidc_error=<code>`.
    let query = use_query_map();
    let oidc_problem =
        move || query.with(|query| query.get("oidc_error")).and_then(|code| OidcProblem::from_code(&code));
    let just_linked = move || query.with(|query| query.get("linked")).is_some_and(|what| what == "oidc");
    let link_wallet = move |_| {
        set_link_problem.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match crate::components::petra::sign_in_with_petra(true).await {
                Ok(next) => {
                    let _ = window().location().set_href(&next);
                }
                Err(message) => set_link_problem.set(Some(message)),
            }
        });
    };

    view! {
        <Title text="Account" />
        <section class="page-head">
            <h1>"Account"</h1>
            <p class="muted">"Your profile, how you sign in, and keys for the API and the CLI."</p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                overview
                    .get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(account) => {
                            let has_wallet = account.identities.iter().any(|i| i.provider == IdentityProvider::Aptos);
                            let only_one = account.identities.len() == 1;
                            let provider = account.oidc_provider.clone();
                            let provider_name = provider.clone().unwrap_or_else(|| "Google".to_string());
                            view! {
                                <section class="panel stack">
                                    <h2>"Profile"</h2>
                                    <div class="profile">
                                        <span class="avatar large" data-testid="account-initials">
                                            {account.viewer.initials()}
                                        </span>
                                        <ActionForm action=rename attr:class="inline-form">
                                            <label for="display_name">"Display name"</label>
                                            <input
                                                id="display_name"
                                                name="display_name"
                                                maxlength="64"
                                                value=account.viewer.display_name.clone()
                                                data-testid="display-name"
                                            />
                                            <button class="button" type="submit">"Save"</button>
                                        </ActionForm>
                                    </div>
                                    <p class="form-error">{move || error_text(rename.value().get())}</p>
                                </section>
                                <section class="panel stack" data-testid="identities">
                                    <h2>"Sign-in methods"</h2>
                                    <ul class="rows">
                                        {account
                                            .identities
                                            .into_iter()
                                            .map(|identity| view! { <IdentityRow identity unlink only_one /> })
                                            .collect_view()}
                                    </ul>
                                    <div class="row-actions">
                                        {(!has_wallet)
                                            .then(|| {
                                                view! {
                                                    <button class="button ghost" on:click=link_wallet data-testid="link-wallet">
                                                        "Link a Petra wallet"
                                                    </button>
                                                }
                                            })}
                                        {provider
                                            .map(|name| {
                                                view! {
                                                    <a
                                                        class="button ghost"
                                                        rel="external"
                                                        href="/auth/oidc/start?link=1"
                                                        data-testid="link-oidc"
                                                    >
                                                        {format!("Link a {name} account")}
                                                    </a>
                                                }
                                            })}
                                    </div>
                                    {just_linked()
                                        .then(|| {
                                            view! {
                                                <p class="note" data-testid="linked-note">
                                                    {format!("{provider_name} account linked.")}
                                                </p>
                                            }
                                        })}
                                    <p class="form-error" data-testid="oidc-error">
                                        {oidc_problem().map(|problem| problem.message(&provider_name))}
                                    </p>
                                    <p class="form-error">{move || link_problem.get()}</p>
                                    <p class="form-error">{move || error_text(unlink.value().get())}</p>
                                </section>
                                <ApiKeys keys=account.api_keys create_key revoke_key set_limits />
                                <section class="panel stack">
                                    <h2>"Sessions"</h2>
                                    <p class="muted" data-testid="session-count">
                                        {format!("Signed in on {} device(s) or browser(s).", account.active_sessions)}
                                    </p>
                                    <form method="post" action="/auth/logout-everywhere">
                                        <button class="button ghost" type="submit" data-testid="sign-out-everywhere">
                                            "Sign out everywhere"
                                        </button>
                                    </form>
                                </section>
                            }
                                .into_any()
                        }
                    })
            }}
        </Suspense>
    }
}

#[component]
fn IdentityRow(identity: IdentitySummary, unlink: ServerAction<UnlinkIdentity>, only_one: bool) -> impl IntoView {
    let kind = match identity.provider {
        IdentityProvider::Aptos => "Petra wallet",
        IdentityProvider::Oidc => "Google / OpenID",
    };
    view! {
        <li class="row">
            <span class="badge">{kind}</span>
            <code class="grow ellipsis">{identity.label}</code>
            <ActionForm action=unlink>
                <input type="hidden" name="identity_id" value=identity.id.to_string() />
                <button class="button ghost small" type="submit" disabled=only_one title="You need at least one way to sign in">
                    "Unlink"
                </button>
            </ActionForm>
        </li>
    }
}

#[component]
fn ApiKeys(
    keys: Vec<ApiKeySummary>,
    create_key: ServerAction<CreateApiKey>,
    revoke_key: ServerAction<RevokeApiKey>,
    set_limits: ServerAction<SetKeyLimits>,
) -> impl IntoView {
    let number = |value: Option<i64>| value.map(|v| v.to_string()).unwrap_or_default();
    let fresh_secret = move || create_key.value().get().and_then(Result::ok).map(|created| created.secret);
    view! {
        <section class="panel stack" data-testid="api-keys">
            <h2>"API keys"</h2>
            <p class="muted">"For the REST API and the CLI: send as " <code>"Authorization: Bearer pk_…"</code></p>
            <ActionForm action=create_key attr:class="inline-form">
                <input name="name" placeholder="Key name, e.g. laptop CLI" maxlength="64" required data-testid="api-key-name" />
                <button class="button" type="submit" data-testid="create-api-key">"Create key"</button>
            </ActionForm>
            <p class="form-error">{move || error_text(create_key.value().get())}</p>
            <p class="form-error" data-testid="limits-error">{move || error_text(set_limits.value().get())}</p>
            {move || {
                fresh_secret()
                    .map(|secret| {
                        view! {
                            <div class="secret-once">
                                <p>"Copy this key now — it will not be shown again:"</p>
                                <code data-testid="new-api-key">{secret}</code>
                            </div>
                        }
                    })
            }}
            <ul class="rows">
                {keys
                    .into_iter()
                    .map(|key| {
                        let revoked = key.revoked_at_ms.is_some();
                        view! {
                            <li class="row" class:revoked=revoked data-testid="api-key-row">
                                <span class="grow">{key.name}</span>
                                <code>{format!("{}…", key.prefix)}</code>
                                {if revoked {
                                    view! { <span class="badge">"revoked"</span> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=revoke_key>
                                            <input type="hidden" name="key_id" value=key.id.to_string() />
                                            <button class="button ghost small" type="submit">"Revoke"</button>
                                        </ActionForm>
                                    }
                                        .into_any()
                                }}
                            </li>
                            {(!revoked)
                                .then(|| {
                                    let limits = key.limits.clone();
                                    view! {
                                        <li class="row key-limits" data-testid="api-key-limits">
                                            <ActionForm action=set_limits attr:class="inline-form">
                                                <input type="hidden" name="key_id" value=key.id.to_string() />
                                                <span class="muted small">"AI limits"</span>
                                                <input name="requests_per_minute" placeholder="requests/min" size="9" value=number(limits.requests_per_minute) data-testid="limit-rpm" />
                                                <input name="tokens_per_minute" placeholder="tokens/min" size="9" value=number(limits.tokens_per_minute) data-testid="limit-tpm" />
                                                <input name="max_concurrent" placeholder="at once" size="6" value=number(limits.max_concurrent) data-testid="limit-concurrent" />
                                                <input name="budget" placeholder="budget (credits)" size="10" value=limits.budget_micro.map(pictor_core::workers::format_credits).unwrap_or_default() data-testid="limit-budget" />
                                                <button class="button ghost small" type="submit" data-testid="save-limits">"Save limits"</button>
                                            </ActionForm>
                                        </li>
                                    }
                                })}
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
