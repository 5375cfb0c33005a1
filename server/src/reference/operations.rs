//! Every HTTP operation the coordinator answers, with its group, who may call it and what it does: the source of
//! the OpenAPI document (a test checks it against the routers' own `.route(…)` calls).

use pictor_core::agent_protocol::{HEARTBEAT_PATH, LEASE_PATH, OFFLINE_PATH, REGISTER_PATH};
use pictor_core::ai::AI_CHECK_LEASE_PATH;
use pictor_core::verification::VERIFY_LEASE_PATH;

use crate::ai::hosting::MODEL_FILES_PATH;
use crate::ai::openai_api::PLAYGROUND_PATH;
use crate::ai::worker_link::WORKER_LINK_PATH;
use crate::money::api::PAYMENT_WEBHOOK_PATH;

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// Anyone.
    Public,
    /// A signed-in browser: the session cookie (and, for changes, a same-origin `Origin`).
    Session,
    /// `Authorization: Bearer <API key>` (created on the Account page or with `pictor admin api-key`).
    ApiKey,
    /// Either: the dashboard's REST API serves a signed-in browser and scripts holding an API key alike.
    Account,
    /// `Authorization: Bearer <node token>` of a worker or checker (from its config file).
    Node,
    /// The payment provider, by its HMAC signature header.
    Signed,
}

/// The groups of the reference, in the order it lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    OpenAi,
    Dashboard,
    DashboardAi,
    SignIn,
    Agent,
    Operations,
}

impl Group {
    pub const ALL: [Group; 6] =
        [Group::OpenAi, Group::Dashboard, Group::DashboardAi, Group::SignIn, Group::Agent, Group::Operations];

    pub fn name(self) -> &'static str {
        match self {
            Group::OpenAi => "OpenAI-compatible API (/v1)",
            Group::Dashboard => "Dashboard API (/api/v1)",
            Group::DashboardAi => "Dashboard AI (/api/ai)",
            Group::SignIn => "Sign-in (/auth)",
            Group::Agent => "Agent protocol (/api/agent)",
            Group::Operations => "Operations",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Group::OpenAi => {
                "OpenAI's shapes: any OpenAI client works with base_url = <coordinator>/v1 and an API key."
            }
            Group::Dashboard => "What the dashboard does, for scripts: jobs, workers, checkers, credit and rewards.",
            Group::DashboardAi => "The AI page's own calls: the /v1 operations with the session instead of a key.",
            Group::SignIn => "Google (any OpenID Connect provider) and Aptos Petra wallet sign-in.",
            Group::Agent => "What pictor-agent (worker or checker) calls: register, lease, report, upload, verify.",
            Group::Operations => "Health, metrics and the payment provider's webhook.",
        }
    }
}

/// One operation: method, path (axum's `{name}` parameters), group, caller and a one-line summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub group: Group,
    pub caller: Caller,
    pub summary: &'static str,
}

const fn op(
    method: &'static str,
    path: &'static str,
    group: Group,
    caller: Caller,
    summary: &'static str,
) -> Operation {
    Operation { method, path, group, caller, summary }
}

use Caller::{Account, ApiKey, Node, Public, Session, Signed};
use Group::{Agent, Dashboard, DashboardAi, OpenAi, Operations, SignIn};

