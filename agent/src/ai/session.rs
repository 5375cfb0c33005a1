//! The connection a worker holds open to the coordinator to serve models: it tells what it holds, takes requests,
//! runs them (a few at a time), streams their tokens back, and reconnects with back-off when the link drops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use pictor_core::agent_protocol::NodeConfigFile;
use pictor_core::ai::{FromWorker, ToWorker};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

use super::activity::AiActivity;
use super::fetch::{self, LoadOrder};
use super::models::{Model, ModelPool};
use super::runner::{self, CancelFlag};
use crate::backoff::Backoff;
use crate::client::Client;

/// The coordinator's endpoint for workers serving models.
const LINK_PATH: &str = "/api/agent/ai";

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot connect to serve models: {0}")]
    Connect(String),
    #[error("the model link dropped: {0}")]
    Dropped(String),
}

/// What every session of this worker shares.
struct Serving {
    pool: ModelPool,
    slots: Arc<Semaphore>,
    client: Client,
    cache: pictor_inference::ModelCache,
    /// One model loads at a time: loading two at once could take twice the memory before either is counted.
    loads: Arc<tokio::sync::Mutex<()>>,
    /// Told while requests run, so the render loop leases nothing new meanwhile.
    activity: AiActivity,
}

/// Serves `pool`'s models for ever, reconnecting whenever the link drops.
pub async fn serve_models(
    config: &NodeConfigFile,
    client: &Client,
    pool: ModelPool,
    activity: AiActivity,
    concurrency: usize,
) -> Infallible {
    let serving = Serving {
        pool,
        slots: Arc::new(Semaphore::new(concurrency.max(1))),
        client: client.clone(),
        cache: pictor_inference::ModelCache::default_location(),
        loads: Arc::default(),
        activity,
    };
    let mut backoff = Backoff::default();
    loop {
        match session(config, &serving).await {
            Ok(()) => backoff.reset(),
            Err(error) => tracing::warn!("{error}"),
        }
        tokio::time::sleep(backoff.next_delay(rand::random())).await;
    }
}

fn link_url(coordinator_url: &str) -> String {
    let base = coordinator_url.trim_end_matches('/');
    let base = base.strip_prefix("https://").map(|rest| format!("wss://{rest}")).unwrap_or_else(|| {
        base.strip_prefix("http://").map(|rest| format!("ws://{rest}")).unwrap_or_else(|| base.to_string())
    });
    format!("{base}{LINK_PATH}")
}

/// One connection: until it drops, runs every request it brings.
async fn session(config: &NodeConfigFile, serving: &Serving) -> Result<(), SessionError> {
    let pool = &serving.pool;
    let mut request =
        link_url(&config.coordinator_url).into_client_request().map_err(|e| SessionError::Connect(e.to_string()))?;
    let bearer =
        HeaderValue::from_str(&format!("Bearer {}", config.token)).map_err(|e| SessionError::Connect(e.to_string()))?;
    request.headers_mut().insert("authorization", bearer);
    // Tokens are small messages: no Nagle, so each leaves as soon as it is made.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| SessionError::Connect(e.to_string()))?;
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::unbounded_channel::<FromWorker>();
    let loaded = pool.loaded();
    tracing::info!(models = ?loaded.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), "serving models");
    let _ = out.send(models_message(pool, loaded));
    let running: Arc<Mutex<HashMap<String, CancelFlag>>> = Arc::default();

    let writer = async {
        while let Some(message) = outgoing.recv().await {
            let Ok(text) = serde_json::to_string(&message) else { continue };
            sink.send(Message::Text(text.into())).await.map_err(|e| SessionError::Dropped(e.to_string()))?;
        }
        Ok::<(), SessionError>(())
    };
    let reader = async {
        while let Some(message) = stream.next().await {
            let message = message.map_err(|e| SessionError::Dropped(e.to_string()))?;
            let Message::Text(text) = message else { continue };
            match serde_json::from_str::<ToWorker>(&text) {
                Ok(ToWorker::Load { model, kind, sha256, bytes, files }) => {
                    let order = LoadOrder { model, kind, sha256, bytes, files };
                    start_load(order, serving, &out);
                }
                Ok(ToWorker::Unload { model }) => {
                    if pool.unload(&model) {
                        tracing::info!(model, "model unloaded at the coordinator's request");
                    }
                    let _ = out.send(models_message(pool, pool.loaded()));
                }
                Ok(request) => start(request, serving, &running, &out),
                Err(error) => tracing::warn!(%error, "unreadable message from the coordinator"),
            }
        }
        Ok::<(), SessionError>(())
    };
    let ended = tokio::select! {
        ended = writer => ended,
        ended = reader => ended,
    };
    // Nobody is listening for these answers any more: stop them.
    let running = std::mem::take(&mut *running.lock().unwrap_or_else(|p| p.into_inner()));
    for flag in running.values() {
        flag.store(true, Ordering::Relaxed);
    }
    ended.and(Err(SessionError::Dropped("closed by the coordinator".into())))
}

/// The model list the coordinator is told on connecting and after every change.
fn models_message(pool: &ModelPool, loaded: Vec<pictor_core::ai::LoadedModel>) -> FromWorker {
    FromWorker::Models { loaded, memory_budget_mb: pool.budget_mb(), engine: pictor_inference::ENGINE.into() }
}

