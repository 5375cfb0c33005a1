//! Typed events the coordinator publishes to dashboards over server-sent events.

use serde::{Deserialize, Serialize};

use crate::network::NetworkSample;

/// Everything a dashboard can be told about while it is open.
///
/// The SSE event name is [`Event::name`]; the data is the JSON of the payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A fresh sample of network activity (public: shown to everyone).
    Network(NetworkSample),
}

impl Event {
    /// The SSE `event:` field, so browsers can listen per kind.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Network(_) => "network",
        }
    }

    /// Whether everyone may see this event, signed in or not.
    pub fn is_public(&self) -> bool {
        matches!(self, Event::Network(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_event_is_public_and_named() {
        let event = Event::Network(NetworkSample::default());
        assert_eq!(event.name(), "network");
        assert!(event.is_public());
    }
}
