//! Blender in a box: every Blender the agent starts (renders, crop checks, the benchmark) runs under bubblewrap with
//! no network, the system read-only, nothing of the worker's files visible but the scene it renders, only the
//! task's own folder writable, a clean environment (no agent token, no HOME dotfiles, no user add-ons or startup
//! scripts), its own PID namespace, and it dies with the agent. A scene is someone else's file: whatever paths it
//! names, it can neither read nor write the worker's files.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// What a boxed Blender may see: files and folders to read (the scene), and the folders it may write (the task's).
/// The first writable folder is its HOME.
#[derive(Clone, Copy, Debug, Default)]
pub struct Confinement<'a> {
    pub readable: &'a [&'a Path],
    pub writable: &'a [&'a Path],
}

/// How this agent starts Blender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sandbox {
    /// Under bubblewrap, at this path.
    Bubblewrap(PathBuf),
    /// Directly, with only a clean environment: bubblewrap is missing (the agent then takes only its owner's own
    /// jobs, unless the owner allowed otherwise), or a test asked for it.
    Unconfined,
}

/// System folders a program needs to start (libraries, fonts, the dynamic linker's cache), bound read-only when
/// they exist. The worker's home, /etc at large, /var, /srv, /mnt and /media stay out of sight.
const SYSTEM_PATHS: [&str; 9] =
    ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc/fonts", "/etc/ld.so.cache", "/etc/alternatives"];

impl Sandbox {
    /// Bubblewrap when it is installed and works here (a trial run), else [`Sandbox::Unconfined`].
    pub async fn detect() -> Self {
        let Some(bwrap) = crate::exec::find_on_path("bwrap") else { return Sandbox::Unconfined };
        let sandbox = Sandbox::Bubblewrap(bwrap);
        let trial = sandbox.command(Path::new("/bin/true"), &Confinement::default()).status().await;
        match trial {
            Ok(status) if status.success() => sandbox,
            Ok(status) => {
                tracing::warn!(%status, "bubblewrap is installed but cannot start a sandbox here");
                Sandbox::Unconfined
            }
            Err(error) => {
                tracing::warn!(%error, "bubblewrap is installed but could not be started");
                Sandbox::Unconfined
            }
        }
    }

    pub fn is_confined(&self) -> bool {
        matches!(self, Sandbox::Bubblewrap(_))
    }

