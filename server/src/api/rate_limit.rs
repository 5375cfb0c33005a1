//! Rate limits: the sign-in endpoints per client address (nonces, challenges, OpenID Connect starts — the ones
//! anyone can call), the REST API and server functions per account and per API key. Over the limit: 429 with
//! `Retry-After`. Token buckets in memory, one set per coordinator.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pictor_core::accounts::Viewer;
use serde_json::json;

use crate::config::LimitsConfig;

/// The endpoints that hand out something (a nonce, a challenge, a login state) to whoever asks.
const SIGN_IN_PATHS: &[&str] =
    &["/auth/petra/challenge", "/auth/petra/verify", "/auth/siwa/input", "/auth/siwa/verify", "/auth/oidc/start"];

/// Buckets kept before idle ones are dropped, so the map cannot grow without bound.
const MAX_BUCKETS: usize = 100_000;

/// One token bucket per key.
pub struct Limiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Limiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request for `key` at `now`; `Err(wait)` when its bucket is empty.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS {
            buckets.retain(|_, bucket| refilled(*bucket, now, per_second, capacity) < capacity);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket { tokens: capacity, at: now });
        let tokens = refilled(*bucket, now, per_second, capacity);
        if tokens < 1.0 {
            *bucket = Bucket { tokens, at: now };
            return Err(Duration::from_secs_f64((1.0 - tokens) / per_second));
        }
        *bucket = Bucket { tokens: tokens - 1.0, at: now };
        Ok(())
    }
}

fn refilled(bucket: Bucket, now: Instant, per_second: f64, capacity: f64) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * per_second).min(capacity)
}

/// The coordinator's limiters, built once.
pub struct RateLimits {
    sign_in: Limiter,
    api: Limiter,
}

impl RateLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        Self { sign_in: Limiter::new(config.sign_in_per_minute), api: Limiter::new(config.api_per_minute) }
    }
}

/// Runs inside the request guard (so the viewer is known): sign-in endpoints by client address, private API calls
/// by account and by API key.
pub async fn limit(State(limits): State<Arc<RateLimits>>, request: Request, next: Next) -> Response {
    let now = Instant::now();
    let path = request.uri().path();
    let verdict = if SIGN_IN_PATHS.contains(&path) {
        let address = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| client_key(info.0.ip()));
        address.map_or(Ok(()), |address| limits.sign_in.take(&address, now))
    } else if let (true, Some(viewer)) = (path.starts_with("/api/"), request.extensions().get::<Viewer>()) {
        let account = limits.api.take(&format!("user:{}", viewer.user_id), now);
        let key = request.headers().get(AUTHORIZATION).map(|bearer| {
            let hash = crate::auth::tokens::hash_secret(bearer.to_str().unwrap_or_default());
            limits.api.take(&format!("key:{hash}"), now)
        });
        account.and(key.unwrap_or(Ok(())))
    } else {
        Ok(())
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(wait) => too_many(wait),
    }
}

/// IPv6 clients are limited per /64 (one machine usually has a whole one), IPv4 per address.
fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn too_many(wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "error": "too many requests: slow down and try again" })))
            .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_one_request_per_share_of_a_minute() {
        let limiter = Limiter::new(60);
        let start = Instant::now();
        for _ in 0..60 {
            limiter.take("a", start).expect("within the burst");
        }
        let wait = limiter.take("a", start).expect_err("over the limit");
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO, "{wait:?}");
        limiter.take("b", start).expect("another key has its own bucket");
        limiter.take("a", start + Duration::from_secs(1)).expect("a second later, one more");
        assert!(limiter.take("a", start + Duration::from_secs(1)).is_err());
        assert!(Limiter::new(0).take("a", start).is_ok(), "0 turns the limit off");
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6".parse().expect("ip")), "2001:db8:1:2::/64");
        assert_eq!(client_key("::ffff:10.0.0.1".parse().expect("ip")), "10.0.0.1");
        assert_eq!(client_key("127.0.0.2".parse().expect("ip")), "127.0.0.2");
    }

    #[test]
    fn over_the_limit_is_429_with_retry_after_in_whole_seconds() {
        let response = too_many(Duration::from_millis(1_200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("2"));
    }
}
