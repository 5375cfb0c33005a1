//! Google / OpenID Connect sign-in against a real local identity provider: the full browser round trip, every
//! forged or tampered answer refused with its own error and nothing created, and linking to an existing account.

use pictor_core::accounts::IdentityProvider;
use pictor_server::db::Backend;
use pictor_test_idp::{subject_for, Client, Tamper, TestIdp};
use reqwest::header::{LOCATION, SET_COOKIE};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const CLIENT_ID: &str = "pictor-test";
const CLIENT_SECRET: &str = "pictor-test-secret";

async fn start_idp() -> TestIdp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    TestIdp::start(listener, Client { id: CLIENT_ID.into(), secret: CLIENT_SECRET.into() }).await.expect("idp")
}

async fn spawn_with_provider(backend: Backend, issuer: &str) -> TestApp {
    let issuer = issuer.to_string();
    spawn_app_with(backend, move |config| {
        config.oidc.provider_name = "Test IdP".into();
        config.oidc.issuer_url = issuer;
        config.oidc.client_id = Some(CLIENT_ID.into());
        config.oidc.client_secret = Some(CLIENT_SECRET.into());
    })
    .await
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(LOCATION).map(|v| v.to_str().expect("ascii").to_string()).unwrap_or_default()
}

/// `name=value` of the cookie `name` set by `response`, if any (empty values count as cleared).
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok()?.split(';').next())
        .find(|pair| pair.split_once('=').is_some_and(|(key, value)| key == name && !value.is_empty()))
        .map(str::to_string)
}

/// Where the browser is after the provider sent it back, and the cookie header it carries.
struct AtCallback {
    callback_url: String,
    cookies: String,
}

/// Start → the provider's sign-in form → "Sign in" as `email`: stops just before the callback.
async fn through_the_provider(app: &TestApp, session: Option<&str>, link: bool, email: &str) -> AtCallback {
    let path = if link { "/auth/oidc/start?link=1" } else { "/auth/oidc/start" };
    let mut start = app.client.get(app.url(path));
    if let Some(session) = session {
        start = start.header("Cookie", session);
    }
    let start = start.send().await.expect("start");
    assert_eq!(start.status(), 303, "start redirects to the provider");
    let authorize = location(&start);
    let state_cookie = cookie(&start, "pictor_oidc_state").expect("the state is bound to this browser");
    let form_page = app.client.get(&authorize).send().await.expect("authorize page");
    assert_eq!(form_page.status(), 200);
    assert!(form_page.text().await.expect("html").contains("<form"), "the provider shows its sign-in form");
    let mut fields: Vec<(String, String)> = url::Url::parse(&authorize)
        .expect("url")
        .query_pairs()
        .filter(|(key, _)| {
            ["client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope"].contains(&key.as_ref())
        })
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    fields.extend(
        [("name", "Ada Lovelace"), ("email", email), ("decision", "approve")].map(|(k, v)| (k.into(), v.into())),
    );
    let approved =
        app.client.post(authorize.split('?').next().expect("base")).form(&fields).send().await.expect("approve");
    assert!(approved.status().is_redirection(), "{}", approved.status());
    let cookies = match session {
        Some(session) => format!("{session}; {state_cookie}"),
        None => state_cookie,
    };
    AtCallback { callback_url: location(&approved), cookies }
}

async fn callback(app: &TestApp, at: &AtCallback) -> reqwest::Response {
    app.client.get(&at.callback_url).header("Cookie", &at.cookies).send().await.expect("callback")
}

async fn identity_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM identities").fetch_one(app.db.writer()).await.expect("count")
}

