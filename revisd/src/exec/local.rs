//! The local executor: each run is a detached session on the daemon's private tmux server, so
//! training outlives a daemon restart and a later daemon re-attaches by run id.
//!
//! The pane runs `/bin/sh run.sh` directly (no shell parses its command line). tmux starts
//! every pane in a new session, so the wrapper shell leads its own process group and killing
//! `-pid` reaches the whole training tree. This module must not interpret logs or metrics.

use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use super::wrapper::RunFiles;
use super::{
    ExecError, ExecFuture, Executor, RunOutcome, RunSpec, RunStatus, TmuxServer, process_group, validate_run_id,
};

/// How often `wait` looks for the exit file (a cheap stat), by the run's age: short runs are
/// seen ending within milliseconds (loop overhead), long ones cost few wake-ups (idle CPU).
const EXIT_POLLS: &[(Duration, Duration)] = &[
    (Duration::from_secs(1), Duration::from_millis(5)),
    (Duration::from_secs(10), Duration::from_millis(20)),
    (Duration::from_secs(60), Duration::from_millis(50)),
];
const EXIT_POLL_LONG: Duration = Duration::from_millis(200);
/// How often `wait` asks tmux whether the session still exists (a process spawn).
const LIVENESS_POLL: Duration = Duration::from_secs(2);
/// How long `start` waits for the wrapper to record its pid.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct LocalExecutor {
    tmux: TmuxServer,
    /// SIGTERM → SIGKILL grace when `wait` hits its deadline.
    timeout_grace: Duration,
}

impl LocalExecutor {
    pub fn new(tmux: TmuxServer) -> Self {
        Self { tmux, timeout_grace: DEFAULT_TIMEOUT_GRACE }
    }

    pub fn with_timeout_grace(mut self, grace: Duration) -> Self {
        self.timeout_grace = grace;
        self
    }

    pub fn tmux(&self) -> &TmuxServer {
        &self.tmux
    }

    async fn start_run(&self, spec: &RunSpec) -> Result<(), ExecError> {
        validate_run_id(&spec.run_id)?;
        if !spec.workdir.is_dir() {
            return Err(ExecError::io("enter work directory", &spec.workdir, std::io::ErrorKind::NotFound.into()));
        }
        // Checked before the files are rewritten: a live run's pid file must not be clobbered.
        if self.tmux.has_session(&spec.run_id).await? {
            return Err(ExecError::AlreadyRunning(spec.run_id.clone()));
        }
        let files = RunFiles::new(&spec.run_dir);
        files.prepare(spec)?;
        let run_script =
            std::path::absolute(files.run_script()).map_err(|e| ExecError::io("resolve", &files.run_script(), e))?;
        let argv = [Path::new("/bin/sh"), run_script.as_path()];
        self.tmux.new_session(&spec.run_id, &spec.workdir, &argv).await?;
        self.await_pid(&spec.run_id, &files).await
    }

