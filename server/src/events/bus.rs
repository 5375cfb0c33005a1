//! The in-process event bus: every subscriber gets every event published after it subscribed.

use std::sync::{Arc, RwLock};

use pictor_core::events::Event;
use pictor_core::network::NetworkSample;
use tokio::sync::broadcast;

/// Fan-out of [`Event`]s to SSE streams. Slow subscribers skip ahead rather than block publishers.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    latest_network: Arc<RwLock<Option<NetworkSample>>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender, latest_network: Arc::default() }
    }

    /// Delivers `event` to current subscribers (none listening is fine).
    pub fn publish(&self, event: Event) {
        if let Event::Network(sample) = &event {
            if let Ok(mut latest) = self.latest_network.write() {
                *latest = Some(*sample);
            }
        }
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// The last network sample published, so a new dashboard need not wait for the next tick.
    pub fn latest_network(&self) -> Option<NetworkSample> {
        self.latest_network.read().ok().and_then(|latest| *latest)
    }

    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_receive_events_published_after_they_joined() {
        let bus = EventBus::new(8);
        bus.publish(Event::Network(NetworkSample { at_ms: 1, ..Default::default() }));
        let mut receiver = bus.subscribe();
        let sample = NetworkSample { at_ms: 2, online_workers: 3, ..Default::default() };
        bus.publish(Event::Network(sample));
        assert_eq!(receiver.recv().await.expect("event"), Event::Network(sample));
        assert_eq!(bus.latest_network(), Some(sample));
    }
}
