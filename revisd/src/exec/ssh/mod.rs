//! The ssh executor: runs live in tmux on the remote host (a private server on
//! `<work_dir>/.revis/tmux.sock`), so a dropped connection or a daemon restart does not touch
//! them. The remote run directory `<work_dir>/.revis/runs/<run_id>/` holds the same wrapper
//! files as a local one (run.sh, command.sh, env, train.log, exit_code, pid); the code runs in
//! `<work_dir>/<session>`, kept in sync by `prepare_workdir`.
//!
//! Everything about a run is derived from its id, so a restarted daemon re-attaches with the id
//! and the local run directory alone. The local run directory gets a mirror of the remote log
//! (appended as it grows, so `logs -f` works unchanged) and, once the run ends, a copy of the
//! remote output directory. The command and environment travel inside a tar stream on stdin,
//! never on a command line. This module must not interpret logs or metrics.
//!
//! `watch` follows a run (one long-lived channel per wait); `files` holds what is written on
//! either side (the wrapper bundle, the local run state and log mirror).

mod files;
mod watch;

pub(crate) use files::LogMirror;

use std::path::Path;
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use self::files::{LOCAL_STATE, prepare_local, wrapper_bundle};
use super::wrapper::sh_quote;
use super::{ExecError, ExecFuture, Executor, RunOutcome, RunSpec, RunStatus, SyncReport, validate_run_id};
use crate::remote::{Remote, RemoteError};

/// How long the remote waits for the wrapper to record its pid, in tenths of a second.
const START_TENTHS: u32 = 100;
const DEFAULT_TIMEOUT_GRACE: Duration = Duration::from_secs(10);
/// How long `wait` keeps retrying a lost connection before giving up on the run.
const DEFAULT_RECONNECT_WINDOW: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, Clone)]
pub struct SshExecutor {
    remote: Remote,
    work_dir: String,
    /// `work_dir` made absolute on the remote (`~` expanded), looked up once.
    base: std::sync::Arc<OnceCell<String>>,
    timeout_grace: Duration,
    reconnect_window: Duration,
}

/// The remote paths of one run.
struct RemoteRun {
    id: String,
    dir: String,
    output: String,
    socket: String,
}

impl RemoteRun {
    fn tmux(&self) -> String {
        format!("tmux -f /dev/null -S {}", sh_quote(&self.socket))
    }
    fn file(&self, name: &str) -> String {
        sh_quote(&format!("{}/{name}", self.dir))
    }
}

impl SshExecutor {
    pub fn new(remote: Remote, work_dir: String) -> Self {
        Self {
            remote,
            work_dir,
            base: std::sync::Arc::new(OnceCell::new()),
            timeout_grace: DEFAULT_TIMEOUT_GRACE,
            reconnect_window: DEFAULT_RECONNECT_WINDOW,
        }
    }

    pub fn with_timeout_grace(mut self, grace: Duration) -> Self {
        self.timeout_grace = grace;
        self
    }

    pub fn with_reconnect_window(mut self, window: Duration) -> Self {
        self.reconnect_window = window;
        self
    }

    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// The absolute remote work directory.
    pub async fn base_dir(&self) -> Result<String, ExecError> {
        self.base.get_or_try_init(|| self.resolve_base()).await.cloned()
    }

    async fn resolve_base(&self) -> Result<String, ExecError> {
        let dir = self.work_dir.trim_end_matches('/');
        if dir.starts_with('/') {
            return Ok(dir.to_string());
        }
        let out = self.exec("find the remote home", "printf '%s' \"$HOME\"", None).await?;
        let home = String::from_utf8_lossy(&out.stdout).trim_end_matches('/').to_string();
        let rest = dir.strip_prefix('~').unwrap_or(dir).trim_start_matches('/');
        Ok(if rest.is_empty() { home } else { format!("{home}/{rest}") })
    }

    /// The remote directory a session's code is synced to.
    pub async fn session_dir(&self, session: &str) -> Result<String, ExecError> {
        Ok(format!("{}/{session}", self.base_dir().await?))
    }

    async fn run_paths(&self, run_id: &str) -> Result<RemoteRun, ExecError> {
        validate_run_id(run_id)?;
        let base = self.base_dir().await?;
        let dir = format!("{base}/.revis/runs/{run_id}");
        Ok(RemoteRun {
            id: run_id.to_string(),
            output: format!("{dir}/output"),
            dir,
            socket: format!("{base}/.revis/tmux.sock"),
        })
    }

