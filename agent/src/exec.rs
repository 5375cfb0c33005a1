//! Running the helper programs the agent relies on (`blender`, `nvidia-smi`): finding them and bounding their time.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{program} could not be started: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("{program} did not finish within {} s", .timeout.as_secs())]
    TimedOut { program: String, timeout: Duration },
    #[error("{program} failed ({status}): {stderr_tail}")]
    Failed { program: String, status: ExitStatus, stderr_tail: String },
}

/// The first executable called `name` in the directories of `path_var` (the value of `PATH`).
pub fn find_in_path(name: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path_var?).map(|dir| dir.join(name)).find(|candidate| is_executable(candidate))
}

/// [`find_in_path`] with this process's `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path_var: Option<OsString> = std::env::var_os("PATH");
    find_in_path(name, path_var.as_deref())
}

pub fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Runs `program args…` without stdin and returns its standard output; kills it after `timeout`
/// (a hung Blender must not hold the agent forever).
pub async fn run<I, S>(program: &Path, args: I, envs: &[(&str, &OsStr)], timeout: Duration) -> Result<String, ExecError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    for (key, value) in envs {
        command.env(key, value);
    }
    output_of(command, &program.display().to_string(), timeout).await
}

/// Runs a prepared `command` (called `name` in errors) and returns its standard output; kills it after `timeout`.
pub async fn output_of(mut command: Command, name: &str, timeout: Duration) -> Result<String, ExecError> {
    let name = name.to_string();
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = command.spawn().map_err(|source| ExecError::Spawn { program: name.clone(), source })?;
    let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(source)) => return Err(ExecError::Spawn { program: name, source }),
        Err(_) => return Err(ExecError::TimedOut { program: name, timeout }),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        // Blender reports Python errors on stdout, other tools on stderr: keep the end of whichever has text.
        let text = if stderr.trim().is_empty() { &stdout } else { &stderr };
        return Err(ExecError::Failed { program: name, status: output.status, stderr_tail: last_line(text) });
    }
    Ok(stdout)
}

/// The last non-empty line, shortened: enough to say why a program failed on one log line.
pub fn last_line(text: &str) -> String {
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no output");
    shorten(line, 200)
}

pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_in_the_first_path_directory_that_has_it() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let tool = second.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path_var = std::env::join_paths([first.path(), second.path()]).unwrap();
        assert_eq!(find_in_path("tool", Some(&path_var)), Some(tool));
        assert_eq!(find_in_path("missing-tool", Some(&path_var)), None);
        assert_eq!(find_in_path("tool", None), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_without_execute_permission_is_not_a_program() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool"), "data").unwrap();
        assert_eq!(find_in_path("tool", Some(dir.path().as_os_str())), None);
    }

    #[test]
    fn the_last_line_skips_trailing_blank_lines_and_is_shortened() {
        assert_eq!(last_line("first\nError: boom\n\n  \n"), "Error: boom");
        assert_eq!(last_line(""), "no output");
        assert_eq!(shorten("abcdef", 3), "abc…");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let err = run(Path::new("/nonexistent/pictor-tool"), ["--version"], &[], Duration::from_secs(5)).await;
        assert!(matches!(err, Err(ExecError::Spawn { .. })), "{err:?}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_program_that_runs_too_long_is_stopped() {
        let err = run(Path::new("/bin/sh"), ["-c", "sleep 5"], &[], Duration::from_millis(100)).await;
        assert!(matches!(err, Err(ExecError::TimedOut { .. })), "{err:?}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_failing_program_reports_its_last_line() {
        let err = run(Path::new("/bin/sh"), ["-c", "echo one >&2; echo two >&2; exit 3"], &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("two"), "{err}");
    }
}
