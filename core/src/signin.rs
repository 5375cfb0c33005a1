//! What the sign-in page offers: which sign-in methods are available and which software the network renders with.

use serde::{Deserialize, Serialize};

/// The sign-in page's options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// The Aptos chain wallets must sign for.
    pub aptos_chain_id: u64,
    /// "Google" (or the configured provider's name).
    pub oidc_provider: String,
    /// Whether OpenID Connect sign-in is configured.
    pub oidc_enabled: bool,
    /// What the operator must set to enable it, when it is not.
    pub oidc_hint: Option<String>,
    pub software: Vec<SoftwareSupport>,
}

/// One supported application (Blender) and version, with its render engines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftwareSupport {
    pub name: String,
    pub version: String,
    pub engines: Vec<EngineSupport>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSupport {
    pub name: String,
    /// Workers online right now that report this version and engine.
    pub workers_online: i64,
}

/// A version and engine a registered worker reports (empty until workers register capabilities).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedCapability {
    pub software: String,
    pub version: String,
    pub engine: String,
    pub online: bool,
}

/// The agent's built-in list: what `pictor-agent` can drive before any worker has reported anything.
pub const BUILT_IN: &[(&str, &str, &[&str])] = &[
    ("Blender", "4.5 LTS", &["Cycles", "EEVEE", "Workbench"]),
    ("Blender", "4.2 LTS", &["Cycles", "EEVEE", "Workbench"]),
    ("Blender", "3.6 LTS", &["Cycles", "EEVEE", "Workbench"]),
];

/// Blender's long-term-support release lines.
const LTS_LINES: &[&str] = &["2.83", "2.93", "3.3", "3.6", "4.2", "4.5"];

/// A reported Blender version (`4.2.3`) as the release line the list shows (`4.2 LTS`).
pub fn blender_release(version: &str) -> String {
    let line: Vec<&str> = version.trim().split('.').take(2).collect();
    let line = line.join(".");
    if LTS_LINES.contains(&line.as_str()) {
        format!("{line} LTS")
    } else {
        line
    }
}

/// The built-in list merged with what workers report: reported versions are added, and every entry counts the
/// online workers that report it.
pub fn supported_software(reported: &[ReportedCapability]) -> Vec<SoftwareSupport> {
    let mut list: Vec<SoftwareSupport> = BUILT_IN
        .iter()
        .map(|(name, version, engines)| SoftwareSupport {
            name: name.to_string(),
            version: version.to_string(),
            engines: engines
                .iter()
                .map(|engine| EngineSupport { name: engine.to_string(), workers_online: 0 })
                .collect(),
        })
        .collect();
    for capability in reported {
        let index = match list.iter().position(|s| s.name == capability.software && s.version == capability.version) {
            Some(index) => index,
            None => {
                list.push(SoftwareSupport {
                    name: capability.software.clone(),
                    version: capability.version.clone(),
                    engines: Vec::new(),
                });
                list.len() - 1
            }
        };
        let engines = &mut list[index].engines;
        let engine = match engines.iter().position(|e| e.name == capability.engine) {
            Some(position) => &mut engines[position],
            None => {
                engines.push(EngineSupport { name: capability.engine.clone(), workers_online: 0 });
                engines.last_mut().expect("just pushed")
            }
        };
        if capability.online {
            engine.workers_online += 1;
        }
    }
    list
}

/// Why an OpenID Connect sign-in or link did not happen. The coordinator redirects with `?oidc_error=<code>`;
/// the page shows the sentence for a known code only, so a crafted link cannot put words on our page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OidcProblem {
    NotConfigured,
    Unreachable,
    State,
    Denied,
    Code,
    Signature,
    Audience,
    Nonce,
    Expired,
    Issuer,
    InvalidToken,
    Taken,
    WrongAccount,
    SignInRequired,
}

impl OidcProblem {
    pub const ALL: [OidcProblem; 14] = [
        OidcProblem::NotConfigured,
        OidcProblem::Unreachable,
        OidcProblem::State,
        OidcProblem::Denied,
        OidcProblem::Code,
        OidcProblem::Signature,
        OidcProblem::Audience,
        OidcProblem::Nonce,
        OidcProblem::Expired,
        OidcProblem::Issuer,
        OidcProblem::InvalidToken,
        OidcProblem::Taken,
        OidcProblem::WrongAccount,
        OidcProblem::SignInRequired,
    ];

