//! The coordinator's agent API as seen from a node: register, heartbeat, lease and report tasks, move scenes and
//! outputs, with errors sorted by what the agent should do about them (stop, drop the task, or retry later).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use pictor_core::agent_protocol::{
    done_path, fail_path, output_path, progress_path, scene_path, AgentError, DoneReport, FailureReport,
    HeartbeatRequest, HeartbeatResponse, LeaseRequest, NodeConfigFile, ProgressAnswer, ProgressReport, RegisterRequest,
    RegisterResponse, TaskAssignment, HEARTBEAT_PATH, LEASE_PATH, OFFLINE_PATH, REGISTER_PATH,
};
use pictor_core::ai::{ai_check_verdict_path, AiCheck, AiCheckLease, AiCheckVerdict, AI_CHECK_LEASE_PATH};
use pictor_core::verification::{
    verdict_path, verification_output_path, VerdictReport, VerificationAssignment, VerificationLeaseRequest,
    VERIFY_LEASE_PATH,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::exec::shorten;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A long poll is held open by the coordinator for up to `wait`; this much more is allowed for the answer.
const LEASE_GRACE: Duration = Duration::from_secs(15);
/// Scenes and outputs can be large and links slow: a transfer gets much longer than an API call.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3600);
/// The header that carries a body's SHA-256 (lowercase hex), both ways.
const SHA256_HEADER: &str = "x-pictor-sha256";

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
    /// Drop the task: its lease expired and was taken over, or the job was cancelled (HTTP 409).
    #[error("the lease on this task was lost")]
    LeaseLost,
    /// A download arrived but does not match its hash (retrying may help), or could not be stored here.
    #[error("{0}")]
    Download(String),
    /// An output file could not be read for upload.
    #[error("{0}")]
    LocalFile(String),
}

