//! The signed-in user's avatar in the top bar, with links to the account page and sign-out.

use leptos::prelude::*;
use pictor_core::accounts::Viewer;

use crate::error::AppError;

/// The viewer of this request (`None` when signed out).
#[server]
pub async fn current_viewer() -> Result<Option<Viewer>, AppError> {
    Ok(crate::auth::viewer())
}

#[component]
pub fn UserMenu() -> impl IntoView {
    let viewer = Resource::new(|| (), |_| current_viewer());
    view! {
        <Suspense fallback=|| ()>
            {move || {
                viewer
                    .get()
                    .map(|result| match result {
                        Ok(Some(viewer)) => {
                            view! {
                                <a class="user-chip" href="/account" data-testid="user-menu" title="Your account">
                                    <span class="avatar">{viewer.initials()}</span>
                                    <span class="user-name">{viewer.display_name.clone()}</span>
                                </a>
                                <form method="post" action="/auth/logout">
                                    <button class="button ghost" type="submit" data-testid="sign-out">
                                        "Sign out"
                                    </button>
                                </form>
                            }
                                .into_any()
                        }
                        _ => view! { <a class="button ghost" href="/signin">"Sign in"</a> }.into_any(),
                    })
            }}
        </Suspense>
    }
}
