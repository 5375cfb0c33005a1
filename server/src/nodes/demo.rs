//! `pictor demo-worker`: workers of a local "Demo workers" account, so one machine can run a whole network.

use std::path::Path;

use pictor_core::accounts::{clean_name, IdentityProvider, MAX_DISPLAY_NAME};

use super::config_file;
use crate::clock::now_ms;
use crate::config::Config;
use crate::db::accounts::VerifiedIdentity;
use crate::db::nodes::NodeKind;
use crate::db::{Db, NodeId};
use crate::startup::StartupError;

/// The identity of the demo account: no identity provider ever vouches for this subject, so nobody signs in as it.
fn demo_identity() -> VerifiedIdentity {
    VerifiedIdentity {
        provider: IdentityProvider::Oidc,
        subject: "pictor-local demo-workers".into(),
        label: "local demo workers".into(),
        suggested_name: "Demo workers".into(),
    }
}

/// Creates the named worker (or re-issues its token) and writes its config file, readable by the owner only.
pub async fn write_demo_worker(config: &Config, name: &str, out: &Path) -> Result<(), StartupError> {
    let name = clean_name(name, MAX_DISPLAY_NAME).map_err(StartupError::Invalid)?;
    let db = Db::connect(&config.database_url()).await?;
    db.migrate().await?;
    let now = now_ms();
    let owner = db.find_or_create_user(&demo_identity(), now).await?;
    let (token, hash) = config_file::new_token();
    let existing = db.nodes_of(owner, NodeKind::Worker, now).await?.into_iter().find(|node| node.summary.name == name);
    let id = match existing {
        Some(node) => {
            let id = NodeId(node.summary.id);
            db.reissue_node_token(owner, id, &hash).await?;
            id
        }
        None => db.issue_node(owner, NodeKind::Worker, &name, Some(&hash), now).await?,
    };
    db.close().await;
    let origin = config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
    let issued = config_file::issue(origin.trim_end_matches('/'), id, &name, NodeKind::Worker, token);
    write_private(out, &issued.config_toml)
        .map_err(|source| StartupError::WriteFile { path: out.to_path_buf(), source })?;
    println!("worker {name} (node {id}) → {}", out.display());
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
