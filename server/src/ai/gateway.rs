//! The workers serving models right now, each over the connection it holds open, and which request runs where.
//! Requests go to the least busy worker holding the model warm; a worker's events reach the request's stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pictor_core::ai::{FromWorker, LoadedModel, ToWorker};
use tokio::sync::mpsc;

use crate::db::ai_hosting::{LoadSpec, NodeTraits};
use crate::db::users::UserId;
use crate::db::NodeId;

/// A load the worker never answered is forgotten after this long (and may be asked of another worker).
const LOAD_PATIENCE: Duration = Duration::from_secs(600);

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
        first_token_ms: Option<u64>,
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
    /// The memory the worker gives models, from its last model list.
    budget_mb: u64,
    /// Models it was asked to load and has not reported yet, with when it was asked.
    loading: HashMap<String, Instant>,
    traits: NodeTraits,
}

impl Link {
    fn holds(&self, model: &str) -> bool {
        self.models.iter().any(|m| m.id == model)
    }

    fn is_loading(&self, model: &str) -> bool {
        self.loading.get(model).is_some_and(|asked| asked.elapsed() < LOAD_PATIENCE)
    }

    fn free_mb(&self) -> u64 {
        self.budget_mb.saturating_sub(self.models.iter().map(|m| m.memory_mb).sum())
    }
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
    /// Models it is loading now.
    pub loading: Vec<String>,
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
    pub fn connect(
        &self,
        node: NodeId,
        owner: UserId,
        traits: NodeTraits,
        to_worker: mpsc::UnboundedSender<ToWorker>,
    ) -> u64 {
        let mut links = self.links();
        links.next_link += 1;
        let id = links.next_link;
        let link = Link {
            node,
            owner,
            models: Vec::new(),
            engine: String::new(),
            to_worker,
            in_flight: 0,
            budget_mb: 0,
            loading: HashMap::new(),
            traits,
        };
        links.links.insert(id, link);
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
            FromWorker::Models { loaded, engine, memory_budget_mb } => {
                if let Some(entry) = links.links.get_mut(&link) {
                    entry.loading.retain(|model, _| !loaded.iter().any(|m| &m.id == model));
                    entry.models = loaded;
                    entry.engine = engine;
                    entry.budget_mb = memory_budget_mb;
                }
                return;
            }
            FromWorker::LoadFailed { model, message } => {
                if let Some(entry) = links.links.get_mut(&link) {
                    tracing::warn!(node = %entry.node, model, message, "a worker could not load a model");
                    entry.loading.remove(&model);
                }
                return;
            }
            FromWorker::Started { request, prompt_tokens } => (request, WorkerEvent::Started { prompt_tokens }),
            FromWorker::Token { request, id, text } => (request, WorkerEvent::Token { id, text }),
            FromWorker::Finished { request, finish_reason, completion_tokens, first_token_ms } => {
                (request, WorkerEvent::Finished { finish_reason, completion_tokens, first_token_ms })
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
            .filter(|(id, link)| !exclude.contains(id) && link.holds(model))
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

    /// How many workers hold `model`, and how many more are loading it.
    pub fn placement(&self, model: &str) -> (usize, usize) {
        let links = self.links();
        let warm = links.links.values().filter(|link| link.holds(model)).count();
        let loading = links.links.values().filter(|link| !link.holds(model) && link.is_loading(model)).count();
        (warm, loading)
    }

    /// Asks one more worker to load `spec`: among those that neither hold nor load it, whose traits `eligible`
    /// accepts and whose memory budget can take it, the one with the most free memory (then the least busy).
    /// Returns the node asked, if any could be.
    pub fn ask_to_load(&self, spec: &LoadSpec, eligible: impl Fn(&NodeTraits) -> bool) -> Option<NodeId> {
        let needed_mb = (spec.bytes.max(0) as u64).div_ceil(1 << 20);
        let mut links = self.links();
        let (_, chosen) = links
            .links
            .iter_mut()
            .filter(|(_, link)| {
                !link.holds(&spec.id)
                    && !link.is_loading(&spec.id)
                    && link.budget_mb >= needed_mb
                    && eligible(&link.traits)
            })
            .max_by_key(|(id, link)| (link.free_mb(), std::cmp::Reverse(link.in_flight), std::cmp::Reverse(**id)))?;
        let message = ToWorker::Load {
            model: spec.id.clone(),
            kind: spec.kind,
            sha256: spec.sha256.clone(),
            bytes: spec.bytes.max(0) as u64,
            files: spec.files.clone(),
        };
        chosen.to_worker.send(message).ok()?;
        chosen.loading.insert(spec.id.clone(), Instant::now());
        Some(chosen.node)
    }

    /// Whether `node` holds `model` or was asked to load it (only such workers may fetch a model's files).
    pub fn was_asked_to_hold(&self, node: NodeId, model: &str) -> bool {
        self.links().links.values().any(|link| link.node == node && (link.holds(model) || link.is_loading(model)))
    }

    /// Asks the least busy holders of `model` beyond the first `keep` to unload it; returns how many were asked.
    pub fn unload_surplus(&self, model: &str, keep: usize) -> usize {
        let mut links = self.links();
        let mut holders: Vec<(&u64, &mut Link)> =
            links.links.iter_mut().filter(|(_, link)| link.holds(model)).collect();
        // The busiest keep it: they are serving it now.
        holders.sort_by_key(|(id, link)| (std::cmp::Reverse(link.in_flight), **id));
        let mut asked = 0;
        for (_, link) in holders.into_iter().skip(keep) {
            if link.to_worker.send(ToWorker::Unload { model: model.to_string() }).is_ok() {
                link.models.retain(|m| m.id != model);
                asked += 1;
            }
        }
        asked
    }

    /// The workers connected now and what they hold.
    pub fn warm_workers(&self) -> Vec<WarmWorker> {
        let links = self.links();
        let mut workers: Vec<WarmWorker> = links
            .links
            .values()
            .map(|link| WarmWorker {
                node: link.node,
                models: link.models.clone(),
                in_flight: link.in_flight,
                loading: link.loading.keys().filter(|m| link.is_loading(m)).cloned().collect(),
            })
            .collect();
        workers.sort_by_key(|w| w.node);
        workers
    }

    /// The engine build a connected worker reported (its batch results are checked on the same build).
    pub fn engine_of(&self, node: NodeId) -> Option<String> {
        self.links().links.values().find(|link| link.node == node && !link.engine.is_empty()).map(|l| l.engine.clone())
    }

    /// How many connected workers hold `model`.
    pub fn warm_count(&self, model: &str) -> usize {
        self.links().links.values().filter(|link| link.holds(model)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str) -> LoadedModel {
        LoadedModel { id: id.into(), sha256: "00".into(), memory_mb: 1 }
    }

    fn generate(request: &str) -> ToWorker {
        ToWorker::Embed {
            request: request.into(),
            model: "m".into(),
            inputs: vec!["x".into()],
            sentence_vectors: false,
        }
    }

    fn worker(gateway: &Gateway, node: i64, models: &[&str]) -> (u64, mpsc::UnboundedReceiver<ToWorker>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = gateway.connect(NodeId(node), 1, NodeTraits::default(), tx);
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

    fn spec(id: &str, bytes: i64) -> LoadSpec {
        LoadSpec {
            id: id.into(),
            kind: pictor_core::ai::ModelKind::Chat,
            sha256: "00".into(),
            bytes,
            files: Vec::new(),
            owner: None,
        }
    }

    #[test]
    fn loads_go_to_eligible_workers_with_room_once_each_and_surplus_is_unloaded() {
        let gateway = Gateway::default();
        let (a, mut a_rx) = worker(&gateway, 1, &["m"]);
        let (b, mut b_rx) = worker(&gateway, 2, &[]);
        // Each worker gives 100 MB; "m" takes 1 MB on a.
        assert_eq!(gateway.ask_to_load(&spec("big", 200 << 20), |_| true), None, "fits nobody's budget");
        assert_eq!(gateway.ask_to_load(&spec("new", 50 << 20), |_| false), None, "nobody eligible");
        assert_eq!(gateway.ask_to_load(&spec("new", 50 << 20), |_| true), Some(NodeId(2)), "the most free memory");
        assert!(matches!(b_rx.try_recv(), Ok(ToWorker::Load { model, .. }) if model == "new"));
        assert_eq!(gateway.placement("new"), (0, 1));
        assert_eq!(gateway.ask_to_load(&spec("new", 50 << 20), |_| true), Some(NodeId(1)), "then the next");
        assert!(matches!(a_rx.try_recv(), Ok(ToWorker::Load { .. })));
        assert_eq!(gateway.ask_to_load(&spec("new", 50 << 20), |_| true), None, "everyone has it coming");
        gateway.receive(a, FromWorker::LoadFailed { model: "new".into(), message: "no".into() });
        assert_eq!(gateway.placement("new"), (0, 1));
        let loaded = vec![model("new")];
        gateway.receive(b, FromWorker::Models { loaded, memory_budget_mb: 100, engine: "e".into() });
        assert_eq!(gateway.placement("new"), (1, 0));

        assert_eq!(gateway.unload_surplus("m", 1), 0);
        assert_eq!(gateway.unload_surplus("new", 0), 1);
        assert_eq!(b_rx.try_recv().unwrap(), ToWorker::Unload { model: "new".into() });
        assert_eq!(gateway.placement("new"), (0, 0));
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
