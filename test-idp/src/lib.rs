//! A small but real OpenID Connect provider for Pictor's tests: discovery, JWKS, a sign-in form and a token endpoint.
//!
//! ID tokens are RS256 JWTs signed with a key generated at start-up; PKCE (S256), the client secret, the redirect
//! URI and single use of each code are enforced like a real provider does. Tests can make it misbehave
//! ([`Tamper`]) to prove the coordinator rejects what it must.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
    CoreRsaPrivateSigningKey, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessToken, Audience, AuthUrl, EmptyAdditionalClaims, EmptyAdditionalProviderMetadata, EndUserEmail, EndUserName,
    IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, Nonce, PrivateSigningKey, ResponseTypes, Scope, StandardClaims,
    SubjectIdentifier, TokenUrl,
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// An authorization code is good for this long.
const CODE_TTL: Duration = Duration::from_secs(60);
/// ID tokens expire after this many seconds.
const TOKEN_SECONDS: i64 = 300;

/// Ways the provider can misbehave, for tests of the relying party.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tamper {
    /// Behave.
    #[default]
    None,
    /// Sign ID tokens with a key that is not in the JWKS (same key id).
    BadSignature,
    /// Issue ID tokens for another client.
    WrongAudience,
    /// Put a nonce in the ID token other than the one the client sent.
    WrongNonce,
    /// Issue ID tokens that expired ten minutes ago.
    Expired,
    /// Name another issuer in the ID token.
    WrongIssuer,
}

/// The client the provider knows.
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// A running provider; it stops when dropped.
pub struct TestIdp {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl TestIdp {
    /// Serves the provider on `listener`. Generating the RSA key takes a moment.
    pub async fn start(listener: tokio::net::TcpListener, client: Client) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let issuer = format!("http://{address}");
        let (key, impostor) =
            tokio::task::spawn_blocking(|| (signing_key(), signing_key())).await.map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            issuer,
            client,
            key: key.map_err(std::io::Error::other)?,
            impostor: impostor.map_err(std::io::Error::other)?,
            grants: Mutex::new(HashMap::new()),
            tamper: Mutex::new(Tamper::None),
        });
        let app = router(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { address, shared, server })
    }

    /// `http://127.0.0.1:<port>`: the issuer URL to configure in the coordinator.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Makes every ID token from now on misbehave this way.
    pub fn tamper(&self, tamper: Tamper) {
        *self.shared.tamper.lock().unwrap_or_else(PoisonError::into_inner) = tamper;
    }

    /// Runs until the server task ends (for the binary).
    pub async fn wait(self) {
        let _ = (&mut { self }.server).await;
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A 2048-bit RSA key, fresh for every run: nothing secret is checked in.
fn signing_key() -> Result<CoreRsaPrivateSigningKey, String> {
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| e.to_string())?;
    let pem = key.to_pkcs1_pem(LineEnding::LF).map_err(|e| e.to_string())?;
    CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new("test-key".to_string())))
}

struct Shared {
    issuer: String,
    client: Client,
    key: CoreRsaPrivateSigningKey,
    impostor: CoreRsaPrivateSigningKey,
    grants: Mutex<HashMap<String, Grant>>,
    tamper: Mutex<Tamper>,
}

/// What the user approved, waiting for the client to redeem the code.
struct Grant {
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    email: String,
    name: String,
    issued: Instant,
}

type AppState = Arc<Shared>;

fn router(shared: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize_form).post(approve))
        .route("/token", axum::routing::post(token))
        .with_state(shared)
}

