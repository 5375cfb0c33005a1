//! `pictor demo-worker [--checker]`: workers of a local "Demo workers" account and checkers of a "Demo checkers"
//! account, so one machine can run a whole network (a checker never checks its own account's workers).

use std::path::Path;

use pictor_core::accounts::{clean_name, IdentityProvider, MAX_DISPLAY_NAME};

use super::config_file;
use crate::clock::now_ms;
use crate::config::Config;
use crate::db::accounts::VerifiedIdentity;
use crate::db::nodes::NodeKind;
use crate::db::{Db, NodeId};
use crate::startup::StartupError;

/// The identity of a demo account: no identity provider ever vouches for these subjects, so nobody signs in as them.
fn demo_identity(kind: NodeKind) -> VerifiedIdentity {
    let (subject, label, name) = match kind {
        NodeKind::Checker => ("pictor-local demo-checkers", "local demo checkers", "Demo checkers"),
        _ => ("pictor-local demo-workers", "local demo workers", "Demo workers"),
    };
    VerifiedIdentity {
        provider: IdentityProvider::Oidc,
        subject: subject.into(),
        label: label.into(),
        suggested_name: name.into(),
    }
}

/// Creates the named worker or checker (or re-issues its token) and writes its config file, readable by the owner
/// only.
pub async fn write_demo_node(config: &Config, name: &str, kind: NodeKind, out: &Path) -> Result<(), StartupError> {
    let name = clean_name(name, MAX_DISPLAY_NAME).map_err(StartupError::Invalid)?;
    let db = Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    let now = now_ms();
    let owner = db.find_or_create_user(&demo_identity(kind), now).await?;
    let (token, hash) = config_file::new_token();
    let existing = db.nodes_of(owner, kind, now).await?.into_iter().find(|node| node.summary.name == name);
    let id = match existing {
        Some(node) => {
            let id = NodeId(node.summary.id);
            db.reissue_node_token(owner, id, &hash).await?;
            id
        }
        None => db.issue_node(owner, kind, &name, Some(&hash), now).await?,
    };
    db.close().await;
    let origin = config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
    let issued = config_file::issue(origin.trim_end_matches('/'), id, &name, kind, token);
    write_private(out, &issued.config_toml)
        .map_err(|source| StartupError::WriteFile { path: out.to_path_buf(), source })?;
    let what = if kind == NodeKind::Checker { "checker" } else { "worker" };
    println!("{what} {name} (node {id}) → {}", out.display());
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, text.as_bytes())
}
