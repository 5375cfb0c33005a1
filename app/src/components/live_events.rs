//! The browser's subscription to the coordinator's event stream (`/api/v1/events`), shared by every live part of
//! the page.
//!
//! One `EventSource` per tab, whatever the number of live components: browsers allow only six HTTP/1.1
//! connections per host, and a stream held per component (the top bar's bell, a page's chart, …) would starve the
//! page's own requests.

#[cfg(feature = "hydrate")]
pub use browser::{follow_events, follow_kinds};

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};

    use futures::StreamExt;
    use gloo_net::eventsource::futures::EventSource;
    use pictor_core::events::Event;

    const EVENTS_URL: &str = "/api/v1/events";

    /// Every event name the coordinator sends (see `Event::name`).
    const KINDS: [&str; 6] = ["network", "worker", "task", "checker", "notifications", "ai_usage"];

    /// A live component: the event names it wants, and what to do with each (`false`: it is gone).
    type Follower = (Vec<&'static str>, Box<dyn FnMut(Event) -> bool>);

    thread_local! {
        static FOLLOWERS: RefCell<Vec<Follower>> = const { RefCell::new(Vec::new()) };
        static CONNECTED: Cell<bool> = const { Cell::new(false) };
    }

    /// Calls `on_event` for every event named `kind` until it returns `false` (its component is gone).
    pub fn follow_events(kind: &'static str, on_event: impl FnMut(Event) -> bool + 'static) {
        follow_kinds(vec![kind], on_event);
    }

    /// As [`follow_events`], for events of any of `kinds`.
    pub fn follow_kinds(kinds: Vec<&'static str>, on_event: impl FnMut(Event) -> bool + 'static) {
        FOLLOWERS.with(|followers| followers.borrow_mut().push((kinds, Box::new(on_event))));
        if !CONNECTED.with(|connected| connected.replace(true)) {
            leptos::task::spawn_local(listen());
        }
    }

    /// Opens the tab's one stream and hands each event to its followers; reconnects are left to the browser.
    async fn listen() {
        let mut source = match EventSource::new(EVENTS_URL) {
            Ok(source) => source,
            Err(error) => {
                leptos::logging::error!("cannot open the event stream: {error:?}");
                CONNECTED.with(|connected| connected.set(false));
                return;
            }
        };
        let mut streams = Vec::new();
        for kind in KINDS {
            match source.subscribe(kind) {
                Ok(stream) => streams.push(Box::pin(stream)),
                Err(error) => leptos::logging::error!("cannot subscribe to {kind} events: {error:?}"),
            }
        }
        let mut stream = futures::stream::select_all(streams);
        while let Some(item) = stream.next().await {
            let Ok((_, message)) = item else { continue };
            let Some(text) = message.data().as_string() else { continue };
            let Ok(event) = serde_json::from_str::<Event>(&text) else { continue };
            dispatch(event);
        }
        source.close();
        CONNECTED.with(|connected| connected.set(false));
    }

    /// Gives `event` to every follower of its name, dropping those whose component is gone.
    fn dispatch(event: Event) {
        let name = event.name();
        // Taken out while they run, so that a follower may start following more without a double borrow.
        let mut followers = FOLLOWERS.with(|followers| std::mem::take(&mut *followers.borrow_mut()));
        followers.retain_mut(|(kinds, on_event)| !kinds.contains(&name) || on_event(event.clone()));
        FOLLOWERS.with(|current| {
            let mut current = current.borrow_mut();
            followers.append(&mut current);
            *current = followers;
        });
    }
}
