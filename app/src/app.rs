//! The HTML shell and the router: which page answers which path.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::components::layout::Layout;
use crate::pages::{
    account, ai, checkers, credit, job, not_found, overview, reference, rendering, rewards, signin, worker_details,
    workers,
};

/// Sets the colour theme before the first paint so a light-mode user never sees a dark flash.
const THEME_BOOT_JS: &str = "try{var t=localStorage.getItem('pictor-theme');\
if(t!=='light'&&t!=='dark'){t=matchMedia('(prefers-color-scheme: light)').matches?'light':'dark';}\
document.documentElement.dataset.theme=t;}catch(e){}";

/// The whole HTML document rendered on the server around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme="dark">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="dark light" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <script inner_html=THEME_BOOT_JS></script>
                // ECharts is served from our own static files (never a CDN); the chart code calls it from WASM.
                <script src="/vendor/echarts.min.js" defer></script>
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The dashboard: the sidebar layout around one routed page.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the document once the WASM has taken over, so tests (and CSS) can tell SSR from hydrated.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = leptos::prelude::document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/pictor.css" />
        <Title formatter=|page: String| format!("{page} · Pictor") />
        <Router>
            <Routes fallback=not_found::NotFoundPage>
                <Route path=path!("/signin") view=signin::SignInPage />
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=overview::OverviewPage />
                    <Route path=path!("rendering") view=rendering::RenderingPage />
                    <Route path=path!("rendering/:id") view=job::JobPage />
                    <Route path=path!("ai") view=ai::AiPage />
                    <Route path=path!("workers") view=workers::WorkersPage />
                    <Route path=path!("workers/:id") view=worker_details::WorkerDetailsPage />
                    <Route path=path!("checkers") view=checkers::CheckersPage />
                    <Route path=path!("rewards") view=rewards::RewardsPage />
                    <Route path=path!("credit") view=credit::CreditPage />
                    <Route path=path!("account") view=account::AccountPage />
                    <Route path=path!("reference") view=reference::ReferencePage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}
