//! `/api/agent/v1/*`: registration, heartbeats and sign-off of worker and checker agents.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use pictor_core::agent_protocol::{
    AgentError, Hardware, HeartbeatRequest, HeartbeatResponse, LiveMetrics, RegisterRequest, RegisterResponse,
    HEARTBEAT_PATH, OFFLINE_PATH, REGISTER_PATH,
};
use pictor_core::ai_batch::AI_ENGINE;
use pictor_core::events::Event;
use pictor_core::workers::{MetricPoint, NodeStatus, WorkerLive};
use pictor_core::workloads::WorkloadKind;

use super::agent_auth::AgentNode;
use crate::clock::now_ms;
use crate::db::nodes::Capabilities;
use crate::db::DbError;
use crate::engine::changes::Changes;
use crate::state::AppState;

/// Agents send small JSON documents; anything bigger is refused before parsing.
const MAX_BODY_BYTES: usize = 256 * 1024;
const MAX_TEXT: usize = 256;
const MAX_DEVICES: usize = 64;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(REGISTER_PATH, post(register))
        .route(HEARTBEAT_PATH, post(heartbeat))
        .route(OFFLINE_PATH, post(offline))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Why an agent request failed after authentication.
#[derive(Debug, thiserror::Error)]
pub enum AgentApiError {
    #[error("{0}")]
    BadRequest(String),
    /// The body could not be read as JSON (too large → 413, malformed → 400, wrong type → 415…).
    #[error("{1}")]
    Body(StatusCode, String),
    #[error("this node was disabled or deleted")]
    Gone,
    #[error("internal error")]
    Internal(#[from] DbError),
}

impl From<JsonRejection> for AgentApiError {
    fn from(rejection: JsonRejection) -> Self {
        AgentApiError::Body(rejection.status(), rejection.body_text())
    }
}

impl IntoResponse for AgentApiError {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            AgentApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, self.to_string()),
            AgentApiError::Body(status, _) => (*status, self.to_string()),
            AgentApiError::Gone => (StatusCode::FORBIDDEN, self.to_string()),
            AgentApiError::Internal(error) => crate::api::errors::internal("agent", error),
        };
        (status, Json(AgentError { error })).into_response()
    }
}

/// A node that vanished between the token check and the write is told so, not sent a 500.
fn gone_if_missing(error: DbError) -> AgentApiError {
    match error {
        DbError::NotFound(_) => AgentApiError::Gone,
        other => AgentApiError::Internal(other),
    }
}

fn check_text(field: &str, value: &str) -> Result<(), AgentApiError> {
    if value.chars().count() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(AgentApiError::BadRequest(format!("{field} must be at most {MAX_TEXT} printable characters")));
    }
    Ok(())
}

/// Hardware reports are stored and shown: bounded, printable text only.
fn check_hardware(agent_version: &str, hardware: &Hardware) -> Result<(), AgentApiError> {
    check_text("agent_version", agent_version)?;
    for (field, value) in [("hostname", &hardware.hostname), ("os", &hardware.os), ("cpu_model", &hardware.cpu_model)] {
        check_text(field, value)?;
    }
    if hardware.gpus.len() > MAX_DEVICES || hardware.blenders.len() > MAX_DEVICES {
        return Err(AgentApiError::BadRequest(format!("at most {MAX_DEVICES} GPUs and Blender installations")));
    }
    for gpu in &hardware.gpus {
        check_text("gpu model", &gpu.model)?;
        check_text("gpu driver", gpu.driver.as_deref().unwrap_or_default())?;
        check_text("gpu cuda", gpu.cuda.as_deref().unwrap_or_default())?;
    }
    for blender in &hardware.blenders {
        check_text("blender path", &blender.path)?;
        check_text("blender version", &blender.version)?;
        if blender.engines.len() > 16 {
            return Err(AgentApiError::BadRequest("at most 16 engines per Blender".into()));
        }
        for engine in &blender.engines {
            check_text("blender engine", engine)?;
        }
        if blender.benchmark.as_ref().is_some_and(|b| !b.seconds.is_finite() || b.seconds < 0.0) {
            return Err(AgentApiError::BadRequest("benchmark seconds must be a positive number".into()));
        }
    }
    Ok(())
}

