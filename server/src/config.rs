//! Layered configuration: defaults → TOML file → `PICTOR_*` environment → `DATABASE_URL`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "pictor.toml";

/// The longest `max_task_ms` may be: a week, as for a job's own limit.
pub const MAX_TASK_MS: u64 = pictor_core::jobs::MAX_TASK_MINUTES as u64 * 60_000;

/// Everything the coordinator can be told. Every field has a working default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory for the embedded database and the local object store.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `<data_dir>/pictor.db`.
    pub database_url: Option<String>,
    /// `file:///…`, a plain path, `s3://bucket/prefix` or `memory://`; default: `<data_dir>/objects`.
    pub object_store_url: Option<String>,
    /// Where `cargo leptos build` put the site (WASM, CSS, static files).
    pub site_root: PathBuf,
    /// Log filter when `RUST_LOG` is not set.
    pub log: String,
    /// How often the network panel's figures are sampled and pushed to dashboards.
    pub stats_interval_ms: u64,
    /// The dashboard's address as browsers see it (`https://pictor.example.org`); default `http://<listen>`.
    /// Cookies are marked `Secure` when it is https; wallet signatures must name it.
    pub public_url: Option<String>,
    /// The Aptos chain wallets must sign for (1 mainnet, 2 testnet, 4 devnet…).
    pub aptos_chain_id: u64,
    /// How long a sign-in lasts, in hours.
    pub session_hours: u64,
    /// How often agents send a heartbeat; a node is offline after three missed ones.
    pub heartbeat_interval_ms: u64,
    /// Largest `.blend` accepted, in bytes.
    pub max_scene_bytes: u64,
    /// How long a task's lease lasts without a progress report from its agent.
    pub task_lease_ms: u64,
    /// The longest one task may render unless its job says otherwise; past it the worker stops Blender and the task
    /// is tried again (a hung render must not hold a task for ever).
    pub max_task_ms: u64,
    /// Sign-in with Google or any OpenID Connect provider.
    pub oidc: OidcConfig,
    /// How checkers verify workers' results.
    pub verification: VerificationConfig,
    /// Money: welcome credits, the checker pool's share, epochs, the payment provider's webhook secret.
    pub ledger: LedgerConfig,
    /// Rate limits on sign-in and the API.
    pub limits: LimitsConfig,
    /// The AI API: prices of the network's own models, and how long a request waits for a worker.
    pub ai: AiConfig,
}

/// The AI section's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiConfig {
    /// How long a request waits for a worker holding its model before it is answered 503.
    pub dispatch_wait_ms: u64,
    /// The network chat model's prices, in credits per million input and output tokens.
    pub chat_input_price: String,
    pub chat_output_price: String,
    /// The network embedding model's price, in credits per million input tokens.
    pub embedding_price: String,
    /// Tokens a chat request may generate when it does not say (`max_tokens`).
    pub default_max_tokens: u32,
    /// How long a request for a model no worker holds waits while one loads it (fetch and load).
    pub cold_start_wait_ms: u64,
    /// The largest file of an uploaded model.
    pub max_model_bytes: u64,
    /// Lines of a batch per task: a worker runs one chunk at a time, and a lost lease loses at most one chunk.
    pub batch_chunk_lines: u32,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            dispatch_wait_ms: 5_000,
            chat_input_price: "0.2".into(),
            chat_output_price: "0.4".into(),
            embedding_price: "0.02".into(),
            default_max_tokens: 256,
            cold_start_wait_ms: 60_000,
            max_model_bytes: 8 << 30,
            batch_chunk_lines: 50,
        }
    }
}

impl AiConfig {
    /// A price in micro-credits per million tokens (checked when the configuration loads).
    pub fn price_micro(text: &str) -> i64 {
        pictor_core::workers::parse_credits(text).unwrap_or(0)
    }
}

/// Requests allowed per minute (bursts up to the same number); 0 turns a limit off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sign-in requests per client address.
    pub sign_in_per_minute: u32,
    /// REST and server-function requests per account, and per API key.
    pub api_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self { sign_in_per_minute: 60, api_per_minute: 1_200 }
    }
}

