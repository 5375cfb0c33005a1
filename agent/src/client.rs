//! The coordinator's agent API as seen from a node: register, heartbeat, offline, with errors sorted by what the
//! agent should do about them (stop, or retry later).

use std::time::Duration;

use pictor_core::agent_protocol::{
    AgentError, HeartbeatRequest, HeartbeatResponse, NodeConfigFile, RegisterRequest, RegisterResponse, HEARTBEAT_PATH,
    OFFLINE_PATH, REGISTER_PATH,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::exec::shorten;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Stop: the token is wrong or was revoked.
    #[error("the coordinator does not know this token — re-download the config or re-issue the token")]
    Unauthorized,
    /// Stop: the owner disabled the node.
    #[error("the coordinator has disabled this node ({0}) — enable it in the dashboard, then restart the agent")]
    Disabled(String),
    /// Stop (or re-register): the coordinator understood the request and refused it.
    #[error("the coordinator refused the request: {0}")]
    Rejected(String),
    /// Retry later: no answer, a timeout, or the coordinator is failing.
    #[error("{0}")]
    Unreachable(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    pub fn new(config: &NodeConfigFile) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("pictor-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Unreachable(format!("cannot set up HTTP: {e}")))?;
        // The URL may carry a path prefix (a coordinator behind a reverse proxy), so paths are appended, not joined.
        let base = config.coordinator_url.trim_end_matches('/').to_owned();
        Ok(Self { http, base, token: config.token.clone() })
    }

    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse, ClientError> {
        self.post_json(REGISTER_PATH, request).await
    }

    pub async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse, ClientError> {
        self.post_json(HEARTBEAT_PATH, request).await
    }

    /// Tells the coordinator this node is going away; bounded by `timeout` because the agent is exiting.
    pub async fn offline(&self, timeout: Duration) -> Result<(), ClientError> {
        let request = self.http.post(self.url(OFFLINE_PATH)).bearer_auth(&self.token).timeout(timeout);
        let response = request.send().await.map_err(transport)?;
        check(response).await.map(drop)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, ClientError> {
        let request = self.http.post(self.url(path)).bearer_auth(&self.token).json(body);
        let response = check(request.send().await.map_err(transport)?).await?;
        response.json().await.map_err(|e| ClientError::Unreachable(format!("unreadable answer to {path}: {e}")))
    }
}

fn transport(error: reqwest::Error) -> ClientError {
    // reqwest's own message is "error sending request for url (…)" over a chain of causes; the innermost cause
    // says what happened ("Connection refused", "operation timed out").
    let mut root: &dyn std::error::Error = &error;
    while let Some(cause) = root.source() {
        root = cause;
    }
    match error.url() {
        Some(url) if !std::ptr::addr_eq(root, &error) => ClientError::Unreachable(format!("{url}: {root}")),
        _ => ClientError::Unreachable(error.to_string()),
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(classify(status, &body))
}

/// Sorts an error answer: 401 and 403 stop the agent, other client errors are refusals, and everything else
/// (5xx, a proxy's 408/429) means "try again later".
pub fn classify(status: StatusCode, body: &str) -> ClientError {
    let message = error_message(status, body);
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
        StatusCode::FORBIDDEN => ClientError::Disabled(message),
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
            ClientError::Unreachable(format!("HTTP {status}: {message}"))
        }
        s if s.is_client_error() => ClientError::Rejected(format!("HTTP {}: {message}", s.as_u16())),
        s => ClientError::Unreachable(format!("HTTP {s}: {message}")),
    }
}

/// The coordinator's `{"error": …}` sentence, or the start of whatever else answered (a proxy's page).
fn error_message(status: StatusCode, body: &str) -> String {
    if let Ok(AgentError { error }) = serde_json::from_str::<AgentError>(body) {
        return shorten(&error.replace('\n', " "), 300);
    }
    match body.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => shorten(line, 120),
        None => status.canonical_reason().unwrap_or("no details").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_token_and_a_disabled_node_stop_the_agent() {
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, r#"{"error":"unknown token"}"#),
            ClientError::Unauthorized
        ));
        let err = classify(StatusCode::FORBIDDEN, r#"{"error":"this node is disabled"}"#);
        assert!(matches!(&err, ClientError::Disabled(m) if m == "this node is disabled"), "{err}");
    }

    #[test]
    fn a_bad_request_carries_the_coordinators_sentence() {
        let err = classify(StatusCode::BAD_REQUEST, r#"{"error":"cpu_cores must be positive"}"#);
        assert!(matches!(&err, ClientError::Rejected(m) if m.ends_with("cpu_cores must be positive")), "{err}");
    }

    #[test]
    fn server_errors_and_proxies_mean_try_again() {
        for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::TOO_MANY_REQUESTS] {
            assert!(matches!(classify(status, "<html>\n<h1>Bad gateway</h1>"), ClientError::Unreachable(_)));
        }
        let err = classify(StatusCode::SERVICE_UNAVAILABLE, "");
        assert!(err.to_string().contains("Service Unavailable"), "{err}");
    }

    #[test]
    fn paths_are_appended_to_the_coordinator_url() {
        let config = |url: &str| NodeConfigFile {
            coordinator_url: url.into(),
            node_id: 1,
            token: "t".into(),
            blender_paths: vec![],
            work_dir: None,
        };
        let client = Client::new(&config("https://x.org/pictor/")).unwrap();
        assert_eq!(client.url(REGISTER_PATH), "https://x.org/pictor/api/agent/v1/register");
        let client = Client::new(&config("http://127.0.0.1:3000")).unwrap();
        assert_eq!(client.url(OFFLINE_PATH), "http://127.0.0.1:3000/api/agent/v1/offline");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let config = NodeConfigFile {
            coordinator_url: format!("http://127.0.0.1:{port}"),
            node_id: 1,
            token: "t".into(),
            blender_paths: vec![],
            work_dir: None,
        };
        let err = Client::new(&config).unwrap().offline(Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(&err, ClientError::Unreachable(m) if m.contains("onnect")), "{err}");
    }
}
