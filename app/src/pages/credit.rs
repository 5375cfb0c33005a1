//! Credit: Your balance, top-ups and every movement of credit.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty_state::EmptyState;

const UPCOMING: &[&str] =
    &["Available and reserved balance, and the full ledger with CSV export.", "Top-ups and spending over time."];

#[component]
pub fn CreditPage() -> impl IntoView {
    view! {
        <Title text="Credit" />
        <EmptyState title="Credit" summary="Your balance, top-ups and every movement of credit." upcoming=UPCOMING />
    }
}
