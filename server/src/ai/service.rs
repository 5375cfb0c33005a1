//! One AI request from start to end: limits, reservation, a worker found (and another if it dies before the first
//! token), the worker's events passed on as they come, settlement of what was delivered — whatever the caller does.

use std::time::{Duration, Instant};

use pictor_core::ai::{CatalogueModel, ModelKind, Prompt, Sampling, ToWorker};
use serde_json::json;
use tokio::sync::mpsc;

use super::billing::{self, ReserveError, Served};
use super::checks;
use super::gateway::{Gateway, WorkerEvent};
use super::limits::{Admission, KeyLimits};
use super::openai_wire::ApiError;
use crate::clock::now_ms;
use crate::config::AiConfig;
use crate::db::ai::{AiKey, NewRequest};
use crate::db::users::UserId;
use crate::db::{Db, DbError};

/// How often a request waiting for a worker looks again.
const DISPATCH_POLL: Duration = Duration::from_millis(25);

/// Who is calling: a user, through one of their API keys or a dashboard session.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: UserId,
    pub key: Option<AiKey>,
}

/// What the caller's side hears about its request, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Started {
        prompt_tokens: u32,
    },
    Token {
        text: String,
    },
    /// `cost_micro` is what the request was charged (known once it is settled).
    Finished {
        finish_reason: String,
        prompt_tokens: u32,
        completion_tokens: u32,
        cost_micro: i64,
        /// The worker's own time to its first token (the caller's wait beyond it is the gateway's).
        worker_first_token_ms: Option<u64>,
    },
    Embedded {
        vectors: Vec<Vec<f32>>,
        prompt_tokens: u32,
    },
    /// The request failed; after tokens were sent this ends the stream.
    Failed(ApiError),
}

/// The work a request asks of a worker.
#[derive(Debug, Clone)]
pub enum Work {
    Generate {
        prompt: Prompt,
        sampling: Sampling,
        kind: &'static str,
    },
    /// Vectors of `inputs`: an embedding model's, a classifier's class probabilities, or (`sentence_vectors`) a
    /// fine-tuned text classifier's encoder vectors.
    Embed {
        inputs: Vec<String>,
        sentence_vectors: bool,
    },
}

impl Work {
    fn kind(&self) -> &'static str {
        match self {
            Work::Generate { kind, .. } => kind,
            Work::Embed { .. } => "embedding",
        }
    }

    fn message(&self, request: &str, model: &str) -> ToWorker {
        match self {
            Work::Generate { prompt, sampling, .. } => ToWorker::Generate {
                request: request.into(),
                model: model.into(),
                prompt: prompt.clone(),
                sampling: sampling.clone(),
            },
            Work::Embed { inputs, sentence_vectors } => ToWorker::Embed {
                request: request.into(),
                model: model.into(),
                inputs: inputs.clone(),
                sentence_vectors: *sentence_vectors,
            },
        }
    }
}

/// The AI API's service: shared by the OpenAI routes and the dashboard's playground.
#[derive(Clone)]
pub struct AiService {
    pub db: Db,
    pub gateway: Gateway,
    /// API keys read a moment ago (no database write on each request's path).
    pub keys: super::key_cache::KeyCache,
    pub limits: KeyLimits,
    pub config: AiConfig,
    pub checker_share_percent: i64,
    /// Tells the caller's dashboard when a request of theirs is settled.
    pub bus: crate::events::EventBus,
}

/// A request admitted and paid for up front, not yet served.
pub struct Ticket {
    pub id: String,
    pub user: UserId,
    pub model: CatalogueModel,
    pub work: Work,
    admission: Admission,
}

impl AiService {
    /// The model `caller` asks for, if they may call it and it does this kind of work.
    pub async fn model(&self, caller: &Caller, id: &str, kind: ModelKind) -> Result<CatalogueModel, ApiError> {
        let model = self.db.ai_model_for(caller.user, id).await.map_err(internal)?;
        match model {
            Some(model) if model.kind == kind => Ok(model),
            Some(model) => Err(ApiError::invalid(
                Some("model"),
                format!(
                    "'{}' is a {} model; this endpoint needs a {} model",
                    model.id,
                    model.kind.as_str(),
                    kind.as_str()
                ),
            )),
            None => Err(ApiError::unknown_model(id)),
        }
    }

