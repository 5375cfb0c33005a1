//! Who is asking, for server functions: the coordinator's guard puts the [`Viewer`] on the request.

use leptos::prelude::*;
use pictor_core::accounts::Viewer;

use crate::error::AppError;

/// The signed-in user of the current request, if any.
pub fn viewer() -> Option<Viewer> {
    use_context::<http::request::Parts>().and_then(|parts| parts.extensions.get::<Viewer>().cloned())
}

/// The signed-in user, or `Unauthorized` (and status 401 on the response).
pub fn require_viewer() -> Result<Viewer, AppError> {
    viewer().ok_or_else(|| {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::UNAUTHORIZED);
        }
        AppError::Unauthorized
    })
}

/// The account service the coordinator provided.
pub fn accounts() -> Result<crate::ports::SharedAccounts, AppError> {
    use_context::<crate::ports::SharedAccounts>().ok_or(AppError::Unavailable)
}

/// The worker service the coordinator provided.
pub fn workers() -> Result<crate::ports::SharedWorkers, AppError> {
    use_context::<crate::ports::SharedWorkers>().ok_or(AppError::Unavailable)
}

/// The checker service the coordinator provided.
pub fn checkers() -> Result<crate::ports::SharedCheckers, AppError> {
    use_context::<crate::ports::SharedCheckers>().ok_or(AppError::Unavailable)
}

/// The AI service the coordinator provided.
pub fn ai() -> Result<crate::ports::SharedAi, AppError> {
    use_context::<crate::ports::SharedAi>().ok_or(AppError::Unavailable)
}

/// The ledger service the coordinator provided.
pub fn ledger() -> Result<crate::ports::SharedLedger, AppError> {
    use_context::<crate::ports::SharedLedger>().ok_or(AppError::Unavailable)
}

/// The job service the coordinator provided.
pub fn jobs() -> Result<crate::ports::SharedJobs, AppError> {
    use_context::<crate::ports::SharedJobs>().ok_or(AppError::Unavailable)
}