async fn discovery(State(shared): State<AppState>) -> Response {
    let url = |path: &str| format!("{}{path}", shared.issuer);
    let metadata = (|| -> Result<CoreProviderMetadata, openidconnect::url::ParseError> {
        Ok(CoreProviderMetadata::new(
            IssuerUrl::new(shared.issuer.clone())?,
            AuthUrl::new(url("/authorize"))?,
            JsonWebKeySetUrl::new(url("/jwks"))?,
            vec![ResponseTypes::new(vec![CoreResponseType::Code])],
            vec![CoreSubjectIdentifierType::Public],
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
            EmptyAdditionalProviderMetadata {},
        )
        .set_token_endpoint(Some(TokenUrl::new(url("/token"))?))
        .set_scopes_supported(Some(["openid", "email", "profile"].map(|scope| Scope::new(scope.to_string())).to_vec())))
    })();
    match metadata {
        Ok(metadata) => Json(metadata).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn jwks(State(shared): State<AppState>) -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![shared.key.as_verification_key()]))
}

/// Checks an authorization request the way a provider must before showing its sign-in page.
fn check_authorization_request(shared: &Shared, params: &HashMap<String, String>) -> Result<(), String> {
    let get = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if get("client_id") != shared.client.id {
        return Err(format!("unknown client_id {:?}", get("client_id")));
    }
    if get("response_type") != "code" {
        return Err("response_type must be code".into());
    }
    if !get("scope").split(' ').any(|scope| scope == "openid") {
        return Err("the openid scope is required".into());
    }
    if get("redirect_uri").is_empty() || get("state").is_empty() {
        return Err("redirect_uri and state are required".into());
    }
    if get("code_challenge").is_empty() || get("code_challenge_method") != "S256" {
        return Err("PKCE with S256 is required".into());
    }
    Ok(())
}

/// The provider's sign-in page: a real form the browser submits, with the request carried in hidden fields.
async fn authorize_form(State(shared): State<AppState>, Query(params): Query<HashMap<String, String>>) -> Response {
    if let Err(problem) = check_authorization_request(&shared, &params) {
        return (StatusCode::BAD_REQUEST, Html(format!("<h1>Bad request</h1><p>{}</p>", escape(&problem))))
            .into_response();
    }
    let hidden: String = ["client_id", "redirect_uri", "state", "nonce", "code_challenge", "scope"]
        .iter()
        .map(|name| {
            let value = params.get(*name).map(String::as_str).unwrap_or_default();
            format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(value))
        })
        .collect();
    Html(format!(
        r#"<!doctype html><html><head><title>Test identity provider</title><link rel="icon" href="data:,"></head>
<body style="font-family: sans-serif; max-width: 28rem; margin: 4rem auto">
<h1>Test identity provider</h1>
<form method="post" action="/authorize">{hidden}
<p><label>Name <input name="name" value="Ada Lovelace"></label></p>
<p><label>Email <input name="email" value="ada@example.com"></label></p>
<p><button name="decision" value="approve">Sign in</button> <button name="decision" value="deny">Cancel</button></p>
</form></body></html>"#
    ))
    .into_response()
}

/// The user approved (or cancelled): back to the client with a code (or an error).
async fn approve(State(shared): State<AppState>, Form(params): Form<HashMap<String, String>>) -> Response {
    let mut request = params.clone();
    request.insert("response_type".into(), "code".into());
    request.insert("code_challenge_method".into(), "S256".into());
    if let Err(problem) = check_authorization_request(&shared, &request) {
        return (StatusCode::BAD_REQUEST, problem).into_response();
    }
    let get = |name: &str| params.get(name).cloned().unwrap_or_default();
    let Ok(mut redirect) = url::Url::parse(&get("redirect_uri")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not a URL").into_response();
    };
    if get("decision") == "deny" {
        redirect.query_pairs_mut().append_pair("error", "access_denied").append_pair("state", &get("state"));
        return Redirect::to(redirect.as_str()).into_response();
    }
    let code = random_code();
    let grant = Grant {
        redirect_uri: get("redirect_uri"),
        code_challenge: get("code_challenge"),
        nonce: params.get("nonce").filter(|nonce| !nonce.is_empty()).cloned(),
        email: get("email"),
        name: get("name"),
        issued: Instant::now(),
    };
    shared.grants.lock().unwrap_or_else(PoisonError::into_inner).insert(code.clone(), grant);
    redirect.query_pairs_mut().append_pair("code", &code).append_pair("state", &get("state"));
    Redirect::to(redirect.as_str()).into_response()
}

