//! API keys: `pk_` + random secret, shown once, stored hashed, sent as `Authorization: Bearer`.

use pictor_core::accounts::{clean_name, CreatedApiKey, MAX_KEY_NAME};

use super::tokens::{hash_secret, random_token};
use crate::db::users::UserId;
use crate::db::{Db, DbError};

const KEY_PREFIX: &str = "pk_";
/// How much of the key is kept in clear to tell keys apart.
const SHOWN_CHARS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error("invalid key name: {0}")]
    BadName(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Creates a key for `user`; the returned secret is never stored and cannot be shown again.
pub async fn create(db: &Db, user: UserId, name: &str, now_ms: i64) -> Result<CreatedApiKey, ApiKeyError> {
    let name = clean_name(name, MAX_KEY_NAME).map_err(ApiKeyError::BadName)?;
    let secret = format!("{KEY_PREFIX}{}", random_token(32));
    let shown: String = secret.chars().take(SHOWN_CHARS).collect();
    let key = db.create_api_key(user, &name, &shown, &hash_secret(&secret), now_ms).await?;
    Ok(CreatedApiKey { key, secret })
}

/// The user behind `Authorization: Bearer <key>`, if the key is one of ours and active.
pub async fn authenticate(db: &Db, bearer: &str, now_ms: i64) -> Result<Option<UserId>, DbError> {
    if !bearer.starts_with(KEY_PREFIX) {
        return Ok(None);
    }
    db.api_key_user(&hash_secret(bearer), now_ms).await
}
