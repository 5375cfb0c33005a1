//! Why a verification request failed: one error for the verification service, audits and the checkers' API.

use crate::db::tasks::TaskError;
use crate::db::DbError;

/// Why a verification request failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    BadReport(String),
    #[error("this verification's lease was lost (expired, or decided without you): drop it")]
    LeaseLost,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the object store failed: {0}")]
    Store(#[from] object_store::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
}

impl From<TaskError> for VerifyError {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::LeaseLost => VerifyError::LeaseLost,
            TaskError::Db(db) => VerifyError::Db(db),
        }
    }
}
