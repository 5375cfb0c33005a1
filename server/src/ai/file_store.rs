//! Where the Files API's files (batch input, output and error files) live in the object store.

use object_store::path::Path as ObjectPath;

/// The object of file `id`.
pub fn file_key(id: &str) -> ObjectPath {
    ObjectPath::from(format!("files/{id}"))
}