    /// A command that runs `program` confined to `confinement`; the caller adds the program's arguments and its
    /// environment (which starts empty but for PATH, HOME and the locale), then spawns it.
    pub fn command(&self, program: &Path, confinement: &Confinement<'_>) -> Command {
        let mut command = match self {
            Sandbox::Bubblewrap(bwrap) => {
                let mut command = Command::new(bwrap);
                command.args(bubblewrap_arguments(program, confinement));
                command.arg(program);
                command
            }
            Sandbox::Unconfined => Command::new(program),
        };
        let home = confinement.writable.first().map_or_else(std::env::temp_dir, |dir| dir.to_path_buf());
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", home)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// Bubblewrap's arguments up to (and including) `--`: new namespaces for everything (network included), the
/// system read-only, `/proc`, a minimal `/dev`, an empty `/tmp`, the program's own folder when it lives outside
/// the system folders, the readable paths read-only and the writable folders read-write, at the same paths.
pub fn bubblewrap_arguments(program: &Path, confinement: &Confinement<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"].map(OsString::from).into();
    for path in SYSTEM_PATHS {
        args.extend(["--ro-bind-try".into(), path.into(), path.into()]);
    }
    args.extend(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"].map(OsString::from));
    // A Blender unpacked under /opt or a home folder brings its own libraries and scripts next to it.
    if let Some(install) = program.parent().filter(|dir| !SYSTEM_PATHS.iter().any(|system| dir.starts_with(system))) {
        args.extend(["--ro-bind".into(), install.into(), install.into()]);
    }
    for path in confinement.readable {
        args.extend(["--ro-bind".into(), path.into(), path.into()]);
    }
    for dir in confinement.writable {
        args.extend(["--bind".into(), dir.into(), dir.into()]);
    }
    if let Some(home) = confinement.writable.first() {
        args.extend(["--chdir".into(), home.into()]);
    }
    args.push("--".into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(args: &[OsString]) -> Vec<String> {
        args.iter().map(|arg| arg.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn the_box_has_no_network_and_sees_the_system_read_only_and_the_task_folder_read_write() {
        let scene = Path::new("/work/scenes/ab.blend");
        let task = Path::new("/work/render/task-7");
        let args = text(&bubblewrap_arguments(
            Path::new("/usr/bin/blender"),
            &Confinement { readable: &[scene], writable: &[task] },
        ));
        let joined = args.join(" ");
        assert!(joined.starts_with("--unshare-all --die-with-parent --new-session --cap-drop ALL"), "{joined}");
        assert!(joined.contains("--ro-bind-try /usr /usr"));
        assert!(joined.contains("--ro-bind /work/scenes/ab.blend /work/scenes/ab.blend"));
        assert!(joined.contains("--bind /work/render/task-7 /work/render/task-7"));
        assert!(joined.contains("--tmpfs /tmp"));
        assert!(joined.ends_with("--chdir /work/render/task-7 --"), "{joined}");
        // Nothing else of the worker's is bound: no home, no /etc at large, no work folder.
        for hidden in ["/home", "/root", "/work ", "/etc "] {
            assert!(!joined.contains(&format!(" {hidden}")), "{hidden} must stay hidden: {joined}");
        }
        assert_eq!(args.iter().filter(|arg| *arg == "--bind").count(), 1, "one writable folder");
    }

    #[test]
    fn a_blender_outside_the_system_folders_brings_its_folder_read_only() {
        let args = text(&bubblewrap_arguments(Path::new("/opt/blender-4.2/blender"), &Confinement::default()));
        assert!(args.join(" ").contains("--ro-bind /opt/blender-4.2 /opt/blender-4.2"));
        let system = text(&bubblewrap_arguments(Path::new("/usr/bin/blender"), &Confinement::default()));
        assert!(!system.join(" ").contains("--ro-bind /usr/bin"), "already visible through /usr");
    }

    #[tokio::test]
    async fn the_environment_is_clean_and_home_is_the_task_folder() {
        let dir = tempfile::tempdir().expect("dir");
        let task = dir.path().join("task");
        std::fs::create_dir_all(&task).expect("task dir");
        let output = Sandbox::Unconfined
            .command(Path::new("/usr/bin/env"), &Confinement { readable: &[], writable: &[&task] })
            .stdout(Stdio::piped())
            .output()
            .await
            .expect("env runs");
        let env = String::from_utf8_lossy(&output.stdout);
        // Cargo sets CARGO_* for this test process: none of it gets through.
        assert!(!env.contains("CARGO"), "the agent's environment stays out: {env}");
        assert_eq!(env.lines().count(), 3, "PATH, HOME and LANG only: {env}");
        assert!(env.contains(&format!("HOME={}", task.display())), "{env}");
    }

    /// With bubblewrap installed (scripts/setup installs it): the box cannot see a file next to the task folder,
    /// cannot write outside it, has no network but its own loopback, and sees only its own processes.
    #[tokio::test]
    async fn inside_bubblewrap_only_the_task_folder_is_there() {
        let sandbox = Sandbox::detect().await;
        if !sandbox.is_confined() {
            eprintln!("note: bubblewrap is not usable here; the sandbox itself is not tested");
            return;
        }
        let dir = tempfile::tempdir().expect("dir");
        let task = dir.path().join("task");
        std::fs::create_dir_all(&task).expect("task dir");
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "the worker's own file").expect("secret");
        let script = format!(
            "cat {secret} && echo READ; echo x > {outside} && echo WROTE; echo ok > {inside}; \
             ls /proc | grep -c '^[0-9]'; echo interfaces; tail -n +3 /proc/net/dev | cut -d: -f1",
            secret = secret.display(),
            outside = dir.path().join("outside.txt").display(),
            inside = task.join("inside.txt").display(),
        );
        let output = sandbox
            .command(Path::new("/bin/sh"), &Confinement { readable: &[], writable: &[&task] })
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .expect("the box starts");
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(!said.contains("READ") && !said.contains("the worker's own file"), "{said}");
        // A write next to the task folder lands in the box's own empty /tmp, never on the worker's disk.
        assert!(!dir.path().join("outside.txt").exists(), "{said}");
        assert_eq!(std::fs::read_to_string(task.join("inside.txt")).expect("written").trim(), "ok");
        let processes: u32 = said.lines().find_map(|line| line.trim().parse().ok()).expect("a process count");
        // The shell, the pipeline it runs and bubblewrap's own init: none of the worker's processes.
        assert!(processes <= 5, "its own PID namespace: {processes} processes seen");
        let interfaces: Vec<&str> = said.split("interfaces").nth(1).unwrap_or("").split_whitespace().collect();
        assert_eq!(interfaces, ["lo"], "no network but its own loopback: {said}");
    }
}

#[cfg(test)]
#[path = "sandbox_tests.rs"]
mod real_scene_tests;
