//! `/auth/*` endpoints: wallet challenge and verification (Petra's signMessage, or Sign in with Aptos), sign-out,
//! and `GET /api/v1/me`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use pictor_core::accounts::{IdentityProvider, Viewer};
use pictor_core::signin::{SignInInput, SignInProof, WalletChallenge};
use serde::Deserialize;
use serde_json::json;

use super::petra::{self, PetraError, PetraPolicy, WalletProof};
use super::session::{self, SessionTokenHash};
use super::session_ends::Ended;
use super::siwa::{self, SiwaError, SiwaPolicy};
use super::tokens::random_hex;
use crate::clock::now_ms;
use crate::db::accounts::{LinkError, VerifiedIdentity};
use crate::db::wallet_nonces::{IssuedNonce, NonceProblem};
use crate::db::DbError;
use crate::state::AppState;

/// A wallet sign-in request lives this long.
const NONCE_TTL_MS: i64 = 5 * 60_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/petra/challenge", post(petra_challenge))
        .route("/auth/petra/verify", post(petra_verify))
        .route("/auth/siwa/input", post(siwa_input))
        .route("/auth/siwa/verify", post(siwa_verify))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-everywhere", post(logout_everywhere))
        .route("/api/v1/me", get(me))
}

/// Why a sign-in step failed. Internal errors are logged and answered generically.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Wallet(#[from] PetraError),
    #[error(transparent)]
    SignIn(#[from] SiwaError),
    #[error(transparent)]
    Nonce(#[from] NonceProblem),
    #[error(transparent)]
    Link(LinkError),
    #[error("please sign in first")]
    SignInRequired,
    #[error("this sign-in request belongs to another account")]
    WrongAccount,
    #[error("internal error")]
    Internal(#[from] DbError),
}

impl From<LinkError> for AuthError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Db(db) => AuthError::Internal(db),
            taken => AuthError::Link(taken),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            AuthError::Wallet(_) | AuthError::SignIn(_) | AuthError::Nonce(_) => {
                (StatusCode::BAD_REQUEST, self.to_string())
            }
            AuthError::Link(_) => (StatusCode::CONFLICT, self.to_string()),
            AuthError::SignInRequired => (StatusCode::UNAUTHORIZED, self.to_string()),
            AuthError::WrongAccount => (StatusCode::FORBIDDEN, self.to_string()),
            AuthError::Internal(error) => crate::api::errors::internal("sign-in", error),
        };
        (status, Json(json!({ "error": error }))).into_response()
    }
}

#[derive(Debug, Deserialize)]
pub struct ChallengeRequest {
    pub address: String,
    /// Link the wallet to the signed-in account instead of signing in with it.
    #[serde(default)]
    pub link: bool,
}

#[derive(Debug, Deserialize)]
pub struct SignInRequest {
    /// Link the wallet to the signed-in account instead of signing in with it.
    #[serde(default)]
    pub link: bool,
}

/// The account a link request is for: the signed-in viewer's, who must be there.
fn link_user(link: bool, viewer: Option<Extension<Viewer>>) -> Result<Option<i64>, AuthError> {
    match (link, viewer) {
        (false, _) => Ok(None),
        (true, Some(Extension(viewer))) => Ok(Some(viewer.user_id)),
        (true, None) => Err(AuthError::SignInRequired),
    }
}

async fn petra_challenge(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    Json(request): Json<ChallengeRequest>,
) -> Result<Json<WalletChallenge>, AuthError> {
    let address = petra::normalize_address(&request.address)?;
    let link_user = link_user(request.link, viewer)?;
    let now = now_ms();
    let nonce = random_hex(16);
    state.db.issue_wallet_nonce(&nonce, &address, link_user, now, now + NONCE_TTL_MS).await?;
    Ok(Json(WalletChallenge {
        message: petra::sign_in_statement().to_string(),
        nonce,
        chain_id: state.auth.aptos_chain_id,
        expires_at_ms: now + NONCE_TTL_MS,
    }))
}

/// Verifies the proof completely before anything is written; then burns the nonce (one winner under races),
/// then signs in (new session) or links the wallet to the signed-in account.
async fn petra_verify(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    Json(proof): Json<WalletProof>,
) -> Result<Response, AuthError> {
    let policy = PetraPolicy { applications: state.auth.wallet_applications(), chain_id: state.auth.aptos_chain_id };
    let now = now_ms();
    let address = petra::normalize_address(&proof.address)?;
    let issued = state.db.check_wallet_nonce(&proof.nonce, &address, now).await??;
    let address = petra::verify(&proof, &policy)?;
    complete_wallet_sign_in(&state, viewer, issued, &proof.nonce, address, now).await
}

