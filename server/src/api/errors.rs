//! The one mapping from data-layer errors to what a client is told (dashboard, REST and agent protocol alike).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use pictor_app::AppError;

use crate::db::DbError;

/// Seconds a client is asked to wait before retrying a request the database was too busy for.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Client mistakes are told as they are; a busy database is "try again"; anything else is logged (with `what`
/// the request was for) and reported as unavailable, never with the driver's text.
pub fn app_error(what: &'static str, error: DbError) -> AppError {
    match error {
        DbError::NotFound(_) => AppError::NotFound,
        DbError::Conflict(why) => AppError::BadRequest(why.to_string()),
        insufficient @ DbError::InsufficientCredit { .. } => AppError::BadRequest(insufficient.to_string()),
        DbError::Busy => {
            tracing::warn!(request = what, "database busy; the client is asked to retry");
            AppError::Unavailable
        }
        other => {
            tracing::error!(request = what, error = %other, "request failed");
            AppError::Unavailable
        }
    }
}

/// The status and the sentence for an error that is not the client's: 503 "busy, try again" when the database was
/// busy (retryable), else a logged 500 "internal error" that never shows the driver's text.
pub fn internal(what: &'static str, error: &DbError) -> (StatusCode, String) {
    if matches!(error, DbError::Busy) {
        tracing::warn!(request = what, "database busy; the client is asked to retry");
        return (StatusCode::SERVICE_UNAVAILABLE, error.to_string());
    }
    tracing::error!(request = what, %error, "request failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_string())
}

/// Adds `Retry-After` to every 503 answer, so clients and agents back off for a moment and try again.
pub fn with_retry_after(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_is_unavailable_not_a_client_error() {
        assert!(matches!(app_error("test", DbError::Busy), AppError::Unavailable));
        let (status, message) = internal("test", &DbError::Busy);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(message.contains("try again"), "{message}");
        assert_eq!(
            internal("test", &DbError::Corrupt("x")),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error".to_string())
        );
    }

    #[test]
    fn client_mistakes_keep_their_meaning() {
        assert!(matches!(app_error("test", DbError::NotFound("job")), AppError::NotFound));
        assert!(matches!(app_error("test", DbError::Conflict("taken")), AppError::BadRequest(why) if why == "taken"));
        let short = DbError::InsufficientCredit { available: 1, needed: 2 };
        assert!(matches!(app_error("test", short), AppError::BadRequest(why) if why.contains("not enough credit")));
    }
}