/// Every operation, grouped as the reference lists them.
pub const OPERATIONS: &[Operation] = &[
    // OpenAI-compatible API.
    op("GET", "/v1/models", OpenAi, ApiKey, "List the models the network serves and the caller's own deployed ones"),
    op("GET", "/v1/models/{id}", OpenAi, ApiKey, "Describe one model"),
    op(
        "POST",
        "/v1/chat/completions",
        OpenAi,
        ApiKey,
        "Chat completion (streamed with \"stream\": true), per-token billing",
    ),
    op("POST", "/v1/completions", OpenAi, ApiKey, "Text completion from a prompt"),
    op(
        "POST",
        "/v1/embeddings",
        OpenAi,
        ApiKey,
        "Sentence embeddings (an embedding model or a deployed text classifier)",
    ),
    op("POST", "/v1/classifications", OpenAi, ApiKey, "Class predictions of a deployed classifier (pixels or texts)"),
    op("POST", "/v1/files", OpenAi, ApiKey, "Upload a JSONL batch input (multipart, purpose=batch, streamed)"),
    op("GET", "/v1/files", OpenAi, ApiKey, "List the caller's files"),
    op("GET", "/v1/files/{id}", OpenAi, ApiKey, "Describe a file"),
    op("DELETE", "/v1/files/{id}", OpenAi, ApiKey, "Delete a file"),
    op("GET", "/v1/files/{id}/content", OpenAi, ApiKey, "Download a file (batch input, output or errors)"),
    op("POST", "/v1/batches", OpenAi, ApiKey, "Create a batch from an uploaded file; every line is validated first"),
    op("GET", "/v1/batches", OpenAi, ApiKey, "List the caller's batches"),
    op("GET", "/v1/batches/{id}", OpenAi, ApiKey, "A batch's state, request counts and output/error files"),
    op("POST", "/v1/batches/{id}/cancel", OpenAi, ApiKey, "Cancel a batch; lines already done are kept and returned"),
    op(
        "POST",
        "/v1/trainings",
        OpenAi,
        ApiKey,
        "Start a training run: template, hyperparameters and budget in the query, the dataset as the body",
    ),
    op("GET", "/v1/trainings", OpenAi, ApiKey, "List the caller's training runs"),
    op("GET", "/v1/trainings/{id}", OpenAi, ApiKey, "A run's state, curves and checkpoints"),
    op("POST", "/v1/trainings/{id}/cancel", OpenAi, ApiKey, "Cancel a run; its checkpoints are kept"),
    op(
        "POST",
        "/v1/trainings/{id}/resume",
        OpenAi,
        ApiKey,
        "Resume a cancelled run as a new run from its last checkpoint",
    ),
    op("GET", "/v1/trainings/{id}/checkpoints/{step}", OpenAi, ApiKey, "Download a checkpoint (safetensors)"),
    op("GET", "/v1/trainings/{id}/model", OpenAi, ApiKey, "Download the trained weights (safetensors)"),
    op(
        "POST",
        "/v1/trainings/{id}/deploy",
        OpenAi,
        ApiKey,
        "Register the trained run as the caller's model and deploy it",
    ),
    // Dashboard API.
    op("GET", "/api/v1/me", Dashboard, Account, "The signed-in user"),
    op(
        "GET",
        "/api/v1/events",
        Dashboard,
        Public,
        "Server-sent events: network samples, the viewer's tasks, nodes, notifications, AI usage",
    ),
    op("PUT", "/api/v1/scenes", Dashboard, Account, "Upload a .blend scene (streamed; answers its key and sha256)"),
    op("GET", "/api/v1/jobs", Dashboard, Account, "List the viewer's jobs"),
    op("POST", "/api/v1/jobs", Dashboard, Account, "Submit a render job for an uploaded scene"),
    op("POST", "/api/v1/jobs/estimate", Dashboard, Account, "Estimate a job's cost before submitting it"),
    op("GET", "/api/v1/jobs/{id}", Dashboard, Account, "A job with its tasks, progress and check standing"),
    op("POST", "/api/v1/jobs/{id}/cancel", Dashboard, Account, "Cancel a job; the rest of its escrow is refunded"),
    op("POST", "/api/v1/jobs/{id}/rerender", Dashboard, Account, "Render again all or some of a job's tasks"),
    op("GET", "/api/v1/jobs/{id}/frames/{frame}", Dashboard, Account, "Download one rendered frame"),
    op("GET", "/api/v1/jobs/{id}/outputs.zip", Dashboard, Account, "Download every rendered frame as a zip"),
    op("GET", "/api/v1/jobs/{id}/tasks/{task}/attempts", Dashboard, Account, "A task's attempts with their logs"),
    op("GET", "/api/v1/workers", Dashboard, Account, "List the viewer's workers"),
    op("POST", "/api/v1/workers", Dashboard, Account, "Add a worker: answers its config file with a fresh token"),
    op("GET", "/api/v1/workers/{id}", Dashboard, Account, "One worker's details"),
    op("DELETE", "/api/v1/workers/{id}", Dashboard, Account, "Remove a worker"),
    op("PUT", "/api/v1/workers/{id}/settings", Dashboard, Account, "Set a worker's price, schedule, tags and limits"),
    op(
        "POST",
        "/api/v1/workers/{id}/token",
        Dashboard,
        Account,
        "Issue a worker a new token (the old one stops working)",
    ),
    op("GET", "/api/v1/workers/{id}/tasks", Dashboard, Account, "A worker's task history, a page at a time"),
    op("GET", "/api/v1/checkers", Dashboard, Account, "List the viewer's checker nodes"),
    op("POST", "/api/v1/checkers", Dashboard, Account, "Add a checker: answers its config file with a fresh token"),
    op("DELETE", "/api/v1/checkers/{id}", Dashboard, Account, "Remove a checker"),
    op("POST", "/api/v1/checkers/{id}/token", Dashboard, Account, "Issue a checker a new token"),
    op("GET", "/api/v1/ledger", Dashboard, Account, "Credit, reserved, earnings and the ledger's entries"),
    op("GET", "/api/v1/ledger.csv", Dashboard, Account, "The ledger as CSV"),
    op("GET", "/api/v1/rewards", Dashboard, Account, "Earnings, epochs, points, leaderboard and payouts"),
    op("POST", "/api/v1/payouts", Dashboard, Account, "Request a payout of earnings"),
    op("POST", "/api/v1/notifications/read", Dashboard, Account, "Mark notifications read"),
    op(
        "PUT",
        "/api/v1/account/webhook",
        Dashboard,
        Account,
        "Set the URL that receives the viewer's signed event webhooks",
    ),
    op("POST", "/api/v1/admin/grants", Dashboard, Account, "Operators: grant credit to a user"),
    op("GET", "/api/v1/admin/payouts", Dashboard, Account, "Operators: payouts waiting for a decision"),
    op("POST", "/api/v1/admin/payouts/{id}", Dashboard, Account, "Operators: mark a payout paid or refused"),
    op("GET", "/api/v1/ai/models", Dashboard, Account, "List the viewer's uploaded models"),
    op("POST", "/api/v1/ai/models", Dashboard, Account, "Register an uploaded model (checked before it is accepted)"),
    op("DELETE", "/api/v1/ai/models/{id}", Dashboard, Account, "Remove an uploaded model"),
    op(
        "PUT",
        "/api/v1/ai/models/{id}/deployment",
        Dashboard,
        Account,
        "Deploy or undeploy a model (warm workers, price)",
    ),
    op("PUT", MODEL_FILES_PATH, Dashboard, Account, "Upload a model file (safetensors, GGUF, tokenizer), streamed"),
    // Dashboard AI.
    op("POST", PLAYGROUND_PATH, DashboardAi, Session, "Ask a model from the Playground (streamed)"),
    op("POST", "/api/ai/classifications", DashboardAi, Session, "/v1/classifications for the Playground"),
    op("POST", "/api/ai/files", DashboardAi, Session, "/v1/files for the Batches panel"),
    op("GET", "/api/ai/files/{id}/content", DashboardAi, Session, "/v1/files/{id}/content for the Batches panel"),
    op("POST", "/api/ai/batches", DashboardAi, Session, "/v1/batches for the Batches panel"),
    op("GET", "/api/ai/batches", DashboardAi, Session, "List the viewer's batches"),
    op("POST", "/api/ai/batches/{id}/cancel", DashboardAi, Session, "Cancel a batch"),
    op("POST", "/api/ai/trainings", DashboardAi, Session, "/v1/trainings for the Training panel"),
    op("GET", "/api/ai/trainings", DashboardAi, Session, "List the viewer's training runs"),
    op("GET", "/api/ai/trainings/{id}", DashboardAi, Session, "A run's state, curves and checkpoints"),
    op("POST", "/api/ai/trainings/{id}/cancel", DashboardAi, Session, "Cancel a run"),
    op("POST", "/api/ai/trainings/{id}/resume", DashboardAi, Session, "Resume a cancelled run"),
    op("GET", "/api/ai/trainings/{id}/checkpoints/{step}", DashboardAi, Session, "Download a checkpoint"),
    op("GET", "/api/ai/trainings/{id}/model", DashboardAi, Session, "Download the trained weights"),
    op("POST", "/api/ai/trainings/{id}/deploy", DashboardAi, Session, "Deploy the trained run"),
    // Sign-in.
    op("GET", "/auth/oidc/start", SignIn, Public, "Start OpenID Connect sign-in (PKCE): redirects to the provider"),
    op("GET", "/auth/oidc/callback", SignIn, Public, "The provider's redirect back: checks state, nonce and ID token"),
    op("POST", "/auth/petra/challenge", SignIn, Public, "A one-time message for the Petra wallet to sign"),
    op("POST", "/auth/petra/verify", SignIn, Public, "Verify the wallet's ed25519 signature and sign in"),
    op("POST", "/auth/siwa/input", SignIn, Public, "Sign in with Aptos: the input the wallet signs"),
    op("POST", "/auth/siwa/verify", SignIn, Public, "Sign in with Aptos: verify the wallet's output"),
    op("POST", "/auth/logout", SignIn, Session, "Sign out this browser"),
    op("POST", "/auth/logout-everywhere", SignIn, Session, "Sign out every session of the user"),
    // Agent protocol.
    op("POST", REGISTER_PATH, Agent, Node, "Register a node: hardware, engines, Blender version, workloads"),
    op("POST", HEARTBEAT_PATH, Agent, Node, "Heartbeat: the node is alive (and its loaded AI models)"),
    op("POST", OFFLINE_PATH, Agent, Node, "Sign off: leases and checks are given back at once"),
    op("POST", LEASE_PATH, Agent, Node, "Long-poll for a task (render, AI batch chunk, training run)"),
    op("GET", "/api/agent/v1/jobs/{job}/scene", Agent, Node, "Download a leased job's scene"),
    op(
        "POST",
        "/api/agent/v1/tasks/{task}/progress",
        Agent,
        Node,
        "Report progress and the log's tail; extends the lease",
    ),
    op(
        "PUT",
        "/api/agent/v1/tasks/{task}/frames/{frame}",
        Agent,
        Node,
        "Upload one output (a frame, a batch chunk's output, trained weights)",
    ),
    op("POST", "/api/agent/v1/tasks/{task}/done", Agent, Node, "Finish an attempt: every output uploaded"),
    op("POST", "/api/agent/v1/tasks/{task}/fail", Agent, Node, "Report an attempt failed, with the error and log"),
    op("GET", "/api/agent/v1/tasks/{task}/input", Agent, Node, "A batch chunk's input lines"),
    op("GET", "/api/agent/v1/tasks/{task}/dataset", Agent, Node, "A training run's dataset"),
    op(
        "GET",
        "/api/agent/v1/tasks/{task}/resume",
        Agent,
        Node,
        "Where a training attempt goes on from (a checkpoint, or none)",
    ),
    op(
        "GET",
        "/api/agent/v1/tasks/{task}/checkpoints/{step}",
        Agent,
        Node,
        "Download a checkpoint (to resume, or to replay as a checker)",
    ),
    op(
        "PUT",
        "/api/agent/v1/tasks/{task}/checkpoints/{step}",
        Agent,
        Node,
        "Upload a checkpoint with its curves' point",
    ),
    op("POST", VERIFY_LEASE_PATH, Agent, Node, "Checkers: long-poll for a check (render crops or a training replay)"),
    op(
        "GET",
        "/api/agent/v1/verifications/{id}/frames/{frame}",
        Agent,
        Node,
        "Checkers: the worker's output to compare",
    ),
    op("POST", "/api/agent/v1/verifications/{id}/verdict", Agent, Node, "Checkers: the verdict with its measurements"),
    op("GET", WORKER_LINK_PATH, Agent, Node, "The AI link: a WebSocket carrying inference requests to the worker"),
    op("GET", "/api/agent/ai/models/{id}/files/{name}", Agent, Node, "Download an uploaded model's file to serve it"),
    op("POST", AI_CHECK_LEASE_PATH, Agent, Node, "Checkers: long-poll for an AI answer to replay"),
    op("POST", "/api/agent/ai/checks/{id}", Agent, Node, "Checkers: the replay's verdict"),
    // Operations.
    op("GET", "/healthz", Operations, Public, "Liveness and the database's health"),
    op("GET", "/metrics", Operations, Public, "Prometheus metrics"),
    op("GET", "/api/openapi.json", Operations, Public, "This document"),
    op("POST", PAYMENT_WEBHOOK_PATH, Operations, Signed, "The payment provider's signed top-up notifications"),
];
