//! My Workers: Lend your GPUs to the network and earn for every verified frame.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty_state::EmptyState;

const UPCOMING: &[&str] = &[
    "Create a worker and download its config file for pictor-agent.",
    "Live status, hardware, benchmark score and metrics charts per worker.",
    "Price, sleep schedule, tags and earnings per worker.",
];

#[component]
pub fn WorkersPage() -> impl IntoView {
    view! {
        <Title text="My Workers" />
        <EmptyState title="My Workers" summary="Lend your GPUs to the network and earn for every verified frame." upcoming=UPCOMING />
    }
}
