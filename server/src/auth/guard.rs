//! Request guard: resolves who is asking (session cookie or API key), refuses cross-site writes, and keeps
//! signed-out visitors away from private pages and server functions.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, ORIGIN, REFERER};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use pictor_core::accounts::Viewer;
use pictor_core::sections::SECTIONS;
use serde_json::json;

use super::session::{token_from, SessionTokenHash};
use super::tokens::hash_secret;
use super::AuthSettings;
use crate::ai::openai_api::OPENAI_PREFIX;
use crate::clock::now_ms;
use crate::db::Db;
use crate::state::AppState;

/// How the viewer proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    SessionCookie,
    ApiKey,
}

/// Pages outside the dashboard frame that need no session.
const PUBLIC_PAGES: &[&str] = &["/signin"];
/// REST endpoints anyone may read.
const PUBLIC_REST: &[&str] = &["/api/v1/events", crate::reference::OPENAPI_PATH];

const AGENT_PREFIX: &str = "/api/agent/";

/// Calls from other servers, authenticated by an HMAC signature of their body (checked by their handler), not by a
/// session or an API key.
const SIGNED_WEBHOOKS: &[&str] = &[crate::money::api::PAYMENT_WEBHOOK_PATH];

/// Site files (WASM, CSS, ECharts, icons) are public and served often: no session lookup for them.
const STATIC_PREFIXES: &[&str] = &["/pkg/", "/vendor/", "/favicon.svg"];

pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if is_safe(request.method()) && STATIC_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return next.run(request).await;
    }
    // Agents authenticate with their node token (nodes::agent_auth), never with a session or an API key; the
    // OpenAI-compatible API checks its keys itself and answers in OpenAI's error shape (ai::openai_api).
    if path.starts_with(AGENT_PREFIX) || path.starts_with(OPENAI_PREFIX) || SIGNED_WEBHOOKS.contains(&path) {
        return next.run(request).await;
    }
    let now = now_ms();
    let bearer = bearer_token(request.headers());
    if !is_safe(request.method()) && bearer.is_none() && !same_origin(request.headers(), &state.auth) {
        return refuse(StatusCode::FORBIDDEN, "cross-site request refused: the Origin header is missing or foreign");
    }
    match identify(&state.db, request.headers(), bearer.as_deref(), now).await {
        Ok(Some((viewer, credential, session))) => {
            request.extensions_mut().insert(viewer);
            request.extensions_mut().insert(credential);
            if let Some(session) = session {
                request.extensions_mut().insert(session);
            }
        }
        Ok(None) if bearer.is_some() => return refuse(StatusCode::UNAUTHORIZED, "unknown or revoked API key"),
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, "resolving the session failed");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the coordinator cannot check sign-ins right now");
        }
    }
    let signed_in = request.extensions().get::<Viewer>().is_some();
    let path = request.uri().path();
    if !signed_in && is_private_page(path) && matches!(*request.method(), Method::GET | Method::HEAD) {
        return Redirect::to(&format!("/signin?next={}", url_escape(path))).into_response();
    }
    if !signed_in && needs_viewer(path) {
        return refuse(StatusCode::UNAUTHORIZED, "please sign in first");
    }
    next.run(request).await
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn identify(
    db: &Db,
    headers: &HeaderMap,
    bearer: Option<&str>,
    now: i64,
) -> Result<Option<(Viewer, Credential, Option<SessionTokenHash>)>, crate::db::DbError> {
    if let Some(key) = bearer {
        let Some(user) = super::api_keys::authenticate(db, key, now).await? else { return Ok(None) };
        return Ok(Some((db.viewer(user).await?, Credential::ApiKey, None)));
    }
    let Some(token) = token_from(headers) else { return Ok(None) };
    let hash = hash_secret(&token);
    let Some(user) = db.session_user(&hash, now).await? else { return Ok(None) };
    Ok(Some((db.viewer(user).await?, Credential::SessionCookie, Some(SessionTokenHash(hash)))))
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|token| token.trim().to_string())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The request's `Origin` (or, failing that, its `Referer`'s origin) is one of ours.
fn same_origin(headers: &HeaderMap, settings: &AuthSettings) -> bool {
    let origin = headers.get(ORIGIN).and_then(|value| value.to_str().ok()).map(str::to_string).or_else(|| {
        let referer = headers.get(REFERER)?.to_str().ok()?;
        let url = url::Url::parse(referer).ok()?;
        Some(url.origin().ascii_serialization())
    });
    origin.is_some_and(|origin| settings.origins.contains(&origin))
}

/// Dashboard pages: every sidebar section and the account page.
fn is_private_page(path: &str) -> bool {
    let in_section = |section: &str| {
        path == section || (section != "/" && path.strip_prefix(section).is_some_and(|rest| rest.starts_with('/')))
    };
    !PUBLIC_PAGES.contains(&path) && (path == "/account" || SECTIONS.iter().any(|section| in_section(section.path)))
}

/// Server functions and private REST endpoints.
fn needs_viewer(path: &str) -> bool {
    // Agent endpoints authenticate nodes with their own tokens.
    path.starts_with("/api/") && !PUBLIC_REST.contains(&path) && !path.starts_with(AGENT_PREFIX)
}

fn url_escape(path: &str) -> String {
    url::form_urlencoded::byte_serialize(path.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn settings() -> AuthSettings {
        AuthSettings {
            origins: vec!["http://127.0.0.1:3000".into()],
            public_origin: "http://127.0.0.1:3000".into(),
            aptos_chain_id: 1,
            session_ms: 1,
            secure_cookies: false,
        }
    }

    #[test]
    fn origin_or_referer_must_be_ours() {
        let mut headers = HeaderMap::new();
        assert!(!same_origin(&headers, &settings()), "no origin at all");
        headers.insert(REFERER, HeaderValue::from_static("http://127.0.0.1:3000/account"));
        assert!(same_origin(&headers, &settings()));
        headers.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&headers, &settings()), "a foreign Origin wins over a good Referer");
    }

    #[test]
    fn private_pages_and_server_functions_need_a_viewer() {
        assert!(is_private_page("/") && is_private_page("/credit") && is_private_page("/account"));
        assert!(!is_private_page("/signin") && !is_private_page("/pkg/pictor.js"));
        assert!(needs_viewer("/api/account_overview123") && needs_viewer("/api/v1/me"));
        assert!(!needs_viewer("/api/v1/events") && !needs_viewer("/healthz") && !needs_viewer("/api/openapi.json"));
    }
}
