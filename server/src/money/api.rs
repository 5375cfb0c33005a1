//! The ledger over REST (session or API key, same rules as the pages): credit and ledger (JSON or CSV), rewards,
//! payouts, notifications, the account's webhook, job estimates; for operators, grants and payout decisions; and
//! the payment provider's signed webhook, which credits an account once per payment id.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use pictor_app::ports::LedgerService;
use pictor_core::accounts::Viewer;
use pictor_core::jobs::JobForm;
use pictor_core::ledger::{ledger_csv, CreditView, Estimate, Payout, RewardsOverview, MAX_AMOUNT_MICRO};
use serde::Deserialize;
use serde_json::json;

use super::service::DbLedger;
use super::signature::{verify, SIGNATURE_HEADER};
use crate::api::workers::RestError;
use crate::clock::now_ms;
use crate::db::ledger::{LedgerError, Moved};
use crate::state::AppState;

/// Where the payment provider reports confirmed payments.
pub const PAYMENT_WEBHOOK_PATH: &str = "/api/v1/payments/webhook";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ledger", get(credit))
        .route("/api/v1/ledger.csv", get(credit_csv))
        .route("/api/v1/rewards", get(rewards))
        .route("/api/v1/payouts", post(request_payout))
        .route("/api/v1/notifications/read", post(read_notifications))
        .route("/api/v1/account/webhook", put(set_webhook))
        .route("/api/v1/jobs/estimate", post(estimate))
        .route("/api/v1/admin/grants", post(grant))
        .route("/api/v1/admin/payouts", get(requested_payouts))
        .route("/api/v1/admin/payouts/{id}", post(decide_payout))
        .route(PAYMENT_WEBHOOK_PATH, post(payment_webhook))
}

fn service(state: &AppState) -> &DbLedger {
    &state.services.ledger
}

#[derive(Debug, Deserialize)]
pub struct KindFilter {
    #[serde(default)]
    pub kind: Option<String>,
}

async fn credit(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(filter): Query<KindFilter>,
) -> Result<Json<CreditView>, RestError> {
    Ok(Json(service(&state).credit(&viewer, filter.kind).await?))
}

async fn credit_csv(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Query(filter): Query<KindFilter>,
) -> Result<Response, RestError> {
    let view = service(&state).credit(&viewer, filter.kind).await?;
    let headers = [
        (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (CONTENT_DISPOSITION, "attachment; filename=\"pictor-ledger.csv\"".to_string()),
    ];
    Ok((headers, ledger_csv(&view.entries)).into_response())
}

async fn rewards(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Json<RewardsOverview>, RestError> {
    Ok(Json(service(&state).rewards(&viewer).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// Credits, as typed: `12.5`.
    pub amount: String,
    pub address: String,
}

async fn request_payout(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<PayoutRequest>, JsonRejection>,
) -> Result<StatusCode, RestError> {
    let Json(request) = body?;
    service(&state).request_payout(&viewer, &request.amount, &request.address).await?;
    Ok(StatusCode::CREATED)
}

async fn read_notifications(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<StatusCode, RestError> {
    service(&state).mark_notifications_read(&viewer).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    #[serde(default)]
    pub secret: String,
}

async fn set_webhook(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<WebhookSettings>, JsonRejection>,
) -> Result<StatusCode, RestError> {
    let Json(settings) = body?;
    service(&state).set_webhook(&viewer, &settings.url, &settings.secret).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn estimate(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<JobForm>, JsonRejection>,
) -> Result<Json<Estimate>, RestError> {
    let Json(form) = body?;
    Ok(Json(service(&state).estimate(&viewer, form).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub user_id: i64,
    pub amount: String,
    #[serde(default)]
    pub memo: String,
}

async fn grant(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: Result<Json<Grant>, JsonRejection>,
) -> Result<StatusCode, RestError> {
    let Json(grant) = body?;
    service(&state).grant(&viewer, grant.user_id, &grant.amount, &grant.memo).await?;
    Ok(StatusCode::CREATED)
}

async fn requested_payouts(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Json<Vec<Payout>>, RestError> {
    Ok(Json(service(&state).requested_payouts(&viewer).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutDecision {
    pub paid: bool,
    pub reference: String,
}

async fn decide_payout(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
    body: Result<Json<PayoutDecision>, JsonRejection>,
) -> Result<StatusCode, RestError> {
    let Json(decision) = body?;
    service(&state).decide_payout(&viewer, id, decision.paid, &decision.reference).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the payment provider sends once a payment is confirmed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentConfirmed {
    /// The provider's id of the payment: each is credited once, whatever the number of deliveries.
    pub payment_id: String,
    pub user_id: i64,
    pub amount_micro: i64,
}

fn webhook_answer(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `POST /api/v1/payments/webhook`: the raw body signed with HMAC-SHA256 under the configured secret, in the
/// `x-pictor-signature: sha256=<hex>` header. A bad signature or body changes nothing; a replay is answered 200
/// without crediting again.
async fn payment_webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.ledger.payment_webhook_secret.as_deref() else {
        return webhook_answer(StatusCode::NOT_FOUND, "payments are not configured on this coordinator");
    };
    let signature = headers.get(SIGNATURE_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !verify(secret, &body, signature) {
        tracing::warn!("payment webhook with a bad signature refused");
        return webhook_answer(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let payment: PaymentConfirmed = match serde_json::from_slice(&body) {
        Ok(payment) => payment,
        Err(error) => return webhook_answer(StatusCode::BAD_REQUEST, &format!("bad body: {error}")),
    };
    let id = payment.payment_id.trim();
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return webhook_answer(StatusCode::BAD_REQUEST, "payment_id must be 1 to 200 printable characters");
    }
    if !(1..=MAX_AMOUNT_MICRO).contains(&payment.amount_micro) {
        return webhook_answer(StatusCode::BAD_REQUEST, "amount_micro must be positive and at most a billion credits");
    }
    let key = format!("payment:{id}");
    match state.engine.top_up(payment.user_id, payment.amount_micro, &key, "payment", id, now_ms()).await {
        Ok(top_up) => {
            let credited = top_up.moved == Moved::Now;
            tracing::info!(payment = id, user = payment.user_id, credited, "payment confirmed");
            Json(json!({ "credited": credited })).into_response()
        }
        Err(LedgerError::Db(crate::db::DbError::NotFound(_))) => webhook_answer(StatusCode::NOT_FOUND, "no such user"),
        Err(error) => {
            tracing::error!(%error, "crediting a payment failed");
            webhook_answer(StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}
