//! The object store for scenes and outputs: a local directory by default, S3-compatible for scale.

use std::path::Path;
use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::ObjectStore;

/// Why the object store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unsupported object_store_url {0:?}: expected a path, file:///…, s3://bucket[/prefix] or memory://")]
    UnsupportedUrl(String),
    #[error("cannot create the object store directory {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("cannot open the object store: {0}")]
    Open(#[from] object_store::Error),
}

/// Opens the store named by `url`, or `<data_dir>/objects` when none is configured.
///
/// S3 credentials and endpoint come from the usual `AWS_*` environment variables.
pub fn open(url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn ObjectStore>, StorageError> {
    match url {
        None => local(&data_dir.join("objects")),
        Some(url) if url.starts_with("s3://") => {
            let store = AmazonS3Builder::from_env().with_url(url).build()?;
            Ok(Arc::new(store))
        }
        Some("memory://") => Ok(Arc::new(InMemory::new())),
        Some(url) if url.starts_with("file://") => local(Path::new(&url["file://".len()..])),
        Some(url) if !url.contains("://") => local(Path::new(url)),
        Some(other) => Err(StorageError::UnsupportedUrl(other.to_string())),
    }
}

fn local(dir: &Path) -> Result<Arc<dyn ObjectStore>, StorageError> {
    std::fs::create_dir_all(dir)
        .map_err(|source| StorageError::CreateDir { path: dir.display().to_string(), source })?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::path::Path as ObjectPath;

    #[tokio::test]
    async fn default_store_keeps_objects_under_the_data_dir() {
        let data = tempfile::tempdir().expect("tempdir");
        let store = open(None, data.path()).expect("open");
        let key = ObjectPath::from("scenes/abc.blend");
        store.put(&key, bytes::Bytes::from_static(b"BLENDER").into()).await.expect("put");
        let read = store.get(&key).await.expect("get").bytes().await.expect("bytes");
        assert_eq!(read.as_ref(), b"BLENDER");
        assert!(data.path().join("objects/scenes/abc.blend").exists());
    }

    #[test]
    fn s3_urls_are_accepted_without_contacting_anything() {
        let data = tempfile::tempdir().expect("tempdir");
        open(Some("s3://pictor-bucket/prefix"), data.path()).expect("s3 store builds offline");
    }

    #[test]
    fn unknown_schemes_are_rejected_by_name() {
        let data = tempfile::tempdir().expect("tempdir");
        let error = open(Some("ftp://host/x"), data.path()).expect_err("rejected");
        assert!(error.to_string().contains("ftp://host/x"));
    }
}
