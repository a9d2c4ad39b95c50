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

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::wrapper::{RunFiles, sh_quote};
use super::{ExecError, ExecFuture, Executor, RunOutcome, RunSpec, RunStatus, SyncReport, validate_run_id};
use crate::remote::{Remote, RemoteError, sync};

/// How often `wait` polls the remote (one command per poll: exit file, liveness, new log).
const POLL: Duration = Duration::from_secs(1);
/// Log bytes fetched per poll; a backlog drains over several polls.
const LOG_CHUNK: u64 = 4 * 1024 * 1024;
/// How long the remote waits for the wrapper to record its pid, in tenths of a second.
const START_TENTHS: u32 = 100;
const DEFAULT_TIMEOUT_GRACE: Duration = Duration::from_secs(10);
/// How long `wait` keeps retrying a lost connection before giving up on the run.
const DEFAULT_RECONNECT_WINDOW: Duration = Duration::from_secs(30 * 60);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Written by `start` into the local run directory; lets `wait` (maybe in a later daemon)
/// know where results go and which part of the local log is the mirror.
const LOCAL_STATE: &str = "ssh_run.json";

#[derive(Debug, Serialize, Deserialize)]
struct LocalRunState {
    output_dir: PathBuf,
    /// Length of the local train.log when the remote run started: the mirror begins there.
    log_base: u64,
}

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
            match self.poll(run, 0).await {
                Ok(Poll { status: RunStatus::Running | RunStatus::Exited { .. }, .. }) => {
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

    /// One poll: exit code, liveness and the log from `offset`.
    async fn poll(&self, run: &RemoteRun, offset: u64) -> Result<Poll, ExecError> {
        let script = format!(
            "unset TMUX\n\
             cd {dir} 2>/dev/null || {{ printf 'gone\\n'; exit 0; }}\n\
             c=$(cat exit_code 2>/dev/null)\n\
             if [ -z \"$c\" ] && {tmux} has-session -t {id} 2>/dev/null; then s=1; else s=0; c=$(cat exit_code 2>/dev/null); fi\n\
             printf '%s\\n%s\\n' \"$c\" \"$s\"\n\
             tail -c +{start} train.log 2>/dev/null | head -c {LOG_CHUNK}\n",
            dir = sh_quote(&run.dir),
            tmux = run.tmux(),
            id = sh_quote(&format!("={}", run.id)),
            start = offset + 1,
        );
        let out = self.exec("poll the remote run", &script, None).await?;
        parse_poll(&run.id, &out.stdout)
    }

    async fn run_status(&self, run_id: &str) -> Result<RunStatus, ExecError> {
        let run = self.run_paths(run_id).await?;
        // Only the first lines matter: ask for the log from its (far) end.
        Ok(self.poll(&run, u64::MAX / 2).await?.status)
    }

    async fn wait_run(&self, run_id: &str, run_dir: &Path, deadline: Option<Instant>) -> Result<RunOutcome, ExecError> {
        let run = self.run_paths(run_id).await?;
        let files = RunFiles::new(run_dir);
        let state = read_local_state(run_dir);
        let log = files.log();
        let mut failures = 0u32;
        let mut failing_since: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                self.kill_run(run_id, self.timeout_grace).await?;
                // What the run printed until it was killed is still worth having.
                let _ = self.drain(&run, &log, state.log_base).await;
                return Ok(RunOutcome::TimedOut);
            }
            let offset = local_len(&log).saturating_sub(state.log_base);
            match self.poll(&run, offset).await {
                Ok(poll) => {
                    failures = 0;
                    failing_since = None;
                    append(&log, &poll.log)?;
                    match poll.status {
                        RunStatus::Running => {}
                        RunStatus::Exited { code } => {
                            self.finish(&run, &log, &state).await?;
                            return Ok(RunOutcome::Exited { code });
                        }
                        RunStatus::Vanished => {
                            let _ = self.drain(&run, &log, state.log_base).await;
                            return Ok(RunOutcome::Vanished);
                        }
                    }
                    if poll.log.len() as u64 >= LOG_CHUNK {
                        continue;
                    }
                    nap(POLL, deadline).await;
                }
                Err(e) if is_transient(&e) => {
                    let since = *failing_since.get_or_insert(now);
                    if now.duration_since(since) >= self.reconnect_window {
                        return Err(e);
                    }
                    failures += 1;
                    let delay = POLL.saturating_mul(2u32.saturating_pow(failures.min(6))).min(BACKOFF_MAX);
                    tracing::warn!(run_id, error = %e, "lost the connection to the remote run; retrying in {delay:?}");
                    nap(delay, deadline).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// After the run: the rest of the log, then the output directory, retried across drops.
    async fn finish(&self, run: &RemoteRun, log: &Path, state: &LocalRunState) -> Result<(), ExecError> {
        let mut failures = 0u32;
        let started = Instant::now();
        loop {
            let result = match self.drain(run, log, state.log_base).await {
                Ok(()) => self.fetch_output(run, &state.output_dir).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if is_transient(&e) && started.elapsed() < self.reconnect_window => {
                    failures += 1;
                    let delay = POLL.saturating_mul(2u32.saturating_pow(failures.min(6))).min(BACKOFF_MAX);
                    tracing::warn!(run_id = %run.id, error = %e, "lost the connection collecting results; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn drain(&self, run: &RemoteRun, log: &Path, log_base: u64) -> Result<(), ExecError> {
        loop {
            let offset = local_len(log).saturating_sub(log_base);
            let poll = self.poll(run, offset).await?;
            append(log, &poll.log)?;
            if (poll.log.len() as u64) < LOG_CHUNK {
                return Ok(());
            }
        }
    }

    /// Copies the remote output directory into `local`. An output too large for one transfer
    /// (checkpoints) falls back to eval.json alone: that is what the metrics need.
    async fn fetch_output(&self, run: &RemoteRun, local: &Path) -> Result<(), ExecError> {
        let out_dir = sh_quote(&run.output);
        let full = format!("cd {out_dir} 2>/dev/null || exit 0\ntar -cf - .");
        let archive = match self.remote.exec(&full, None).await {
            Ok(out) if out.success() => out.stdout,
            Ok(out) => {
                return Err(ExecError::RemoteRun {
                    action: "copy the output directory",
                    run_id: run.id.clone(),
                    message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
            Err(RemoteError::OutputTooLarge { .. }) => {
                tracing::warn!(run_id = %run.id, "remote output directory too large to copy; fetching eval.json only");
                let small =
                    format!("cd {out_dir} 2>/dev/null || exit 0\n[ -f eval.json ] && tar -cf - eval.json || true");
                self.exec("copy eval.json", &small, None).await?.stdout
            }
            Err(e) => return Err(remote_error("copy the output directory", e)),
        };
        fs::create_dir_all(local).map_err(|e| ExecError::io("create", local, e))?;
        if archive.is_empty() {
            return Ok(());
        }
        let mut archive = tar::Archive::new(archive.as_slice());
        archive.set_overwrite(true);
        // `unpack` refuses entries that would land outside `local`.
        archive.unpack(local).map_err(|e| ExecError::io("unpack the remote output into", local, e))
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
        let report =
            sync::sync(&self.remote, worktree, &dir, &state_file).await.map_err(|e| ExecError::Sync(Box::new(e)))?;
        sync::check_links(&self.remote, &dir, links).await.map_err(|e| ExecError::Sync(Box::new(e)))?;
        Ok(report)
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

    fn wait<'a>(&'a self, run_id: &'a str, run_dir: &'a Path, deadline: Option<Instant>) -> ExecFuture<'a, RunOutcome> {
        Box::pin(self.wait_run(run_id, run_dir, deadline))
    }

    fn kill<'a>(&'a self, run_id: &'a str, _run_dir: &'a Path, grace: Duration) -> ExecFuture<'a, ()> {
        Box::pin(self.kill_run(run_id, grace))
    }

    fn is_alive<'a>(&'a self, run_id: &'a str) -> ExecFuture<'a, bool> {
        Box::pin(self.alive(run_id))
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

struct Poll {
    status: RunStatus,
    log: Vec<u8>,
}

fn parse_poll(run_id: &str, stdout: &[u8]) -> Result<Poll, ExecError> {
    let bad = || ExecError::RemoteRun {
        action: "poll",
        run_id: run_id.to_string(),
        message: format!("unexpected answer {:?}", String::from_utf8_lossy(&stdout[..stdout.len().min(200)])),
    };
    if stdout == b"gone\n" {
        return Ok(Poll { status: RunStatus::Vanished, log: Vec::new() });
    }
    let mut parts = stdout.splitn(3, |b| *b == b'\n');
    let code = String::from_utf8_lossy(parts.next().ok_or_else(bad)?).trim().to_string();
    let session = parts.next().ok_or_else(bad)?;
    let log = parts.next().unwrap_or_default().to_vec();
    let status = if !code.is_empty() {
        RunStatus::Exited { code: code.parse().map_err(|_| bad())? }
    } else if session == b"1" {
        RunStatus::Running
    } else {
        RunStatus::Vanished
    };
    Ok(Poll { status, log })
}

/// The local run directory (0700, for the mirrored log), the output directory and the state
/// a later `wait` needs.
fn prepare_local(spec: &RunSpec) -> Result<(), ExecError> {
    let dir = &spec.run_dir;
    fs::create_dir_all(dir).map_err(|e| ExecError::io("create", dir, e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| ExecError::io("set permissions of", dir, e))?;
    fs::create_dir_all(&spec.output_dir).map_err(|e| ExecError::io("create", &spec.output_dir, e))?;
    let files = RunFiles::new(dir);
    for stale in [files.exit_code(), files.pid()] {
        match fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(ExecError::io("remove", &stale, e)),
            _ => {}
        }
    }
    let output_dir =
        std::path::absolute(&spec.output_dir).map_err(|e| ExecError::io("resolve", &spec.output_dir, e))?;
    let state = LocalRunState { output_dir, log_base: local_len(&files.log()) };
    let path = dir.join(LOCAL_STATE);
    let json = serde_json::to_vec(&state).map_err(|e| ExecError::io("encode", &path, std::io::Error::other(e)))?;
    fs::write(&path, json).map_err(|e| ExecError::io("write", &path, e))
}

fn read_local_state(run_dir: &Path) -> LocalRunState {
    fs::read(run_dir.join(LOCAL_STATE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| LocalRunState { output_dir: run_dir.join("output"), log_base: 0 })
}

/// run.sh, command.sh and env as a tar stream for the remote run directory.
fn wrapper_bundle(spec: &RunSpec, run: &RemoteRun, workdir: &str) -> Result<Vec<u8>, ExecError> {
    super::wrapper::validate_env(&spec.env)?;
    let mut env = String::from("# Written by revisd: the run's environment. May hold secrets.\n");
    env.push_str(&format!("unset {}\n", crate::secrets::PROVIDER_VARIABLES.join(" ")));
    for (name, value) in &spec.env {
        env.push_str(&format!("export {name}={}\n", sh_quote(value)));
    }
    // Last, so it wins over the daemon's local path in `spec.env`.
    env.push_str(&format!("export REVIS_OUTPUT_DIR={}\n", sh_quote(&run.output)));
    let mut command = spec.command.clone();
    if !command.ends_with('\n') {
        command.push('\n');
    }
    let (pid_tmp, pid, env_file, cmd, log, code_tmp, code) = (
        run.file("pid.tmp"),
        run.file("pid"),
        run.file("env"),
        run.file("command.sh"),
        run.file("train.log"),
        run.file("exit_code.tmp"),
        run.file("exit_code"),
    );
    let workdir = sh_quote(workdir);
    // The same wrapper as a local run (see `wrapper`): the pane's shell leads the process group.
    let run_sh = format!(
        "#!/bin/sh\n\
         # Written by revisd for run {id}.\n\
         echo $$ > {pid_tmp} && mv -f {pid_tmp} {pid}\n\
         (\n\
         \x20 . {env_file}\n\
         \x20 cd {workdir} || exit 126\n\
         \x20 exec /bin/sh {cmd}\n\
         ) < /dev/null >> {log} 2>&1\n\
         code=$?\n\
         printf '%s\\n' \"$code\" > {code_tmp} && mv -f {code_tmp} {code}\n",
        id = run.id,
    );
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content, mode) in [
        ("env", env.as_bytes(), 0o600),
        ("command.sh", command.as_bytes(), 0o700),
        ("run.sh", run_sh.as_bytes(), 0o700),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, content).map_err(|e| ExecError::io("archive", Path::new(name), e))?;
    }
    builder.into_inner().map_err(|e| ExecError::io("archive", &spec.run_dir, e))
}

fn local_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn append(path: &Path, data: &[u8]) -> Result<(), ExecError> {
    if data.is_empty() {
        return Ok(());
    }
    let mut file =
        OpenOptions::new().create(true).append(true).open(path).map_err(|e| ExecError::io("open", path, e))?;
    file.write_all(data).map_err(|e| ExecError::io("append to", path, e))
}

async fn nap(delay: Duration, deadline: Option<Instant>) {
    let delay = match deadline {
        Some(d) => delay.min(d.saturating_duration_since(Instant::now())),
        None => delay,
    };
    tokio::time::sleep(delay).await;
}

fn remote_error(action: &'static str, source: RemoteError) -> ExecError {
    ExecError::Remote { action, source: Box::new(source) }
}

fn is_transient(e: &ExecError) -> bool {
    matches!(e, ExecError::Remote { source, .. } if source.is_transient())
}
