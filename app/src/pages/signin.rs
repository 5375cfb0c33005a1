//! Sign-in: Petra wallet or Google; the network's live activity beside it.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::network_panel::NetworkPanel;
use crate::components::theme_toggle::ThemeToggle;

#[component]
pub fn SignInPage() -> impl IntoView {
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
                <section class="panel signin-card">
                    <h1>"Sign in to Pictor"</h1>
                    <p class="muted">
                        "Render on community GPUs, lend yours, or verify the work of others — one account for all three."
                    </p>
                    <button class="button wide" disabled=true data-testid="signin-petra">
                        "Continue with Petra wallet"
                    </button>
                    <button class="button wide ghost" disabled=true data-testid="signin-google">
                        "Continue with Google"
                    </button>
                    <p class="note">"Sign-in arrives with the accounts feature; the dashboard is open until then."</p>
                </section>
                <NetworkPanel />
            </div>
        </div>
    }
}
