//! Overview: the live state of the whole network at a glance.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::network_panel::NetworkPanel;

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <Title text="Overview" />
        <section class="page-head">
            <h1>"Overview"</h1>
            <p class="muted">"Live activity of the Pictor network: nodes online and frames rendered."</p>
        </section>
        <NetworkPanel />
    }
}
