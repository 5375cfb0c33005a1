//! Checker Nodes: Verify the work of others by re-rendering samples, and earn a share.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty_state::EmptyState;

const UPCOMING: &[&str] = &[
    "Create a checker node and download its config file.",
    "Verifications done, agreement with the quorum and rewards, live.",
];

#[component]
pub fn CheckersPage() -> impl IntoView {
    view! {
        <Title text="Checker Nodes" />
        <EmptyState title="Checker Nodes" summary="Verify the work of others by re-rendering samples, and earn a share." upcoming=UPCOMING />
    }
}