/// Live figures must be numbers in their ranges; GPU figures are averaged over the node's GPUs.
fn metric_point(metrics: &LiveMetrics, at_ms: i64) -> Result<MetricPoint, AgentApiError> {
    let percent = |value: f32| value.is_finite() && (0.0..=100.0).contains(&value);
    if !percent(metrics.cpu_percent) || metrics.gpus.len() > MAX_DEVICES {
        return Err(AgentApiError::BadRequest("cpu_percent must be between 0 and 100".into()));
    }
    if metrics.gpus.iter().any(|gpu| {
        !percent(gpu.utilisation_percent)
            || !gpu.temperature_c.is_finite()
            || !(-50.0..=150.0).contains(&gpu.temperature_c)
    }) {
        return Err(AgentApiError::BadRequest("GPU utilisation must be 0–100 % and temperature −50–150 °C".into()));
    }
    let to_i64 = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
    let count = metrics.gpus.len() as f64;
    let average = |value: &dyn Fn(&pictor_core::agent_protocol::GpuLive) -> f32| {
        (count > 0.0).then(|| metrics.gpus.iter().map(|gpu| f64::from(value(gpu))).sum::<f64>() / count)
    };
    Ok(MetricPoint {
        at_ms,
        cpu_percent: f64::from(metrics.cpu_percent),
        ram_used_bytes: to_i64(metrics.ram_used_bytes),
        ram_total_bytes: to_i64(metrics.ram_total_bytes),
        gpu_percent: average(&|gpu| gpu.utilisation_percent),
        gpu_temperature_c: average(&|gpu| gpu.temperature_c),
    })
}

/// What the lease queries match on: engine names (lower case, from every Blender), the largest VRAM, GPU models,
/// and the version of the first Blender (the one the agent renders with).
fn capabilities(hardware: &Hardware) -> Capabilities {
    let mut engines: Vec<String> =
        hardware.blenders.iter().flat_map(|blender| blender.engines.iter().map(|e| e.to_ascii_lowercase())).collect();
    if hardware.ai_batch {
        // AI batch jobs ask for the engine "ai": the worker's inference engine, whatever model they name.
        engines.push(AI_ENGINE.to_string());
    }
    if hardware.ai_train {
        // Training jobs ask for the engine "train": candle built into the agent (checkers replay with it).
        engines.push(crate::ai::trainings::TRAIN_ENGINE.to_string());
    }
    engines.sort();
    engines.dedup();
    let mut workloads = Vec::new();
    if !hardware.blenders.is_empty() {
        workloads.push(WorkloadKind::Render.as_str());
    }
    if hardware.ai_batch {
        workloads.push(WorkloadKind::AiBatch.as_str());
    }
    if hardware.ai_train {
        workloads.push(WorkloadKind::AiTrain.as_str());
    }
    let vram = hardware.gpus.iter().map(|gpu| gpu.vram_bytes).max().unwrap_or(0);
    let models: Vec<&str> = hardware.gpus.iter().map(|gpu| gpu.model.as_str()).collect();
    Capabilities {
        engines: engines.join(","),
        vram_bytes: i64::try_from(vram).unwrap_or(i64::MAX),
        gpu_models: models.join(" | "),
        blender_version: hardware.blenders.first().map(|blender| blender.version.clone()).unwrap_or_default(),
        // A machine with a Blender renders; one that serves models runs AI batch chunks.
        workloads: workloads.join(","),
    }
}

fn live_status(node: &crate::db::nodes::TokenNode, now: i64) -> NodeStatus {
    if node.sleep.is_asleep(now) {
        NodeStatus::Asleep
    } else {
        NodeStatus::Online
    }
}

