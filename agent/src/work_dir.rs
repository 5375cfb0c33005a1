//! Where the agent keeps its files: the configured `work_dir`, else a `pictor-agent` directory in the OS cache dir.

use std::path::{Path, PathBuf};

pub fn resolve(configured: Option<&str>) -> PathBuf {
    match configured.map(str::trim).filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => os_cache_dir().unwrap_or_else(std::env::temp_dir).join("pictor-agent"),
    }
}

/// The per-user cache directory each OS documents (XDG on Linux); `None` when the environment names none.
fn os_cache_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|home| home.join("Library/Caches"))
    } else {
        var("XDG_CACHE_HOME").filter(|p| p.is_absolute()).or_else(|| var("HOME").map(|home| home.join(".cache")))
    }
}

/// Creates `dir` (and its parents), saying which directory could not be made.
pub fn ensure(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_directory_wins_and_the_default_is_named_for_the_agent() {
        assert_eq!(resolve(Some("/var/lib/pictor")), PathBuf::from("/var/lib/pictor"));
        assert!(resolve(None).ends_with("pictor-agent"));
        assert!(resolve(Some("  ")).ends_with("pictor-agent"));
    }
}