/// A scene stored by [`Client::download_scene`].
#[derive(Debug)]
pub struct DownloadedScene {
    /// What the body hashed to (it matched the coordinator's header when one was sent).
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Clone)]
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

    /// Asks for a task, waiting up to `wait` for one (only the owner's own jobs when `own_jobs_only`); `None` when
    /// there is no work.
    pub async fn lease(&self, wait: Duration, own_jobs_only: bool) -> Result<Option<TaskAssignment>, ClientError> {
        let body = LeaseRequest { wait_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), own_jobs_only };
        let request = self.http.post(self.url(LEASE_PATH)).bearer_auth(&self.token).json(&body);
        let response = check(request.timeout(wait + LEASE_GRACE).send().await.map_err(transport)?).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let task = response.json().await.map_err(|e| unreadable(LEASE_PATH, &e))?;
        Ok(Some(task))
    }

    /// The lines of an AI batch chunk this worker holds the lease of.
    pub async fn batch_input(
        &self,
        task_id: i64,
        attempt: i64,
    ) -> Result<Vec<pictor_core::ai_batch::BatchItem>, ClientError> {
        let path = pictor_core::ai_batch::batch_input_path(task_id);
        let request = self.http.get(self.url(&path)).bearer_auth(&self.token).query(&[("attempt", attempt)]);
        let response = check(request.send().await.map_err(transport)?).await?;
        response.json().await.map_err(|e| unreadable(&path, &e))
    }

    /// The body of a GET on an agent path, with query parameters (small payloads: datasets, checkpoints).
    pub async fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Vec<u8>, ClientError> {
        let request = self.http.get(self.url(path)).bearer_auth(&self.token).query(query).timeout(TRANSFER_TIMEOUT);
        let response = check(request.send().await.map_err(transport)?).await?;
        response.bytes().await.map(|bytes| bytes.to_vec()).map_err(|e| unreadable(path, &e))
    }

    /// A PUT of `body` with its SHA-256 to an agent path, with query parameters.
    pub async fn put_bytes(&self, path: &str, query: &[(&str, String)], body: Vec<u8>) -> Result<(), ClientError> {
        let sha256 = hex::encode(Sha256::digest(&body));
        let request = self
            .http
            .put(self.url(path))
            .bearer_auth(&self.token)
            .query(query)
            .header(SHA256_HEADER, sha256)
            .timeout(TRANSFER_TIMEOUT)
            .body(body);
        check(request.send().await.map_err(transport)?).await.map(drop)
    }

    /// Streams the job's scene into a temporary file beside `dest`, hashing it on the way, and renames it to `dest`
    /// only when it matches the coordinator's hash header; a scene is never held whole in memory.
    pub async fn download_scene(&self, job_id: i64, dest: &Path) -> Result<DownloadedScene, ClientError> {
        self.download_checked(&scene_path(job_id), dest, None, &format!("the scene of job {job_id}")).await
    }

    /// Streams one file of a hosted model into `dest` the same way; it must hash to `sha256`.
    pub async fn download_model_file(
        &self,
        model: &str,
        file: &str,
        sha256: &str,
        dest: &Path,
    ) -> Result<DownloadedScene, ClientError> {
        let path = pictor_core::ai::model_file_path(model, file);
        self.download_checked(&path, dest, Some(sha256), &format!("{file} of model {model}")).await
    }

    /// Downloads `path` into `dest` through a temporary file, checking the hash the coordinator announces (and
    /// `expected`, when given) before the file takes its name.
    async fn download_checked(
        &self,
        path: &str,
        dest: &Path,
        expected: Option<&str>,
        what: &str,
    ) -> Result<DownloadedScene, ClientError> {
        let request = self.http.get(self.url(path)).bearer_auth(&self.token).timeout(TRANSFER_TIMEOUT);
        let response = check(request.send().await.map_err(transport)?).await?;
        let announced = response.headers().get(SHA256_HEADER).and_then(|v| v.to_str().ok()).map(str::to_lowercase);
        let dir = dest.parent().unwrap_or(Path::new("."));
        let local = |e: std::io::Error| ClientError::Download(format!("cannot store {what} in {}: {e}", dir.display()));
        let temp = tempfile::Builder::new().prefix(".download-").tempfile_in(dir).map_err(local)?;
        let mut file = tokio::fs::File::from_std(temp.reopen().map_err(local)?);
        let (mut hasher, mut bytes) = (Sha256::new(), 0u64);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(transport)?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.sync_all().await.map_err(local)?;
        drop(file);
        let sha256 = hex::encode(hasher.finalize());
        let wanted = announced.into_iter().chain(expected.map(str::to_lowercase));
        for wanted in wanted {
            if wanted != sha256 {
                // The temporary file is deleted when `temp` is dropped.
                return Err(ClientError::Download(format!("{what} arrived damaged: hash {sha256}, expected {wanted}")));
            }
        }
        temp.persist(dest).map_err(|e| local(e.error))?;
        Ok(DownloadedScene { sha256, bytes })
    }

    pub async fn progress(&self, task_id: i64, report: &ProgressReport) -> Result<ProgressAnswer, ClientError> {
        self.post_json(&progress_path(task_id), report).await
    }

    /// Uploads one frame's image, streamed from `file`, with its SHA-256 so the coordinator can check it.
    pub async fn upload_output(&self, task_id: i64, frame: i64, attempt: i64, file: &Path) -> Result<(), ClientError> {
        let (sha256, bytes) = sha256_file(file).await?;
        let opened = tokio::fs::File::open(file)
            .await
            .map_err(|e| ClientError::LocalFile(format!("cannot read {}: {e}", file.display())))?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(opened));
        let request = self
            .http
            .put(self.url(&output_path(task_id, frame, attempt)))
            .bearer_auth(&self.token)
            .header(SHA256_HEADER, sha256)
            .header(reqwest::header::CONTENT_LENGTH, bytes)
            .timeout(TRANSFER_TIMEOUT)
            .body(body);
        check(request.send().await.map_err(transport)?).await.map(drop)
    }

    /// Asks for a check to make (checker nodes), waiting up to `wait`; `None` when nothing waits.
    pub async fn lease_verification(
        &self,
        wait: Duration,
        own_jobs_only: bool,
    ) -> Result<Option<VerificationAssignment>, ClientError> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let body = VerificationLeaseRequest { wait_ms, own_jobs_only };
        let request = self.http.post(self.url(VERIFY_LEASE_PATH)).bearer_auth(&self.token).json(&body);
        let response = check(request.timeout(wait + LEASE_GRACE).send().await.map_err(transport)?).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let assignment = response.json().await.map_err(|e| unreadable(VERIFY_LEASE_PATH, &e))?;
        Ok(Some(assignment))
    }

    /// Streams the worker's output of `frame` under check into `dest`.
    pub async fn download_verification_output(
        &self,
        verification_id: i64,
        frame: i64,
        dest: &Path,
    ) -> Result<(), ClientError> {
        let path = verification_output_path(verification_id, frame);
        let request = self.http.get(self.url(&path)).bearer_auth(&self.token).timeout(TRANSFER_TIMEOUT);
        let response = check(request.send().await.map_err(transport)?).await?;
        let local = |e: std::io::Error| ClientError::Download(format!("cannot store {}: {e}", dest.display()));
        let mut file = tokio::fs::File::create(dest).await.map_err(local)?;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            file.write_all(&chunk.map_err(transport)?).await.map_err(local)?;
        }
        file.flush().await.map_err(local)
    }

    pub async fn verdict(&self, verification_id: i64, report: &VerdictReport) -> Result<(), ClientError> {
        self.post_empty(&verdict_path(verification_id), report).await
    }

    /// Asks for an AI request to replay (checker nodes); `None` when none waits.
    pub async fn lease_ai_check(&self, lease: &AiCheckLease) -> Result<Option<AiCheck>, ClientError> {
        let request = self.http.post(self.url(AI_CHECK_LEASE_PATH)).bearer_auth(&self.token).json(lease);
        let response = check(request.send().await.map_err(transport)?).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        Ok(Some(response.json().await.map_err(|e| unreadable(AI_CHECK_LEASE_PATH, &e))?))
    }

    pub async fn ai_check_verdict(&self, id: i64, verdict: &AiCheckVerdict) -> Result<(), ClientError> {
        self.post_empty(&ai_check_verdict_path(id), verdict).await
    }

    pub async fn done(&self, task_id: i64, report: &DoneReport) -> Result<(), ClientError> {
        self.post_empty(&done_path(task_id), report).await
    }

    pub async fn fail(&self, task_id: i64, report: &FailureReport) -> Result<(), ClientError> {
        self.post_empty(&fail_path(task_id), report).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_json<B: Serialize, R: DeserializeOwned>(&self, path: &str, body: &B) -> Result<R, ClientError> {
        let request = self.http.post(self.url(path)).bearer_auth(&self.token).json(body);
        let response = check(request.send().await.map_err(transport)?).await?;
        response.json().await.map_err(|e| unreadable(path, &e))
    }

    /// A POST whose success answer has no body (204).
    async fn post_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        let request = self.http.post(self.url(path)).bearer_auth(&self.token).json(body);
        check(request.send().await.map_err(transport)?).await.map(drop)
    }
}

