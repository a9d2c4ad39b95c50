//! Running one agent process: its own process group, stdin closed, stdout and stderr appended to
//! the log while stdout (and a little stderr) is kept for parsing, and a timeout that takes the
//! whole group down. Nothing the agent started may outlive the handoff: a background job could
//! otherwise keep editing the worktree after the caller judged the diff.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Enough for any agent's final JSON or JSONL tail; older output is dropped from memory (the
/// log keeps everything).
const STDOUT_CAP: usize = 4 * 1024 * 1024;
/// Only for the last words of a failing agent.
const STDERR_CAP: usize = 64 * 1024;
/// How long to wait for pipes to close once the group is gone; a process that escaped the
/// group (setsid) may hold them open forever.
const PIPE_DRAIN: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub(super) enum ProcessError {
    #[error("cannot open the agent log {}: {source}", path.display())]
    OpenLog { path: PathBuf, source: io::Error },
    #[error("cannot start {} in {}: {source}", program.display(), cwd.display())]
    Spawn { program: PathBuf, cwd: PathBuf, source: io::Error },
}

/// One process to run.
pub(super) struct Invocation<'a> {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: &'a Path,
    /// The complete environment: nothing is inherited.
    pub env: Vec<(OsString, OsString)>,
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL on timeout.
    pub grace: Duration,
    pub log_path: &'a Path,
    /// Written to the log before the process starts (see `log_note`).
    pub header: String,
    /// Reads stdout line by line while the agent runs; a reason ends the run early (an agent
    /// that will never finish by itself, such as codex waiting for an unreachable network).
    pub give_up: Option<LineWatch>,
}

/// Sees each complete stdout line; `Some(reason)` gives up on the run.
pub type LineWatch = Box<dyn FnMut(&str) -> Option<String> + Send>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
    /// The line watch gave up, for this reason; the group was ended as on a timeout.
    GaveUp(String),
    /// `wait` itself failed; the group was killed.
    Unknown,
}

#[derive(Debug)]
pub(super) struct Finished {
    pub exit: Exit,
    pub stdout: String,
    /// The start of stdout was dropped to stay under the cap.
    pub stdout_truncated: bool,
    pub stderr_tail: String,
    pub duration: Duration,
}

pub(super) async fn run(inv: Invocation<'_>) -> Result<Finished, ProcessError> {
    let log = open_log(inv.log_path, &inv.header).await?;
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .current_dir(inv.cwd)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let start = Instant::now();
    let mut child = spawn(&mut cmd).await.map_err(|source| ProcessError::Spawn {
        program: inv.program.clone(),
        cwd: inv.cwd.to_path_buf(),
        source,
    })?;
    // A freshly spawned, unwaited child always has an id; 0 would signal our own group.
    let pgid = child.id().and_then(|id| i32::try_from(id).ok()).filter(|id| *id > 0);
    let mut guard = GroupGuard(pgid);
    let (gave_up_tx, mut gave_up) = tokio::sync::oneshot::channel::<String>();
    let watch = inv.give_up.map(|watch| (watch, gave_up_tx));
    let stdout = child.stdout.take().map(|pipe| tokio::spawn(capture(pipe, log.clone(), STDOUT_CAP, watch)));
    let stderr = child.stderr.take().map(|pipe| tokio::spawn(capture(pipe, log.clone(), STDERR_CAP, None)));

    let waited = tokio::select! {
        waited = tokio::time::timeout(inv.timeout, child.wait()) => waited.map_err(|_| Exit::TimedOut),
        // Disabled once the watch is gone (stdout closed) without a reason.
        Ok(reason) = &mut gave_up => Err(Exit::GaveUp(reason)),
    };
    let exit = match waited {
        Ok(Ok(status)) => exit_of(status),
        Ok(Err(error)) => {
            tracing::warn!(%error, "waiting for the coding agent failed; killing its group");
            Exit::Unknown
        }
        Err(ended) => {
            if let Some(pgid) = pgid {
                terminate(pgid, inv.grace).await;
            }
            // SIGKILL cannot be ignored, so this returns promptly; bounded all the same.
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            ended
        }
    };
    let duration = start.elapsed();
    // Whatever the agent left running in the background goes now (no grace: the agent is done).
    if let Some(pgid) = pgid {
        send(pgid, Signal::SIGKILL);
        crate::exec::process_group::wait_gone(pgid, Instant::now() + Duration::from_secs(5)).await;
    }
    guard.0 = None;

    let (stdout, stdout_truncated) = collect(stdout).await;
    let (stderr, _) = collect(stderr).await;
    Ok(Finished {
        exit,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stdout_truncated,
        stderr_tail: String::from_utf8_lossy(&stderr).into_owned(),
        duration,
    })
}

/// ETXTBSY is transient: some other thread forked while the agent's executable was open for
/// writing (an install in progress, or a test writing a stand-in), and the fd goes away on exec.
async fn spawn(cmd: &mut Command) -> io::Result<tokio::process::Child> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(error) if error.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Appends a line of Revis's own to the agent log (start and end markers); best effort.
pub(super) async fn log_note(log_path: &Path, note: &str) {
    let result = async {
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(log_path).await?;
        file.write_all(note_line(note).as_bytes()).await?;
        file.flush().await
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(path = %log_path.display(), %error, "cannot write to the agent log");
    }
}

/// Marked so a reader of the log can tell Revis's lines from the agent's.
fn note_line(note: &str) -> String {
    format!("=== revis: {note} ===\n")
}

