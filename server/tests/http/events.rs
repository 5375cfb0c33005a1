//! `/api/v1/events`: network samples as server-sent events, a user's unread count to that user alone, and a clean
//! stop.

use std::time::Duration;

use futures::StreamExt;
use pictor_core::events::Event;
use pictor_core::ledger::UnreadNotifications;
use pictor_server::db::Backend;

use crate::helpers::spawn_app;

/// The events of an SSE response body, read as they come (data lines only).
struct EventReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl EventReader {
    fn new(response: reqwest::Response) -> Self {
        Self { body: Box::pin(response.bytes_stream()), buffer: String::new() }
    }

    async fn next(&mut self) -> Event {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = frame.lines().find_map(|line| line.strip_prefix("data: ")) {
                    return serde_json::from_str(data).expect("event JSON");
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("an event within 10 s")
                .expect("stream still open")
                .expect("chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next event that is not a network sample (those keep coming in between).
    async fn next_private(&mut self) -> Event {
        loop {
            let event = self.next().await;
            if !matches!(event, Event::Network(_)) {
                return event;
            }
        }
    }
}

/// Reads `count` events from an SSE response body.
async fn read_events(response: reqwest::Response, count: usize) -> Vec<Event> {
    let mut reader = EventReader::new(response);
    let mut events = Vec::new();
    while events.len() < count {
        events.push(reader.next().await);
    }
    events
}

async fn stream_delivers_network_samples_as_they_are_taken(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/api/v1/events").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = read_events(response, 3).await;
    let times: Vec<i64> = events
        .iter()
        .filter_map(|event| match event {
            Event::Network(sample) => Some(sample.at_ms),
            _ => None,
        })
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "samples in order: {times:?}");
    assert!(times[2] > times[0], "fresh samples keep coming: {times:?}");
}

async fn shutdown_ends_open_streams_and_stops_the_server(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let response = app.get("/api/v1/events").await;
    let _ = read_events(response, 1).await;
    app.shutdown.cancel();
    let server = app.server.take().expect("server handle");
    let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "graceful stop despite an open SSE stream: {stopped:?}");
}

async fn a_users_unread_count_reaches_that_user_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ada, cookie) = app.sign_in_as("Ada").await;
    let (grace, other) = app.sign_in_as("Grace").await;
    let mut mine = EventReader::new(app.get_with_cookie("/api/v1/events", &cookie).await);
    let mut theirs = EventReader::new(app.get_with_cookie("/api/v1/events", &other).await);
    // Written the way jobs and payments write them (inside the database layer), announced within a moment: one
    // event for both.
    app.db
        .notify(ada, "job_finished", "Job “cube” is complete", Some(pictor_server::db::JobId(1)), 1)
        .await
        .expect("notify");
    app.db.notify(ada, "low_balance", "Your credit is low", None, 2).await.expect("notify");
    let unread = |user_id, unread| Event::Notifications(UnreadNotifications { user_id, unread });
    let first = mine.next_private().await;
    assert!(first == unread(ada, 2) || first == unread(ada, 1), "{first:?}");
    if first == unread(ada, 1) {
        assert_eq!(mine.next_private().await, unread(ada, 2), "the second came just after the first was seen");
    }
    // Read on one page: the bell on every other page of hers goes quiet.
    let read = app.post_json("/api/v1/notifications/read", &serde_json::json!({}), Some(&cookie)).await;
    assert_eq!(read.status(), 204);
    assert_eq!(mine.next_private().await, unread(ada, 0));
    // Grace's stream carried none of it: the first private event she sees is her own.
    app.db.notify(grace, "payout", "Your payout was sent", None, 3).await.expect("notify");
    assert_eq!(theirs.next_private().await, unread(grace, 1));
}

/// Signing out closes the event streams that session opened (and only those); signing out everywhere closes all of
/// the account's.
async fn signing_out_ends_that_sessions_open_streams(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, cookie) = app.sign_in_as("Ada").await;
    let (_, other) = app.sign_in_as("Grace").await;
    let mut mine = EventReader::new(app.get_with_cookie("/api/v1/events", &cookie).await);
    let mut theirs = EventReader::new(app.get_with_cookie("/api/v1/events", &other).await);
    mine.next().await;
    theirs.next().await;
    let out = app.post_json("/auth/logout", &serde_json::json!({}), Some(&cookie)).await;
    assert!(out.status().is_redirection(), "{}", out.status());
    // The stream ends: whatever was in flight, then the end of the body.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = mine.body.next().await {
            chunk.expect("a clean end");
        }
    })
    .await;
    assert!(ended.is_ok(), "the signed-out session's stream was closed");
    // Grace's stream lives on.
    theirs.next().await;
    assert!(matches!(theirs.next().await, Event::Network(_)));
}

crate::on_both_backends!(
    signing_out_ends_that_sessions_open_streams,
    a_users_unread_count_reaches_that_user_live,
    stream_delivers_network_samples_as_they_are_taken,
    shutdown_ends_open_streams_and_stops_the_server
);