/// Fetches and loads a model in the background, then tells the coordinator the new list (or why it failed).
fn start_load(order: LoadOrder, serving: &Serving, out: &mpsc::UnboundedSender<FromWorker>) {
    let (client, cache, pool, loads, out) =
        (serving.client.clone(), serving.cache.clone(), serving.pool.clone(), serving.loads.clone(), out.clone());
    tokio::spawn(async move {
        let _one_at_a_time = loads.lock().await;
        let started = std::time::Instant::now();
        match fetch::load(&client, &cache, &pool, &order).await {
            Ok(()) => {
                tracing::info!(model = %order.model, ms = started.elapsed().as_millis() as u64, "model loaded on request");
                let _ = out.send(models_message(&pool, pool.loaded()));
            }
            Err(message) => {
                tracing::warn!(model = %order.model, %message, "cannot load a model the coordinator asked for");
                let _ = out.send(FromWorker::LoadFailed { model: order.model, message });
            }
        }
    });
}

/// Starts one request (or cancels one) without waiting for it.
fn start(
    request: ToWorker,
    serving: &Serving,
    running: &Arc<Mutex<HashMap<String, CancelFlag>>>,
    out: &mpsc::UnboundedSender<FromWorker>,
) {
    let (pool, slots) = (&serving.pool, &serving.slots);
    let (id, model) = match &request {
        ToWorker::Cancel { request } => {
            if let Some(flag) = running.lock().unwrap_or_else(|p| p.into_inner()).get(request) {
                flag.store(true, Ordering::Relaxed);
            }
            return;
        }
        ToWorker::Generate { request, model, .. } | ToWorker::Embed { request, model, .. } => {
            (request.clone(), model.clone())
        }
        // Handled by the session before requests reach here.
        ToWorker::Load { .. } | ToWorker::Unload { .. } => return,
    };
    #[cfg(debug_assertions)]
    if std::env::var("PICTOR_AGENT_AI_FAULT").is_ok_and(|fault| fault == "exit-on-request") {
        // Debug builds only: a worker that dies before its first token, for the gateway's retry tests.
        tracing::warn!(request = %id, "exiting on an AI request (PICTOR_AGENT_AI_FAULT)");
        std::process::exit(3);
    }
    let Some(loaded) = pool.get(&model) else {
        let message = format!("model '{model}' is not loaded on this worker");
        let _ = out.send(FromWorker::Failed { request: id, message, caller_error: false });
        return;
    };
    let cancel: CancelFlag = Arc::new(AtomicBool::new(false));
    running.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), cancel.clone());
    let (slots, running, out) = (slots.clone(), running.clone(), out.clone());
    // From now until it ends, the render loop leases no new task.
    let busy = serving.activity.start();
    tokio::spawn(async move {
        let _busy = busy;
        // Interactive requests queue for a slot; a cancelled one gives its place up before it starts.
        let Ok(_slot) = slots.acquire_owned().await else { return };
        if !cancel.load(Ordering::Relaxed) {
            let (id, cancel, out) = (id.clone(), cancel.clone(), out.clone());
            let _ = tokio::task::spawn_blocking(move || match (loaded, request) {
                (Model::Chat(model), ToWorker::Generate { prompt, sampling, .. }) => {
                    runner::generate(&model, &id, &prompt, &sampling, &cancel, &out)
                }
                (Model::Embedding(model), ToWorker::Embed { inputs, .. }) => runner::embed(&model, &id, &inputs, &out),
                (Model::Classifier(model), ToWorker::Embed { inputs, sentence_vectors: true, .. }) => {
                    runner::sentence_vectors(&model, &id, &inputs, &out)
                }
                (Model::Classifier(model), ToWorker::Embed { inputs, .. }) => {
                    runner::classify(&model, &id, &inputs, &out)
                }
                _ => {
                    let message = "this model does not do that kind of work".to_string();
                    let _ = out.send(FromWorker::Failed { request: id, message, caller_error: true });
                }
            })
            .await;
        }
        running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_url_follows_the_coordinator_scheme() {
        assert_eq!(link_url("http://127.0.0.1:3000/"), "ws://127.0.0.1:3000/api/agent/ai");
        assert_eq!(link_url("https://pictor.example.org"), "wss://pictor.example.org/api/agent/ai");
    }

    #[tokio::test]
    async fn a_wss_link_speaks_tls() {
        // A server that answers the TLS ClientHello with plain text: the client must have tried TLS (the scheme is
        // supported), and fail on the handshake rather than on the URL.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut hello = [0u8; 5];
            tokio::io::AsyncReadExt::read_exact(&mut socket, &mut hello).await.expect("client hello");
            let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            hello
        });
        let error = tokio_tungstenite::connect_async(format!("wss://127.0.0.1:{port}/api/agent/ai"))
            .await
            .expect_err("not a TLS server");
        let hello = server.await.expect("server");
        assert_eq!(hello[0], 0x16, "a TLS handshake record was sent ({error})");
        assert!(!error.to_string().to_lowercase().contains("scheme"), "{error}");
    }
}
