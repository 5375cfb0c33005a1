//! Bounds on every request: a server function's body is at most [`MAX_SERVER_FN_BODY`] (they carry forms, not
//! files) and its failure answers with its error's status (not always 500), and a request is answered within
//! [`REQUEST_TIMEOUT`] — except the long-lived ones, which bound
//! themselves: event streams (end with the session or the coordinator), agents' long polls and uploads (their own
//! waits and size limits), scene and model uploads (their size limit).

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Largest server-function request body.
pub const MAX_SERVER_FN_BODY: usize = 1 << 20;
/// Longest time to the response's head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Server functions live under `/api/` beside the REST API (`/api/v1/`) and the agents' (`/api/agent/`).
fn is_server_function(path: &str) -> bool {
    path.starts_with("/api/") && !path.starts_with("/api/v1/") && !path.starts_with("/api/agent/")
}

/// Requests that stay open by design and bound themselves.
fn is_long_lived(method: &Method, path: &str) -> bool {
    path == "/api/v1/events"
        || path.starts_with("/api/agent/")
        || path.starts_with("/v1/")
        || path == crate::ai::openai_api::PLAYGROUND_PATH
        || (method == Method::PUT && path == "/api/v1/scenes")
        // Model files are uploaded and a new model's files checked within their own size limit.
        || (method == Method::PUT && path == crate::ai::hosting::MODEL_FILES_PATH)
        || (method == Method::POST && path == "/api/v1/ai/models")
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub async fn bound(request: Request, next: Next) -> Response {
    bound_within(request, next, REQUEST_TIMEOUT).await
}

async fn bound_within(request: Request, next: Next, timeout: Duration) -> Response {
    let path = request.uri().path().to_string();
    let request = if is_server_function(&path) {
        let announced =
            request.headers().get(CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        if announced.is_some_and(|length| length > MAX_SERVER_FN_BODY) {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large");
        }
        let (parts, body) = request.into_parts();
        match axum::body::to_bytes(body, MAX_SERVER_FN_BODY).await {
            Ok(bytes) => Request::from_parts(parts, Body::from(bytes)),
            Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large"),
        }
    } else {
        request
    };
    if is_long_lived(request.method(), &path) {
        return next.run(request).await;
    }
    let response = match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path, "a request took longer than {} ms", timeout.as_millis());
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the request took too long; try again");
        }
    };
    if is_server_function(&path) && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return with_error_status(response).await;
    }
    response
}

/// A failing server function is answered 500 by the framework whatever went wrong (a body it could not decode
/// included); its error says what the status should be.
async fn with_error_status(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "the answer could not be read");
    };
    if let Ok(error) = serde_json::from_slice::<pictor_app::error::AppError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(error.status()) {
            parts.status = status;
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_functions_are_told_from_the_rest_and_agent_apis() {
        assert!(is_server_function("/api/account_overview12345"));
        assert!(!is_server_function("/api/v1/jobs") && !is_server_function("/api/agent/v1/lease"));
        assert!(!is_server_function("/credit"));
    }

    /// A handler slower than the limit is cut off with a 503; a stream-like path is left to run.
    #[tokio::test]
    async fn a_slow_request_is_answered_503_at_the_limit() {
        use axum::routing::get;
        use tower::ServiceExt;
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        };
        let app = axum::Router::new()
            .route("/api/v1/jobs", get(slow))
            .route("/api/v1/events", get(|| async { "a stream" }))
            .layer(axum::middleware::from_fn(|request: Request, next: Next| {
                bound_within(request, next, Duration::from_millis(50))
            }));
        let started = std::time::Instant::now();
        let request = Request::builder().uri("/api/v1/jobs").body(Body::empty()).expect("request");
        let response = app.clone().oneshot(request).await.expect("answered");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(2), "cut off at the limit");
        let request = Request::builder().uri("/api/v1/events").body(Body::empty()).expect("request");
        assert_eq!(app.oneshot(request).await.expect("answered").status(), StatusCode::OK);
    }

    #[test]
    fn only_streams_polls_and_uploads_outlive_the_timeout() {
        assert!(is_long_lived(&Method::GET, "/api/v1/events"));
        assert!(is_long_lived(&Method::POST, "/api/agent/v1/lease"));
        assert!(is_long_lived(&Method::PUT, "/api/v1/scenes"));
        assert!(!is_long_lived(&Method::GET, "/api/v1/jobs"));
        assert!(!is_long_lived(&Method::POST, "/api/account_overview12345"));
    }
}
