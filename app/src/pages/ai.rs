//! AI: Run AI inference and training jobs on the same GPUs.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty_state::EmptyState;

const UPCOMING: &[&str] = &[
    "Batch inference jobs on community GPUs, billed per second.",
    "Model and dataset uploads with the same verification as renders.",
];

#[component]
pub fn AiPage() -> impl IntoView {
    view! {
        <Title text="AI" />
        <EmptyState title="AI" summary="Run AI inference and training jobs on the same GPUs." upcoming=UPCOMING />
    }
}