async fn signing_in_with_the_provider_creates_one_account_and_a_session(backend: Backend) {
    let idp = start_idp().await;
    let app = spawn_with_provider(backend, idp.issuer()).await;
    let signin = app.get("/signin").await.text().await.expect("html");
    assert!(signin.contains(r#"href="/auth/oidc/start""#) && signin.contains("Continue with Test IdP"), "{signin}");

    let at = through_the_provider(&app, None, false, "ada@example.com").await;
    assert!(at.callback_url.starts_with(&app.url("/auth/oidc/callback?")), "{}", at.callback_url);
    let done = callback(&app, &at).await;
    assert_eq!((done.status().as_u16(), location(&done).as_str()), (303, "/"));
    let session = cookie(&done, "pictor_session").expect("a session starts");
    let me: serde_json::Value = app.get_with_cookie("/api/v1/me", &session).await.json().await.expect("json");
    assert_eq!(me["display_name"], "Ada Lovelace");

    let again = callback(&app, &through_the_provider(&app, None, false, "ada@example.com").await).await;
    let second = cookie(&again, "pictor_session").expect("signed in again");
    assert_ne!(second, session, "a fresh session token at every sign-in");
    let me_again: serde_json::Value = app.get_with_cookie("/api/v1/me", &second).await.json().await.expect("json");
    assert_eq!(me_again["user_id"], me["user_id"], "the same account, not a second one");
    assert_eq!(app.db.count_users().await.expect("count"), 1);
    let subject: String =
        sqlx::query_scalar("SELECT subject FROM identities").fetch_one(app.db.writer()).await.expect("row");
    assert_eq!(subject, format!("{} {}", idp.issuer(), subject_for("ada@example.com")));
}

async fn tampered_id_tokens_are_refused_each_with_its_reason_and_create_nothing(backend: Backend) {
    let idp = start_idp().await;
    let app = spawn_with_provider(backend, idp.issuer()).await;
    for (tamper, code) in [
        (Tamper::BadSignature, "signature"),
        (Tamper::WrongAudience, "audience"),
        (Tamper::WrongNonce, "nonce"),
        (Tamper::Expired, "expired"),
        (Tamper::WrongIssuer, "issuer"),
    ] {
        idp.tamper(tamper);
        let refused = callback(&app, &through_the_provider(&app, None, false, "mallory@example.com").await).await;
        assert_eq!(location(&refused), format!("/signin?oidc_error={code}"), "{tamper:?}");
        assert_eq!(cookie(&refused, "pictor_session"), None, "{tamper:?}: no session");
    }
    assert_eq!((app.db.count_users().await.expect("users"), identity_count(&app).await), (0, 0));
    let page = app.get("/signin?oidc_error=audience").await.text().await.expect("html");
    assert!(page.contains("issued for another application"), "the page words the reason: {page}");
}

async fn a_forged_missing_or_replayed_state_is_refused(backend: Backend) {
    let idp = start_idp().await;
    let app = spawn_with_provider(backend, idp.issuer()).await;
    let at = through_the_provider(&app, None, false, "ada@example.com").await;

    // Login CSRF: the callback URL opened in a browser that did not start this sign-in.
    let foreign = app.client.get(&at.callback_url).send().await.expect("callback");
    assert_eq!(location(&foreign), "/signin?oidc_error=state");
    // A state we never issued, with a matching cookie.
    let mut forged = url::Url::parse(&at.callback_url).expect("url");
    let code: String = forged.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("code");
    forged.query_pairs_mut().clear().append_pair("code", &code).append_pair("state", "never-issued");
    let made_up = AtCallback { callback_url: forged.to_string(), cookies: "pictor_oidc_state=never-issued".into() };
    assert_eq!(location(&callback(&app, &made_up).await), "/signin?oidc_error=state");
    assert_eq!(app.db.count_users().await.expect("users"), 0, "nothing created");

    // The genuine callback still works once, and only once.
    assert_eq!(location(&callback(&app, &at).await), "/");
    assert_eq!(location(&callback(&app, &at).await), "/signin?oidc_error=state", "a state is single use");
    assert_eq!(app.db.count_users().await.expect("users"), 1);
}

async fn cancelling_at_the_provider_or_an_unreachable_provider_is_explained(backend: Backend) {
    let idp = start_idp().await;
    let app = spawn_with_provider(backend, idp.issuer()).await;
    let start = app.get("/auth/oidc/start").await;
    let state_cookie = cookie(&start, "pictor_oidc_state").expect("cookie");
    let state = state_cookie.split_once('=').expect("pair").1.to_string();
    let cancelled = app
        .client
        .get(app.url(&format!("/auth/oidc/callback?error=access_denied&state={state}")))
        .header("Cookie", &state_cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(location(&cancelled), "/signin?oidc_error=denied");

    // A provider that cannot be reached: the coordinator still starts, and says so when someone tries.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let offline = spawn_with_provider(backend, &issuer).await;
    assert_eq!(location(&offline.get("/auth/oidc/start").await), "/signin?oidc_error=unreachable");
    // Not configured at all: the button is disabled and the start URL says why.
    let plain = spawn_app(backend).await;
    assert_eq!(location(&plain.get("/auth/oidc/start").await), "/signin?oidc_error=not_configured");
}

async fn a_signed_in_user_links_the_provider_once_and_nobody_else_can(backend: Backend) {
    let idp = start_idp().await;
    let app = spawn_with_provider(backend, idp.issuer()).await;
    let (bob, bob_session) = app.sign_in_as("Bob").await;
    let account = app.get_with_cookie("/account", &bob_session).await.text().await.expect("html");
    assert!(account.contains(r#"href="/auth/oidc/start?link=1""#), "the account page offers linking: {account}");

    let linked = callback(&app, &through_the_provider(&app, Some(&bob_session), true, "bob@example.com").await).await;
    assert_eq!(location(&linked), "/account?linked=oidc");
    let identities = app.db.identities_of(bob).await.expect("identities");
    assert_eq!(identities.iter().filter(|i| i.provider == IdentityProvider::Oidc).count(), 2, "{identities:?}");
    assert!(identities.iter().any(|i| i.label == "bob@example.com"));

    // Signing in with the linked identity reaches Bob's account.
    let signed_in = callback(&app, &through_the_provider(&app, None, false, "bob@example.com").await).await;
    let session = cookie(&signed_in, "pictor_session").expect("session");
    let me: serde_json::Value = app.get_with_cookie("/api/v1/me", &session).await.json().await.expect("json");
    assert_eq!(me["user_id"], bob);

    // Carol cannot take it over; a link needs a session.
    let (carol, carol_session) = app.sign_in_as("Carol").await;
    let taken = callback(&app, &through_the_provider(&app, Some(&carol_session), true, "bob@example.com").await).await;
    assert_eq!(location(&taken), "/account?oidc_error=taken");
    assert_eq!(app.db.identities_of(carol).await.expect("identities").len(), 1);
    assert_eq!(location(&app.get("/auth/oidc/start?link=1").await), "/signin?oidc_error=sign_in_required");
}

crate::on_both_backends!(
    signing_in_with_the_provider_creates_one_account_and_a_session,
    tampered_id_tokens_are_refused_each_with_its_reason_and_create_nothing,
    a_forged_missing_or_replayed_state_is_refused,
    cancelling_at_the_provider_or_an_unreachable_provider_is_explained,
    a_signed_in_user_links_the_provider_once_and_nobody_else_can,
);
