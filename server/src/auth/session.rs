//! The session cookie: issued at sign-in (always a fresh token), resolved on every request, cleared at sign-out.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

use super::tokens::{hash_secret, random_token};
use super::AuthSettings;
use crate::db::users::UserId;
use crate::db::{Db, DbError};

pub const SESSION_COOKIE: &str = "pictor_session";

/// The hash of the session token this request came with (for sign-out).
#[derive(Clone, Debug)]
pub struct SessionTokenHash(pub String);

/// Starts a session for `user` and returns the `Set-Cookie` value. A new random token every time, so a
/// token planted before sign-in (session fixation) is never promoted.
pub async fn start(db: &Db, settings: &AuthSettings, user: UserId, now_ms: i64) -> Result<HeaderValue, DbError> {
    let token = random_token(32);
    db.create_session(&hash_secret(&token), user, now_ms, now_ms + settings.session_ms).await?;
    let max_age = settings.session_ms / 1000;
    Ok(cookie_header(settings, &token, max_age))
}

/// A `Set-Cookie` value that deletes the session cookie.
pub fn clear(settings: &AuthSettings) -> HeaderValue {
    cookie_header(settings, "", 0)
}

fn cookie_header(settings: &AuthSettings, token: &str, max_age: i64) -> HeaderValue {
    let secure = if settings.secure_cookies { "; Secure" } else { "" };
    let value = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    // Only base64url characters and fixed text: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("pictor_session=; Max-Age=0"))
}

/// The session token from the request's cookies, if any.
pub fn token_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// Adds `cookie` to a response's headers.
pub fn set_cookie(headers: &mut HeaderMap, cookie: HeaderValue) {
    headers.append(SET_COOKIE, cookie);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("theme=dark; pictor_session=abc123; other=1"));
        assert_eq!(token_from(&headers).as_deref(), Some("abc123"));
        headers.insert(COOKIE, HeaderValue::from_static("pictor_session="));
        assert_eq!(token_from(&headers), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_behind_https() {
        let mut settings = AuthSettings {
            origins: vec!["https://p.example".into()],
            public_origin: "https://p.example".into(),
            aptos_chain_id: 1,
            session_ms: 3_600_000,
            secure_cookies: true,
        };
        let cookie = cookie_header(&settings, "t", 3600);
        let text = cookie.to_str().expect("ascii");
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Lax") && text.ends_with("; Secure"), "{text}");
        settings.secure_cookies = false;
        assert!(!cookie_header(&settings, "t", 3600).to_str().expect("ascii").contains("Secure"));
    }
}
