//! The `pictor-agent` binary as an operator meets it: config mistakes, an absent coordinator, being stopped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const AGENT: &str = env!("CARGO_BIN_EXE_pictor-agent");

fn agent_worker(config: &Path) -> Command {
    let mut command = Command::new(AGENT);
    command.args(["worker", "--config"]).arg(config).arg("--no-benchmark").env("RUST_LOG", "info");
    command
}

fn run(config: &Path) -> Output {
    agent_worker(config).stdin(Stdio::null()).output().expect("run pictor-agent")
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr).lines().map(str::to_owned).collect()
}

/// Kills the agent if a test fails before it stops by itself.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_missing_config_file_is_one_error_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("absent-worker.toml");
    let output = run(&config);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("pictor-agent: error: "), "{lines:?}");
    assert!(lines[0].contains(&config.display().to_string()), "{lines:?}");
}

#[test]
fn bad_toml_is_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.toml");
    std::fs::write(&config, "coordinator_url = \"http://127.0.0.1:9\"\nnode_id = = 3\n").unwrap();
    let output = run(&config);
    assert_eq!(output.status.code(), Some(1));
    let lines = stderr_lines(&output);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("pictor-agent: error: config file "), "{lines:?}");
    assert!(lines[0].contains("is not valid: line 2, column"), "{lines:?}");
}

#[test]
fn an_absent_coordinator_is_retried_until_sigterm_then_the_agent_exits_cleanly() {
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("worker.toml");
    let text = format!("coordinator_url = \"http://127.0.0.1:{closed_port}\"\nnode_id = 5\ntoken = \"secret\"\n");
    std::fs::write(&config, text).unwrap();

    let mut child = agent_worker(&config).stdin(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut agent = Running(child);
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let wait_for = |log: &mut Vec<String>, needle: &str, within: Duration| {
        let deadline = Instant::now() + within;
        while !log.iter().any(|l: &String| l.contains(needle)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => log.push(line),
                Err(_) => panic!("no {needle:?} in the agent's log within {within:?}: {log:#?}"),
            }
        }
    };

    wait_for(&mut log, "coordinator unreachable, retrying in", Duration::from_secs(60));
    let sent = Command::new("kill").args(["-TERM", &agent.0.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = agent.0.try_wait().unwrap() {
            break status;
        }
        assert!(stopped.elapsed() < Duration::from_secs(10), "the agent did not stop on SIGTERM: {log:#?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{log:#?}");
    wait_for(&mut log, "offline", Duration::from_secs(5));
    assert!(!log.iter().any(|l| l.contains("pictor-agent: error")), "{log:#?}");
}