async fn open_log(path: &Path, header: &str) -> Result<LogFile, ProcessError> {
    let open_error = |source| ProcessError::OpenLog { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await.map_err(open_error)?;
    }
    // Opened here so a bad path fails the handoff before the agent runs; each pipe then opens
    // its own O_APPEND handle, and the kernel keeps their writes from overwriting each other.
    let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await.map_err(open_error)?;
    file.write_all(note_line(header).as_bytes()).await.map_err(open_error)?;
    file.flush().await.map_err(open_error)?;
    Ok(LogFile(path.to_path_buf()))
}

#[derive(Clone)]
struct LogFile(PathBuf);

/// Copies a pipe to the log and keeps its last `cap` bytes, showing each complete line to
/// `watch` until it gives up (its reason goes to the sender). Log write errors are reported
/// once and then ignored: the pipe must be drained or the agent blocks.
async fn capture(
    mut pipe: impl AsyncRead + Unpin,
    log: LogFile,
    cap: usize,
    mut watch: Option<(LineWatch, tokio::sync::oneshot::Sender<String>)>,
) -> (Vec<u8>, bool) {
    let mut line = Vec::new();
    let mut file = match tokio::fs::OpenOptions::new().append(true).open(&log.0).await {
        Ok(file) => Some(file),
        Err(error) => {
            tracing::warn!(path = %log.0.display(), %error, "cannot open the agent log");
            None
        }
    };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        if let Some(f) = file.as_mut()
            && let Err(error) = f.write_all(&chunk[..n]).await
        {
            tracing::warn!(path = %log.0.display(), %error, "cannot write to the agent log");
            file = None;
        }
        if let Some((see, _)) = watch.as_mut() {
            let mut reason = None;
            for &byte in &chunk[..n] {
                if byte != b'\n' {
                    // A line longer than the cap is not one a watch is looking for.
                    if line.len() < cap {
                        line.push(byte);
                    }
                    continue;
                }
                reason = reason.or_else(|| see(&String::from_utf8_lossy(&line)));
                line.clear();
            }
            if let Some(reason) = reason
                && let Some((_, tell)) = watch.take()
            {
                let _ = tell.send(reason);
            }
        }
        kept.extend_from_slice(&chunk[..n]);
        // Trimming only at twice the cap keeps the copying amortised.
        if kept.len() > 2 * cap {
            kept.drain(..kept.len() - cap);
            truncated = true;
        }
    }
    if kept.len() > cap {
        kept.drain(..kept.len() - cap);
        truncated = true;
    }
    if let Some(mut f) = file
        && let Err(error) = f.flush().await
    {
        tracing::warn!(path = %log.0.display(), %error, "cannot write to the agent log");
    }
    (kept, truncated)
}

async fn collect(task: Option<JoinHandle<(Vec<u8>, bool)>>) -> (Vec<u8>, bool) {
    let Some(mut task) = task else { return (Vec::new(), false) };
    match tokio::time::timeout(PIPE_DRAIN, &mut task).await {
        Ok(Ok(captured)) => captured,
        Ok(Err(_)) => (Vec::new(), false),
        Err(_) => {
            tracing::warn!("a process outside the agent's group still holds its output open");
            task.abort();
            (Vec::new(), false)
        }
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Unknown,
    }
}

/// Kills the group if the handoff is abandoned mid-run (the future dropped, say on shutdown).
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            send(pgid, Signal::SIGKILL);
        }
    }
}

/// A group that no longer exists is fine; anything else is only worth a warning, since the
/// caller cannot do more than we already tried.
fn send(pgid: i32, signal: Signal) {
    if let Err(error) = crate::exec::process_group::signal(pgid, signal) {
        tracing::warn!(pgid, %signal, %error, "cannot signal the coding agent's process group");
    }
}

/// SIGTERM, then SIGKILL if anything in the group outlives `grace` (shared with the executor).
pub(super) async fn terminate(pgid: i32, grace: Duration) {
    if let Err(error) = crate::exec::process_group::terminate(pgid, grace).await {
        tracing::warn!(pgid, %error, "cannot end the coding agent's process group");
    }
}

/// Zombies do not count: our child stays one until reaped.
#[cfg(test)]
pub(super) fn group_alive(pgid: i32) -> bool {
    crate::exec::process_group::is_alive(pgid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_that_gives_up_ends_the_run_early() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        let mut seen = 0;
        let watch: LineWatch = Box::new(move |line: &str| {
            seen += usize::from(line == "retrying");
            (seen == 2).then(|| "gave up after two retries".to_string())
        });
        let inv = Invocation {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), "echo retrying; echo other; echo retrying; exec sleep 30".into()],
            cwd: dir.path(),
            env: vec![],
            timeout: Duration::from_secs(20),
            grace: Duration::from_secs(1),
            log_path: &log,
            header: "test".into(),
            give_up: Some(watch),
        };
        let finished = run(inv).await.expect("run");
        assert_eq!(finished.exit, Exit::GaveUp("gave up after two retries".into()));
        assert!(finished.duration < Duration::from_secs(10), "{:?}", finished.duration);
        assert!(finished.stdout.contains("other"));
    }

    #[tokio::test]
    async fn stdout_keeps_only_the_tail_past_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = LogFile(dir.path().join("log"));
        tokio::fs::write(&log.0, b"").await.expect("create log");
        let data: Vec<u8> = (0..100u8).collect();
        let (kept, truncated) = capture(&data[..], log.clone(), 10, None).await;
        assert_eq!(kept, (90..100u8).collect::<Vec<_>>());
        assert!(truncated);
        assert_eq!(tokio::fs::read(&log.0).await.expect("log"), data);
    }
}
