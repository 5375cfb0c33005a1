//! Finds the Blender installations of this machine and what each can render.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pictor_core::agent_protocol::BlenderInstall;

use crate::exec;
use crate::sandbox::{Confinement, Sandbox};

/// A first start of Blender can be slow (cold disk, shader caches); `--version` still returns in seconds.
const VERSION_TIMEOUT: Duration = Duration::from_secs(60);

/// A Blender release number, e.g. 4.2.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlenderVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for BlenderVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl BlenderVersion {
    const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    /// The render engines this version has, by display name.
    pub fn engines(self) -> Vec<String> {
        let names: &[&str] =
            if self >= Self::new(2, 80, 0) { &["Cycles", "EEVEE", "Workbench"] } else { &["Cycles", "Blender Render"] };
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    /// EEVEE's identifier in `scene.render.engine`: "EEVEE Next" replaced it under its own name in 4.2 and took
    /// the old name back in 4.5.
    pub fn eevee_engine_id(self) -> &'static str {
        if self >= Self::new(4, 2, 0) && self < Self::new(4, 5, 0) {
            "BLENDER_EEVEE_NEXT"
        } else {
            "BLENDER_EEVEE"
        }
    }
}

/// The version from `blender --version`, whose first line is like "Blender 4.2.3 LTS" (older builds may print
/// warnings before it, so the first line that starts with "Blender " counts).
pub fn parse_version(output: &str) -> Option<BlenderVersion> {
    let line = output.lines().map(str::trim).find(|l| l.starts_with("Blender "))?;
    let number = line.split_whitespace().nth(1)?;
    let mut parts = number.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    // "Blender 2.79 (sub 7)" and some alpha builds have no patch number.
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(BlenderVersion::new(major, minor, patch))
}

/// The executables to try: `blender` on `PATH`, then the configured ones, without duplicates (a symlink and its
/// target are one installation).
pub fn candidates(on_path: Option<PathBuf>, configured: &[String]) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for path in on_path.into_iter().chain(configured.iter().map(PathBuf::from)) {
        let identity = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.contains(&identity) {
            seen.push(identity);
            out.push(path);
        }
    }
    out
}

/// Every usable Blender, with its version and engines (the benchmark module fills in the benchmarks).
/// One that cannot be run is left out with a warning. Even asking for its version runs it in `sandbox`.
pub async fn discover(sandbox: &Sandbox, configured: &[String]) -> Vec<(BlenderInstall, BlenderVersion)> {
    let mut found = Vec::new();
    for path in candidates(exec::find_on_path("blender"), configured) {
        match probe(sandbox, &path).await {
            Ok(version) => {
                tracing::info!("found Blender {version} at {}", path.display());
                let install = BlenderInstall {
                    path: path.display().to_string(),
                    version: version.to_string(),
                    engines: version.engines(),
                    benchmark: None,
                };
                found.push((install, version));
            }
            Err(e) => tracing::warn!("skipping Blender at {}: {e}", path.display()),
        }
    }
    if found.is_empty() {
        tracing::warn!("no Blender found: install it or list it under blender_paths in the config");
    }
    found
}

async fn probe(sandbox: &Sandbox, path: &Path) -> Result<BlenderVersion, String> {
    if !exec::is_executable(path) {
        return Err("not an executable file".into());
    }
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut command = sandbox.command(path, &Confinement { readable: &[], writable: &[scratch.path()] });
    command.arg("--version");
    let name = path.display().to_string();
    let out = exec::output_of(command, &name, VERSION_TIMEOUT).await.map_err(|e| e.to_string())?;
    parse_version(&out).ok_or_else(|| format!("unexpected --version output: {}", exec::last_line(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> BlenderVersion {
        BlenderVersion::new(major, minor, patch)
    }

    #[test]
    fn the_version_is_read_from_the_first_blender_line() {
        assert_eq!(parse_version("Blender 3.4.1\n"), Some(v(3, 4, 1)));
        let official = "Blender 4.2.3 LTS\n\tbuild date: 2024-10-15\n\tbuild hash: 2b5ee4ba3d3c\n";
        assert_eq!(parse_version(official), Some(v(4, 2, 3)));
        let noisy = "Color management: using fallback mode\nBlender 4.3.0 Alpha\n";
        assert_eq!(parse_version(noisy), Some(v(4, 3, 0)));
        assert_eq!(parse_version("Blender 2.79 (sub 7)\n"), Some(v(2, 79, 0)));
    }

    #[test]
    fn output_without_a_version_is_not_blender() {
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("bash: blender: command not found"), None);
        assert_eq!(parse_version("Blender x.y\n"), None);
    }

    #[test]
    fn modern_blenders_have_cycles_eevee_and_workbench() {
        assert_eq!(v(3, 4, 1).engines(), ["Cycles", "EEVEE", "Workbench"]);
        assert_eq!(v(4, 5, 0).engines(), ["Cycles", "EEVEE", "Workbench"]);
        assert_eq!(v(2, 79, 0).engines(), ["Cycles", "Blender Render"]);
    }

    #[test]
    fn eevee_was_called_eevee_next_from_4_2_to_4_4() {
        assert_eq!(v(3, 4, 1).eevee_engine_id(), "BLENDER_EEVEE");
        assert_eq!(v(4, 1, 1).eevee_engine_id(), "BLENDER_EEVEE");
        assert_eq!(v(4, 2, 0).eevee_engine_id(), "BLENDER_EEVEE_NEXT");
        assert_eq!(v(4, 4, 3).eevee_engine_id(), "BLENDER_EEVEE_NEXT");
        assert_eq!(v(4, 5, 0).eevee_engine_id(), "BLENDER_EEVEE");
        assert_eq!(v(5, 0, 0).eevee_engine_id(), "BLENDER_EEVEE");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_and_its_target_are_one_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("blender");
        std::fs::write(&real, "").unwrap();
        let link = dir.path().join("blender-link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let configured = [link.display().to_string(), "/opt/other/blender".to_string()];
        let got = candidates(Some(real.clone()), &configured);
        assert_eq!(got, vec![real, PathBuf::from("/opt/other/blender")]);
    }

    #[tokio::test]
    async fn a_configured_path_that_is_not_blender_is_skipped() {
        let found = discover(&Sandbox::Unconfined, &["/nonexistent/blender".to_string()]).await;
        assert!(found.iter().all(|(install, _)| install.path != "/nonexistent/blender"));
    }

    /// The installed Blender (where there is one) answers its version from inside the sandbox as well.
    #[tokio::test]
    async fn the_installed_blender_is_found_from_inside_the_sandbox() {
        let Some(on_path) = exec::find_on_path("blender") else { return };
        let sandbox = Sandbox::detect().await;
        let found = discover(&sandbox, &[]).await;
        let (install, version) = found.first().expect("the Blender on PATH is found");
        assert_eq!(install.path, on_path.display().to_string());
        assert!(version.major >= 2, "{version} ({sandbox:?})");
    }
}
