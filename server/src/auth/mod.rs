//! Sign-in and accounts: Petra wallets (signMessage, or Sign in with Aptos), OpenID Connect, sessions, CSRF
//! protection and API keys.

pub mod api_keys;
pub mod guard;
pub mod oidc;
pub mod oidc_routes;
pub mod petra;
pub mod routes;
pub mod session;
pub mod session_ends;
pub mod siwa;
pub mod tokens;
pub mod welcome;

use std::net::SocketAddr;

use crate::config::Config;

/// Settings every auth component reads, fixed at startup.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// Origins (`scheme://host[:port]`) whose pages may make state-changing requests and name themselves in
    /// wallet signatures.
    pub origins: Vec<String>,
    /// The origin links and redirects are built from.
    pub public_origin: String,
    pub aptos_chain_id: u64,
    pub session_ms: i64,
    /// `Secure` on the session cookie (when the public URL is https).
    pub secure_cookies: bool,
}

impl AuthSettings {
    /// From the configuration and the address actually bound (port 0 in tests).
    pub fn new(config: &Config, bound: SocketAddr) -> Self {
        let origins = match &config.public_url {
            Some(url) => vec![url.trim_end_matches('/').to_string()],
            None if bound.ip().is_loopback() => vec![
                format!("http://127.0.0.1:{}", bound.port()),
                format!("http://localhost:{}", bound.port()),
                format!("http://[::1]:{}", bound.port()),
            ],
            None => vec![format!("http://{bound}")],
        };
        Self {
            public_origin: origins[0].clone(),
            secure_cookies: origins[0].starts_with("https://"),
            origins,
            aptos_chain_id: config.aptos_chain_id,
            session_ms: i64::try_from(config.session_hours).unwrap_or(24) * 3_600_000,
        }
    }

    /// The origins plus their `host:port` forms: wallets differ in which they put in `application`.
    pub fn wallet_applications(&self) -> Vec<String> {
        self.origins
            .iter()
            .flat_map(|origin| {
                let host = origin.split_once("://").map_or(origin.as_str(), |(_, host)| host);
                [origin.clone(), host.to_string()]
            })
            .collect()
    }
}
