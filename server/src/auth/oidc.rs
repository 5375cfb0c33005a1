//! The OpenID Connect relying party: authorization code flow with PKCE, state and nonce; the ID token verified in full
//! (signature against the provider's JWKS, issuer, audience, nonce, expiry) by the `openidconnect` crate.

use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use pictor_core::signin::OidcProblem;
use tokio::sync::Mutex;

use crate::config::OidcConfig;
use crate::db::oidc_logins::PendingOidcLogin;

/// Provider metadata and keys are fetched again after this long (keys rotate).
const METADATA_TTL: Duration = Duration::from_secs(10 * 60);
/// Calls to the provider give up after this long.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// A configured provider. Discovery happens on first use, not at start-up, so a coordinator without internet access
/// still starts (and says the provider is unreachable when someone tries it).
pub struct OidcProvider {
    pub name: String,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    http: openidconnect::reqwest::Client,
    metadata: Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// Why the provider could not be set up from the configuration.
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    #[error("oidc.issuer_url {0:?} is not a URL")]
    Issuer(String),
    #[error("oidc.redirect_url {0:?} is not a URL")]
    Redirect(String),
    #[error("cannot build the HTTP client for OpenID Connect: {0}")]
    Http(String),
}

/// Where to send the browser, and what to remember until it comes back.
pub struct AuthorizationRequest {
    pub url: String,
    pub state: String,
    pub pending: PendingOidcLogin,
}

/// Who the provider says signed in, after every check passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcIdentity {
    /// `<issuer> <sub>`: subjects are unique per issuer only.
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl OidcProvider {
    /// `None` when sign-in is not configured (no client id and secret).
    pub fn from_config(config: &OidcConfig, public_origin: &str) -> Result<Option<Self>, OidcSetupError> {
        let (Some(client_id), Some(client_secret)) = (&config.client_id, &config.client_secret) else {
            return Ok(None);
        };
        let issuer =
            IssuerUrl::new(config.issuer_url.clone()).map_err(|_| OidcSetupError::Issuer(config.issuer_url.clone()))?;
        let redirect = config.redirect_url.clone().unwrap_or_else(|| format!("{public_origin}/auth/oidc/callback"));
        let redirect = RedirectUrl::new(redirect.clone()).map_err(|_| OidcSetupError::Redirect(redirect))?;
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would open the client to server-side request forgery.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|error| OidcSetupError::Http(error.to_string()))?;
        Ok(Some(Self {
            name: config.provider_name.clone(),
            issuer,
            client_id: ClientId::new(client_id.clone()),
            client_secret: ClientSecret::new(client_secret.clone()),
            redirect,
            http,
            metadata: Mutex::new(None),
        }))
    }

    /// The provider's discovery document and keys, cached for [`METADATA_TTL`].
    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcProblem> {
        let mut cached = self.metadata.lock().await;
        if let Some((fetched, metadata)) = cached.as_ref() {
            if fetched.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        let metadata =
            CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http).await.map_err(|error| {
                tracing::warn!(issuer = %self.issuer.as_str(), %error, "OpenID Connect discovery failed");
                OidcProblem::Unreachable
            })?;
        *cached = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// Starts a sign-in: a fresh state, nonce and PKCE verifier, and the provider's authorization URL.
    pub async fn begin(&self) -> Result<AuthorizationRequest, OidcProblem> {
        let client = CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_scope(Scope::new("email".to_string()))
            .add_scope(Scope::new("profile".to_string()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state: state.secret().clone(),
            pending: PendingOidcLogin {
                pkce_verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                link_user: None,
            },
        })
    }

    /// Redeems the code (with the PKCE verifier) and verifies the ID token against the nonce of this attempt.
    pub async fn finish(&self, code: &str, pending: &PendingOidcLogin) -> Result<OidcIdentity, OidcProblem> {
        let client = CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        let exchange = client.exchange_code(AuthorizationCode::new(code.to_string())).map_err(|error| {
            tracing::warn!(%error, "the provider has no token endpoint");
            OidcProblem::Unreachable
        })?;
        let response = exchange
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|error| {
                tracing::warn!(%error, detail = ?error, "OpenID Connect code exchange failed");
                match error {
                    RequestTokenError::Request(_) => OidcProblem::Unreachable,
                    _ => OidcProblem::Code,
                }
            })?;
        let id_token = response.id_token().ok_or_else(|| {
            tracing::warn!("the token response has no ID token");
            OidcProblem::InvalidToken
        })?;
        let claims =
            id_token.claims(&client.id_token_verifier(), &Nonce::new(pending.nonce.clone())).map_err(|error| {
                tracing::warn!(%error, "ID token rejected");
                problem_of(error)
            })?;
        let name = claims.name().and_then(|name| name.get(None)).map(|name| name.to_string());
        Ok(OidcIdentity {
            subject: format!("{} {}", self.issuer.as_str(), claims.subject().as_str()),
            email: claims.email().map(|email| email.to_string()),
            name,
        })
    }
}

/// Each failed check of the ID token gets its own message.
fn problem_of(error: ClaimsVerificationError) -> OidcProblem {
    match error {
        ClaimsVerificationError::SignatureVerification(_) => OidcProblem::Signature,
        ClaimsVerificationError::InvalidAudience(_) => OidcProblem::Audience,
        ClaimsVerificationError::InvalidNonce(_) => OidcProblem::Nonce,
        ClaimsVerificationError::Expired(_) => OidcProblem::Expired,
        ClaimsVerificationError::InvalidIssuer(_) => OidcProblem::Issuer,
        _ => OidcProblem::InvalidToken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: Option<&str>, secret: Option<&str>) -> OidcConfig {
        OidcConfig { client_id: id.map(Into::into), client_secret: secret.map(Into::into), ..OidcConfig::default() }
    }

    #[test]
    fn sign_in_is_off_until_client_id_and_secret_are_both_set() {
        assert!(OidcProvider::from_config(&config(None, None), "http://p").expect("ok").is_none());
        assert!(OidcProvider::from_config(&config(Some("id"), None), "http://p").expect("ok").is_none());
        let provider = OidcProvider::from_config(&config(Some("id"), Some("s")), "https://p.example").expect("ok");
        let provider = provider.expect("configured");
        assert_eq!(provider.redirect.as_str(), "https://p.example/auth/oidc/callback");
        assert_eq!(provider.name, "Google");
    }

    #[test]
    fn a_bad_issuer_url_is_refused_with_its_name() {
        let mut bad = config(Some("id"), Some("s"));
        bad.issuer_url = "not a url".into();
        let error = OidcProvider::from_config(&bad, "http://p").err().expect("refused");
        assert!(error.to_string().contains("oidc.issuer_url"), "{error}");
    }

    #[test]
    fn each_failed_id_token_check_has_its_own_problem() {
        assert_eq!(problem_of(ClaimsVerificationError::InvalidAudience("x".into())), OidcProblem::Audience);
        assert_eq!(problem_of(ClaimsVerificationError::InvalidNonce("x".into())), OidcProblem::Nonce);
        assert_eq!(problem_of(ClaimsVerificationError::Expired("x".into())), OidcProblem::Expired);
        assert_eq!(problem_of(ClaimsVerificationError::Other("x".into())), OidcProblem::InvalidToken);
    }
}
