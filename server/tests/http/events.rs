//! `/api/v1/events`: network samples as server-sent events, and a clean stop.

use std::time::Duration;

use futures::StreamExt;
use pictor_core::events::Event;
use pictor_server::db::Backend;

use crate::helpers::spawn_app;

/// Reads `count` events from an SSE response body (data lines only).
async fn read_events(response: reqwest::Response, count: usize) -> Vec<Event> {
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("an event within 10 s")
            .expect("stream still open")
            .expect("chunk");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|line| line.strip_prefix("data: ")) {
                events.push(serde_json::from_str(data).expect("event JSON"));
            }
        }
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

crate::on_both_backends!(
    stream_delivers_network_samples_as_they_are_taken,
    shutdown_ends_open_streams_and_stops_the_server
);
