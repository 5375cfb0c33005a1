//! Server-side rendering of the dashboard's pages.

use pictor_core::sections::SECTIONS;
use pictor_server::db::Backend;

use crate::helpers::spawn_app;

async fn every_section_is_server_rendered_with_the_sidebar(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    for section in SECTIONS {
        let response = app.get_with_cookie(section.path, &cookie).await;
        assert_eq!(response.status(), 200, "{}", section.path);
        let html = response.text().await.expect("html");
        // Hydration markers (`<!>`) may follow the text inside the heading.
        assert!(html.contains(&format!("<h1>{}<", section.title)), "{}: {html}", section.path);
        for other in SECTIONS {
            assert!(html.contains(&format!("href=\"{}\"", other.path)), "sidebar links to {}", other.path);
        }
        assert!(html.contains("/pkg/pictor.js"), "hydration script is referenced");
        assert!(html.contains("/vendor/echarts.min.js"), "ECharts comes from our own static files");
    }
}

async fn overview_renders_current_figures_from_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = app.db.create_user("Ada", 0).await.expect("user");
    for name in ["a", "b"] {
        let node = app.db.create_node(owner, pictor_server::db::nodes::NodeKind::Worker, name, 0).await.expect("node");
        app.db.record_heartbeat(node, pictor_server::clock::now_ms()).await.expect("beat");
    }
    let (_, cookie) = app.sign_in_as("Ada").await;
    let html = app.get_with_cookie("/", &cookie).await.text().await.expect("html");
    assert_eq!(text_of(&html, "kpi-workers"), Some("2"), "{html}");
}

async fn unknown_paths_are_404_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/definitely/not/here").await;
    assert_eq!(response.status(), 404);
    assert!(response.text().await.expect("html").contains("Page not found"));
}

async fn signed_out_visitors_are_sent_to_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in SECTIONS.iter().map(|section| section.path).chain(["/account"]) {
        let response = app.get(path).await;
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().expect("ascii");
        assert!(location.starts_with("/signin?next="), "{path} → {location}");
    }
    let signin = app.get("/signin").await;
    assert_eq!(signin.status(), 200);
    let html = signin.text().await.expect("html");
    assert!(html.contains("Continue with Petra wallet") && html.contains("Blender 4.2 LTS"), "{html}");
    assert!(html.contains("PICTOR_OIDC__CLIENT_ID"), "says how to turn Google sign-in on: {html}");
}

async fn the_account_page_shows_the_viewer(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada Lovelace").await;
    let html = app.get_with_cookie("/account", &cookie).await.text().await.expect("html");
    assert_eq!(text_of(&html, "account-initials"), Some("AL"), "{html}");
    assert!(html.contains("ada lovelace@example.com") || html.contains("Ada Lovelace@example.com"), "{html}");
}

crate::on_both_backends!(
    signed_out_visitors_are_sent_to_sign_in,
    the_account_page_shows_the_viewer,
    every_section_is_server_rendered_with_the_sidebar,
    overview_renders_current_figures_from_the_database,
    unknown_paths_are_404_pages
);

/// The text inside the element carrying `data-testid="<test_id>"` (no nested tags).
fn text_of<'a>(html: &'a str, test_id: &str) -> Option<&'a str> {
    let start = html.find(&format!("data-testid=\"{test_id}\""))?;
    let rest = &html[start..];
    let open_end = rest.find('>')? + 1;
    let close = rest[open_end..].find('<')?;
    Some(&rest[open_end..open_end + close])
}
