//! Running the `revis` CLI (and other child processes) with a deadline and a private environment.
//! Must not: let a child outlive the test (a [`Running`] kills its child when dropped), or pass
//! the user's Revis/tmux/LLM environment through to the daemon the CLI may start.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::home::TestHome;
use crate::wait::wait_until;

/// Variables that would let a test reach the user's daemon, tmux server or LLM account.
const SCRUBBED_ENV: &[&str] = &[
    "REVIS_HOME",
    "REVIS_TMUX_SOCKET",
    // A fault armed in the developer's shell would crash every daemon the tests start.
    "REVIS_FAULT",
    "TMUX",
    "TMUX_PANE",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "GEMINI_API_KEY",
    "WANDB_API_KEY",
    "GITHUB_TOKEN",
];

/// A `revis` command for `home`, run in `project_dir`: REVIS_HOME and the tmux socket point into
/// the test home, colour is off, stdin is empty.
pub fn revis_command(home: &TestHome, project_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(crate::bins::revis_bin());
    cmd.args(args).current_dir(project_dir);
    scrub_env(&mut cmd, home);
    cmd
}

/// Applies the test environment to any command that may reach a daemon.
pub fn scrub_env(cmd: &mut Command, home: &TestHome) {
    let provider = revisd::secrets::PROVIDER_VARIABLES.iter().chain(revisd::secrets::CLOUD_VARIABLES);
    for var in SCRUBBED_ENV.iter().chain(provider) {
        cmd.env_remove(var);
    }
    cmd.env("REVIS_HOME", home.path())
        .env("REVIS_TMUX_SOCKET", home.tmux_socket())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
}

/// Runs `revis args...` in `project_dir` and returns its output; panics if it does not finish
/// within [`crate::COMMAND_DEADLINE`].
pub fn revis(home: &TestHome, project_dir: &Path, args: &[&str]) -> Output {
    let what = format!("revis {}", args.join(" "));
    Running::spawn(revis_command(home, project_dir, args), &what).wait(crate::COMMAND_DEADLINE)
}

/// A child process whose stdout and stderr are collected by reader threads (so a full pipe never
/// blocks it) and which is killed if the test drops it while it still runs.
pub struct Running {
    what: String,
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Spawns `cmd` with piped stdout/stderr; `what` names it in failure messages.
    pub fn spawn(mut cmd: Command, what: &str) -> Self {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, Arc::clone(&stdout)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, Arc::clone(&stderr)));
        }
        Self { what: what.to_string(), child: Some(child), stdout, stderr, readers }
    }

    /// What the child has printed to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        let buf = self.stdout.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&buf).into_owned()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits for the child to exit; None when it still runs after `timeout` (it keeps running).
    pub fn try_wait_for(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let mut status = None;
        wait_until(timeout, || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Waits for the child to exit and returns everything it printed. Panics (after killing it)
    /// when it is still running after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> Output {
        let Some(status) = self.try_wait_for(timeout) else {
            self.kill();
            panic!(
                "{} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout_so_far(),
                self.stderr_text()
            );
        };
        self.child = None;
        // A grandchild that inherited the pipes (a daemon that did not detach its stdio) keeps
        // them open forever: take what was printed so far instead of hanging the test.
        let readers = std::mem::take(&mut self.readers);
        if wait_until(Duration::from_secs(5), || readers.iter().all(JoinHandle::is_finished)) {
            for reader in readers {
                let _ = reader.join();
            }
        } else {
            eprintln!("warning: a process started by `{}` kept its stdout/stderr open", self.what);
        }
        Output { status, stdout: take(&self.stdout), stderr: take(&self.stderr) }
    }

    fn stderr_text(&self) -> String {
        let buf = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

fn collect(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut buf) = into.lock() {
                        buf.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
    })
}

fn take(buf: &Arc<Mutex<Vec<u8>>>) -> Vec<u8> {
    buf.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
}

/// Exit code, stdout and stderr of an output, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
