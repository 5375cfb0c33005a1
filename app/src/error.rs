//! The one error type every server function returns to the browser.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What a server function may tell the browser went wrong. Internals are logged on the server, never sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("please sign in first")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("not found (or not yours)")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the coordinator cannot answer right now; try again in a moment")]
    Unavailable,
    #[error("request failed: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status a server function answers with when it fails this way.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::BadRequest(_) => 400,
            AppError::NotFound => 404,
            AppError::Forbidden(_) => 403,
            AppError::TooLarge(_) => 413,
            AppError::Unavailable | AppError::Transport(_) => 503,
        }
    }
}

/// Sets the response status of a failing server function from its error (call as the last step).
#[cfg(feature = "ssr")]
pub fn answer<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(status) = http::StatusCode::from_u16(error.status()) {
                response.set_status(status);
            }
        }
    }
    result
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request itself could not be read: the caller's mistake, not the coordinator's.
            ServerFnErrorErr::Args(why) | ServerFnErrorErr::Deserialization(why) => {
                AppError::BadRequest(format!("the request could not be read: {why}"))
            }
            ServerFnErrorErr::MissingArg(which) => AppError::BadRequest(format!("the request lacks {which}")),
            other => AppError::Transport(other.to_string()),
        }
    }
}
