//! The coordinator's side of the dashboard's account pages: [`AccountService`] over the database.

use pictor_app::ports::AccountService;
use pictor_app::AppError;
use pictor_core::accounts::{clean_name, AccountOverview, CreatedApiKey, Viewer, MAX_DISPLAY_NAME};
use pictor_core::signin::{supported_software, SignInOptions};

use crate::auth::api_keys::{self, ApiKeyError};
use crate::clock::now_ms;
use crate::db::{Db, DbError};

pub struct DbAccounts {
    pub db: Db,
    pub chain_id: u64,
    /// The OpenID Connect provider's name when its sign-in is configured.
    pub oidc_provider: Option<String>,
}

/// Client mistakes are told as they are; anything else is logged and reported as unavailable.
/// (A missing identity or key named in a form is a bad request here, not a missing page.)
fn to_app_error(error: DbError) -> AppError {
    match error {
        DbError::NotFound(what) => AppError::BadRequest(format!("{what} not found")),
        other => crate::api::errors::app_error("account", other),
    }
}

#[async_trait::async_trait]
impl AccountService for DbAccounts {
    async fn overview(&self, viewer: &Viewer) -> Result<AccountOverview, AppError> {
        let user = viewer.user_id;
        Ok(AccountOverview {
            viewer: self.db.viewer(user).await.map_err(to_app_error)?,
            identities: self.db.identities_of(user).await.map_err(to_app_error)?,
            api_keys: self.db.api_keys_of(user).await.map_err(to_app_error)?,
            active_sessions: self.db.count_active_sessions(user, now_ms()).await.map_err(to_app_error)?,
            oidc_provider: self.oidc_provider.clone(),
        })
    }

    async fn rename(&self, viewer: &Viewer, display_name: &str) -> Result<(), AppError> {
        let name = clean_name(display_name, MAX_DISPLAY_NAME).map_err(AppError::BadRequest)?;
        self.db.rename_user(viewer.user_id, &name).await.map_err(to_app_error)
    }

    async fn create_api_key(&self, viewer: &Viewer, name: &str) -> Result<CreatedApiKey, AppError> {
        api_keys::create(&self.db, viewer.user_id, name, now_ms()).await.map_err(|error| match error {
            ApiKeyError::BadName(why) => AppError::BadRequest(why),
            ApiKeyError::Db(db) => to_app_error(db),
        })
    }

    async fn revoke_api_key(&self, viewer: &Viewer, key_id: i64) -> Result<(), AppError> {
        self.db.revoke_api_key(viewer.user_id, key_id, now_ms()).await.map_err(to_app_error)
    }

    async fn set_api_key_limits(
        &self,
        viewer: &Viewer,
        key_id: i64,
        limits: pictor_core::accounts::ApiKeyLimits,
    ) -> Result<(), AppError> {
        let key = crate::db::ai::AiKey {
            id: key_id,
            user: viewer.user_id,
            requests_per_minute: limits.requests_per_minute,
            tokens_per_minute: limits.tokens_per_minute,
            max_concurrent: limits.max_concurrent,
            budget_micro: limits.budget_micro,
        };
        self.db.set_ai_key_limits(viewer.user_id, &key).await.map_err(to_app_error)
    }

    async fn unlink_identity(&self, viewer: &Viewer, identity_id: i64) -> Result<(), AppError> {
        self.db.unlink_identity(viewer.user_id, identity_id).await.map_err(to_app_error)
    }

    async fn sign_in_options(&self) -> Result<SignInOptions, AppError> {
        let hint = "The operator enables it by setting oidc.client_id and oidc.client_secret \
                    (PICTOR_OIDC__CLIENT_ID, PICTOR_OIDC__CLIENT_SECRET).";
        Ok(SignInOptions {
            aptos_chain_id: self.chain_id,
            oidc_provider: self.oidc_provider.clone().unwrap_or_else(|| "Google".to_string()),
            oidc_enabled: self.oidc_provider.is_some(),
            oidc_hint: self.oidc_provider.is_none().then(|| hint.to_string()),
            // The agent's built-in list, extended and marked by what registered workers report.
            software: supported_software(&self.db.reported_capabilities().await.map_err(to_app_error)?),
        })
    }
}
