//! The daemon's private tmux server and the few tmux commands it needs.
//!
//! Every call names the server explicitly (`-S` or `-L`), reads no tmux.conf (`-f /dev/null`)
//! and targets sessions exactly (`=NAME`; a bare name prefix-matches). Nothing user-supplied
//! but the run id and paths reaches a tmux command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::ExecError;

/// Unix socket paths longer than this do not fit in `sun_path` on every platform.
const MAX_SOCKET_PATH: usize = 100;

/// Which tmux server runs the training sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TmuxServer {
    /// `tmux -S path`
    Socket(PathBuf),
    /// `tmux -L name` (socket under `$TMUX_TMPDIR` or `/tmp/tmux-<uid>/`)
    Name(String),
}

impl TmuxServer {
    /// `REVIS_TMUX_SOCKET` wins; an explicit home keeps its server beside it (so test daemons
    /// never share one) unless that path is too long for a socket; else `revis-<uid>`.
    pub fn for_home(home_root: &Path, explicit_home: bool) -> Self {
        if let Some(socket) = std::env::var_os("REVIS_TMUX_SOCKET").filter(|v| !v.is_empty()) {
            return Self::Socket(PathBuf::from(socket));
        }
        let uid = nix::unistd::getuid();
        if !explicit_home {
            return Self::Name(format!("revis-{uid}"));
        }
        let socket = home_root.join("tmux.sock");
        if socket.as_os_str().len() < MAX_SOCKET_PATH {
            Self::Socket(socket)
        } else {
            let hash = fnv1a(home_root.as_os_str().as_encoded_bytes());
            Self::Name(format!("revis-{uid}-{:08x}", hash as u32))
        }
    }

    fn server_args(&self) -> [OsString; 4] {
        let (flag, value) = match self {
            Self::Socket(path) => ("-S", path.as_os_str().to_owned()),
            Self::Name(name) => ("-L", OsString::from(name)),
        };
        ["-f".into(), "/dev/null".into(), flag.into(), value]
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(self.server_args());
        // Inside the user's tmux, `TMUX` would make some commands refuse to nest.
        cmd.env_remove("TMUX").env_remove("TMUX_PANE");
        // A tmux server started here keeps this environment for every pane: no LLM keys in it.
        for name in crate::secrets::PROVIDER_VARIABLES {
            cmd.env_remove(name);
        }
        cmd.stdin(std::process::Stdio::null());
        cmd.kill_on_drop(true);
        cmd
    }

    /// Starts `argv` (run directly, no shell) in a new detached session `name`.
    ///
    /// tmux exits when its last session ends; a new session asked for at that very moment
    /// fails with "server exited unexpectedly". Starting again then gets a fresh server, so
    /// that one race is retried a few times.
    pub async fn new_session(&self, name: &str, dir: &Path, argv: &[&Path]) -> Result<(), ExecError> {
        // tmux expands formats in `-c` (`#{...}`, `#S`); `##` is a literal `#`.
        let dir = dir.as_os_str().to_string_lossy().replace('#', "##");
        let mut tries = 0;
        loop {
            tries += 1;
            let mut cmd = self.command();
            cmd.args(["new-session", "-d", "-s", name, "-c", &dir]);
            // More than one argument: tmux execs them directly, so no shell parses the path.
            cmd.args(argv);
            let out = cmd.output().await.map_err(ExecError::TmuxSpawn)?;
            if out.status.success() {
                return Ok(());
            }
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if stderr.contains("duplicate session") {
                return Err(ExecError::AlreadyRunning(name.to_string()));
            }
            let server_went_away = stderr.contains("server exited unexpectedly") || stderr.contains("lost server");
            if !server_went_away || tries >= 5 {
                return Err(ExecError::Tmux { command: format!("new-session -s {name}"), stderr });
            }
            tracing::debug!(session = name, "tmux server exited while starting a run; retrying");
            tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
        }
    }

    /// False when the session is gone, including when no server is running.
    pub async fn has_session(&self, name: &str) -> Result<bool, ExecError> {
        let out = self.run_target("has-session", name).await?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(tmux_error("has-session", name, &out)),
        }
    }

    /// Kills the session; a session (or server) that is already gone is fine.
    pub async fn kill_session(&self, name: &str) -> Result<(), ExecError> {
        let out = self.run_target("kill-session", name).await?;
        match out.status.code() {
            Some(0) | Some(1) => Ok(()),
            _ => Err(tmux_error("kill-session", name, &out)),
        }
    }

    /// Stops the whole server (tests; a daemon never does this: other runs live there).
    pub fn kill_server_blocking(&self) {
        let _ = std::process::Command::new("tmux")
            .args(self.server_args())
            .arg("kill-server")
            .env_remove("TMUX")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }

    async fn run_target(&self, verb: &str, name: &str) -> Result<std::process::Output, ExecError> {
        self.command().args([verb, "-t", &format!("={name}")]).output().await.map_err(ExecError::TmuxSpawn)
    }
}

fn tmux_error(verb: &str, name: &str, out: &std::process::Output) -> ExecError {
    ExecError::Tmux {
        command: format!("{verb} -t ={name}"),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// A hash that stays the same across Rust releases, so a daemon finds its server again.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_choice_follows_home() {
        // Setting the override would need `unsafe` and race other tests: skip when it is set.
        if std::env::var_os("REVIS_TMUX_SOCKET").is_some() {
            return;
        }
        let uid = nix::unistd::getuid();
        assert_eq!(
            TmuxServer::for_home(Path::new("/tmp/h"), true),
            TmuxServer::Socket(PathBuf::from("/tmp/h/tmux.sock"))
        );
        assert_eq!(TmuxServer::for_home(Path::new("/tmp/h"), false), TmuxServer::Name(format!("revis-{uid}")));
        let long = PathBuf::from(format!("/tmp/{}", "x".repeat(120)));
        let TmuxServer::Name(name) = TmuxServer::for_home(&long, true) else {
            panic!("a long home must not use a socket path");
        };
        assert!(name.starts_with(&format!("revis-{uid}-")));
        assert_eq!(TmuxServer::for_home(&long, true), TmuxServer::Name(name));
    }
}
