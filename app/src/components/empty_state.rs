//! The placeholder a section shows until its feature lands: what will be here, and why it is empty.

use leptos::prelude::*;

/// A section heading with a short promise of what the section will hold.
#[component]
pub fn EmptyState(
    /// Page heading.
    title: &'static str,
    /// One sentence on what the section is for.
    summary: &'static str,
    /// What the user will find here.
    upcoming: &'static [&'static str],
) -> impl IntoView {
    view! {
        <section class="page-head">
            <h1>{title}</h1>
            <p class="muted">{summary}</p>
        </section>
        <section class="panel empty-state" data-testid="empty-state">
            <div class="empty-icon" aria-hidden="true">"◌"</div>
            <h2>"Nothing here yet"</h2>
            <ul class="upcoming">
                {upcoming.iter().map(|item| view! { <li>{*item}</li> }).collect_view()}
            </ul>
        </section>
    }
}
