//! Typed events the coordinator publishes to dashboards over server-sent events.

use serde::{Deserialize, Serialize};

use crate::checkers::CheckerLive;
use crate::jobs::TaskLive;
use crate::ledger::UnreadNotifications;
use crate::network::NetworkSample;
use crate::workers::WorkerLive;

/// Everything a dashboard can be told about while it is open.
///
/// The SSE event name is [`Event::name`]; the data is the JSON of the payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// A fresh sample of network activity (public: shown to everyone).
    Network(NetworkSample),
    /// A worker's status changed or it sent a heartbeat (private to its owner).
    Worker(WorkerLive),
    /// A task of a job changed state or progressed (private to the job's owner).
    Task(TaskLive),
    /// A checker gave a verdict, or its standing changed (private to its owner).
    Checker(CheckerLive),
    /// The count of a user's unread notifications changed (private to that user).
    Notifications(UnreadNotifications),
    /// One of a user's AI requests was settled (private to that user).
    AiUsage(crate::ai::AiUsageLive),
}

impl Event {
    /// The SSE `event:` field, so browsers can listen per kind.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Network(_) => "network",
            Event::Worker(_) => "worker",
            Event::Task(_) => "task",
            Event::Checker(_) => "checker",
            Event::Notifications(_) => "notifications",
            Event::AiUsage(_) => "ai_usage",
        }
    }

    /// Whether everyone may see this event, signed in or not.
    pub fn is_public(&self) -> bool {
        matches!(self, Event::Network(_))
    }

    /// Whether the user `user` (if signed in) may see this event.
    pub fn is_visible_to(&self, user: Option<i64>) -> bool {
        match self {
            Event::Network(_) => true,
            Event::Worker(live) => user == Some(live.owner_id),
            Event::Task(live) => user == Some(live.owner_id),
            Event::Checker(live) => user == Some(live.owner_id),
            Event::Notifications(count) => user == Some(count.user_id),
            Event::AiUsage(usage) => user == Some(usage.user_id),
        }
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

    #[test]
    fn worker_events_reach_only_their_owner() {
        let event = Event::Worker(WorkerLive {
            node_id: 1,
            owner_id: 7,
            status: crate::workers::NodeStatus::Online,
            metrics: None,
        });
        assert!(event.is_visible_to(Some(7)));
        assert!(!event.is_visible_to(Some(8)) && !event.is_visible_to(None) && !event.is_public());
    }

    #[test]
    fn a_users_unread_count_reaches_only_that_user() {
        let event = Event::Notifications(UnreadNotifications { user_id: 3, unread: 2 });
        assert_eq!(event.name(), "notifications");
        assert!(event.is_visible_to(Some(3)));
        assert!(!event.is_visible_to(Some(4)) && !event.is_visible_to(None) && !event.is_public());
    }
}