/// The Sign-in-with-Aptos input for the wallet's `aptos:signIn`: our site, chain and statement, and a fresh nonce
/// not bound to any address (the wallet says which account signs only as it signs).
async fn siwa_input(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    Json(request): Json<SignInRequest>,
) -> Result<Json<SignInInput>, AuthError> {
    let link_user = link_user(request.link, viewer)?;
    let now = now_ms();
    let nonce = random_hex(16);
    state.db.issue_wallet_nonce(&nonce, "", link_user, now, now + NONCE_TTL_MS).await?;
    Ok(Json(siwa::expected_input(&state.auth.public_origin, state.auth.aptos_chain_id, &nonce)))
}

/// As [`petra_verify`], for what `aptos:signIn` returned.
async fn siwa_verify(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    Json(proof): Json<SignInProof>,
) -> Result<Response, AuthError> {
    let policy = SiwaPolicy { origins: state.auth.origins.clone(), chain_id: state.auth.aptos_chain_id };
    let now = now_ms();
    let nonce = proof.input.nonce.clone();
    let issued = state.db.check_wallet_nonce(&nonce, "", now).await??;
    let address = siwa::verify(&proof, &nonce, &policy)?;
    complete_wallet_sign_in(&state, viewer, issued, &nonce, address, now).await
}

/// After a wallet proved who it is: burns the nonce (one winner under races), then links the wallet to the account
/// that asked, or signs in with it (a new session).
async fn complete_wallet_sign_in(
    state: &AppState,
    viewer: Option<Extension<Viewer>>,
    issued: IssuedNonce,
    nonce: &str,
    address: String,
    now: i64,
) -> Result<Response, AuthError> {
    if let Some(link_user) = issued.link_user {
        if viewer.as_ref().map(|Extension(viewer)| viewer.user_id) != Some(link_user) {
            return Err(AuthError::WrongAccount);
        }
    }
    state.db.burn_wallet_nonce(nonce, &address, now).await??;
    let identity = VerifiedIdentity {
        provider: IdentityProvider::Aptos,
        subject: address.clone(),
        label: address.clone(),
        suggested_name: format!("{}…{}", &address[..6], &address[address.len() - 4..]),
    };
    if let Some(link_user) = issued.link_user {
        state.db.link_identity(link_user, &identity, now).await?;
        return Ok(Json(json!({ "redirect": "/account" })).into_response());
    }
    let user = state.db.find_or_create_user(&identity, now).await?;
    super::welcome::give(state, user, now).await;
    let cookie = session::start(&state.db, &state.auth, user, now).await?;
    let mut response = Json(json!({ "redirect": "/" })).into_response();
    session::set_cookie(response.headers_mut(), cookie);
    Ok(response)
}

async fn logout(State(state): State<AppState>, session: Option<Extension<SessionTokenHash>>) -> Response {
    if let Some(Extension(SessionTokenHash(hash))) = session {
        if let Err(error) = state.db.delete_session(&hash).await {
            tracing::error!(%error, "sign-out failed");
            return AuthError::Internal(error).into_response();
        }
        state.session_ends.announce(Ended::Session(hash));
    }
    signed_out(&state)
}

async fn logout_everywhere(State(state): State<AppState>, viewer: Option<Extension<Viewer>>) -> Response {
    if let Some(Extension(viewer)) = viewer {
        if let Err(error) = state.db.delete_sessions_of(viewer.user_id).await {
            return AuthError::Internal(error).into_response();
        }
        state.session_ends.announce(Ended::Account(viewer.user_id));
    }
    signed_out(&state)
}

fn signed_out(state: &AppState) -> Response {
    let mut headers = HeaderMap::new();
    session::set_cookie(&mut headers, session::clear(&state.auth));
    (headers, Redirect::to("/signin")).into_response()
}

/// The account behind the request's session or API key.
async fn me(Extension(viewer): Extension<Viewer>) -> Json<serde_json::Value> {
    Json(json!({ "user_id": viewer.user_id, "display_name": viewer.display_name, "initials": viewer.initials() }))
}