fn random_code() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An OAuth 2 error response (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({ "error": error, "error_description": description }))).into_response()
}

/// The client's id and secret from HTTP Basic (`client_secret_basic`) or the form (`client_secret_post`).
fn client_credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> Option<(String, String)> {
    if let Some(basic) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()?.strip_prefix("Basic ")) {
        let decoded = String::from_utf8(STANDARD.decode(basic.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before joining.
        let unescape = |text: &str| {
            let pair = format!("x={text}");
            url::form_urlencoded::parse(pair.as_bytes()).next().map(|(_, value)| value.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((form.get("client_id")?.clone(), form.get("client_secret")?.clone()))
}

async fn token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match client_credentials(&headers, &form) {
        Some((id, secret)) if id == shared.client.id && secret == shared.client.secret => {}
        _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client or wrong secret"),
    }
    let get = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "only authorization_code");
    }
    // A code is redeemed at most once, whatever the outcome.
    let grant = shared.grants.lock().unwrap_or_else(PoisonError::into_inner).remove(get("code"));
    let Some(grant) = grant.filter(|grant| grant.issued.elapsed() < CODE_TTL) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown, used or expired code");
    };
    if grant.redirect_uri != get("redirect_uri") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri differs from the request");
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
    if challenge != grant.code_challenge {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "PKCE verification failed");
    }
    let tamper = *shared.tamper.lock().unwrap_or_else(PoisonError::into_inner);
    let access_token = AccessToken::new(random_code());
    match id_token(&shared, &grant, tamper, &access_token) {
        Ok(id_token) => Json(json!({
            "access_token": access_token.secret(),
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": "openid email profile",
            "id_token": id_token,
        }))
        .into_response(),
        Err(error) => oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &error),
    }
}

/// A stable subject per email, like a real provider's account id.
pub fn subject_for(email: &str) -> String {
    format!("test-{}", &hex::encode(Sha256::digest(email.as_bytes()))[..20])
}

fn id_token(shared: &Shared, grant: &Grant, tamper: Tamper, access_token: &AccessToken) -> Result<String, String> {
    let now = chrono::Utc::now();
    let (issued, expires) = match tamper {
        Tamper::Expired => (now - chrono::Duration::minutes(15), now - chrono::Duration::minutes(10)),
        _ => (now, now + chrono::Duration::seconds(TOKEN_SECONDS)),
    };
    let issuer = match tamper {
        Tamper::WrongIssuer => "https://impostor.example".to_string(),
        _ => shared.issuer.clone(),
    };
    let audience = match tamper {
        Tamper::WrongAudience => "another-client".to_string(),
        _ => shared.client.id.clone(),
    };
    let nonce = match tamper {
        Tamper::WrongNonce => Some("not-the-nonce-you-sent".to_string()),
        _ => grant.nonce.clone(),
    };
    let claims = StandardClaims::new(SubjectIdentifier::new(subject_for(&grant.email)))
        .set_email(Some(EndUserEmail::new(grant.email.clone())))
        .set_email_verified(Some(true))
        .set_name(Some(EndUserName::new(grant.name.clone()).into()));
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(issuer).map_err(|e| e.to_string())?,
        vec![Audience::new(audience)],
        expires,
        issued,
        claims,
        EmptyAdditionalClaims {},
    )
    .set_nonce(nonce.map(Nonce::new));
    let key = if tamper == Tamper::BadSignature { &shared.impostor } else { &shared.key };
    let token = CoreIdToken::new(claims, key, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, Some(access_token), None)
        .map_err(|e| e.to_string())?;
    Ok(token.to_string())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
