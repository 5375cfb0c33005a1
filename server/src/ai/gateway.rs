//! The workers serving models right now, each over the connection it holds open, and which request runs where.
//! Requests go to the least busy worker holding the model warm; a worker's events reach the request's stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pictor_core::ai::{FromWorker, LoadedModel, ToWorker};
use tokio::sync::mpsc;

use crate::db::users::UserId;
use crate::db::NodeId;

/// What a request's stream hears from the worker serving it.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    Started {
        prompt_tokens: u32,
    },
    Token {
        id: u32,
        text: String,
    },
    Finished {
        finish_reason: String,
        completion_tokens: u32,
    },
    Embedded {
        vectors: Vec<Vec<f32>>,
        prompt_tokens: u32,
    },
    Failed {
        message: String,
        caller_error: bool,
    },
    /// The worker's connection dropped: it will say nothing more.
    Gone,
}

/// One connected worker.
struct Link {
    node: NodeId,
    owner: UserId,
    models: Vec<LoadedModel>,
    /// The engine build the worker runs (checks compare token ids only on the same build).
    engine: String,
    to_worker: mpsc::UnboundedSender<ToWorker>,
    in_flight: usize,
}

struct Route {
    link: u64,
    events: mpsc::UnboundedSender<WorkerEvent>,
}

#[derive(Default)]
struct Links {
    next_link: u64,
    links: HashMap<u64, Link>,
    routes: HashMap<String, Route>,
}

/// A worker live on the network with the models it holds (for the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmWorker {
    pub node: NodeId,
    pub models: Vec<LoadedModel>,
    pub in_flight: usize,
}

/// A request handed to a worker: its events, and who serves it. Dropping it before the worker finished tells the
/// worker to stop (the caller went away).
pub struct Dispatched {
    pub link: u64,
    pub node: NodeId,
    pub worker_owner: UserId,
    pub engine: String,
    pub events: mpsc::UnboundedReceiver<WorkerEvent>,
    request: String,
    gateway: Gateway,
}

impl Drop for Dispatched {
    fn drop(&mut self) {
        self.gateway.release(&self.request, self.link);
    }
}

/// The registry shared by the agents' connections and the API handlers.
#[derive(Clone, Default)]
pub struct Gateway {
    inner: Arc<Mutex<Links>>,
}

impl Gateway {
    fn links(&self) -> MutexGuard<'_, Links> {
        // A panic while holding the lock leaves plain maps behind, still consistent enough to go on with.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a worker's connection; returns its link id.
    pub fn connect(&self, node: NodeId, owner: UserId, to_worker: mpsc::UnboundedSender<ToWorker>) -> u64 {
        let mut links = self.links();
        links.next_link += 1;
        let id = links.next_link;
        links
            .links
            .insert(id, Link { node, owner, models: Vec::new(), engine: String::new(), to_worker, in_flight: 0 });
        id
    }

    /// Forgets a connection: every request it was serving hears `Gone`.
    pub fn disconnect(&self, link: u64) {
        let mut links = self.links();
        links.links.remove(&link);
        let gone: Vec<String> = links.routes.iter().filter(|(_, r)| r.link == link).map(|(id, _)| id.clone()).collect();
        for id in gone {
            if let Some(route) = links.routes.remove(&id) {
                let _ = route.events.send(WorkerEvent::Gone);
            }
        }
    }

    /// Handles one message from a worker: a model list update, or an event for one of its requests.
    pub fn receive(&self, link: u64, message: FromWorker) {
        let mut links = self.links();
        let (request, event) = match message {
            FromWorker::Models { loaded, engine, .. } => {
                if let Some(entry) = links.links.get_mut(&link) {
                    entry.models = loaded;
                    entry.engine = engine;
                }
                return;
            }
            FromWorker::Started { request, prompt_tokens } => (request, WorkerEvent::Started { prompt_tokens }),
            FromWorker::Token { request, id, text } => (request, WorkerEvent::Token { id, text }),
            FromWorker::Finished { request, finish_reason, completion_tokens } => {
                (request, WorkerEvent::Finished { finish_reason, completion_tokens })
            }
            FromWorker::Embedded { request, vectors, prompt_tokens } => {
                (request, WorkerEvent::Embedded { vectors, prompt_tokens })
            }
            FromWorker::Failed { request, message, caller_error } => {
                (request, WorkerEvent::Failed { message, caller_error })
            }
        };
        // Only the worker a request was given to may speak for it.
        if let Some(route) = links.routes.get(&request).filter(|route| route.link == link) {
            let _ = route.events.send(event);
        }
    }

    /// Hands `message` (for `request` on `model`) to the least busy worker holding the model, other than those in
    /// `exclude` (workers that already failed this request); `None` when no such worker is connected.
    pub fn dispatch(&self, request: &str, model: &str, message: ToWorker, exclude: &[u64]) -> Option<Dispatched> {
        let mut links = self.links();
        let (&link, chosen) = links
            .links
            .iter_mut()
            .filter(|(id, link)| !exclude.contains(id) && link.models.iter().any(|m| m.id == model))
            .min_by_key(|(id, link)| (link.in_flight, **id))?;
        if chosen.to_worker.send(message).is_err() {
            return None;
        }
        chosen.in_flight += 1;
        let (node, worker_owner, engine) = (chosen.node, chosen.owner, chosen.engine.clone());
        let (events, receiver) = mpsc::unbounded_channel();
        links.routes.insert(request.to_string(), Route { link, events });
        Some(Dispatched {
            link,
            node,
            worker_owner,
            engine,
            events: receiver,
            request: request.to_string(),
            gateway: self.clone(),
        })
    }

