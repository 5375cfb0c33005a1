//! Prometheus metrics: the registry, the gauges the services update, and `GET /metrics`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pictor_core::network::NetworkSample;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    status: String,
}

struct Inner {
    registry: Registry,
    workers_online: Gauge,
    checkers_online: Gauge,
    tasks_per_minute: Gauge,
    tasks_queued: Gauge,
    sse_clients: Gauge,
    http_requests: Family<RequestLabels, Counter>,
}

/// The coordinator's metrics. Cheap to clone; each application has its own registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let workers_online = Gauge::default();
        let checkers_online = Gauge::default();
        let tasks_per_minute = Gauge::default();
        let tasks_queued = Gauge::default();
        let sse_clients = Gauge::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register("pictor_workers_online", "Worker nodes with a recent heartbeat", workers_online.clone());
        registry.register("pictor_checkers_online", "Checker nodes with a recent heartbeat", checkers_online.clone());
        registry.register("pictor_tasks_per_minute", "Tasks finished in the last minute", tasks_per_minute.clone());
        registry.register("pictor_tasks_queued", "Tasks waiting for a worker", tasks_queued.clone());
        registry.register("pictor_sse_clients", "Open server-sent-event streams", sse_clients.clone());
        registry.register("pictor_http_requests", "HTTP requests answered", http_requests.clone());
        registry.register(
            "pictor_build",
            "Coordinator version",
            Info::new(vec![("version".to_string(), env!("CARGO_PKG_VERSION").to_string())]),
        );
        let inner = Inner {
            registry,
            workers_online,
            checkers_online,
            tasks_per_minute,
            tasks_queued,
            sse_clients,
            http_requests,
        };
        Self { inner: Arc::new(inner) }
    }

    pub fn observe_network(&self, sample: &NetworkSample) {
        self.inner.workers_online.set(sample.online_workers);
        self.inner.checkers_online.set(sample.online_checkers);
        self.inner.tasks_per_minute.set(sample.tasks_per_minute);
        self.inner.tasks_queued.set(sample.queued_tasks);
    }

    /// Counts an open SSE stream until the returned guard is dropped.
    pub fn sse_client_connected(&self) -> SseClientGuard {
        self.inner.sse_clients.inc();
        SseClientGuard { gauge: self.inner.sse_clients.clone() }
    }

    fn count_request(&self, method: &str, status: u16) {
        let labels = RequestLabels { method: method.to_string(), status: status.to_string() };
        self.inner.http_requests.get_or_create(&labels).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.inner.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// Decrements the SSE client gauge when the stream it belongs to is dropped.
pub struct SseClientGuard {
    gauge: Gauge,
}

impl Drop for SseClientGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// `GET /metrics`.
pub async fn metrics_endpoint(State(metrics): State<Metrics>) -> Response {
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.render()).into_response()
}

/// Middleware counting every answered request by method and status.
pub async fn count_requests(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let method = method_label(request.method()).to_string();
    let response = next.run(request).await;
    metrics.count_request(&method, response.status().as_u16());
    response
}

/// The method as a label: the standard ones by name, anything made up as `other`, so that a client sending odd
/// methods cannot grow the label set without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        use axum::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").expect("a method")), "other");
        assert_eq!(method_label(&Method::from_bytes(b"XYZZY123").expect("a method")), "other");
    }

    #[test]
    fn sse_guard_counts_open_streams() {
        let metrics = Metrics::new();
        let first = metrics.sse_client_connected();
        let _second = metrics.sse_client_connected();
        assert!(metrics.render().contains("pictor_sse_clients 2"));
        drop(first);
        assert!(metrics.render().contains("pictor_sse_clients 1"));
    }

    #[test]
    fn exposition_has_build_info_and_ends_with_eof() {
        let text = Metrics::new().render();
        assert!(text.contains("pictor_build_info{version=\""), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
