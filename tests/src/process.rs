//! Process checks and signals by pid, for processes the tests started (daemons, training runs).

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::wait::wait_until;

/// Reads a pid written as decimal text (trailing newline allowed).
pub fn read_pid(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok().filter(|pid| *pid > 0)
}

/// True when `pid` names a live process; a zombie counts as gone (it no longer runs anything).
pub use revis_fixtures::process::pid_alive;

/// Stops the tmux server listening on `socket`, if there is one (a test's private server).
pub fn kill_tmux_server(socket: &Path) {
    if !socket.exists() {
        return;
    }
    let _ = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .arg("kill-server")
        .env_remove("TMUX")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM, then SIGKILL when it is still alive after `grace`. Returns true once it is gone.
pub fn terminate(pid: i32, grace: Duration) -> bool {
    if !pid_alive(pid) {
        return true;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    if wait_until(grace, || !pid_alive(pid)) {
        return true;
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    wait_until(Duration::from_secs(5), || !pid_alive(pid))
}

/// Pids of `revisd` processes serving `home`: found through their `--home` argument or their
/// `REVIS_HOME` environment, so a daemon whose pid file is missing is still found.
pub fn daemon_pids(home: &Path) -> Vec<i32> {
    let home = home.as_os_str().as_encoded_bytes();
    let mut env_entry = b"REVIS_HOME=".to_vec();
    env_entry.extend_from_slice(home);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let mut args = cmdline.split(|b| *b == 0);
        let is_revisd = args.next().is_some_and(|argv0| argv0 == b"revisd" || argv0.ends_with(b"/revisd"));
        if !is_revisd {
            continue;
        }
        let names_home = cmdline.split(|b| *b == 0).any(|arg| arg == home);
        let env_home = std::fs::read(entry.path().join("environ"))
            .map(|env| env.split(|b| *b == 0).any(|var| var == env_entry.as_slice()))
            .unwrap_or(false);
        if names_home || env_home {
            pids.push(pid);
        }
    }
    pids
}
