//! `GET /api/v1/events`: the event bus as a server-sent-events stream.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Extension;
use futures::{Stream, StreamExt};
use pictor_core::accounts::Viewer;
use pictor_core::events::Event;
use tokio_stream::wrappers::BroadcastStream;

use crate::auth::session::SessionTokenHash;
use crate::state::AppState;

/// Streams public events (network samples) to everyone and private ones (their workers) to signed-in viewers,
/// starting with the latest network sample. The stream ends when the coordinator shuts down, so graceful shutdown
/// never waits on browsers, and when the session it was opened with signs out.
pub async fn events(
    State(state): State<AppState>,
    viewer: Option<Extension<Viewer>>,
    session: Option<Extension<SessionTokenHash>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let user = viewer.map(|Extension(viewer)| viewer.user_id);
    // A stream opened with a session ends when that session is signed out.
    let signed_out = match (session, user) {
        (Some(Extension(SessionTokenHash(hash))), Some(user)) => {
            futures::future::Either::Left(state.session_ends.ended(hash, user))
        }
        _ => futures::future::Either::Right(std::future::pending::<()>()),
    };
    let live = BroadcastStream::new(state.bus.subscribe())
        // A lagging browser misses some samples rather than slowing the publisher.
        .filter_map(|received| futures::future::ready(received.ok()));
    let first = state.bus.latest_network().map(Event::Network);
    let connected = state.metrics.sse_client_connected();
    let stream = futures::stream::iter(first)
        .chain(live)
        .filter(move |event| futures::future::ready(event.is_visible_to(user)))
        .map(move |event| {
            let _still_connected = &connected;
            Ok(to_sse(&event))
        })
        .take_until(state.shutdown.clone().cancelled_owned())
        .take_until(signed_out);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn to_sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .event(event.name())
        .json_data(event)
        .unwrap_or_else(|_| SseEvent::default().comment("event could not be encoded"))
}
