//! Shipping a session's worktree to the remote host: its tracked (and new, not ignored) files go
//! to `remote_dir` as a tar stream on stdin of the remote `tar -x`. The first sync sends
//! everything; later ones only what changed since the last one, deletions included.
//!
//! A local state file remembers what was synced (a manifest of path → mode and blob id, plus
//! a token also written remotely), so a change is found by comparing blob ids, never by
//! looking at the remote. A remote directory whose token does not match (wiped, another
//! machine) gets a full sync. Nothing but `sh` and `tar` runs remotely: no rsync, no git.
//! Ignored files (large data) are never shipped; `workspace.link` entries must already exist
//! remotely (`check_links`). This module must not start runs or know about tmux.
//!
//! Memory and threads: the scan (`manifest`, libgit2 stats and hashes) and the archive
//! (`archive`, file reads) run on blocking threads, never on an async worker, and the archive
//! is streamed in bounded chunks while it is produced, never held whole.

mod archive;
mod manifest;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

pub(crate) use archive::Meter;
use archive::Stopped;
use manifest::manifest;

use super::session::shell_quote;
use super::{Output, RemoteError, Shell};

/// What one sync shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Everything written to the remote's stdin (tar stream and deletion script).
    pub bytes_sent: u64,
    pub files_sent: u64,
    pub files_deleted: u64,
}

/// Written into `remote_dir`; holds the token of the last sync.
pub const MARKER: &str = ".revis-sync";
const STATE_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("cannot read the worktree {path} with git: {source}")]
    Git {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a UTF-8 path; the ssh executor cannot ship it")]
    NonUtf8Path { path: String },
    #[error("remote command `{what}` in {remote_dir} failed (exit {status}): {stderr}")]
    RemoteCommand { what: &'static str, remote_dir: String, status: String, stderr: String },
    #[error(
        "workspace.link entries missing on the remote host under {remote_dir}: {}; they are not \
         synced (large data stays put): create them there (e.g. copy or symlink the data)",
        missing.join(", ")
    )]
    MissingLinks { remote_dir: String, missing: Vec<String> },
    #[error("the {what} of {path} stopped unexpectedly: {message}")]
    Task { what: &'static str, path: PathBuf, message: String },
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Remote(e) if e.is_transient())
    }
}

/// What a sync did beyond its report, for tests and tracing.
#[derive(Default)]
pub(crate) struct SyncProbe {
    /// Archive bytes in flight, with their peak.
    pub(crate) meter: Arc<Meter>,
    /// Called at the start of each blocking step (`"scan"`, `"archive"`), on its thread.
    #[cfg(test)]
    pub(crate) on_blocking: Option<Arc<dyn Fn(&'static str) + Send + Sync>>,
}

impl SyncProbe {
    pub(crate) fn peak(&self) -> u64 {
        self.meter.peak()
    }

