//! Welcome credits for an account at its first sign-in, whichever way it signed in.

/// Gives a new account its welcome credits (a no-op for an account that had them): best effort, since a sign-in
/// must not fail over a gift.
pub async fn give(state: &crate::state::AppState, user: crate::db::users::UserId, now_ms: i64) {
    if let Err(error) = state.engine.welcome(user, state.ledger.welcome_micro(), now_ms).await {
        tracing::error!(%error, user, "welcome credits could not be given");
    }
}
