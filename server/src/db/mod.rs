//! The database layer: one pool pair over SQLite (embedded default) or PostgreSQL; all SQL lives below here.

pub mod accounts;
pub mod ai;
pub mod ai_batches;
pub mod ai_checks;
pub mod ai_files;
pub mod ai_hosting;
pub mod ai_trainings;
pub mod api_keys;
pub mod audits;
pub mod checkers;
pub mod credits;
pub mod epochs;
pub mod job_lifecycle;
pub mod jobs;
pub mod ledger;
pub mod network;
pub mod node_liveness;
pub mod node_metrics;
pub mod node_stats;
pub mod node_views;
pub mod nodes;
pub mod notifications;
pub mod oidc_logins;
pub mod payments;
pub mod payouts;
pub mod retention;
pub mod rewards;
pub mod sessions;
pub mod tasks;
pub mod users;
pub mod verdicts;
pub mod verifications;
pub mod wallet_nonces;
pub mod welcome;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database server is behind a [`Db`]; a few queries differ between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises the URL schemes we support; `None` for anything else.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors of the data layer; callers never see the driver's types.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("stored data is not valid: {0}")]
    Corrupt(&'static str),
    #[error("not enough credit: {available} micro-credits available, {needed} needed")]
    InsufficientCredit { available: i64, needed: i64 },
    /// Another writer held the database past the wait (SQLite), or the transaction lost a deadlock (PostgreSQL):
    /// nothing was changed, and the same request may simply be sent again.
    #[error("the database is busy with another writer; try again in a moment")]
    Busy,
    #[error("database query failed: {0}")]
    Query(sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    /// SQLite's "database is locked" (another process held the write lock past `busy_timeout`) is a retryable
    /// [`DbError::Busy`], not a failed query: callers answer 503 with `Retry-After` instead of 500.
    fn from(error: sqlx::Error) -> Self {
        if is_busy(&error) {
            return DbError::Busy;
        }
        DbError::Query(error)
    }
}

/// Whether the database refused for now rather than for good: SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6) with
/// their extended codes, and PostgreSQL's deadlock (40P01), serialization failure (40001) and lock-not-available
/// (55P03), after which the transaction was rolled back whole. (PostgreSQL's codes are five-character SQLSTATEs,
/// none of which reads as one of SQLite's numbers.)
fn is_busy(error: &sqlx::Error) -> bool {
    const BUSY_CODES: [&str; 9] = ["5", "6", "261", "262", "517", "773", "40P01", "40001", "55P03"];
    let Some(database) = error.as_database_error() else { return false };
    database.code().is_some_and(|code| BUSY_CODES.contains(&code.as_ref()))
}

/// Declares an id type: a row's `BIGINT` id that cannot be mixed up with another table's, stored, bound, printed and
/// serialised as the plain number.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type, serde::Serialize,
            serde::Deserialize,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// A job's id.
    JobId
);
id_type!(
    /// A task's id.
    TaskId
);
id_type!(
    /// A worker's or checker's id.
    NodeId
);
id_type!(
    /// A check's id (one round of checking one attempt).
    VerificationId
);

/// Why a task transition did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The task is no longer this attempt's: its lease expired and it was requeued or taken over, or it was
    /// cancelled. The agent must drop its work.
    #[error("this task's lease was lost (expired, taken over or cancelled)")]
    LeaseLost,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for TaskError {
    fn from(error: sqlx::Error) -> Self {
        TaskError::Db(DbError::from(error))
    }
}

/// A write transaction; every multi-statement write goes through one of these.
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Rows that transactions lock before deciding from what other rows say (see [`lock_row`]).
#[derive(Clone, Copy, Debug)]
pub enum Locked {
    Job(JobId),
    Verification(verifications::VerificationId),
}

/// Locks one row until the transaction ends, so that concurrent transactions deciding from the same rows take
/// turns: the later one then reads what the earlier committed (PostgreSQL's READ COMMITTED reads a fresh snapshot
/// per statement). On SQLite, `BEGIN IMMEDIATE` already lets one writer in at a time, so nothing more is needed.
pub async fn lock_row(tx: &mut Tx<'_>, row: Locked) -> Result<(), DbError> {
    if tx.backend_name() != "PostgreSQL" {
        return Ok(());
    }
    let (statement, id) = match row {
        Locked::Job(job) => ("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", job.0),
        Locked::Verification(id) => ("SELECT 1 FROM verifications WHERE id = $1 FOR UPDATE", id.0),
    };
    sqlx::query(statement).bind(id).fetch_optional(&mut **tx).await?;
    Ok(())
}

/// A handle to the database. Cheap to clone.
///
/// SQLite allows one writer at a time, so writes go through a one-connection pool (no `SQLITE_BUSY`
/// between our own connections) while reads use a wider pool over the same WAL-mode file.
/// On PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    reader: AnyPool,
    writer: AnyPool,
    backend: Backend,
}

/// Reads a state column (job, task or attempt) as its typed state; text that names no state is a decode error.
pub(crate) fn state_in<T>(
    row: &sqlx::any::AnyRow,
    column: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    parse_state(&text, column, parse)
}

/// A stored state text as its typed state; text that names no state is a decode error.
pub(crate) fn parse_state<T>(text: &str, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    parse(text).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("{text:?} names no state").into(),
    })
}

/// `Ok` if the statement touched a row, else `NotFound(what)`: for updates addressed to one row.
pub(crate) fn touched(result: sqlx::any::AnyQueryResult, what: &'static str) -> Result<(), DbError> {
    if result.rows_affected() == 0 {
        return Err(DbError::NotFound(what));
    }
    Ok(())
}

impl Db {
    /// Opens (creating an SQLite file if needed) the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url).ok_or_else(|| DbError::UnsupportedUrl(url.to_string()))?;
        let options = AnyConnectOptions::from_str(url).map_err(DbError::Connect)?;
        match backend {
            Backend::Sqlite => {
                let writer = sqlite_pool(1).connect_with(options.clone()).await.map_err(DbError::Connect)?;
                let reader = sqlite_pool(4).connect_with(options).await.map_err(DbError::Connect)?;
                Ok(Self { reader, writer, backend })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
                    .map_err(DbError::Connect)?;
                Ok(Self { reader: pool.clone(), writer: pool, backend })
            }
        }
    }

    /// Brings the schema up to date; safe to run on every start.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.writer).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Pool for queries that only read.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Pool for statements that write (one connection on SQLite).
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken at the start, so a
    /// second writer (another process on the same file: `pictor admin`, a test's own handle) waits under
    /// `busy_timeout` instead of failing when a deferred transaction would have to upgrade its read snapshot.
    pub async fn begin_write(&self) -> Result<Tx<'static>, DbError> {
        let tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        };
        Ok(tx)
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

fn sqlite_pool(max_connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(Duration::from_secs(10)).after_connect(
        |connection, _| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; busy_timeout covers the rare checkpoint wait.
                connection
                    .execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                Ok(())
            })
        },
    )
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod schema_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_url_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("postgresql://h/db"), Some(Backend::Postgres));
        assert_eq!(Backend::from_url("mysql://h/db"), None);
        assert_eq!(Backend::from_url("nonsense"), None);
    }

    async fn migrations_are_idempotent(db: Db) {
        db.migrate().await.expect("second migration run is a no-op");
        db.ping().await.expect("ping");
    }
    crate::both_backends!(migrations_are_idempotent);
}
