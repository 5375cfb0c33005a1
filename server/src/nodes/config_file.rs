//! A node's secret token and the config file that carries it to the agent (shown once, stored only hashed).

use pictor_core::agent_protocol::NodeConfigFile;
use pictor_core::workers::IssuedNodeConfig;

use crate::auth::tokens::{hash_secret, random_token};
use crate::db::nodes::{NodeId, NodeKind};

/// Node tokens start with `pn_` so they are recognisable in logs and secret scanners.
pub const TOKEN_PREFIX: &str = "pn_";

/// A fresh token and the hash the database keeps.
pub fn new_token() -> (String, String) {
    let token = format!("{TOKEN_PREFIX}{}", random_token(32));
    let hash = hash_secret(&token);
    (token, hash)
}

/// The `worker.toml` / `checker.toml` for a node.
pub fn issue(coordinator_url: &str, node: NodeId, name: &str, kind: NodeKind, token: String) -> IssuedNodeConfig {
    let file = NodeConfigFile {
        coordinator_url: coordinator_url.to_string(),
        node_id: node.into(),
        token,
        blender_paths: Vec::new(),
        work_dir: None,
        allow_unsandboxed: false,
        serve_models: Vec::new(),
    };
    IssuedNodeConfig {
        node_id: node.into(),
        name: name.to_string(),
        file_name: format!("{}.toml", kind.as_str()),
        config_toml: file.to_toml(kind.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_prefixed_and_stored_hashed() {
        let (first, first_hash) = new_token();
        let (second, _) = new_token();
        assert!(first.starts_with(TOKEN_PREFIX) && first.len() > 40, "{first}");
        assert_ne!(first, second);
        assert_eq!(first_hash, hash_secret(&first));
        assert!(!first_hash.contains(&first));
    }

    #[test]
    fn the_config_file_names_the_coordinator_node_and_token() {
        let issued = issue("http://127.0.0.1:3000", NodeId(12), "studio", NodeKind::Worker, "pn_secret".into());
        assert_eq!(issued.file_name, "worker.toml");
        assert!(issued.config_toml.contains("coordinator_url = \"http://127.0.0.1:3000\""));
        assert!(issued.config_toml.contains("node_id = 12") && issued.config_toml.contains("token = \"pn_secret\""));
    }
}
