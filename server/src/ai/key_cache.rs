//! API keys as the AI API reads them, kept a moment in memory: a request does not wait for a database write
//! (`last_used_at_ms`) before its first token. A revoked key stops working within [`KEY_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::ai::AiKey;
use crate::db::{Db, DbError};

/// How long a key read from the database is trusted (and how often its use is recorded).
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
/// Past this many keys, expired ones are dropped.
const MAX_CACHED: usize = 10_000;

#[derive(Clone, Default)]
pub struct KeyCache {
    keys: Arc<Mutex<HashMap<String, (AiKey, Instant)>>>,
}

impl KeyCache {
    /// The active key with this hash: from memory when read in the last [`KEY_CACHE_TTL`], else from the database
    /// (which records its use). Unknown keys are never cached, so a new key works at once.
    pub async fn key(&self, db: &Db, key_hash: &str, now_ms: i64) -> Result<Option<AiKey>, DbError> {
        if let Some(key) = self.fresh(key_hash) {
            return Ok(Some(key));
        }
        let key = db.ai_key(key_hash, now_ms).await?;
        if let Some(key) = &key {
            let mut keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if keys.len() >= MAX_CACHED {
                keys.retain(|_, (_, read)| read.elapsed() < KEY_CACHE_TTL);
            }
            keys.insert(key_hash.to_string(), (key.clone(), Instant::now()));
        }
        Ok(key)
    }

    fn fresh(&self, key_hash: &str) -> Option<AiKey> {
        let keys = self.keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.get(key_hash).filter(|(_, read)| read.elapsed() < KEY_CACHE_TTL).map(|(key, _)| key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use crate::testing::TestDb;

    #[tokio::test]
    async fn keys_are_read_once_a_moment_and_revocation_takes_effect_after_it() {
        let test_db = TestDb::new(Backend::Sqlite).await;
        let db = &test_db.db;
        let user = db.create_user("Ada", 0).await.expect("user");
        let created = crate::auth::api_keys::create(db, user, "k", 0).await.expect("key");
        let hash = crate::auth::tokens::hash_secret(&created.secret);
        let cache = KeyCache::default();
        assert!(cache.key(db, "unknown", 1).await.expect("read").is_none());
        let key = cache.key(db, &hash, 1).await.expect("read").expect("known");
        assert_eq!(key.user, user);
        db.revoke_api_key(user, created.key.id, 2).await.expect("revoke");
        assert!(cache.key(db, &hash, 3).await.expect("cached").is_some(), "trusted for a moment");
        assert!(KeyCache::default().key(db, &hash, 3).await.expect("read").is_none(), "revoked in the database");
    }
}