    /// The code carried in the redirect's query string.
    pub fn code(self) -> &'static str {
        match self {
            OidcProblem::NotConfigured => "not_configured",
            OidcProblem::Unreachable => "unreachable",
            OidcProblem::State => "state",
            OidcProblem::Denied => "denied",
            OidcProblem::Code => "code",
            OidcProblem::Signature => "signature",
            OidcProblem::Audience => "audience",
            OidcProblem::Nonce => "nonce",
            OidcProblem::Expired => "expired",
            OidcProblem::Issuer => "issuer",
            OidcProblem::InvalidToken => "invalid_token",
            OidcProblem::Taken => "taken",
            OidcProblem::WrongAccount => "wrong_account",
            OidcProblem::SignInRequired => "sign_in_required",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|problem| problem.code() == code)
    }

    /// What the user reads; `provider` is the configured provider's name ("Google").
    pub fn message(self, provider: &str) -> String {
        match self {
            OidcProblem::NotConfigured => format!("{provider} sign-in is not set up on this coordinator."),
            OidcProblem::Unreachable => format!("{provider} could not be reached. Please try again in a moment."),
            OidcProblem::State => "This sign-in attempt has expired or was already used. Please start again.".into(),
            OidcProblem::Denied => format!("{provider} sign-in was cancelled."),
            OidcProblem::Code => format!("{provider} did not accept the sign-in code. Please start again."),
            OidcProblem::Signature => {
                format!("Sign-in refused: the identity token is not signed by {provider}.")
            }
            OidcProblem::Audience => "Sign-in refused: the identity token was issued for another application.".into(),
            OidcProblem::Nonce => "Sign-in refused: the identity token belongs to another sign-in attempt.".into(),
            OidcProblem::Expired => "Sign-in refused: the identity token has expired. Please start again.".into(),
            OidcProblem::Issuer => format!("Sign-in refused: the identity token was not issued by {provider}."),
            OidcProblem::InvalidToken => "Sign-in refused: the identity token is not valid.".into(),
            OidcProblem::Taken => format!("That {provider} account is already linked to another Pictor account."),
            OidcProblem::WrongAccount => "This link request belongs to another account. Please start again.".into(),
            OidcProblem::SignInRequired => "Please sign in first.".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oidc_problem_round_trips_through_its_code_and_unknown_codes_are_ignored() {
        for problem in OidcProblem::ALL {
            assert_eq!(OidcProblem::from_code(problem.code()), Some(problem));
            assert!(!problem.message("Google").is_empty());
        }
        assert_eq!(OidcProblem::from_code("<script>"), None);
    }

    #[test]
    fn reported_versions_are_shown_as_release_lines() {
        assert_eq!(blender_release("4.2.3"), "4.2 LTS");
        assert_eq!(blender_release("3.4.1"), "3.4");
        assert_eq!(blender_release("5.0"), "5.0");
    }

    #[test]
    fn without_workers_the_built_in_list_is_shown_offline() {
        let list = supported_software(&[]);
        assert_eq!(list.len(), BUILT_IN.len());
        assert!(list.iter().flat_map(|s| &s.engines).all(|e| e.workers_online == 0));
    }

    #[test]
    fn reported_capabilities_mark_and_extend_the_list() {
        let report = |version: &str, engine: &str, online| ReportedCapability {
            software: "Blender".into(),
            version: version.into(),
            engine: engine.into(),
            online,
        };
        let list = supported_software(&[
            report("4.2 LTS", "Cycles", true),
            report("4.2 LTS", "Cycles", false),
            report("5.0", "Cycles", true),
        ]);
        let v42 = list.iter().find(|s| s.version == "4.2 LTS").expect("4.2");
        assert_eq!(v42.engines.iter().find(|e| e.name == "Cycles").map(|e| e.workers_online), Some(1));
        assert!(list.iter().any(|s| s.version == "5.0" && s.engines[0].workers_online == 1));
    }
}

/// What the browser passes to the wallet's `signMessage`, as issued by the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletChallenge {
    pub message: String,
    pub nonce: String,
    pub chain_id: u64,
    pub expires_at_ms: i64,
}

/// What the wallet signed, plus its public key, sent back to the coordinator to sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletProof {
    pub address: String,
    pub public_key: String,
    pub full_message: String,
    pub signature: String,
    pub nonce: String,
}

/// Sign in with Aptos (AIP-116): the `AptosSignInInput` of the wallet standard. The coordinator fills in what it
/// expects; the wallet adds its bound fields (`address`, `uri`, `version`, `chainId`, `domain`) and builds the
/// message it signs from all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInInput {
    pub domain: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

/// What an `aptos:signIn` returned, sent to the coordinator: the input with the wallet's bound fields, the
/// account's public key and the signature (hex, raw or BCS-prefixed), and the signature scheme.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInProof {
    pub input: SignInInput,
    pub public_key: String,
    pub signature: String,
    #[serde(rename = "type")]
    pub scheme: String,
}
