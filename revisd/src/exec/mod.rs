//! Executors run training outside the daemon process and report how it ended.
//! `local` runs in tmux on a private server. The wrapper protocol (script file, log file, exit
//! file) is shared by every executor so a restarted daemon can re-attach to a run.
//!
//! This module owns the `Executor` trait and the run directory layout (`wrapper`). It must not
//! know about sessions, iterations or metrics: a run is a command, a directory and an id.

pub mod local;
pub(crate) mod process_group;
pub mod registry;
mod remote_files;
pub mod slurm;
pub mod ssh;
mod tail;
pub mod tmux;
pub mod wrapper;

#[cfg(test)]
mod local_tests;
#[cfg(test)]
mod ssh_tests;

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

pub use local::LocalExecutor;
pub use registry::Executors;
pub use slurm::SlurmExecutor;
pub use ssh::SshExecutor;
pub use tail::tail_lines;
pub use tmux::TmuxServer;

/// What `Executor::prepare_workdir` shipped to a remote host: the sync's own report.
pub use crate::remote::sync::SyncReport;

/// Everything an executor needs to start one training run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `[A-Za-z0-9_-]` only: it is also the tmux session name.
    pub run_id: String,
    /// Created by the executor; holds run.sh, command.sh, env, train.log, exit_code, pid.
    pub run_dir: PathBuf,
    pub workdir: PathBuf,
    /// Run with `sh -c` semantics in `workdir`.
    pub command: String,
    /// Exported to the command; may hold secrets, so it only ever lands in a 0600 file.
    pub env: Vec<(String, String)>,
    /// Exported as `REVIS_OUTPUT_DIR`; created by the executor.
    pub output_dir: PathBuf,
    /// The session's key (`engine::run_key`): remote executors run in `<work_dir>/<session>`.
    pub session: String,
}

/// A point-in-time look at a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// Waiting in a batch scheduler's queue (a Slurm job PENDING, or requeued), with the
    /// scheduler's reason (`Resources`, `Priority`).
    Queued {
        reason: String,
    },
    Running,
    Exited {
        code: i32,
    },
    /// Ended by its scheduler rather than by its own exit (a time limit, out of memory, a
    /// node failure, a cancellation outside Revis): why, in words.
    Ended {
        reason: String,
    },
    /// The tmux session is gone and no exit file was written (killed, host rebooted, ...).
    Vanished,
}

