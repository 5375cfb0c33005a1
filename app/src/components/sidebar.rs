//! The product's navigation, built from the shared list of sections.

use leptos::prelude::*;
use leptos_router::components::A;
use pictor_core::sections::SECTIONS;

/// Left-hand navigation; `on_navigate` closes the drawer on small screens.
#[component]
pub fn Sidebar(on_navigate: Callback<()>) -> impl IntoView {
    view! {
        <nav class="sidebar" aria-label="Sections">
            <a class="brand" href="/">
                <span class="brand-mark">"◆"</span>
                <span class="brand-name">"Pictor"</span>
            </a>
            <ul class="nav-list">
                {SECTIONS
                    .iter()
                    .map(|section| {
                        view! {
                            <li on:click=move |_| on_navigate.run(())>
                                <A href=section.path exact=true>
                                    <span class="nav-icon" aria-hidden="true">{section.icon}</span>
                                    <span class="nav-title">{section.title}</span>
                                </A>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <p class="sidebar-foot">
                <a href="/reference" data-testid="reference-link">"API reference"</a>
                <br />
                "Open GPU compute network"
            </p>
        </nav>
    }
}