/// Credits and rewards.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerConfig {
    /// Credits every new account starts with (`"10"`, `"0.5"`; `"0"` for none).
    pub welcome_credits: String,
    /// The checker pool's share of every payment for a task, in percent.
    pub checker_share_percent: u32,
    /// How long an epoch lasts; at its end the checker pool is shared out.
    pub epoch_ms: u64,
    /// The secret the payment provider signs its webhook calls with (HMAC-SHA256); unset: the webhook is off.
    pub payment_webhook_secret: Option<String>,
    /// Hosts users' webhooks may point to although they are not on the public internet (a receiver on the LAN);
    /// every other webhook must resolve to public addresses only.
    pub webhook_allowed_hosts: Vec<String>,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            welcome_credits: "10".into(),
            checker_share_percent: 10,
            epoch_ms: 7 * 24 * 3_600_000,
            payment_webhook_secret: None,
            webhook_allowed_hosts: Vec::new(),
        }
    }
}

impl LedgerConfig {
    /// Welcome credits in micro-credits (checked when the configuration loads).
    pub fn welcome_micro(&self) -> i64 {
        pictor_core::workers::parse_credits(&self.welcome_credits).unwrap_or(0)
    }
}

/// Checking workers' results by re-rendering crops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerificationConfig {
    /// Verdicts needed per check when that many eligible checkers are online (fewer, down to 1, otherwise).
    pub quorum: u32,
    /// How often a checker asking for work is given a known-bad copy of a verified result instead (0 to 1).
    pub audit_rate: f64,
    /// How long a checker may take for a verdict before the check goes to another.
    pub lease_ms: u64,
    /// SSIM at or above which a crop matches.
    pub pass_ssim: f64,
    /// SSIM below which a crop does not match (in between: unsure, look again with larger crops).
    pub fail_ssim: f64,
    /// How long a result waits for checks when no checker is left to take them, before it is accepted as it is.
    pub unchecked_after_ms: u64,
}

impl Default for VerificationConfig {
    fn default() -> Self {
        let thresholds = pictor_core::verification::DEFAULT_THRESHOLDS;
        Self {
            quorum: 3,
            audit_rate: 0.02,
            lease_ms: 300_000,
            pass_ssim: thresholds.pass,
            fail_ssim: thresholds.fail,
            unchecked_after_ms: crate::engine::verdicts::UNCHECKED_AFTER_MS.unsigned_abs(),
        }
    }
}

/// OpenID Connect sign-in; disabled until `client_id` and `client_secret` are set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// Shown on the button: "Continue with …".
    pub provider_name: String,
    pub issuer_url: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back; default `<public_url>/auth/oidc/callback`.
    pub redirect_url: Option<String>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            provider_name: "Google".to_string(),
            issuer_url: "https://accounts.google.com".to_string(),
            client_id: None,
            client_secret: None,
            redirect_url: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            object_store_url: None,
            site_root: PathBuf::from("target/site"),
            log: "info".to_string(),
            stats_interval_ms: 2000,
            public_url: None,
            aptos_chain_id: 1,
            session_hours: 24 * 30,
            heartbeat_interval_ms: pictor_core::agent_protocol::DEFAULT_HEARTBEAT_INTERVAL_MS,
            max_scene_bytes: 2 << 30,
            task_lease_ms: 60_000,
            max_task_ms: 6 * 3_600_000,
            oidc: OidcConfig::default(),
            verification: VerificationConfig::default(),
            ledger: LedgerConfig::default(),
            limits: LimitsConfig::default(),
            ai: AiConfig::default(),
        }
    }
}

/// `PICTOR_*` variables that are not the coordinator's settings.
const NOT_COORDINATOR_SETTINGS: &[&str] =
    &["config", "models", "agent_no_benchmark", "agent_ai_fault", "skip_setup", "demo_idp_port"];

