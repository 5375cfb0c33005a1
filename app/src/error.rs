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
    #[error("the coordinator cannot answer right now; try again in a moment")]
    Unavailable,
    #[error("request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Transport(value.to_string())
    }
}
