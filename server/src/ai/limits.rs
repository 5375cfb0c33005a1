//! Per-key limits of the AI API: requests and tokens per minute and requests at once, counted in memory on this
//! coordinator (each coordinator counts its own share when several run).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::db::ai::AiKey;

const MINUTE_MS: i64 = 60_000;

/// Which limit a request ran into.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    #[error("this API key's limit of {0} requests per minute is reached; retry in a minute")]
    RequestsPerMinute(i64),
    #[error("this API key's limit of {0} tokens per minute is reached; retry in a minute")]
    TokensPerMinute(i64),
    #[error("this API key already has {0} requests running, its limit; retry when one ends")]
    Concurrency(i64),
}

#[derive(Default)]
struct Window {
    minute: i64,
    requests: i64,
    tokens: i64,
    in_flight: i64,
}

/// The counters of every key that made a request recently.
#[derive(Clone, Default)]
pub struct KeyLimits {
    windows: Arc<Mutex<HashMap<i64, Window>>>,
}

/// A request admitted under its key's limits; dropping it frees its concurrency slot.
pub struct Admission {
    key: Option<i64>,
    limits: KeyLimits,
}

impl Admission {
    /// Counts tokens the request used against its key's tokens per minute.
    pub fn used_tokens(&self, tokens: i64, now_ms: i64) {
        if let Some(key) = self.key {
            let mut windows = self.limits.windows();
            let window = windows.entry(key).or_default();
            roll(window, now_ms);
            window.tokens += tokens;
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            if let Some(window) = self.limits.windows().get_mut(&key) {
                window.in_flight -= 1;
            }
        }
    }
}

fn roll(window: &mut Window, now_ms: i64) {
    let minute = now_ms.div_euclid(MINUTE_MS);
    if window.minute != minute {
        window.minute = minute;
        window.requests = 0;
        window.tokens = 0;
    }
}

impl KeyLimits {
    fn windows(&self) -> MutexGuard<'_, HashMap<i64, Window>> {
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits a request under `key`'s limits (a session without a key has none), counting it.
    pub fn admit(&self, key: Option<&AiKey>, now_ms: i64) -> Result<Admission, LimitExceeded> {
        let Some(key) = key else { return Ok(Admission { key: None, limits: self.clone() }) };
        let mut windows = self.windows();
        let window = windows.entry(key.id).or_default();
        roll(window, now_ms);
        if let Some(limit) = key.requests_per_minute.filter(|limit| window.requests >= *limit) {
            return Err(LimitExceeded::RequestsPerMinute(limit));
        }
        if let Some(limit) = key.tokens_per_minute.filter(|limit| window.tokens >= *limit) {
            return Err(LimitExceeded::TokensPerMinute(limit));
        }
        if let Some(limit) = key.max_concurrent.filter(|limit| window.in_flight >= *limit) {
            return Err(LimitExceeded::Concurrency(limit));
        }
        window.requests += 1;
        window.in_flight += 1;
        Ok(Admission { key: Some(key.id), limits: self.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(rpm: Option<i64>, tpm: Option<i64>, concurrent: Option<i64>) -> AiKey {
        AiKey {
            id: 1,
            user: 1,
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            max_concurrent: concurrent,
            budget_micro: None,
        }
    }

    #[test]
    fn requests_per_minute_reset_with_the_next_minute() {
        let limits = KeyLimits::default();
        let key = key(Some(2), None, None);
        drop(limits.admit(Some(&key), 0).unwrap());
        drop(limits.admit(Some(&key), 1_000).unwrap());
        assert_eq!(limits.admit(Some(&key), 2_000).err(), Some(LimitExceeded::RequestsPerMinute(2)));
        assert!(limits.admit(Some(&key), 60_000).is_ok());
    }

    #[test]
    fn tokens_and_concurrency_are_limited_and_freed() {
        let limits = KeyLimits::default();
        let key = key(None, Some(100), Some(1));
        let first = limits.admit(Some(&key), 0).unwrap();
        assert_eq!(limits.admit(Some(&key), 0).err(), Some(LimitExceeded::Concurrency(1)));
        first.used_tokens(150, 10);
        drop(first);
        assert_eq!(limits.admit(Some(&key), 20).err(), Some(LimitExceeded::TokensPerMinute(100)));
        assert!(limits.admit(Some(&key), 60_000).is_ok());
        assert!(limits.admit(None, 0).is_ok(), "no key, no limits");
    }
}