fn unreadable(path: &str, error: &reqwest::Error) -> ClientError {
    ClientError::Unreachable(format!("unreadable answer to {path}: {error}"))
}

/// The lowercase hex SHA-256 and size of a file, read in blocks off the async threads.
pub async fn sha256_file(path: &Path) -> Result<(String, u64), ClientError> {
    let owned = path.to_owned();
    let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
        let mut file = std::fs::File::open(&owned)?;
        let (mut hasher, mut buf, mut bytes) = (Sha256::new(), vec![0u8; 1 << 16], 0u64);
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok((hex::encode(hasher.finalize()), bytes));
            }
            hasher.update(&buf[..n]);
            bytes += n as u64;
        }
    })
    .await;
    let failed = |e: String| ClientError::LocalFile(format!("cannot read {}: {e}", path.display()));
    hashed.map_err(|e| failed(e.to_string()))?.map_err(|e| failed(e.to_string()))
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

/// Sorts an error answer: 401 and 403 stop the agent, 409 drops the task, other client errors are refusals, and everything else
/// (5xx, a proxy's 408/429) means "try again later".
pub fn classify(status: StatusCode, body: &str) -> ClientError {
    let message = error_message(status, body);
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
        StatusCode::FORBIDDEN => ClientError::Disabled(message),
        StatusCode::CONFLICT => ClientError::LeaseLost,
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
            allow_unsandboxed: false,
            serve_models: Vec::new(),
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
            allow_unsandboxed: false,
            serve_models: Vec::new(),
        };
        let err = Client::new(&config).unwrap().offline(Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(&err, ClientError::Unreachable(m) if m.contains("onnect")), "{err}");
    }

    #[test]
    fn a_conflict_means_the_lease_was_lost() {
        assert!(matches!(classify(StatusCode::CONFLICT, r#"{"error":"lease lost"}"#), ClientError::LeaseLost));
    }

    /// Answers one HTTP request with `response` and hands back the raw request it got.
    async fn serve_once(response: Vec<u8>) -> (Client, tokio::task::JoinHandle<Vec<u8>>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = NodeConfigFile {
            coordinator_url: format!("http://{}", listener.local_addr().unwrap()),
            node_id: 1,
            token: "t".into(),
            blender_paths: vec![],
            work_dir: None,
            allow_unsandboxed: false,
            serve_models: Vec::new(),
        };
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then as much body as Content-Length says.
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if n == 0 || request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            socket.write_all(&response).await.unwrap();
            socket.shutdown().await.unwrap();
            request
        });
        (Client::new(&config).unwrap(), server)
    }

    fn scene_response(body: &[u8], sha256: &str) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-pictor-sha256: {sha256}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        [head.as_bytes(), body].concat()
    }

    #[tokio::test]
    async fn a_scene_is_stored_under_its_name_when_its_hash_matches() {
        let body = b"BLENDER-v304 pretend scene";
        let sha = hex::encode(Sha256::digest(body));
        let (client, server) = serve_once(scene_response(body, &sha.to_uppercase())).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("scene.blend");
        let got = client.download_scene(4, &dest).await.unwrap();
        assert_eq!((got.sha256.as_str(), got.bytes), (sha.as_str(), body.len() as u64));
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.starts_with("GET /api/agent/v1/jobs/4/scene "), "{request}");
        assert!(request.to_lowercase().contains("authorization: bearer t\r\n"), "{request}");
    }

    #[tokio::test]
    async fn a_damaged_scene_is_an_error_and_leaves_no_file() {
        let (client, _server) = serve_once(scene_response(b"truncated", &"0".repeat(64))).await;
        let dir = tempfile::tempdir().unwrap();
        let err = client.download_scene(4, &dir.path().join("scene.blend")).await.unwrap_err();
        assert!(matches!(&err, ClientError::Download(m) if m.contains("damaged")), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the temporary file is removed");
    }

    #[tokio::test]
    async fn an_output_is_uploaded_with_its_hash_and_a_conflict_is_a_lost_lease() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("frame_0005.png");
        std::fs::write(&file, b"png bytes").unwrap();
        let (client, server) = serve_once(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec()).await;
        client.upload_output(12, 5, 2, &file).await.unwrap();
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.starts_with("PUT /api/agent/v1/tasks/12/frames/5?attempt=2 "), "{request}");
        let sha = hex::encode(Sha256::digest(b"png bytes"));
        assert!(request.to_lowercase().contains(&format!("x-pictor-sha256: {sha}\r\n")), "{request}");
        assert!(request.ends_with("png bytes"), "{request}");

        let conflict =
            b"HTTP/1.1 409 Conflict\r\ncontent-length: 20\r\nconnection: close\r\n\r\n{\"error\":\"too late\"}";
        let (client, _server) = serve_once(conflict.to_vec()).await;
        let err = client.upload_output(12, 5, 2, &file).await.unwrap_err();
        assert!(matches!(err, ClientError::LeaseLost), "{err}");
    }

    #[tokio::test]
    async fn an_unboxed_worker_asks_for_its_owners_jobs_only() {
        let (client, server) = serve_once(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec()).await;
        assert_eq!(client.lease(Duration::from_millis(50), true).await.unwrap(), None);
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.ends_with(r#""own_jobs_only":true}"#), "{request}");
    }

    #[tokio::test]
    async fn no_work_is_an_empty_lease() {
        let (client, server) = serve_once(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n".to_vec()).await;
        assert_eq!(client.lease(Duration::from_millis(50), false).await.unwrap(), None);
        let request = String::from_utf8(server.await.unwrap()).unwrap();
        assert!(request.ends_with(r#"{"wait_ms":50,"own_jobs_only":false}"#), "{request}");
    }
}