/// How `Executor::wait` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Exited {
        code: i32,
    },
    /// Its scheduler ended it (see `RunStatus::Ended`).
    Ended {
        reason: String,
    },
    /// The deadline passed; the run's process group has been killed.
    TimedOut,
    Vanished,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("invalid run id {0:?}: use only letters, digits, '_' and '-'")]
    InvalidRunId(String),
    #[error("invalid environment variable name {0:?}")]
    InvalidEnvName(String),
    #[error("environment variable {0} has a NUL byte in its value")]
    NulInEnv(String),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot run tmux: {0}")]
    TmuxSpawn(#[source] io::Error),
    #[error("`tmux {command}` failed: {stderr}")]
    Tmux { command: String, stderr: String },
    #[error("a run named {0} is already running")]
    AlreadyRunning(String),
    #[error("bad exit code file {path}: {content:?}")]
    BadExitCode { path: PathBuf, content: String },
    #[error("bad pid file {path}: {content:?}")]
    BadPidFile { path: PathBuf, content: String },
    #[error("run {run_id} did not start: {reason}")]
    StartFailed { run_id: String, reason: String },
    #[error("cannot signal process group {pgid}: {source}")]
    Signal {
        pgid: i32,
        #[source]
        source: nix::errno::Errno,
    },
    /// Boxed: host key errors carry several strings and would bloat every `Result`.
    #[error("{action}: {source}")]
    Remote {
        action: &'static str,
        #[source]
        source: Box<crate::remote::RemoteError>,
    },
    #[error("cannot sync the worktree to the remote host: {0}")]
    Sync(#[source] Box<crate::remote::sync::SyncError>),
    #[error("remote `{action}` for run {run_id} failed: {message}")]
    RemoteRun { action: &'static str, run_id: String, message: String },
    #[error("sbatch refused the job of run {run_id}: {message}")]
    Submit { run_id: String, message: String },
    #[error("`nvidia-smi -L` failed: {0}")]
    GpuListing(String),
}

impl ExecError {
    /// The host the run is on could not be reached (no connection, a timeout, a dropped link):
    /// nothing is known about the run itself.
    pub fn is_unreachable(&self) -> bool {
        match self {
            ExecError::Remote { source, .. } => source.is_transient(),
            ExecError::Sync(e) => matches!(e.as_ref(), crate::remote::sync::SyncError::Remote(r) if r.is_transient()),
            _ => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), source }
    }
}

/// The boxed future every `Executor` method returns; boxing keeps the trait object-safe so the
/// engine can hold an `Arc<dyn Executor>` chosen from the config.
pub type ExecFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ExecError>> + Send + 'a>>;

/// Runs training somewhere other than the daemon and lets a later daemon re-attach to it by
/// `run_id` and `run_dir` alone.
pub trait Executor: Send + Sync {
    /// Writes the wrapper files and starts the run. Returns once the run has recorded its pid.
    fn start<'a>(&'a self, spec: &'a RunSpec) -> ExecFuture<'a, ()>;

    fn status<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, RunStatus>;

    /// Waits for the run to end (then `collect` brings its output). At `deadline` the run's
    /// process group is killed and the outcome is `TimedOut`.
    fn wait<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, deadline: Option<Instant>) -> ExecFuture<'a, RunOutcome>;

    /// SIGTERM to the run's process group, SIGKILL after `grace`, then the tmux session goes.
    /// Killing a run that already ended is not an error.
    fn kill<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, grace: Duration) -> ExecFuture<'a, ()>;

    fn is_alive<'a>(&'a self, run_id: &'a str) -> ExecFuture<'a, bool>;

    /// Makes `worktree` available where runs execute, before each run of `session` (the
    /// `RunSpec::session` key): remote executors sync it and check that the `links`
    /// (`workspace.link`) exist there; `state_dir` is a local directory they may keep sync
    /// state in. Local runs use the worktree in place: `Ok(None)`.
    fn prepare_workdir<'a>(
        &'a self,
        worktree: &'a Path,
        session: &'a str,
        links: &'a [String],
        state_dir: &'a Path,
    ) -> ExecFuture<'a, Option<SyncReport>> {
        let _ = (worktree, session, links, state_dir);
        Box::pin(async { Ok(None) })
    }

    /// A run after a daemon restart: `None` when `start` never ran for it (start it), else how
    /// it stands now (running: wait for it again; ended: collect it). Never starts anything.
    fn attach<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, Option<RunStatus>> {
        Box::pin(async move {
            if !self.was_started(run_dir) {
                return Ok(None);
            }
            self.status(run_id, run_dir).await.map(Some)
        })
    }

    /// Brings what a finished run produced into `run_dir`'s output directory, where the metrics
    /// sources read it. Local runs write there directly; remote executors copy it back.
    fn collect<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, ()> {
        let _ = (run_id, run_dir);
        Box::pin(async { Ok(()) })
    }

    /// Whether `start` already ran for this run directory (so a restarted daemon re-attaches
    /// instead of starting the run again).
    fn was_started(&self, run_dir: &Path) -> bool {
        wrapper::RunFiles::new(run_dir).pid().exists()
    }

    fn log_path(&self, run_dir: &Path) -> PathBuf {
        wrapper::RunFiles::new(run_dir).log()
    }

    /// The batch scheduler's id of the job `start` submitted for this run (`None`: runs that
    /// are not batch jobs).
    fn job_id(&self, run_dir: &Path) -> Option<String> {
        let _ = run_dir;
        None
    }

    /// For runs that may wait in a scheduler's queue before they run: how often to look
    /// whether they started (`status` says `Queued` until then). `None`: runs start at once.
    fn queue_poll(&self) -> Option<Duration> {
        None
    }

    /// What `nvidia-smi -L` prints where this executor runs trials (the GPUs a slot may get);
    /// `None` when nvidia-smi is not installed there. The default asks this machine.
    fn gpu_listing(&self) -> ExecFuture<'_, Option<String>> {
        Box::pin(async {
            match tokio::process::Command::new("nvidia-smi").arg("-L").output().await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(ExecError::io("run", Path::new("nvidia-smi"), e)),
                Ok(out) if !out.status.success() => Err(ExecError::GpuListing(
                    String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("no message").trim().to_string(),
                )),
                Ok(out) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
            }
        })
    }
}

/// Run ids double as tmux session names, where `.` and `:` are rewritten; keep them plain.
pub fn validate_run_id(run_id: &str) -> Result<(), ExecError> {
    let ok = !run_id.is_empty() && run_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(ExecError::InvalidRunId(run_id.to_string())) }
}