    async fn exec(
        &self,
        action: &'static str,
        command: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<crate::remote::Output, ExecError> {
        self.remote.exec(command, stdin).await.map_err(|e| remote_error(action, e))
    }

    async fn start_run(&self, spec: &RunSpec) -> Result<(), ExecError> {
        let run = self.run_paths(&spec.run_id).await?;
        let workdir = self.session_dir(&spec.session).await?;
        prepare_local(spec)?;
        let bundle = wrapper_bundle(spec, &run, &workdir)?;
        let tmux = run.tmux();
        let id = sh_quote(&format!("={}", run.id));
        let script = format!(
            "unset TMUX TMUX_PANE\n\
             umask 077\n\
             if {tmux} has-session -t {id} 2>/dev/null; then echo 'already running' >&2; exit 3; fi\n\
             [ -d {work} ] || {{ echo 'work directory {work_msg} does not exist on the remote host' >&2; exit 4; }}\n\
             mkdir -p {dir} {out} && chmod 700 {dir} && cd {dir} || exit 4\n\
             rm -f exit_code exit_code.tmp pid pid.tmp train.log\n\
             tar -xf - || exit 4\n\
             n=0\n\
             until {tmux} new-session -d -s {name} -c {work_tmux} /bin/sh {run_sh}; do\n\
             \x20 n=$((n+1)); [ $n -ge 5 ] && exit 5; sleep 1\n\
             done\n\
             n=0\n\
             while [ ! -s pid ]; do\n\
             \x20 n=$((n+1)); [ $n -gt {START_TENTHS} ] && {{ echo 'no pid file' >&2; exit 6; }}\n\
             \x20 sleep 0.1\n\
             done\n",
            work = sh_quote(&workdir),
            work_msg = workdir.replace('\'', ""),
            work_tmux = sh_quote(&workdir.replace('#', "##")),
            dir = sh_quote(&run.dir),
            out = sh_quote(&run.output),
            name = sh_quote(&run.id),
            run_sh = run.file("run.sh"),
        );
        let out = match self.exec("start the remote run", &script, Some(bundle)).await {
            Ok(out) => out,
            // The connection dropped while the start script ran: it may well have started the
            // run. Look before failing, so a flaky link never loses (or doubles) a run.
            Err(e) if is_transient(&e) => return self.started_after_drop(&run, e).await,
            Err(e) => return Err(e),
        };
        match out.status {
            Some(0) => Ok(()),
            Some(3) => Err(ExecError::AlreadyRunning(spec.run_id.clone())),
            _ => Err(ExecError::StartFailed {
                run_id: spec.run_id.clone(),
                reason: format!(
                    "on the remote host (exit {}): {}",
                    out.status.map_or_else(|| "by signal".to_string(), |s| s.to_string()),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            }),
        }
    }

    /// After a connection drop during `start`: Ok when the remote run exists (running or
    /// already ended), else the original error. Polls a few times, reconnecting as it goes.
    async fn started_after_drop(&self, run: &RemoteRun, original: ExecError) -> Result<(), ExecError> {
        for attempt in 0..5u64 {
            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
            match self.look(run).await {
                Ok(RunStatus::Running | RunStatus::Exited { .. }) => {
                    tracing::info!(run = %run.id, "the run started although the connection dropped");
                    return Ok(());
                }
                Ok(_) => return Err(original),
                Err(e) if is_transient(&e) => continue,
                Err(_) => return Err(original),
            }
        }
        Err(original)
    }

    async fn kill_run(&self, run_id: &str, grace: Duration) -> Result<(), ExecError> {
        let run = self.run_paths(run_id).await?;
        let tenths = grace.as_millis().div_ceil(100);
        // "Gone" as in `process_group`: no live, non-zombie member (pid 1 in a container may
        // never reap orphans), with the signal probe where there is no /proc.
        let script = format!(
            "unset TMUX\n\
             pg=$(cat {pid} 2>/dev/null)\n\
             case $pg in ''|*[!0-9]*|0|1) pg= ;; esac\n\
             alive() {{\n\
             \x20 kill -0 -$pg 2>/dev/null || return 1\n\
             \x20 [ -r /proc/self/stat ] || return 0\n\
             \x20 for f in /proc/[0-9]*/stat; do\n\
             \x20   read -r l 2>/dev/null < \"$f\" || continue\n\
             \x20   set -- ${{l##*\") \"}}\n\
             \x20   [ \"$3\" = \"$pg\" ] || continue\n\
             \x20   case $1 in Z|X) ;; *) return 0 ;; esac\n\
             \x20 done\n\
             \x20 return 1\n\
             }}\n\
             wait_gone() {{ n=0; while alive; do n=$((n+1)); [ $n -gt $1 ] && return 1; sleep 0.1; done; }}\n\
             if [ -n \"$pg\" ] && alive; then\n\
             \x20 kill -TERM -$pg 2>/dev/null\n\
             \x20 wait_gone {tenths} || {{ kill -KILL -$pg 2>/dev/null; wait_gone 50; }}\n\
             fi\n\
             {tmux} kill-session -t {id} 2>/dev/null\n\
             exit 0\n",
            pid = run.file("pid"),
            tmux = run.tmux(),
            id = sh_quote(&format!("={}", run.id)),
        );
        let out = self.exec("kill the remote run", &script, None).await?;
        if out.success() {
            return Ok(());
        }
        Err(ExecError::RemoteRun {
            action: "kill",
            run_id: run_id.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    async fn alive(&self, run_id: &str) -> Result<bool, ExecError> {
        let run = self.run_paths(run_id).await?;
        let script = format!(
            "unset TMUX\n{} has-session -t {} 2>/dev/null && echo yes || echo no",
            run.tmux(),
            sh_quote(&format!("={}", run.id))
        );
        let out = self.exec("check the remote run", &script, None).await?;
        Ok(String::from_utf8_lossy(&out.stdout).trim() == "yes")
    }

    async fn prepare(
        &self,
        worktree: &Path,
        session: &str,
        links: &[String],
        state_dir: &Path,
    ) -> Result<SyncReport, ExecError> {
        let dir = self.session_dir(session).await?;
        let state_file = state_dir.join("ssh-sync.json");
        super::remote_files::sync_workdir(&self.remote, worktree, &dir, &state_file, links).await
    }
}

impl Executor for SshExecutor {
    /// The run's local record, written by `start` before the remote run begins.
    fn was_started(&self, run_dir: &Path) -> bool {
        run_dir.join(LOCAL_STATE).exists()
    }

    fn start<'a>(&'a self, spec: &'a RunSpec) -> ExecFuture<'a, ()> {
        Box::pin(self.start_run(spec))
    }

    fn status<'a>(&'a self, run_id: &'a str, _run_dir: &'a Path) -> ExecFuture<'a, RunStatus> {
        Box::pin(self.run_status(run_id))
    }

    /// Copies the remote output directory back (eval.json and whatever else the run wrote).
    fn collect<'a>(&'a self, run_id: &'a str, run_dir: &'a Path) -> ExecFuture<'a, ()> {
        Box::pin(self.collect_run(run_id, run_dir))
    }

    fn wait<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, deadline: Option<Instant>) -> ExecFuture<'a, RunOutcome> {
        Box::pin(self.wait_run(run_id, run_dir, deadline))
    }

    fn kill<'a>(&'a self, run_id: &'a str, _run_dir: &'a Path, grace: Duration) -> ExecFuture<'a, ()> {
        Box::pin(self.kill_run(run_id, grace))
    }

    fn is_alive<'a>(&'a self, run_id: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(self.alive(run_id))
    }

    /// `nvidia-smi -L` on the remote host; a shell that cannot find it (127) means no NVIDIA
    /// driver there.
    fn gpu_listing(&self) -> ExecFuture<'_, Option<String>> {
        Box::pin(async move {
            let out = self.remote.exec("nvidia-smi -L", None).await.map_err(|e| remote_error("list the GPUs", e))?;
            match out.status {
                Some(0) => Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned())),
                Some(127) => Ok(None),
                _ => Err(ExecError::GpuListing(
                    String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("no message").trim().to_string(),
                )),
            }
        })
    }

    fn prepare_workdir<'a>(
        &'a self,
        worktree: &'a Path,
        session: &'a str,
        links: &'a [String],
        state_dir: &'a Path,
    ) -> ExecFuture<'a, Option<SyncReport>> {
        Box::pin(async move { self.prepare(worktree, session, links, state_dir).await.map(Some) })
    }
}

fn remote_error(action: &'static str, source: RemoteError) -> ExecError {
    ExecError::Remote { action, source: Box::new(source) }
}

fn is_transient(e: &ExecError) -> bool {
    matches!(e, ExecError::Remote { source, .. } if source.is_transient())
}