    fn entering(&self, step: &'static str) -> impl Fn() + Send + 'static {
        #[cfg(test)]
        let hook = self.on_blocking.clone();
        move || {
            #[cfg(test)]
            if let Some(hook) = &hook {
                hook(step);
            }
            #[cfg(not(test))]
            let _ = step;
        }
    }
}

/// What the last sync left on the remote, as remembered locally.
#[derive(Debug, Default, Serialize, Deserialize)]
struct SyncState {
    version: u32,
    remote_dir: String,
    token: String,
    /// path → "<octal mode> <blob id>"
    files: BTreeMap<String, String>,
}

/// `remote_dir` for a remote shell: `~/x` becomes `"$HOME"/'x'`, anything else is quoted.
pub fn remote_path(dir: &str) -> String {
    match dir.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", shell_quote(rest)),
        None if dir == "~" => "\"$HOME\"".to_string(),
        None => shell_quote(dir),
    }
}

/// Brings `remote_dir` up to date with `worktree`; see the module comment.
pub async fn sync(
    remote: &impl Shell,
    worktree: &Path,
    remote_dir: &str,
    state_file: &Path,
) -> Result<SyncReport, SyncError> {
    let probe = SyncProbe::default();
    let report = sync_with(remote, worktree, remote_dir, state_file, &probe).await?;
    tracing::debug!(?report, peak_buffered = probe.peak(), "synced {}", worktree.display());
    Ok(report)
}

pub(crate) async fn sync_with(
    remote: &impl Shell,
    worktree: &Path,
    remote_dir: &str,
    state_file: &Path,
    probe: &SyncProbe,
) -> Result<SyncReport, SyncError> {
    let (current, previous) = {
        let (tree, state) = (worktree.to_path_buf(), state_file.to_path_buf());
        let entering = probe.entering("scan");
        blocking("scan", worktree, move || {
            entering();
            Ok((manifest(&tree)?, read_state(&state)?))
        })
        .await?
    };
    let dir = remote_path(remote_dir);
    let remote_token = remote_token(remote, &dir, remote_dir).await?;
    let base = previous.filter(|s| {
        s.version == STATE_VERSION
            && s.remote_dir == remote_dir
            && !s.token.is_empty()
            && Some(&s.token) == remote_token.as_ref()
    });
    let old_files = base.map(|s| s.files).unwrap_or_default();

    let new_files: BTreeMap<String, String> = current.iter().map(|(p, e)| (p.clone(), e.key())).collect();
    let deleted: Vec<&String> = old_files.keys().filter(|p| !new_files.contains_key(*p)).collect();
    let changed: Vec<(String, manifest::Entry)> =
        current.into_iter().filter(|(p, e)| old_files.get(p).is_none_or(|old| *old != e.key())).collect();

    let mut report = SyncReport::default();
    let token = new_token();
    // The marker is cleared first: an interrupted sync must not look complete to the next one.
    let mut script = format!("set -e\nmkdir -p {dir}\ncd {dir}\nrm -f {MARKER}\n");
    for path in &deleted {
        let q = shell_quote(path);
        script.push_str(&format!("rm -f -- {q}\n"));
        if let Some((parent, _)) = path.rsplit_once('/') {
            // Empty directories left behind could block a file of the same name later.
            script.push_str(&format!("rmdir -p -- {} 2>/dev/null || true\n", shell_quote(parent)));
        }
    }
    report.files_deleted = deleted.len() as u64;
    report.bytes_sent += script.len() as u64;
    run_checked(remote, "sh -s", Some(script.into_bytes()), "prepare", remote_dir).await?;

    report.files_sent = changed.len() as u64;
    report.bytes_sent += send_archive(remote, worktree, &dir, remote_dir, &token, changed, probe).await?;

    let state = SyncState { version: STATE_VERSION, remote_dir: remote_dir.to_string(), token, files: new_files };
    let path = state_file.to_path_buf();
    blocking("state save", state_file, move || write_state(&path, &state)).await?;
    Ok(report)
}

/// Streams the tar of `files` into the remote `tar -x` while a blocking thread produces it,
/// then records `token` remotely. Returns the archive's size.
async fn send_archive(
    remote: &impl Shell,
    worktree: &Path,
    dir: &str,
    remote_dir: &str,
    token: &str,
    files: Vec<(String, manifest::Entry)>,
    probe: &SyncProbe,
) -> Result<u64, SyncError> {
    let (tx, rx) = mpsc::channel(archive::QUEUE);
    let producer = {
        let (worktree, meter) = (worktree.to_path_buf(), probe.meter.clone());
        let entering = probe.entering("archive");
        tokio::task::spawn_blocking(move || {
            entering();
            archive::write(&worktree, &files, tx, meter)
        })
    };
    let extract = format!("set -e\ncd {dir}\ntar -xf -\nprintf '%s\\n' {token} > {MARKER}");
    // Whatever ends first, the other follows: the producer stops when the receiver is dropped,
    // and the remote sees EOF when the producer is done.
    let sent = remote.exec_piped(&extract, rx).await;
    let produced = producer.await.map_err(|e| SyncError::Task {
        what: "archive",
        path: worktree.to_path_buf(),
        message: e.to_string(),
    })?;
    match (sent, produced) {
        // A local failure explains whatever the remote made of the truncated stream.
        (_, Err(Stopped::Failed(e))) => Err(e),
        (Err(e), _) => Err(e.into()),
        (Ok(out), _) if !out.success() => Err(command_failed("tar -x", remote_dir, &out)),
        (Ok(_), Err(Stopped::Closed)) => Err(SyncError::RemoteCommand {
            what: "tar -x",
            remote_dir: remote_dir.to_string(),
            status: "0".to_string(),
            stderr: "stopped reading the archive before its end".to_string(),
        }),
        (Ok(_), Ok(bytes)) => Ok(bytes),
    }
}

/// Runs `work` on a blocking thread: file system and libgit2 work must not hold an async
/// worker (a first scan of a large repository hashes for a long time).
async fn blocking<T: Send + 'static>(
    what: &'static str,
    path: &Path,
    work: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| SyncError::Task {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    })?
}

/// Fails with the names of the `links` that do not exist under `remote_dir`.
pub async fn check_links(remote: &impl Shell, remote_dir: &str, links: &[String]) -> Result<(), SyncError> {
    if links.is_empty() {
        return Ok(());
    }
    let mut script = format!("cd {} 2>/dev/null || exit 0\n", remote_path(remote_dir));
    for link in links {
        let q = shell_quote(link);
        script.push_str(&format!("[ -e {q} ] || printf '%s\\n' {q}\n"));
    }
    let out = remote.exec(&script, None).await?;
    let missing: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    if missing.is_empty() && out.success() {
        return Ok(());
    }
    Err(SyncError::MissingLinks {
        remote_dir: remote_dir.to_string(),
        missing: if missing.is_empty() { links.to_vec() } else { missing },
    })
}

async fn remote_token(remote: &impl Shell, dir: &str, remote_dir: &str) -> Result<Option<String>, SyncError> {
    let out = run_checked(remote, &format!("cat {dir}/{MARKER} 2>/dev/null || true"), None, "read marker", remote_dir)
        .await?;
    let token = String::from_utf8_lossy(&out).trim().to_string();
    Ok(Some(token).filter(|t| !t.is_empty()))
}

async fn run_checked(
    remote: &impl Shell,
    command: &str,
    stdin: Option<Vec<u8>>,
    what: &'static str,
    remote_dir: &str,
) -> Result<Vec<u8>, SyncError> {
    let out = remote.exec(command, stdin).await?;
    if out.success() {
        return Ok(out.stdout);
    }
    Err(command_failed(what, remote_dir, &out))
}

fn command_failed(what: &'static str, remote_dir: &str, out: &Output) -> SyncError {
    SyncError::RemoteCommand {
        what,
        remote_dir: remote_dir.to_string(),
        status: out.status.map_or_else(|| "by signal".to_string(), |s| s.to_string()),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

fn read_state(path: &Path) -> Result<Option<SyncState>, SyncError> {
    match std::fs::read(path) {
        // A corrupt state file only costs a full sync.
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SyncError::Io { action: "read", path: path.to_path_buf(), source }),
    }
}

fn write_state(path: &Path, state: &SyncState) -> Result<(), SyncError> {
    let io = |action, source| SyncError::Io { action, path: path.to_path_buf(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("create the parent of", e))?;
    }
    let json = serde_json::to_vec(state).map_err(|e| io("encode", std::io::Error::other(e)))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json).map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("replace", e))
}

fn new_token() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}-{:016x}", nanos, rand::random::<u64>())
}