async fn register(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<Json<RegisterResponse>, AgentApiError> {
    let Json(request) = body?;
    check_hardware(&request.agent_version, &request.hardware)?;
    let now = now_ms();
    let score = request
        .hardware
        .blenders
        .iter()
        .filter_map(|blender| blender.benchmark.as_ref().map(|benchmark| i64::from(benchmark.score)))
        .max();
    let hardware_json = serde_json::to_string(&request.hardware)
        .map_err(|error| AgentApiError::BadRequest(format!("unreadable hardware report: {error}")))?;
    let interval = i64::try_from(state.heartbeat_interval_ms).unwrap_or(5_000);
    state
        .db
        .register_node(node.id, &request.agent_version, &hardware_json, score, interval, now)
        .await
        .map_err(gone_if_missing)?;
    let capabilities = capabilities(&request.hardware);
    state.db.set_node_capabilities(node.id, &capabilities).await?;
    tracing::info!(node = %node.id, name = %node.name, engines = %capabilities.engines,
        blender = %capabilities.blender_version, "node registered");
    state.bus.publish(Event::Worker(WorkerLive {
        node_id: node.id.into(),
        owner_id: node.owner,
        status: live_status(&node, now),
        metrics: None,
    }));
    Ok(Json(RegisterResponse {
        node_id: node.id.into(),
        name: node.name,
        heartbeat_interval_ms: state.heartbeat_interval_ms,
    }))
}

async fn heartbeat(
    State(state): State<AppState>,
    AgentNode(node): AgentNode,
    body: Result<Json<HeartbeatRequest>, JsonRejection>,
) -> Result<Json<HeartbeatResponse>, AgentApiError> {
    let Json(request) = body?;
    let now = now_ms();
    let point = metric_point(&request.metrics, now)?;
    let came_online = state.db.record_heartbeat(node.id, now).await.map_err(gone_if_missing)?;
    if came_online {
        tracing::info!(node = %node.id, "node back online");
    }
    state.db.record_metrics(node.id, &point).await?;
    let status = live_status(&node, now);
    state.bus.publish(Event::Worker(WorkerLive {
        node_id: node.id.into(),
        owner_id: node.owner,
        status,
        metrics: Some(point),
    }));
    Ok(Json(HeartbeatResponse {
        asleep: status == NodeStatus::Asleep,
        heartbeat_interval_ms: state.heartbeat_interval_ms,
    }))
}

async fn offline(State(state): State<AppState>, AgentNode(node): AgentNode) -> Result<StatusCode, AgentApiError> {
    if state.db.mark_node_offline(node.id, now_ms()).await? {
        tracing::info!(node = %node.id, "node signed off");
        let released = state.db.release_verdict_leases_of(node.id).await? > 0;
        state.publisher.publish(Changes::default().with_checks(released)).await;
        state.bus.publish(Event::Worker(WorkerLive {
            node_id: node.id.into(),
            owner_id: node.owner,
            status: NodeStatus::Offline,
            metrics: None,
        }));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_core::agent_protocol::{GpuInfo, GpuLive};

    #[test]
    fn gpu_figures_are_averaged_and_absent_without_gpus() {
        let gpu =
            |utilisation_percent, temperature_c| GpuLive { utilisation_percent, temperature_c, vram_used_bytes: 0 };
        let metrics =
            LiveMetrics { cpu_percent: 50.0, gpus: vec![gpu(20.0, 60.0), gpu(80.0, 70.0)], ..LiveMetrics::default() };
        let point = metric_point(&metrics, 1).expect("valid");
        assert_eq!((point.gpu_percent, point.gpu_temperature_c), (Some(50.0), Some(65.0)));
        let cpu_only = metric_point(&LiveMetrics { cpu_percent: 5.0, ..LiveMetrics::default() }, 1).expect("valid");
        assert_eq!(cpu_only.gpu_percent, None);
    }

    #[test]
    fn out_of_range_metrics_and_oversized_reports_are_refused() {
        for cpu_percent in [f32::NAN, -1.0, 101.0] {
            assert!(metric_point(&LiveMetrics { cpu_percent, ..LiveMetrics::default() }, 1).is_err(), "{cpu_percent}");
        }
        let hot = LiveMetrics {
            gpus: vec![GpuLive { utilisation_percent: 10.0, temperature_c: 999.0, vram_used_bytes: 0 }],
            ..LiveMetrics::default()
        };
        assert!(metric_point(&hot, 1).is_err());
        let many = Hardware { gpus: vec![GpuInfo::default(); MAX_DEVICES + 1], ..Hardware::default() };
        assert!(check_hardware("0.1.0", &many).is_err());
        let sneaky = Hardware { hostname: "box\u{1b}[31m".into(), ..Hardware::default() };
        assert!(check_hardware("0.1.0", &sneaky).is_err());
    }
}
