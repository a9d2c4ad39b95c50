//! A temporary `REVIS_HOME` whose daemon and tmux server are shut down when it is dropped.
//! Must not: stop any daemon that does not serve this home.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Running, revis_command};
use crate::process::{daemon_pids, kill_tmux_server, pid_alive, read_pid, terminate};

/// A temp dir under /tmp (unix socket paths must stay under 108 bytes) whose subdirectory `h` is
/// the daemon's home. The subdirectory does not exist until the daemon (or a test) creates it,
/// so every test also checks that a missing home is created.
pub struct TestHome {
    root: tempfile::TempDir,
    home: PathBuf,
}

impl TestHome {
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("rvs-")
            .tempdir_in("/tmp")
            .unwrap_or_else(|e| panic!("cannot create a temp dir in /tmp: {e}"));
        let home = root.path().join("h");
        Self { root, home }
    }

    /// The REVIS_HOME path.
    pub fn path(&self) -> &Path {
        &self.home
    }

    /// A scratch directory next to the home, removed with it.
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }

    pub fn socket(&self) -> PathBuf {
        self.home.join("revisd.sock")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.home.join("revisd.pid")
    }

    pub fn log_file(&self) -> PathBuf {
        self.home.join("revisd.log")
    }

    pub fn tmux_socket(&self) -> PathBuf {
        self.home.join("tmux.sock")
    }

    /// The live daemon's pid according to its pid file.
    pub fn daemon_pid(&self) -> Option<i32> {
        read_pid(&self.pid_file()).filter(|pid| pid_alive(*pid))
    }

    /// The daemon's log, for failure messages.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Stops this home's daemon: `revis daemon stop` first, then SIGTERM/SIGKILL by pid for
    /// whatever still runs, then the private tmux server (and the training in it).
    pub fn shutdown(&self) {
        if self.socket().exists() {
            let cmd = revis_command(self, self.root.path(), &["daemon", "stop"]);
            let mut stop = Running::spawn(cmd, "revis daemon stop");
            let _ = stop.try_wait_for(Duration::from_secs(15));
        }
        let mut pids = daemon_pids(&self.home);
        if let Some(pid) = read_pid(&self.pid_file())
            && !pids.contains(&pid)
            && is_revisd(pid)
        {
            pids.push(pid);
        }
        for pid in pids {
            terminate(pid, Duration::from_secs(5));
        }
        kill_tmux_server(&self.tmux_socket());
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestHome {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Guards against a recycled pid: only a process running the revisd binary is signalled.
fn is_revisd(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| cmdline.split(|b| *b == 0).next().is_some_and(|argv0| argv0.ends_with(b"revisd")))
        .unwrap_or(false)
}
