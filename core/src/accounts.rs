//! What the dashboard knows about the signed-in user and their sign-in methods and API keys.

use serde::{Deserialize, Serialize};

/// The signed-in user, as every page sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub display_name: String,
}

impl Viewer {
    /// Up to two letters for the avatar: first letters of the first two words, or the first two characters.
    pub fn initials(&self) -> String {
        let words: Vec<&str> = self.display_name.split_whitespace().collect();
        let letters: String = match words.as_slice() {
            [] => "?".to_string(),
            [one] => one.chars().filter(|c| c.is_alphanumeric()).take(2).collect(),
            [first, second, ..] => first.chars().take(1).chain(second.chars().take(1)).collect(),
        };
        if letters.is_empty() {
            "?".to_string()
        } else {
            letters.to_uppercase()
        }
    }
}

/// How someone signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityProvider {
    /// An Aptos account (Petra wallet), identified by its address.
    Aptos,
    /// An OpenID Connect account (Google by default), identified by issuer and subject.
    Oidc,
}

impl IdentityProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityProvider::Aptos => "aptos",
            IdentityProvider::Oidc => "oidc",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "aptos" => Some(IdentityProvider::Aptos),
            "oidc" => Some(IdentityProvider::Oidc),
            _ => None,
        }
    }
}

/// One sign-in method linked to an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySummary {
    pub id: i64,
    pub provider: IdentityProvider,
    /// Wallet address or e-mail address, for display.
    pub label: String,
    pub created_at_ms: i64,
}

/// An API key as listed (the secret itself is shown only once, at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeySummary {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, so the owner can tell keys apart.
    pub prefix: String,
    pub created_at_ms: i64,
    pub last_used_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    /// What the AI API allows this key (none set: only the account's credit limits it).
    #[serde(default)]
    pub limits: ApiKeyLimits,
}

/// Limits an owner sets on one API key for the AI API; `None` is no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyLimits {
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub max_concurrent: Option<i64>,
    /// The most this key may spend on AI, in micro-credits (reservations count).
    pub budget_micro: Option<i64>,
}

impl ApiKeyLimits {
    /// Reads the form's fields: empty is no limit; counts are whole numbers from 1, the budget is credits.
    pub fn parse(
        requests_per_minute: &str,
        tokens_per_minute: &str,
        max_concurrent: &str,
        budget: &str,
    ) -> Result<Self, String> {
        fn count(field: &str, text: &str) -> Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            match text.parse::<i64>() {
                Ok(value) if (1..=1_000_000_000).contains(&value) => Ok(Some(value)),
                _ => Err(format!("{field}: a whole number from 1, or empty for no limit")),
            }
        }
        let budget = budget.trim();
        let budget_micro = if budget.is_empty() {
            None
        } else {
            Some(crate::workers::parse_credits(budget).map_err(|why| format!("budget: {why}"))?)
        };
        Ok(Self {
            requests_per_minute: count("requests per minute", requests_per_minute)?,
            tokens_per_minute: count("tokens per minute", tokens_per_minute)?,
            max_concurrent: count("concurrent requests", max_concurrent)?,
            budget_micro,
        })
    }
}

/// A freshly created API key with its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: ApiKeySummary,
    pub secret: String,
}

/// Everything the account page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOverview {
    pub viewer: Viewer,
    pub identities: Vec<IdentitySummary>,
    pub api_keys: Vec<ApiKeySummary>,
    pub active_sessions: i64,
    /// The OpenID Connect provider's name ("Google") when its sign-in is configured: the page offers to link it.
    pub oidc_provider: Option<String>,
}

/// Longest display name accepted.
pub const MAX_DISPLAY_NAME: usize = 64;
/// Longest API key name accepted.
pub const MAX_KEY_NAME: usize = 64;

/// Trims and checks a user-chosen name (display name, key name): not empty, not too long, no control characters.
pub fn clean_name(raw: &str, max_chars: usize) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("the name cannot be empty".to_string());
    }
    if name.chars().count() > max_chars {
        return Err(format!("the name is longer than {max_chars} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("the name contains control characters".to_string());
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_limits_are_read_from_the_form_with_clear_errors() {
        assert_eq!(ApiKeyLimits::parse("", " ", "", "").unwrap(), ApiKeyLimits::default());
        let limits = ApiKeyLimits::parse("60", "10000", "2", "1.5").unwrap();
        assert_eq!(
            limits,
            ApiKeyLimits {
                requests_per_minute: Some(60),
                tokens_per_minute: Some(10_000),
                max_concurrent: Some(2),
                budget_micro: Some(1_500_000),
            }
        );
        assert!(ApiKeyLimits::parse("0", "", "", "").unwrap_err().contains("requests per minute"));
        assert!(ApiKeyLimits::parse("", "many", "", "").unwrap_err().contains("tokens per minute"));
        assert!(ApiKeyLimits::parse("", "", "", "-1").unwrap_err().contains("budget"));
    }

    fn viewer(name: &str) -> Viewer {
        Viewer { user_id: 1, display_name: name.to_string() }
    }

    #[test]
    fn initials_take_two_words_or_two_letters() {
        assert_eq!(viewer("Ada Lovelace").initials(), "AL");
        assert_eq!(viewer("ada").initials(), "AD");
        assert_eq!(viewer("0x1f2e…9c").initials(), "0X");
        assert_eq!(viewer("  ").initials(), "?");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  render box ", 20), Ok("render box".to_string()));
        assert!(clean_name("", 20).is_err());
        assert!(clean_name(&"x".repeat(21), 20).is_err());
        assert!(clean_name("bad\u{7}bell", 20).is_err());
    }
}