    /// Admits the request under its key's limits and budget and reserves the most it can cost.
    pub async fn begin(
        &self,
        caller: &Caller,
        id: String,
        model: CatalogueModel,
        work: Work,
        most_tokens: (u64, u64),
    ) -> Result<Ticket, ApiError> {
        let now = now_ms();
        let admission =
            self.limits.admit(caller.key.as_ref(), now).map_err(|e| ApiError::rate_limited(e.to_string()))?;
        let reserve = pictor_core::ai::cost_micro(
            most_tokens.0,
            most_tokens.1,
            model.input_price_micro_per_m,
            model.output_price_micro_per_m,
        );
        if let Some(key) = &caller.key {
            if let Some(budget) = key.budget_micro {
                let spent = self.db.ai_key_spent(key.id).await.map_err(internal)?;
                if spent + reserve > budget {
                    return Err(ApiError::rate_limited(format!(
                        "this API key's budget of {budget} micro-credits would be exceeded ({spent} spent or reserved)"
                    )));
                }
            }
        }
        let request = NewRequest {
            id: &id,
            user: caller.user,
            api_key: caller.key.as_ref().map(|key| key.id),
            model: &model.id,
            kind: work.kind(),
            reserved_micro: reserve,
            reserved_welcome_micro: 0,
            created_at_ms: now,
        };
        let mut tx = self.db.begin_write().await.map_err(internal)?;
        match billing::reserve(&mut tx, &request, now).await {
            Ok(()) => tx.commit().await.map_err(|e| internal(e.into()))?,
            Err(ReserveError::NotEnoughCredit { available, needed }) => {
                return Err(ApiError::no_credit(format!(
                    "not enough credit for this request: it may cost up to {needed} micro-credits and {available} are \
                     available; top up on the Credit page"
                )))
            }
            Err(ReserveError::Duplicate(id)) => {
                return Err(ApiError::invalid(None, format!("request id {id} was used before")))
            }
            Err(ReserveError::Db(error)) => return Err(internal(error)),
        }
        Ok(Ticket { id, user: caller.user, model, work, admission })
    }

    /// Serves a ticket: its outputs go to `out` as they come; returns when it is settled. `restartable` says the
    /// caller has seen nothing yet even after tokens (a non-streaming answer), so a worker lost mid-answer is
    /// replaced without the caller noticing.
    pub async fn serve(&self, ticket: Ticket, out: mpsc::Sender<Output>, restartable: bool) {
        let started = Instant::now();
        let mut tried: Vec<u64> = Vec::new();
        // Who is paid: set by each dispatch, cleared when nobody served the request.
        let mut worker: Option<(crate::db::NodeId, UserId)>;
        let mut engine = String::new();
        let mut prompt_tokens = 0u32;
        let mut token_ids: Vec<u32> = Vec::new();
        let mut ttft_ms = None;
        let mut outcome = "failed";
        // The last thing the caller hears is sent after settlement, so once they have it the ledger agrees.
        let mut last: Option<Output> = None;
        'attempts: loop {
            let Some(mut dispatched) = self.dispatch(&ticket, &tried, &out).await else {
                if out.is_closed() {
                    outcome = "cancelled";
                } else {
                    last = Some(Output::Failed(ApiError::unavailable(format!(
                        "no worker holding '{}' could take this request in time; retry later",
                        ticket.model.id
                    ))));
                }
                worker = None;
                break;
            };
            tried.push(dispatched.link);
            worker = Some((dispatched.node, dispatched.worker_owner));
            engine = dispatched.engine.clone();
            loop {
                let event = tokio::select! {
                    event = dispatched.events.recv() => event.unwrap_or(WorkerEvent::Gone),
                    () = out.closed() => { outcome = "cancelled"; break 'attempts; }
                };
                match event {
                    WorkerEvent::Started { prompt_tokens: tokens } => {
                        prompt_tokens = tokens;
                        if out.send(Output::Started { prompt_tokens: tokens }).await.is_err() {
                            outcome = "cancelled";
                            break 'attempts;
                        }
                    }
                    WorkerEvent::Token { id, text } => {
                        ttft_ms.get_or_insert(started.elapsed().as_millis() as i64);
                        if out.send(Output::Token { text }).await.is_err() {
                            outcome = "cancelled";
                            break 'attempts;
                        }
                        token_ids.push(id);
                    }
                    WorkerEvent::Finished { finish_reason, first_token_ms, .. } => {
                        self.gateway.finished(&ticket.id);
                        let completion_tokens = token_ids.len() as u32;
                        last = Some(Output::Finished {
                            finish_reason,
                            prompt_tokens,
                            completion_tokens,
                            cost_micro: 0,
                            worker_first_token_ms: first_token_ms,
                        });
                        outcome = "ok";
                        break 'attempts;
                    }
                    WorkerEvent::Embedded { vectors, prompt_tokens: tokens } => {
                        self.gateway.finished(&ticket.id);
                        prompt_tokens = tokens;
                        ttft_ms = Some(started.elapsed().as_millis() as i64);
                        last = Some(Output::Embedded { vectors, prompt_tokens: tokens });
                        outcome = "ok";
                        break 'attempts;
                    }
                    WorkerEvent::Failed { message, caller_error: true } => {
                        self.gateway.finished(&ticket.id);
                        last = Some(Output::Failed(ApiError::invalid(None, message)));
                        // The caller's mistake costs nothing and pays nobody.
                        worker = None;
                        token_ids.clear();
                        break 'attempts;
                    }
                    WorkerEvent::Failed { caller_error: false, .. } | WorkerEvent::Gone => {
                        if token_ids.is_empty() || restartable {
                            tracing::warn!(request = %ticket.id, node = %dispatched.node, "worker lost a request; trying another");
                            token_ids.clear();
                            prompt_tokens = 0;
                            ttft_ms = None;
                            continue 'attempts;
                        }
                        last = Some(Output::Failed(ApiError::unavailable(
                            "the worker serving this request stopped; only the tokens sent were charged",
                        )));
                        break 'attempts;
                    }
                }
            }
        }
        // Is this answer replayed by a checker? Fresh and flagged workers always, trusted ones by sample.
        let check = match worker {
            // A finished answer, or the tokens a cut-short stream delivered.
            Some((node, _)) if outcome == "ok" || !token_ids.is_empty() => {
                let trust = self.db.worker_trust(node).await;
                trust.is_ok_and(|trust| checks::sampled(&trust, rand::random()))
            }
            _ => false,
        };
        let replay = match (&ticket.work, &last) {
            (Work::Generate { prompt, sampling, .. }, _) if !token_ids.is_empty() => {
                Some(json!({ "prompt": prompt, "sampling": sampling, "token_ids": token_ids }).to_string())
            }
            // Vectors are large: kept only when a checker will compare them.
            (Work::Embed { inputs, sentence_vectors }, Some(Output::Embedded { vectors, .. })) if check => {
                let packed: Vec<String> = vectors.iter().map(|v| pictor_core::ai::packed_vectors::encode(v)).collect();
                let mut replay = json!({ "inputs": inputs, "vectors": packed });
                if *sentence_vectors {
                    replay["sentence_vectors"] = json!(true);
                }
                Some(replay.to_string())
            }
            _ => None,
        };
        let check = (check && replay.is_some()).then(|| (worker.map(|(node, _)| node), engine.clone()));
        let served = Served {
            request: &ticket.id,
            worker,
            prompt_tokens: u64::from(prompt_tokens),
            completion_tokens: token_ids.len() as u64,
            input_price_micro_per_m: ticket.model.input_price_micro_per_m,
            output_price_micro_per_m: ticket.model.output_price_micro_per_m,
            checker_share_percent: self.checker_share_percent,
            ttft_ms,
            duration_ms: started.elapsed().as_millis() as i64,
            outcome,
            replay,
        };
        ticket.admission.used_tokens(i64::from(prompt_tokens) + token_ids.len() as i64, now_ms());
        match self.settle(&served, &ticket.model.id, check).await {
            Ok(charged) => {
                if let Some(Output::Finished { cost_micro, .. }) = &mut last {
                    *cost_micro = charged.unwrap_or(0);
                }
                self.bus.publish(pictor_core::events::Event::AiUsage(pictor_core::ai::AiUsageLive {
                    user_id: ticket.user,
                    request: ticket.id.clone(),
                }))
            }
            // The row stays reserved; the sweep settles it later (nothing is lost, nothing paid twice).
            Err(error) => tracing::error!(request = %ticket.id, %error, "settling an AI request failed"),
        }
        if let Some(last) = last {
            let _ = out.send(last).await;
        }
    }

