//! `spawn_app`: a coordinator on a fresh database and a random port, stopped when the test ends.

use std::time::Duration;

use pictor_server::config::Config;
use pictor_server::db::{Backend, Db};
use pictor_server::startup::Application;
use pictor_server::testing::TestDb;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: Db,
    /// The database the coordinator serves, for a second process or handle on it.
    pub database_url: String,
    pub shutdown: CancellationToken,
    pub server: Option<JoinHandle<Result<(), pictor_server::startup::StartupError>>>,
    _test_db: TestDb,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request reaches the coordinator")
    }

    /// The origin browsers on this coordinator send in `Origin`.
    pub fn origin(&self) -> String {
        self.address.clone()
    }

    /// A POST as the dashboard's own pages make it (same-origin).
    pub async fn post_json(&self, path: &str, body: &serde_json::Value, cookie: Option<&str>) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).header("Origin", self.origin()).json(body);
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        request.send().await.expect("request reaches the coordinator")
    }

    /// Any same-origin request with an optional JSON body, signed in with `cookie`.
    pub async fn send_as(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        cookie: &str,
    ) -> reqwest::Response {
        let mut request =
            self.client.request(method, self.url(path)).header("Origin", self.origin()).header("Cookie", cookie);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request reaches the coordinator")
    }

    /// Signs a new account in directly (no wallet) and returns its `Cookie` header value.
    pub async fn sign_in_as(&self, name: &str) -> (i64, String) {
        use pictor_core::accounts::IdentityProvider;
        use pictor_server::db::accounts::VerifiedIdentity;
        let identity = VerifiedIdentity {
            provider: IdentityProvider::Oidc,
            subject: format!("test|{name}"),
            label: format!("{name}@example.com"),
            suggested_name: name.to_string(),
        };
        let now = pictor_server::clock::now_ms();
        let user = self.db.find_or_create_user(&identity, now).await.expect("user");
        let token = pictor_server::auth::tokens::random_token(32);
        let hash = pictor_server::auth::tokens::hash_secret(&token);
        self.db.create_session(&hash, user, now, now + 3_600_000).await.expect("session");
        (user, format!("pictor_session={token}"))
    }

    /// The JSON body of a GET signed in with `cookie`.
    pub async fn get_json(&self, path: &str, cookie: &str) -> serde_json::Value {
        self.get_with_cookie(path, cookie).await.json().await.expect("a JSON body")
    }

    pub async fn get_with_cookie(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client.get(self.url(path)).header("Cookie", cookie).send().await.expect("request reaches the coordinator")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a coordinator on `backend` with a fast network sampler (100 ms).
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], with the configuration adjusted by `configure` first.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    let test_db = TestDb::new(backend).await;
    let data_dir = tempfile::tempdir().expect("data dir");
    let config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.path().to_path_buf(),
        database_url: Some(test_db.url.clone()),
        object_store_url: Some("memory://".to_string()),
        site_root: data_dir.path().join("site"),
        stats_interval_ms: 100,
        ..Config::default()
    };
    let mut config = config;
    configure(&mut config);
    let app = Application::build(config).await.expect("coordinator builds");
    let address = format!("http://{}", app.address());
    let shutdown = app.shutdown_token();
    let server = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        address,
        client,
        db: test_db.db.clone(),
        database_url: test_db.url.clone(),
        shutdown,
        server: Some(server),
        _test_db: test_db,
        _data_dir: data_dir,
    }
}

/// Runs each named `async fn(Backend)` as two tests, one per database backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {
        $(
            mod $test {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$test(pictor_server::db::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$test(pictor_server::db::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// A small PNG that passes the coordinator's checks of a rendered frame: `width`×`height`, not one flat colour
/// (a gradient shifted by `seed`, so different frames differ).
pub fn test_png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x as u8).wrapping_add(seed), (y as u8).wrapping_mul(3), seed, 255])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).expect("png");
    bytes.into_inner()
}
