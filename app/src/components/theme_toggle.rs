//! Dark/light switch; remembered in the browser's local storage.

use leptos::prelude::*;

/// Toggles `data-theme` on `<html>`. The server renders dark; the boot script and this component
/// agree on the stored choice once hydrated.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let (dark, set_dark) = signal(true);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        set_dark.set(browser::current_theme_is_dark());
    });
    let toggle = move |_| {
        let next = !dark.get_untracked();
        set_dark.set(next);
        #[cfg(feature = "hydrate")]
        browser::apply_theme(next);
    };
    view! {
        <button
            class="button ghost theme-toggle"
            data-testid="theme-toggle"
            aria-pressed=move || (!dark.get()).to_string()
            on:click=toggle
        >
            {move || if dark.get() { "☀ Light" } else { "☾ Dark" }}
        </button>
    }
}

#[cfg(feature = "hydrate")]
pub(crate) use browser::current_theme_is_dark;

#[cfg(feature = "hydrate")]
mod browser {
    const STORAGE_KEY: &str = "pictor-theme";

    /// Whether the page is in its dark theme (the default when nothing is set).
    pub fn current_theme_is_dark() -> bool {
        leptos::prelude::document()
            .document_element()
            .and_then(|root| root.get_attribute("data-theme"))
            .is_none_or(|theme| theme != "light")
    }

    pub fn apply_theme(dark: bool) {
        let name = if dark { "dark" } else { "light" };
        if let Some(root) = leptos::prelude::document().document_element() {
            let _ = root.set_attribute("data-theme", name);
        }
        if let Ok(Some(storage)) = leptos::prelude::window().local_storage() {
            let _ = storage.set_item(STORAGE_KEY, name);
        }
    }
}