/// Why the configuration cannot be used; each names the offending key or value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
    #[error("invalid database_url {url:?}: expected sqlite://… or postgres://…")]
    BadDatabaseUrl { url: String },
    #[error("stats_interval_ms must be between 100 and 3600000, got {0}")]
    BadStatsInterval(u64),
    #[error("public_url {0:?} must be an http:// or https:// URL without a path")]
    BadPublicUrl(String),
    #[error("session_hours must be between 1 and 8760, got {0}")]
    BadSessionHours(u64),
    #[error("heartbeat_interval_ms must be between 200 and 60000, got {0}")]
    BadHeartbeatInterval(u64),
    #[error("task_lease_ms must be between 1000 and 3600000, got {0}")]
    BadTaskLease(u64),
    #[error("max_task_ms must be between 1000 and {max}, got {0}", max = MAX_TASK_MS)]
    BadMaxTaskMs(u64),
    #[error("oidc.client_id and oidc.client_secret must be set together (one of them is missing)")]
    OidcIncomplete,
    #[error("verification: {0}")]
    BadVerification(&'static str),
    #[error("ledger: {0}")]
    BadLedger(&'static str),
    #[error("invalid [ai] setting: {0}")]
    BadAi(&'static str),
}

impl Config {
    /// Reads the layers in order; a later layer overrides an earlier one.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let figment = Figment::from(Serialized::defaults(Config::default()));
        let figment = match file {
            Some(path) if !path.exists() => return Err(ConfigError::MissingFile(path.to_path_buf())),
            Some(path) => figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE)),
            None => figment,
        };
        let figment = figment
            // PICTOR_CONFIG names the file itself and is read by clap, not here; the others are the agent's and the
            // scripts' (the model cache, the agent's switches), set in the same shells.
            .merge(Env::prefixed("PICTOR_").ignore(NOT_COORDINATOR_SETTINGS).split("__"))
            .merge(Env::raw().only(&["DATABASE_URL"]));
        let config: Config = figment.extract().map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            if crate::db::Backend::from_url(url).is_none() {
                return Err(ConfigError::BadDatabaseUrl { url: url.clone() });
            }
        }
        if !(100..=3_600_000).contains(&self.stats_interval_ms) {
            return Err(ConfigError::BadStatsInterval(self.stats_interval_ms));
        }
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|_| ConfigError::BadPublicUrl(url.clone()))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.path() != "/" || parsed.host().is_none() {
                return Err(ConfigError::BadPublicUrl(url.clone()));
            }
        }
        if !(1..=8760).contains(&self.session_hours) {
            return Err(ConfigError::BadSessionHours(self.session_hours));
        }
        if !(200..=60_000).contains(&self.heartbeat_interval_ms) {
            return Err(ConfigError::BadHeartbeatInterval(self.heartbeat_interval_ms));
        }
        if !(1_000..=3_600_000).contains(&self.task_lease_ms) {
            return Err(ConfigError::BadTaskLease(self.task_lease_ms));
        }
        if !(1_000..=MAX_TASK_MS).contains(&self.max_task_ms) {
            return Err(ConfigError::BadMaxTaskMs(self.max_task_ms));
        }
        if self.oidc.client_id.is_some() != self.oidc.client_secret.is_some() {
            return Err(ConfigError::OidcIncomplete);
        }
        let check = &self.verification;
        if !(1..=9).contains(&check.quorum) {
            return Err(ConfigError::BadVerification("quorum must be between 1 and 9"));
        }
        if !(0.0..=1.0).contains(&check.audit_rate) {
            return Err(ConfigError::BadVerification("audit_rate must be between 0 and 1"));
        }
        if !(1_000..=86_400_000).contains(&check.lease_ms) {
            return Err(ConfigError::BadVerification("lease_ms must be between 1000 and 86400000"));
        }
        if !(1_000..=7 * 86_400_000).contains(&check.unchecked_after_ms) {
            return Err(ConfigError::BadVerification("unchecked_after_ms must be between 1000 and 604800000"));
        }
        if !(0.0 < check.fail_ssim && check.fail_ssim <= check.pass_ssim && check.pass_ssim <= 1.0) {
            return Err(ConfigError::BadVerification("need 0 < fail_ssim <= pass_ssim <= 1"));
        }
        let ledger = &self.ledger;
        match pictor_core::workers::parse_credits(&ledger.welcome_credits) {
            Ok(micro) if micro <= 1_000_000 * 1_000_000 => {}
            _ => {
                return Err(ConfigError::BadLedger("welcome_credits must be an amount like 10 or 0.5, at most 1000000"))
            }
        }
        if ledger.checker_share_percent > 50 {
            return Err(ConfigError::BadLedger("checker_share_percent must be between 0 and 50"));
        }
        if !(1_000..=366 * 24 * 3_600_000).contains(&ledger.epoch_ms) {
            return Err(ConfigError::BadLedger("epoch_ms must be between 1000 and a year"));
        }
        if ledger.payment_webhook_secret.as_ref().is_some_and(|secret| secret.len() < 16) {
            return Err(ConfigError::BadLedger("payment_webhook_secret must be at least 16 characters"));
        }
        let ai = &self.ai;
        for price in [&ai.chat_input_price, &ai.chat_output_price, &ai.embedding_price] {
            if !matches!(pictor_core::workers::parse_credits(price), Ok(micro) if micro <= 1_000_000 * 1_000_000) {
                return Err(ConfigError::BadAi("prices must be amounts like 0.2, at most 1000000 credits"));
            }
        }
        if !(100..=600_000).contains(&ai.dispatch_wait_ms) {
            return Err(ConfigError::BadAi("dispatch_wait_ms must be between 100 and 600000"));
        }
        if !(1..=8192).contains(&ai.default_max_tokens) {
            return Err(ConfigError::BadAi("default_max_tokens must be between 1 and 8192"));
        }
        Ok(())
    }

    /// The database to open: the configured URL, or an SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("pictor.db").display()))
    }

    /// A human-readable summary for `pictor check-config` (no secrets: URLs lose their passwords).
    pub fn describe(&self) -> String {
        format!(
            "listen = {}\ndata_dir = {}\ndatabase = {}\nobject_store = {}\nsite_root = {}\nlog = {}\nstats_interval_ms = {}",
            self.listen,
            self.data_dir.display(),
            redact_password(&self.database_url()),
            self.object_store_url.as_deref().unwrap_or("<data_dir>/objects"),
            self.site_root.display(),
            self.log,
            self.stats_interval_ms
        )
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((credentials, host)) = rest.split_once('@') else { return url.to_string() };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
// figment's `Jail` closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn no_configuration_gives_working_defaults() {
        Jail::expect_with(|_| {
            let config = Config::load(None).expect("defaults load");
            assert_eq!(config, Config::default());
            assert!(config.database_url().starts_with("sqlite://data/pictor.db"));
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file("custom.toml", "listen = \"127.0.0.1:4000\"\nlog = \"debug\"")?;
            jail.set_env("PICTOR_LOG", "warn");
            let config = Config::load(Some(Path::new("custom.toml"))).expect("layers load");
            assert_eq!(config.listen.port(), 4000);
            assert_eq!(config.log, "warn");
            Ok(())
        });
    }

    #[test]
    fn the_agents_and_scripts_variables_in_the_same_shell_are_not_settings() {
        Jail::expect_with(|jail| {
            jail.set_env("PICTOR_MODELS", "/var/cache/models");
            jail.set_env("PICTOR_AGENT_NO_BENCHMARK", "1");
            jail.set_env("PICTOR_AGENT_AI_FAULT", "wrong-tokens");
            jail.set_env("PICTOR_SKIP_SETUP", "1");
            jail.set_env("PICTOR_DEMO_IDP_PORT", "3199");
            jail.set_env("PICTOR_AI__DISPATCH_WAIT_MS", "1500");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.ai.dispatch_wait_ms, 1_500);
            jail.set_env("PICTOR_AI__CHAT_INPUT_PRICE", "lots");
            let error = Config::load(None).expect_err("a bad price").to_string();
            assert!(error.contains("[ai]"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn verification_settings_are_checked() {
        Jail::expect_with(|jail| {
            jail.set_env("PICTOR_VERIFICATION__QUORUM", "1");
            jail.set_env("PICTOR_VERIFICATION__AUDIT_RATE", "0.5");
            let config = Config::load(None).expect("loads");
            assert_eq!((config.verification.quorum, config.verification.audit_rate), (1, 0.5));
            jail.set_env("PICTOR_VERIFICATION__FAIL_SSIM", "0.99");
            jail.set_env("PICTOR_VERIFICATION__PASS_SSIM", "0.9");
            let error = Config::load(None).expect_err("fail above pass").to_string();
            assert!(error.contains("fail_ssim"), "{error}");
            jail.set_env("PICTOR_VERIFICATION__PASS_SSIM", "0.999");
            jail.set_env("PICTOR_VERIFICATION__UNCHECKED_AFTER_MS", "5000");
            assert_eq!(Config::load(None).expect("loads").verification.unchecked_after_ms, 5_000);
            jail.set_env("PICTOR_VERIFICATION__UNCHECKED_AFTER_MS", "10");
            let error = Config::load(None).expect_err("too short").to_string();
            assert!(error.contains("unchecked_after_ms"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_is_named_in_the_error() {
        Jail::expect_with(|jail| {
            jail.create_file("pictor.toml", "listen = \"127.0.0.1:4000\"\nlisten_port = 5")?;
            let error = Config::load(None).expect_err("unknown key rejected").to_string();
            assert!(error.contains("listen_port"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn unknown_pictor_variable_is_rejected() {
        Jail::expect_with(|jail| {
            jail.set_env("PICTOR_LISTN", "127.0.0.1:1");
            let error = Config::load(None).expect_err("typo rejected").to_string();
            assert!(error.contains("listn"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn database_url_must_name_a_supported_database() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "mysql://localhost/pictor");
            let error = Config::load(None).expect_err("mysql rejected");
            assert!(matches!(error, ConfigError::BadDatabaseUrl { .. }), "{error}");
            Ok(())
        });
    }

    #[test]
    fn missing_config_file_is_an_error() {
        Jail::expect_with(|_| {
            let error = Config::load(Some(Path::new("nope.toml"))).expect_err("missing file");
            assert!(error.to_string().contains("nope.toml"));
            Ok(())
        });
    }

    #[test]
    fn nested_oidc_settings_come_from_double_underscore_variables() {
        Jail::expect_with(|jail| {
            jail.set_env("PICTOR_OIDC__CLIENT_ID", "abc");
            assert!(matches!(Config::load(None), Err(ConfigError::OidcIncomplete)), "a secret is needed too");
            jail.set_env("PICTOR_OIDC__CLIENT_SECRET", "s3cret");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.oidc.client_id.as_deref(), Some("abc"));
            assert_eq!(config.oidc.issuer_url, "https://accounts.google.com");
            Ok(())
        });
    }

    #[test]
    fn public_url_must_be_a_bare_origin() {
        Jail::expect_with(|jail| {
            jail.set_env("PICTOR_PUBLIC_URL", "https://pictor.example.org/app");
            assert!(matches!(Config::load(None), Err(ConfigError::BadPublicUrl(_))));
            jail.set_env("PICTOR_PUBLIC_URL", "https://pictor.example.org");
            assert!(Config::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn passwords_are_redacted_in_the_summary() {
        assert_eq!(redact_password("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_password("sqlite://data/pictor.db"), "sqlite://data/pictor.db");
    }

    /// Fuzzed: any TOML-ish text as the config file is loaded or refused with an error, never a panic.
    #[test]
    fn any_config_file_is_loaded_or_refused_never_a_panic() {
        use proptest::prelude::*;
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pictor.toml");
        let keys = prop::sample::select(vec![
            "listen",
            "data_dir",
            "database_url",
            "session_hours",
            "task_lease_ms",
            "max_task_ms",
            "[ledger]",
            "welcome_credits",
            "checker_share_percent",
            "[limits]",
            "api_per_minute",
            "[verification]",
            "quorum",
            "audit_rate",
            "[oidc]",
            "issuer",
        ]);
        let value = prop_oneof![".{0,12}", any::<i64>().prop_map(|n| n.to_string()), Just("\"x\"".to_string())];
        let line = (keys, value).prop_map(|(key, value)| format!("{key} = {value}"));
        let text = prop_oneof![".{0,60}", prop::collection::vec(line, 0..6).prop_map(|lines| lines.join("\n"))];
        let mut runner = proptest::test_runner::TestRunner::default();
        let loaded = std::cell::Cell::new(0);
        runner
            .run(&text, |text| {
                std::fs::write(&path, &text).expect("write");
                if Config::load(Some(&path)).is_ok() {
                    loaded.set(loaded.get() + 1);
                }
                Ok(())
            })
            .expect("no panic");
        eprintln!("config files: {} inputs, {} loaded", runner.config().cases, loaded.get());
    }
}