    /// Settles the request and, when it was sampled, opens its check in the same transaction.
    async fn settle(
        &self,
        served: &Served<'_>,
        model: &str,
        check: Option<(Option<crate::db::NodeId>, String)>,
    ) -> Result<Option<i64>, DbError> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let settled = billing::settle(&mut tx, served, now).await?;
        if let (Some(_), Some((Some(node), engine))) = (settled, check) {
            crate::db::ai_checks::open(&mut tx, served.request, node, model, &engine, now).await?;
        }
        tx.commit().await?;
        Ok(settled)
    }

    /// Hands the ticket to a worker holding its model, waiting up to `dispatch_wait_ms` for one to be free of
    /// `tried`; `None` if none came (or the caller left).
    async fn dispatch(
        &self,
        ticket: &Ticket,
        tried: &[u64],
        out: &mpsc::Sender<Output>,
    ) -> Option<super::gateway::Dispatched> {
        let started = Instant::now();
        let mut cold_start_asked = false;
        loop {
            let message = ticket.work.message(&ticket.id, &ticket.model.id);
            if let Some(dispatched) = self.gateway.dispatch(&ticket.id, &ticket.model.id, message, tried) {
                return Some(dispatched);
            }
            // Nobody holds the model: a worker is asked to fetch and load it, and the request waits longer for it.
            let (warm, _) = self.gateway.placement(&ticket.model.id);
            if warm == 0 && !cold_start_asked {
                cold_start_asked = true;
                if let Err(error) = super::placement::cold_start(&self.db, &self.gateway, &ticket.model.id).await {
                    tracing::warn!(%error, model = %ticket.model.id, "asking a worker to load a model failed");
                }
            }
            let (warm, loading) = self.gateway.placement(&ticket.model.id);
            let wait_ms = if warm == 0 && loading > 0 {
                self.config.cold_start_wait_ms.max(self.config.dispatch_wait_ms)
            } else {
                self.config.dispatch_wait_ms
            };
            if started.elapsed() >= Duration::from_millis(wait_ms) || out.is_closed() {
                return None;
            }
            tokio::time::sleep(DISPATCH_POLL).await;
        }
    }
}

fn internal(error: DbError) -> ApiError {
    tracing::error!(%error, "AI request failed in the database");
    ApiError::internal()
}
