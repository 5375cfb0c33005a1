//! The browser's subscription to the coordinator's event stream (`/api/v1/events`), for live pages.

#[cfg(feature = "hydrate")]
pub use browser::{follow_events, follow_kinds};

#[cfg(feature = "hydrate")]
mod browser {
    use futures::StreamExt;
    use gloo_net::eventsource::futures::EventSource;
    use pictor_core::events::Event;

    const EVENTS_URL: &str = "/api/v1/events";

    /// Calls `on_event` for every event named `kind` until it returns `false` (its page is gone), then closes the
    /// connection. Reconnects are left to the browser's EventSource.
    pub fn follow_events(kind: &'static str, on_event: impl FnMut(Event) -> bool + 'static) {
        follow_kinds(vec![kind], on_event);
    }

    /// As [`follow_events`], for events of any of `kinds`, over one connection.
    pub fn follow_kinds(kinds: Vec<&'static str>, mut on_event: impl FnMut(Event) -> bool + 'static) {
        leptos::task::spawn_local(async move {
            let mut source = match EventSource::new(EVENTS_URL) {
                Ok(source) => source,
                Err(error) => {
                    leptos::logging::error!("cannot open the event stream: {error:?}");
                    return;
                }
            };
            let mut streams = Vec::new();
            for kind in kinds {
                match source.subscribe(kind) {
                    Ok(stream) => streams.push(Box::pin(stream)),
                    Err(error) => {
                        leptos::logging::error!("cannot subscribe to {kind} events: {error:?}");
                        return;
                    }
                }
            }
            let mut stream = futures::stream::select_all(streams);
            while let Some(item) = stream.next().await {
                let Ok((_, message)) = item else { continue };
                let Some(text) = message.data().as_string() else { continue };
                let Ok(event) = serde_json::from_str::<Event>(&text) else { continue };
                if !on_event(event) {
                    break;
                }
            }
            source.close();
        });
    }
}
