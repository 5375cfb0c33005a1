//! One coordinator per SQLite database: an exclusive lock on a file beside it, held while the coordinator runs.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Held for as long as this coordinator serves its SQLite database; the OS releases it when the process ends,
/// however it ends (kill -9 included), so a stale lock file never blocks a restart.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InstanceLockError {
    #[error(
        "another coordinator is already running on the database {database} (it holds {lock}); stop it first, or \
         give this one its own data_dir — several coordinators need PostgreSQL"
    )]
    Held { database: String, lock: String },
    #[error("cannot lock {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl InstanceLock {
    /// Locks the database at `database_url` when it is an SQLite file; `None` for PostgreSQL and in-memory SQLite,
    /// where several coordinators (or none to protect) are fine.
    pub fn acquire(database_url: &str) -> Result<Option<Self>, InstanceLockError> {
        let Some(database) = sqlite_file(database_url) else { return Ok(None) };
        let path = lock_path(&database);
        let io = |source| InstanceLockError::Io { path: path.display().to_string(), source };
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file, path })),
            Err(TryLockError::WouldBlock) => Err(InstanceLockError::Held {
                database: database.display().to_string(),
                lock: path.display().to_string(),
            }),
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The file behind `sqlite://path?options` (or `sqlite:path`); `None` for other databases and `:memory:`.
fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return None;
    }
    Some(PathBuf::from(path))
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".coordinator.lock");
    database.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_files_are_locked() {
        assert_eq!(sqlite_file("sqlite:///data/pictor.db?mode=rwc"), Some(PathBuf::from("/data/pictor.db")));
        assert_eq!(sqlite_file("sqlite://data/pictor.db"), Some(PathBuf::from("data/pictor.db")));
        assert_eq!(sqlite_file("sqlite:pictor.db"), Some(PathBuf::from("pictor.db")));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("pictor.db").display());
        let first = InstanceLock::acquire(&url).expect("first lock").expect("an SQLite file is locked");
        assert!(first.path().ends_with("pictor.db.coordinator.lock"));
        let error = InstanceLock::acquire(&url).expect_err("second coordinator refused");
        assert!(error.to_string().contains("another coordinator is already running"), "{error}");
        drop(first);
        InstanceLock::acquire(&url).expect("free again once the first coordinator stopped");
    }
}
