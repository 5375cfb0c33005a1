//! The `pictor` binary: bad configuration gives one clear error line and a non-zero exit, never a panic.

use std::process::{Command, Output};

fn pictor(envs: &[(&str, &str)], args: &[&str]) -> Output {
    let data = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_pictor"));
    command.args(args).current_dir(data.path()).env("PICTOR_DATA_DIR", data.path());
    // The test runner's own environment must not leak PICTOR_* settings into the child.
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("PICTOR_") || key == "DATABASE_URL") {
        command.env_remove(key);
    }
    command.env("PICTOR_DATA_DIR", data.path());
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().expect("pictor runs")
}

fn assert_one_clear_error(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "exit status must be non-zero");
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|line| !line.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].starts_with("pictor: error: "), "{stderr}");
    assert!(lines[0].contains(expected), "mentions {expected:?}: {stderr}");
}

#[test]
fn unknown_config_key_is_one_error_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pictor.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nfavourite_colour = \"teal\"\n").expect("write");
    let output = pictor(&[], &["--config", file.to_str().expect("utf-8 path"), "check-config"]);
    assert_one_clear_error(&output, "favourite_colour");
}

#[test]
fn bad_database_url_is_one_error_line() {
    let output = pictor(&[("DATABASE_URL", "mysql://root@localhost/pictor")], &[]);
    assert_one_clear_error(&output, "mysql://root@localhost/pictor");
}

#[test]
fn unreachable_database_is_one_error_line() {
    let output =
        pictor(&[("PICTOR_LISTEN", "127.0.0.1:0"), ("DATABASE_URL", "postgres://nobody@127.0.0.1:1/pictor")], &[]);
    assert_one_clear_error(&output, "cannot open the database");
}

#[test]
fn port_in_use_is_one_error_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("address").to_string();
    let output = pictor(&[("PICTOR_LISTEN", &address)], &[]);
    assert_one_clear_error(&output, &format!("cannot listen on {address}"));
}