    /// The request is over on this link: forget its route, and tell the worker to stop if it is still going.
    fn release(&self, request: &str, link: u64) {
        let mut links = self.links();
        let routed_here = links.routes.get(request).is_some_and(|route| route.link == link);
        if routed_here {
            links.routes.remove(request);
        }
        if let Some(entry) = links.links.get_mut(&link) {
            entry.in_flight = entry.in_flight.saturating_sub(1);
            if routed_here {
                let _ = entry.to_worker.send(ToWorker::Cancel { request: request.to_string() });
            }
        }
    }

    /// Ends a request's route without cancelling it (the worker said it finished).
    pub fn finished(&self, request: &str) {
        self.links().routes.remove(request);
    }

    /// Closes the links of workers flagged for repeated wrong answers (their requests hear `Gone` and are retried
    /// elsewhere when nothing was sent yet).
    pub async fn disconnect_flagged(&self, db: &crate::db::Db) {
        let nodes: Vec<(u64, NodeId)> = self.links().links.iter().map(|(id, link)| (*id, link.node)).collect();
        for (link, node) in nodes {
            if db.worker_trust(node).await.is_ok_and(|trust| trust.flagged) {
                tracing::warn!(node = %node, "a flagged worker stops serving models");
                self.disconnect(link);
            }
        }
    }

    /// The workers connected now and what they hold.
    pub fn warm_workers(&self) -> Vec<WarmWorker> {
        let links = self.links();
        let mut workers: Vec<WarmWorker> = links
            .links
            .values()
            .map(|link| WarmWorker { node: link.node, models: link.models.clone(), in_flight: link.in_flight })
            .collect();
        workers.sort_by_key(|w| w.node);
        workers
    }

    /// How many connected workers hold `model`.
    pub fn warm_count(&self, model: &str) -> usize {
        self.links().links.values().filter(|link| link.models.iter().any(|m| m.id == model)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str) -> LoadedModel {
        LoadedModel { id: id.into(), sha256: "00".into(), memory_mb: 1 }
    }

    fn generate(request: &str) -> ToWorker {
        ToWorker::Embed { request: request.into(), model: "m".into(), inputs: vec!["x".into()] }
    }

    fn worker(gateway: &Gateway, node: i64, models: &[&str]) -> (u64, mpsc::UnboundedReceiver<ToWorker>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = gateway.connect(NodeId(node), 1, tx);
        let loaded = models.iter().map(|m| model(m)).collect();
        gateway.receive(link, FromWorker::Models { loaded, memory_budget_mb: 100, engine: "e".into() });
        (link, rx)
    }

    #[test]
    fn requests_go_to_the_least_busy_worker_holding_the_model() {
        let gateway = Gateway::default();
        let (a, mut a_rx) = worker(&gateway, 1, &["m"]);
        let (b, _b_rx) = worker(&gateway, 2, &["m"]);
        let (_c, _c_rx) = worker(&gateway, 3, &["other"]);
        let first = gateway.dispatch("r1", "m", generate("r1"), &[]).unwrap();
        let second = gateway.dispatch("r2", "m", generate("r2"), &[]).unwrap();
        assert_eq!((first.link, second.link), (a, b));
        assert!(matches!(a_rx.try_recv(), Ok(ToWorker::Embed { .. })));
        assert!(gateway.dispatch("r3", "absent", generate("r3"), &[]).is_none());
        assert!(gateway.dispatch("r4", "m", generate("r4"), &[a, b]).is_none());
        assert_eq!(gateway.warm_count("m"), 2);
    }

    #[test]
    fn only_the_serving_worker_speaks_for_a_request_and_a_dropped_link_says_gone() {
        let gateway = Gateway::default();
        let (a, _a_rx) = worker(&gateway, 1, &["m"]);
        let (b, _b_rx) = worker(&gateway, 2, &["m"]);
        let mut dispatched = gateway.dispatch("r1", "m", generate("r1"), &[]).unwrap();
        assert_eq!(dispatched.link, a);
        gateway.receive(b, FromWorker::Token { request: "r1".into(), id: 1, text: "forged".into() });
        gateway.receive(a, FromWorker::Token { request: "r1".into(), id: 2, text: "real".into() });
        assert_eq!(dispatched.events.try_recv().unwrap(), WorkerEvent::Token { id: 2, text: "real".into() });
        assert!(dispatched.events.try_recv().is_err());
        gateway.disconnect(a);
        assert_eq!(dispatched.events.try_recv().unwrap(), WorkerEvent::Gone);
    }

    #[test]
    fn dropping_an_unfinished_request_cancels_it_on_the_worker() {
        let gateway = Gateway::default();
        let (_a, mut rx) = worker(&gateway, 1, &["m"]);
        let dispatched = gateway.dispatch("r1", "m", generate("r1"), &[]).unwrap();
        let _ = rx.try_recv();
        drop(dispatched);
        assert_eq!(rx.try_recv().unwrap(), ToWorker::Cancel { request: "r1".into() });
        assert_eq!(gateway.warm_workers()[0].in_flight, 0);

        let dispatched = gateway.dispatch("r2", "m", generate("r2"), &[]).unwrap();
        let _ = rx.try_recv();
        gateway.finished("r2");
        drop(dispatched);
        assert!(rx.try_recv().is_err(), "a finished request is not cancelled");
    }
}
