//! `/auth/oidc/start` and `/auth/oidc/callback`: the browser's round trip through the OpenID Connect provider.
//!
//! The state is remembered twice: in the database (with the PKCE verifier and nonce, single use, ten minutes) and in
//! a short-lived cookie, so a callback URL planted by someone else (login CSRF) is refused.

use axum::extract::{Query, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use pictor_core::accounts::{clean_name, IdentityProvider, Viewer, MAX_DISPLAY_NAME};
use pictor_core::signin::OidcProblem;
use serde::Deserialize;

use super::oidc::OidcIdentity;
use super::session;
use crate::clock::now_ms;
use crate::db::accounts::{LinkError, VerifiedIdentity};
use crate::db::users::UserId;
use crate::state::AppState;

/// How long the user may take at the provider.
const LOGIN_TTL_MS: i64 = 10 * 60_000;
const STATE_COOKIE: &str = "pictor_oidc_state";

pub fn router() -> Router<AppState> {
    Router::new().route("/auth/oidc/start", get(start)).route("/auth/oidc/callback", get(callback))
}

#[derive(Debug, Default, Deserialize)]
pub struct StartQuery {
    /// `1`: link the identity to the signed-in account instead of signing in.
    #[serde(default)]
    pub link: Option<String>,
}

/// Back to the page the user came from, with a problem code it knows how to word.
fn problem_redirect(page: &str, problem: OidcProblem) -> Response {
    Redirect::to(&format!("{page}?oidc_error={}", problem.code())).into_response()
}

fn state_cookie(state: &AppState, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.auth.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{STATE_COOKIE}={value}; Path=/auth/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}");
    // The value is base64url from the crate or empty: always a valid header.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("pictor_oidc_state=; Max-Age=0"))
}

fn state_from_cookies(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == STATE_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

async fn start(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    Query(query): Query<StartQuery>,
) -> Response {
    let linking = query.link.as_deref() == Some("1");
    let page = if linking { "/account" } else { "/signin" };
    let Some(provider) = state.oidc.clone() else { return problem_redirect(page, OidcProblem::NotConfigured) };
    let link_user = match (linking, viewer) {
        (false, _) => None,
        (true, Some(Extension(viewer))) => Some(viewer.user_id),
        (true, None) => return problem_redirect("/signin", OidcProblem::SignInRequired),
    };
    let mut request = match provider.begin().await {
        Ok(request) => request,
        Err(problem) => return problem_redirect(page, problem),
    };
    request.pending.link_user = link_user;
    let now = now_ms();
    if let Err(error) = state.db.remember_oidc_login(&request.state, &request.pending, now, now + LOGIN_TTL_MS).await {
        tracing::error!(%error, "remembering an OpenID Connect login failed");
        return problem_redirect(page, OidcProblem::Unreachable);
    }
    let mut response = Redirect::to(&request.url).into_response();
    response.headers_mut().append(SET_COOKIE, state_cookie(&state, &request.state, LOGIN_TTL_MS / 1000));
    response
}

#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// Set by the provider when the user cancelled or the request was refused.
    #[serde(default)]
    pub error: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let mut response = finish(&state, viewer.map(|Extension(viewer)| viewer.user_id), &headers, query).await;
    response.headers_mut().append(SET_COOKIE, state_cookie(&state, "", 0));
    response
}

/// Every check passes before anything is written: the state (cookie and database), the provider's answer, the
/// code exchange and the ID token. Only then a user, identity or session is created.
async fn finish(state: &AppState, viewer: Option<UserId>, headers: &HeaderMap, query: CallbackQuery) -> Response {
    let Some(provider) = state.oidc.clone() else { return problem_redirect("/signin", OidcProblem::NotConfigured) };
    let returned_state = query.state.unwrap_or_default();
    if returned_state.is_empty() || state_from_cookies(headers).as_deref() != Some(returned_state.as_str()) {
        return problem_redirect("/signin", OidcProblem::State);
    }
    let now = now_ms();
    let pending = match state.db.take_oidc_login(&returned_state, now).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return problem_redirect("/signin", OidcProblem::State),
        Err(error) => {
            tracing::error!(%error, "reading an OpenID Connect login failed");
            return problem_redirect("/signin", OidcProblem::Unreachable);
        }
    };
    let page = if pending.link_user.is_some() { "/account" } else { "/signin" };
    if query.error.is_some() {
        return problem_redirect(page, OidcProblem::Denied);
    }
    let Some(code) = query.code.filter(|code| !code.is_empty()) else {
        return problem_redirect(page, OidcProblem::Code);
    };
    let identity = match provider.finish(&code, &pending).await {
        Ok(identity) => verified(identity),
        Err(problem) => return problem_redirect(page, problem),
    };
    if let Some(link_user) = pending.link_user {
        if viewer != Some(link_user) {
            return problem_redirect("/account", OidcProblem::WrongAccount);
        }
        return match state.db.link_identity(link_user, &identity, now).await {
            Ok(()) => Redirect::to("/account?linked=oidc").into_response(),
            Err(LinkError::Db(error)) => {
                tracing::error!(%error, "linking an OpenID Connect identity failed");
                problem_redirect("/account", OidcProblem::Unreachable)
            }
            Err(_) => problem_redirect("/account", OidcProblem::Taken),
        };
    }
    let started = async {
        let user = state.db.find_or_create_user(&identity, now).await?;
        super::welcome::give(state, user, now).await;
        session::start(&state.db, &state.auth, user, now).await
    };
    match started.await {
        Ok(cookie) => {
            let mut response = Redirect::to("/").into_response();
            session::set_cookie(response.headers_mut(), cookie);
            response
        }
        Err(error) => {
            tracing::error!(%error, "OpenID Connect sign-in failed");
            problem_redirect("/signin", OidcProblem::Unreachable)
        }
    }
}

/// The identity as the accounts store keeps it: shown by email, named by the provider's name claim.
fn verified(identity: OidcIdentity) -> VerifiedIdentity {
    let label = identity.email.clone().unwrap_or_else(|| identity.subject.clone());
    // The provider's claims are input like any other: too long or odd names fall back to the e-mail's local part.
    let clean = |name: &str| clean_name(name, MAX_DISPLAY_NAME).ok();
    let suggested_name = identity
        .name
        .as_deref()
        .and_then(clean)
        .or_else(|| identity.email.as_deref().and_then(|email| email.split('@').next()).and_then(clean))
        .unwrap_or_else(|| "New user".to_string());
    VerifiedIdentity { provider: IdentityProvider::Oidc, subject: identity.subject, label, suggested_name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("pictor_session=a; pictor_oidc_state=xyz"));
        assert_eq!(state_from_cookies(&headers).as_deref(), Some("xyz"));
    }

    #[test]
    fn an_identity_without_a_name_is_named_after_its_email() {
        let identity = OidcIdentity { subject: "iss sub".into(), email: Some("ada@example.com".into()), name: None };
        let verified = verified(identity);
        assert_eq!((verified.label.as_str(), verified.suggested_name.as_str()), ("ada@example.com", "ada"));
    }
}