    /// Returning only once the pid is on disk means `kill` right after `start` always finds
    /// the process group.
    async fn await_pid(&self, run_id: &str, files: &RunFiles) -> Result<(), ExecError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut next_liveness = Instant::now() + Duration::from_millis(500);
        loop {
            if files.read_pid()?.is_some() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ExecError::StartFailed {
                    run_id: run_id.to_string(),
                    reason: format!("no pid file after {}s", START_TIMEOUT.as_secs()),
                });
            }
            if now >= next_liveness {
                next_liveness = now + Duration::from_millis(500);
                if !self.tmux.has_session(run_id).await? && files.read_pid()?.is_none() {
                    return Err(ExecError::StartFailed {
                        run_id: run_id.to_string(),
                        reason: "the tmux session ended before the wrapper ran".into(),
                    });
                }
            }
            // The wrapper writes its pid within milliseconds of tmux starting it.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn run_status(&self, run_id: &str, run_dir: &Path) -> Result<RunStatus, ExecError> {
        let files = RunFiles::new(run_dir);
        if let Some(code) = files.read_exit_code()? {
            return Ok(RunStatus::Exited { code });
        }
        if self.tmux.has_session(run_id).await? {
            return Ok(RunStatus::Running);
        }
        // The wrapper writes the exit file just before its pane closes: look once more.
        match files.read_exit_code()? {
            Some(code) => Ok(RunStatus::Exited { code }),
            None => Ok(RunStatus::Vanished),
        }
    }

    async fn wait_run(&self, run_id: &str, run_dir: &Path, deadline: Option<Instant>) -> Result<RunOutcome, ExecError> {
        let files = RunFiles::new(run_dir);
        let started = Instant::now();
        // The exit file answers first; tmux is asked only once a run has had time to vanish.
        let mut next_liveness = started + Duration::from_millis(500);
        loop {
            if let Some(code) = files.read_exit_code()? {
                return Ok(RunOutcome::Exited { code });
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                self.kill_run(run_id, run_dir, self.timeout_grace).await?;
                return Ok(RunOutcome::TimedOut);
            }
            if now >= next_liveness {
                next_liveness = now + LIVENESS_POLL;
                match self.run_status(run_id, run_dir).await? {
                    RunStatus::Running | RunStatus::Queued { .. } => {}
                    RunStatus::Exited { code } => return Ok(RunOutcome::Exited { code }),
                    RunStatus::Ended { reason } => return Ok(RunOutcome::Ended { reason }),
                    RunStatus::Vanished => return Ok(RunOutcome::Vanished),
                }
            }
            let age = now.saturating_duration_since(started);
            let mut nap = EXIT_POLLS.iter().find(|(until, _)| age < *until).map_or(EXIT_POLL_LONG, |(_, every)| *every);
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(now));
            }
            tokio::time::sleep(nap).await;
        }
    }

    async fn kill_run(&self, run_id: &str, run_dir: &Path, grace: Duration) -> Result<(), ExecError> {
        validate_run_id(run_id)?;
        // Leftover background children of a finished run are fair game too, hence no check of
        // the exit file; an empty group is left alone, since its number may be reused.
        if let Some(pgid) = RunFiles::new(run_dir).read_pid()?
            && process_group::is_alive(pgid)
        {
            process_group::terminate(pgid, grace).await?;
        }
        self.tmux.kill_session(run_id).await
    }
}

impl Executor for LocalExecutor {
    fn start<'a>(&'a self, spec: &'a RunSpec) -> ExecFuture<'a, ()> {
        Box::pin(self.start_run(spec))
    }

    fn status<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, RunStatus> {
        Box::pin(async move {
            validate_run_id(run_id)?;
            self.run_status(run_id, run_dir).await
        })
    }

    /// As the default, and one more case: a daemon killed between tmux's `new-session` and
    /// the wrapper's first line leaves a run with a tmux session and no pid file yet (a loaded
    /// machine can take that long to start a shell). That run was started: its pid is waited
    /// for, never a second start that tmux would refuse.
    fn attach<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, Option<RunStatus>> {
        Box::pin(async move {
            validate_run_id(run_id)?;
            let files = RunFiles::new(run_dir);
            if !files.pid().exists() {
                if !self.tmux.has_session(run_id).await? {
                    return Ok(None);
                }
                if self.await_pid(run_id, &files).await.is_err() {
                    // Its shell never ran: waiting for it reports the run as gone.
                    return Ok(Some(RunStatus::Vanished));
                }
            }
            self.run_status(run_id, run_dir).await.map(Some)
        })
    }

    fn wait<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, deadline: Option<Instant>) -> ExecFuture<'a, RunOutcome> {
        Box::pin(async move {
            validate_run_id(run_id)?;
            self.wait_run(run_id, run_dir, deadline).await
        })
    }

    fn kill<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, grace: Duration) -> ExecFuture<'a, ()> {
        Box::pin(self.kill_run(run_id, run_dir, grace))
    }

    fn is_alive<'a>(&'a self, run_id: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(async move {
            validate_run_id(run_id)?;
            self.tmux.has_session(run_id).await
        })
    }
}
