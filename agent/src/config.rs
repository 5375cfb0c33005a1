//! Reads and validates the node's `worker.toml` (as handed out by the dashboard) into a [`NodeConfigFile`].

use std::path::{Path, PathBuf};

use pictor_core::agent_protocol::NodeConfigFile;
use reqwest::Url;

/// Why the config file cannot be used; every message is one line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("config file {} cannot be read: {source}", .path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("config file {} is not valid: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
}

pub fn load(path: &Path) -> Result<NodeConfigFile, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigError::NotFound(path.to_owned()),
        _ => ConfigError::Unreadable { path: path.to_owned(), source },
    })?;
    parse(&text).map_err(|message| ConfigError::Invalid { path: path.to_owned(), message })
}

/// Parses and validates the file's text; the error is a one-line description.
pub fn parse(text: &str) -> Result<NodeConfigFile, String> {
    let config: NodeConfigFile = toml::from_str(text).map_err(|e| describe_toml_error(text, &e))?;
    validate(&config)?;
    Ok(config)
}

fn validate(config: &NodeConfigFile) -> Result<(), String> {
    let url = Url::parse(&config.coordinator_url)
        .map_err(|e| format!("coordinator_url {:?} is not a URL ({e})", config.coordinator_url))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("coordinator_url {:?} is not an http(s) URL", config.coordinator_url));
    }
    if config.token.trim().is_empty() {
        return Err("token is empty: download the config again from the dashboard".into());
    }
    // The token travels in an HTTP header, which allows visible ASCII only.
    if !config.token.chars().all(|c| c.is_ascii_graphic()) {
        return Err("token contains spaces or characters that cannot be sent: download the config again".into());
    }
    if config.node_id <= 0 {
        return Err(format!("node_id must be a positive number, not {}", config.node_id));
    }
    if config.blender_paths.iter().any(|p| p.trim().is_empty()) {
        return Err("blender_paths contains an empty path".into());
    }
    Ok(())
}

/// toml's own `Display` spans several lines with a source excerpt; logs and the CLI want one line.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().replace('\n', " ");
    match error.span() {
        // A missing field comes with an empty or whole-document span at 0: pointing at line 1 would mislead.
        Some(span) if !(span.start == 0 && (span.is_empty() || span.end >= text.len())) => {
            let (line, column) = line_and_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        _ => message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "coordinator_url = \"https://pictor.example.org\"\nnode_id = 7\ntoken = \"abc123\"\n";

    #[test]
    fn the_file_the_dashboard_hands_out_is_accepted() {
        let file = NodeConfigFile {
            coordinator_url: "http://127.0.0.1:3000".into(),
            node_id: 3,
            token: "t0k3n".into(),
            blender_paths: vec![],
            work_dir: None,
            allow_unsandboxed: false,
            serve_models: Vec::new(),
        };
        assert_eq!(parse(&file.to_toml("worker")), Ok(file));
    }

    #[test]
    fn optional_keys_are_read() {
        let text = format!("{GOOD}blender_paths = [\"/opt/blender-4.2/blender\"]\nwork_dir = \"/var/lib/pictor\"\n");
        let config = parse(&text).unwrap();
        assert_eq!(config.blender_paths, vec!["/opt/blender-4.2/blender".to_string()]);
        assert_eq!(config.work_dir.as_deref(), Some("/var/lib/pictor"));
    }

    #[test]
    fn bad_toml_is_reported_on_one_line_with_its_position() {
        let err = parse("coordinator_url = \"http://x\"\nnode_id = = 3\n").unwrap_err();
        assert!(err.starts_with("line 2, column "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let err = parse(&format!("{GOOD}colour = \"red\"\n")).unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let err = parse("coordinator_url = \"http://x\"\nnode_id = 1\n").unwrap_err();
        assert_eq!(err, "missing field `token`");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn the_coordinator_url_must_be_http_or_https() {
        for url in ["ftp://x.org", "pictor.example.org", "", "http://", "file:///etc/passwd"] {
            let err = parse(&GOOD.replace("https://pictor.example.org", url)).unwrap_err();
            assert!(err.contains("coordinator_url"), "{url}: {err}");
        }
        assert!(parse(&GOOD.replace("https://pictor.example.org", "http://10.0.0.5:3000/pictor/")).is_ok());
    }

    #[test]
    fn an_empty_or_unsendable_token_is_refused() {
        assert!(parse(&GOOD.replace("abc123", "  ")).unwrap_err().contains("token is empty"));
        assert!(parse(&GOOD.replace("abc123", "ab c")).unwrap_err().contains("token"));
    }

    #[test]
    fn the_node_id_must_be_positive() {
        assert!(parse(&GOOD.replace("node_id = 7", "node_id = 0")).unwrap_err().contains("node_id"));
        assert!(parse(&GOOD.replace("node_id = 7", "node_id = -4")).unwrap_err().contains("node_id"));
        assert!(parse(&GOOD.replace("node_id = 7", "node_id = \"7\"")).is_err());
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = load(Path::new("/nonexistent/worker.toml")).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound(_)));
        assert_eq!(err.to_string(), "config file /nonexistent/worker.toml does not exist");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(line_and_column("ab\ncdé\nf", 7), (2, 4));
        assert_eq!(line_and_column("abc", 0), (1, 1));
        assert_eq!(line_and_column("abc", 99), (1, 4));
    }
}
