//! Rendering: Submit Blender scenes and watch their frames render across the network.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty_state::EmptyState;

const UPCOMING: &[&str] = &[
    "Upload a .blend, pick frames, resolution, samples and engine, and see the cost estimate.",
    "A live frame grid per job: queued, rendering, verified, with thumbnails.",
    "Retry or re-render frames, cancel a job, download every output as one zip.",
];

#[component]
pub fn RenderingPage() -> impl IntoView {
    view! {
        <Title text="Rendering" />
        <EmptyState title="Rendering" summary="Submit Blender scenes and watch their frames render across the network." upcoming=UPCOMING />
    }
}
