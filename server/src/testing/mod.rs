//! Test support: a fresh database per test on SQLite or on the PostgreSQL server, and a macro running a test on both.

use std::path::PathBuf;

use crate::db::{Backend, Db};

/// The PostgreSQL server tests create their databases on (override with `TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A migrated, empty database that disappears when dropped.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDb {
    /// A fresh database on `backend`. Panics with a clear message if it cannot be made: a test without
    /// its database has nothing to say.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory for the test database");
        let path: PathBuf = dir.path().join("test.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = Db::connect(&url).await.expect("open SQLite test database");
        db.migrate().await.expect("migrate SQLite test database");
        Self { db, url, _dir: Some(dir), postgres_name: None }
    }

    pub async fn postgres() -> Self {
        let admin_url = postgres_admin_url();
        let name = format!("pictor_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Db::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is needed for this test: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.writer())
            .await
            .expect("create PostgreSQL test database");
        admin.close().await;
        let url = replace_database(&admin_url, &name);
        let db = Db::connect(&url).await.expect("open PostgreSQL test database");
        db.migrate().await.expect("migrate PostgreSQL test database");
        Self { db, url, _dir: None, postgres_name: Some(name) }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        // Drop runs outside any runtime guarantee, so the clean-up gets its own thread and runtime.
        let pool = self.db.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                pool.close().await;
                if let Ok(admin) = Db::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(admin.writer())
                        .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// `postgres://u@h:5432/postgres?x=y` with the database name swapped for `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let prefix = base.rsplit_once('/').map_or(base, |(prefix, _)| prefix);
    match query {
        Some(query) => format!("{prefix}/{name}?{query}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Runs each named `async fn(Db)` as two tests, `<name>::sqlite` and `<name>::postgres`, each on a fresh database.
#[macro_export]
macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let test_db = $crate::testing::TestDb::new($crate::db::Backend::Sqlite).await;
                    super::$test(test_db.db.clone()).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let test_db = $crate::testing::TestDb::new($crate::db::Backend::Postgres).await;
                    super::$test(test_db.db.clone()).await;
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_swapped_in_urls() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(
            replace_database("postgres://u@h/postgres?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