#[test]
fn help_explains_the_configuration_layers() {
    let output = pictor(&[], &["--help"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("PICTOR_") && stdout.contains("DATABASE_URL") && stdout.contains("check-config"),
        "{stdout}"
    );
}

#[test]
fn check_config_prints_the_effective_configuration() {
    let output = pictor(&[("PICTOR_LISTEN", "127.0.0.1:4321")], &["check-config"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("listen = 127.0.0.1:4321"), "{stdout}");
}

#[test]
fn sigterm_stops_the_coordinator_cleanly() {
    let data = tempfile::tempdir().expect("tempdir");
    let address = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("address").to_string()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_pictor"))
        .current_dir(data.path())
        .env_remove("DATABASE_URL")
        .env("PICTOR_DATA_DIR", data.path())
        .env("PICTOR_LISTEN", &address)
        .env("PICTOR_LOG", "warn")
        .spawn()
        .expect("pictor starts");
    let started = std::time::Instant::now();
    // The port is bound before start-up finishes: wait until it answers /healthz, not merely accepts.
    while !answers_health(&address) {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "coordinator never became healthy");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(data.path().join("pictor.db").exists(), "the embedded database is created on first start");
    assert!(data.path().join("objects").is_dir(), "the local object store is created on first start");
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("pictor exits");
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

/// A plain HTTP/1.0 `GET /healthz` answered with 200.
fn answers_health(address: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else { return false };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
    if stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

#[test]
fn demo_worker_writes_a_private_config_and_reissues_on_a_second_run() {
    let data = tempfile::tempdir().expect("tempdir");
    let out = data.path().join("demo").join("worker.toml");
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_pictor"))
            .current_dir(data.path())
            .env_remove("DATABASE_URL")
            .env("PICTOR_DATA_DIR", data.path())
            .args(["demo-worker", "--name", "demo-1", "--out"])
            .arg(&out)
            .output()
            .expect("pictor runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        std::fs::read_to_string(&out).expect("config written")
    };
    let first = run();
    let second = run();
    let line = |text: &str, key: &str| text.lines().find(|l| l.starts_with(key)).map(str::to_string);
    assert!(line(&first, "token = \"pn_").is_some(), "{first}");
    assert_eq!(line(&first, "node_id"), line(&second, "node_id"), "the same worker");
    assert_ne!(line(&first, "token"), line(&second, "token"), "a fresh token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the token is readable by its owner only");
    }
    // A demo checker: a node of its own account (a checker never checks its own account's workers).
    let checker_out = data.path().join("demo").join("checker.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_pictor"))
        .current_dir(data.path())
        .env_remove("DATABASE_URL")
        .env("PICTOR_DATA_DIR", data.path())
        .args(["demo-worker", "--checker", "--name", "demo-checker", "--out"])
        .arg(&checker_out)
        .output()
        .expect("pictor runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("checker demo-checker"));
    let checker = std::fs::read_to_string(&checker_out).expect("config written");
    assert!(line(&checker, "token = \"pn_").is_some(), "{checker}");
    assert_ne!(line(&checker, "node_id"), line(&first, "node_id"));
    let owners: Vec<(String, i64)> = {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let db = pictor_server::db::Db::connect(&format!("sqlite://{}", data.path().join("pictor.db").display()))
                .await
                .expect("db");
            let rows = sqlx::query_as("SELECT kind, owner_id FROM nodes ORDER BY id").fetch_all(db.reader()).await;
            rows.expect("nodes")
        })
    };
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert_eq!((owners[0].0.as_str(), owners[1].0.as_str()), ("worker", "checker"));
    assert_ne!(owners[0].1, owners[1].1, "the checker belongs to another account");
    let bad = Command::new(env!("CARGO_BIN_EXE_pictor"))
        .current_dir(data.path())
        .env("PICTOR_DATA_DIR", data.path())
        .args(["demo-worker", "--name", "  ", "--out"])
        .arg(&out)
        .output()
        .expect("pictor runs");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("pictor: error:"));
}

/// `pictor admin create-user` then `pictor admin api-key` against a running coordinator's database: the key works
/// on the API at once; a user that does not exist and an empty name are one clear error each and change nothing.
async fn admin_creates_a_user_and_an_api_key_for_automation(backend: pictor_server::db::Backend) {
    let app = crate::helpers::spawn_app_with(backend, |_| {}).await;
    let url = app.database_url.clone();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pictor(&[("DATABASE_URL", url.as_str())], &args)
    };
    let created = run(vec!["admin".into(), "create-user".into(), "--name".into(), "Nightly builds".into()]);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let said = String::from_utf8_lossy(&created.stdout).to_string();
    let id: i64 = said.split_whitespace().nth(2).and_then(|id| id.parse().ok()).expect(&said);
    assert_eq!(app.db.user_name(id).await.unwrap().as_deref(), Some("Nightly builds"));

    let keyed = run(vec!["admin".into(), "api-key".into(), "--user".into(), id.to_string()]);
    assert!(keyed.status.success(), "{}", String::from_utf8_lossy(&keyed.stderr));
    let secret = String::from_utf8_lossy(&keyed.stdout).trim().to_string();
    assert!(String::from_utf8_lossy(&keyed.stderr).contains("shown once"));
    let models = app.client.get(app.url("/v1/models")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(models.status(), 200, "the printed key works on the API");

    let nobody = run(vec!["admin".into(), "api-key".into(), "--user".into(), "999999".into()]);
    assert_one_clear_error(&nobody, "there is no user 999999");
    let unnamed = run(vec!["admin".into(), "create-user".into(), "--name".into(), "  ".into()]);
    assert_one_clear_error(&unnamed, "--name");
    assert_eq!(app.db.user_name(id + 1).await.unwrap(), None, "nothing else was created");
}

crate::on_both_backends!(admin_creates_a_user_and_an_api_key_for_automation);
