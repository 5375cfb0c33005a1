//! Streaming uploads into the object store: hashed and size-checked as they arrive, never held whole in memory.

use axum::body::Body;
use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

/// An upload written to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlob {
    pub key: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload is empty")]
    Empty,
    #[error("the upload was interrupted: {0}")]
    Body(String),
    #[error("the SHA-256 of the upload is {actual}, not {expected} as announced")]
    HashMismatch { expected: String, actual: String },
    #[error("the object store failed: {0}")]
    Store(#[from] object_store::Error),
}

/// Streams `body` to `staging`, then moves it to the key `name(sha256)` chooses; the staging object is removed on
/// any failure. `expected_sha256`, when given, must match.
pub async fn store(
    store: &dyn ObjectStore,
    staging: &str,
    body: Body,
    limit: u64,
    expected_sha256: Option<&str>,
    name: impl FnOnce(&str) -> String,
) -> Result<StoredBlob, UploadError> {
    let staging_path = ObjectPath::from(staging);
    let upload = store.put_multipart(&staging_path).await?;
    let mut writer = WriteMultipart::new(upload);
    let mut hasher = Sha256::new();
    let mut bytes: u64 = 0;
    let mut stream = body.into_data_stream();
    let failure = loop {
        match stream.next().await {
            None => break None,
            Some(Err(error)) => break Some(UploadError::Body(error.to_string())),
            Some(Ok(chunk)) => {
                bytes += chunk.len() as u64;
                if bytes > limit {
                    break Some(UploadError::TooLarge { limit });
                }
                hasher.update(&chunk);
                writer.write(&chunk);
            }
        }
    };
    if let Some(error) = failure {
        let _ = writer.abort().await;
        return Err(error);
    }
    if bytes == 0 {
        let _ = writer.abort().await;
        return Err(UploadError::Empty);
    }
    writer.finish().await?;
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = expected_sha256 {
        if !expected.eq_ignore_ascii_case(&sha256) {
            let _ = store.delete(&staging_path).await;
            return Err(UploadError::HashMismatch { expected: expected.to_string(), actual: sha256 });
        }
    }
    let key = name(&sha256);
    store.rename(&staging_path, &ObjectPath::from(key.as_str())).await?;
    Ok(StoredBlob { key, sha256, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn an_upload_is_hashed_and_named_by_its_content() {
        let memory = InMemory::new();
        let stored = store(&memory, "uploads/1", Body::from("hello"), 100, None, |sha| format!("scenes/{sha}.blend"))
            .await
            .expect("stored");
        assert_eq!(stored.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(stored.bytes, 5);
        let read = memory.get(&ObjectPath::from(stored.key.as_str())).await.expect("get").bytes().await.expect("bytes");
        assert_eq!(&read[..], b"hello");
        assert!(memory.get(&ObjectPath::from("uploads/1")).await.is_err(), "staging object moved away");
    }

    #[tokio::test]
    async fn oversized_empty_and_mismatched_uploads_leave_nothing() {
        let memory = InMemory::new();
        let too_big = store(&memory, "uploads/2", Body::from("x".repeat(11)), 10, None, |s| s.to_string()).await;
        assert!(matches!(too_big, Err(UploadError::TooLarge { limit: 10 })), "{too_big:?}");
        let empty = store(&memory, "uploads/3", Body::empty(), 10, None, |s| s.to_string()).await;
        assert!(matches!(empty, Err(UploadError::Empty)));
        let wrong = store(&memory, "uploads/4", Body::from("abc"), 10, Some("00"), |s| s.to_string()).await;
        assert!(matches!(wrong, Err(UploadError::HashMismatch { .. })));
        let listed: Vec<_> = memory.list(None).collect().await;
        assert!(listed.is_empty(), "{listed:?}");
    }
}
