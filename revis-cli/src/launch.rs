//! Finding and starting the `revisd` binary, detached from the terminal. It only spawns the
//! process; waiting for it to answer is `client`'s job.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::CliError;
use crate::home::Home;

const DAEMON_BINARY: &str = "revisd";

/// `revisd` next to the running `revis` (so a build tree or an install prefix stays
/// self-consistent), else the first one on PATH.
pub fn find_revisd(current_exe: Option<&Path>, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let sibling = current_exe.and_then(Path::parent).map(|dir| dir.join(DAEMON_BINARY)).filter(|p| is_executable(p));
    sibling.or_else(|| std::env::split_paths(path_var?).map(|dir| dir.join(DAEMON_BINARY)).find(|p| is_executable(p)))
}

/// The `revisd` next to the running `revis`, if there is one.
pub fn sibling_revisd() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    find_revisd(Some(&exe), None)
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Starts `revisd --detach [--home HOME]` with stdio on /dev/null; the environment is inherited
/// without the provider keys.
/// `--detach` makes the daemon call setsid(2) itself, so it has no controlling terminal: the
/// terminal's Ctrl-C, job control and hang-up never reach it.
pub fn spawn_daemon(home: &Home) -> Result<Child, CliError> {
    let exe = std::env::current_exe().ok();
    let path_var = std::env::var_os("PATH");
    let program = find_revisd(exe.as_deref(), path_var.as_deref()).ok_or_else(|| {
        CliError::Runtime(format!("cannot find {DAEMON_BINARY}: it is neither next to revis nor on PATH"))
    })?;
    let mut command = Command::new(&program);
    command.arg("--detach");
    // A defaulted home is left for revisd to resolve from the same environment, so it keeps
    // treating it as the default one.
    if home.is_explicit() {
        command.arg("--home").arg(home.root());
    }
    // Keys travel with each session's request, never in the daemon's environment.
    for name in revis_proto::PROVIDER_VARIABLES {
        command.env_remove(name);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CliError::io(format!("cannot start {}", program.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn make_exe(dir: &Path, name: &str, mode: u32) -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        fs::write(&path, "#!/bin/sh\n")?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
        Ok(path)
    }

    #[test]
    fn the_sibling_of_revis_wins_over_path() -> TestResult {
        let (bin, other) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let sibling = make_exe(bin.path(), "revisd", 0o755)?;
        make_exe(other.path(), "revisd", 0o755)?;
        let path_var = std::env::join_paths([other.path()])?;
        let found = find_revisd(Some(&bin.path().join("revis")), Some(&path_var));
        assert_eq!(found, Some(sibling));
        Ok(())
    }

    #[test]
    fn path_is_searched_in_order_when_there_is_no_sibling() -> TestResult {
        let (bin, a, b) = (tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?);
        make_exe(a.path(), "revisd", 0o644)?; // not executable: skipped
        let expected = make_exe(b.path(), "revisd", 0o755)?;
        let path_var = std::env::join_paths([a.path(), b.path()])?;
        let found = find_revisd(Some(&bin.path().join("revis")), Some(&path_var));
        assert_eq!(found, Some(expected));
        Ok(())
    }

    #[test]
    fn nothing_found_is_none() -> TestResult {
        let empty = tempfile::tempdir()?;
        let path_var = std::env::join_paths([empty.path()])?;
        assert_eq!(find_revisd(None, Some(&path_var)), None);
        assert_eq!(find_revisd(None, None), None);
        Ok(())
    }
}
