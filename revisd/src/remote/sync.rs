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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use git2::{ObjectType, Oid, Repository, Status, StatusOptions};
use serde::{Deserialize, Serialize};

use super::session::shell_quote;
use super::{Remote, RemoteError};

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
const GITLINK_MODE: u32 = 0o160000;
const SYMLINK_MODE: u32 = 0o120000;
const EXEC_MODE: u32 = 0o100755;
const FILE_MODE: u32 = 0o100644;

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
}

impl SyncError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SyncError::Remote(e) if e.is_transient())
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

/// One file of the worktree as it will be shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    mode: u32,
    id: Oid,
}

impl Entry {
    fn key(&self) -> String {
        format!("{:o} {}", self.mode, self.id)
    }
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
    remote: &Remote,
    worktree: &Path,
    remote_dir: &str,
    state_file: &Path,
) -> Result<SyncReport, SyncError> {
    let current = manifest(worktree)?;
    let previous = read_state(state_file)?;
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
    let changed: Vec<&String> =
        new_files.iter().filter(|(p, k)| old_files.get(*p) != Some(k)).map(|(p, _)| p).collect();

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

    let archive = build_tar(worktree, &changed, &current)?;
    report.files_sent = changed.len() as u64;
    report.bytes_sent += archive.len() as u64;
    let extract = format!("set -e\ncd {dir}\ntar -xf -\nprintf '%s\\n' {token} > {MARKER}");
    run_checked(remote, &extract, Some(archive), "tar -x", remote_dir).await?;

    write_state(
        state_file,
        &SyncState { version: STATE_VERSION, remote_dir: remote_dir.to_string(), token, files: new_files },
    )?;
    Ok(report)
}

/// Fails with the names of the `links` that do not exist under `remote_dir`.
pub async fn check_links(remote: &Remote, remote_dir: &str, links: &[String]) -> Result<(), SyncError> {
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

async fn remote_token(remote: &Remote, dir: &str, remote_dir: &str) -> Result<Option<String>, SyncError> {
    let out = run_checked(remote, &format!("cat {dir}/{MARKER} 2>/dev/null || true"), None, "read marker", remote_dir)
        .await?;
    let token = String::from_utf8_lossy(&out).trim().to_string();
    Ok(Some(token).filter(|t| !t.is_empty()))
}

async fn run_checked(
    remote: &Remote,
    command: &str,
    stdin: Option<Vec<u8>>,
    what: &'static str,
    remote_dir: &str,
) -> Result<Vec<u8>, SyncError> {
    let out = remote.exec(command, stdin).await?;
    if out.success() {
        return Ok(out.stdout);
    }
    Err(SyncError::RemoteCommand {
        what,
        remote_dir: remote_dir.to_string(),
        status: out.status.map_or_else(|| "by signal".to_string(), |s| s.to_string()),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// The files to ship: the index (tracked files) corrected by the working tree's changes, plus
/// new files git does not ignore. Unchanged files take their id from the index, so only
/// modified files are hashed.
fn manifest(worktree: &Path) -> Result<BTreeMap<String, Entry>, SyncError> {
    let git = |source| SyncError::Git { path: worktree.to_path_buf(), source };
    let repo = Repository::open(worktree).map_err(git)?;
    let index = repo.index().map_err(git)?;
    let mut files = BTreeMap::new();
    for entry in index.iter() {
        // Conflict stages (bits 12-13 of flags) and submodules are not files to ship.
        let stage = (entry.flags >> 12) & 0x3;
        if stage != 0 || entry.mode == GITLINK_MODE {
            continue;
        }
        let path = utf8(&entry.path)?;
        files.insert(path, Entry { mode: entry.mode, id: entry.id });
    }
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts)).map_err(git)?;
    for status in statuses.iter() {
        let path = utf8(status.path_bytes())?;
        let s = status.status();
        if s.contains(Status::WT_DELETED) {
            files.remove(&path);
            continue;
        }
        let worktree_change = Status::WT_NEW | Status::WT_MODIFIED | Status::WT_TYPECHANGE | Status::WT_RENAMED;
        if !s.intersects(worktree_change) {
            continue;
        }
        let untracked = s.contains(Status::WT_NEW);
        match disk_entry(&worktree.join(&path), untracked)? {
            Some(entry) => {
                files.insert(path, entry);
            }
            None => {
                files.remove(&path);
            }
        }
    }
    Ok(files)
}

/// The entry for a file on disk; `None` when it is gone or (for untracked files) a symlink:
/// `workspace.link` entries are symlinks to local data and must not be shipped.
fn disk_entry(path: &Path, untracked: bool) -> Result<Option<Entry>, SyncError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(SyncError::Io { action: "stat", path: path.to_path_buf(), source }),
    };
    let git = |source| SyncError::Git { path: path.to_path_buf(), source };
    if meta.file_type().is_symlink() {
        if untracked {
            return Ok(None);
        }
        let target = std::fs::read_link(path).map_err(|source| SyncError::Io {
            action: "read link",
            path: path.to_path_buf(),
            source,
        })?;
        let id = Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes()).map_err(git)?;
        return Ok(Some(Entry { mode: SYMLINK_MODE, id }));
    }
    if !meta.is_file() {
        return Ok(None);
    }
    let mode = if meta.permissions().mode() & 0o111 != 0 { EXEC_MODE } else { FILE_MODE };
    let id = Oid::hash_file(ObjectType::Blob, path).map_err(git)?;
    Ok(Some(Entry { mode, id }))
}

fn build_tar(worktree: &Path, paths: &[&String], files: &BTreeMap<String, Entry>) -> Result<Vec<u8>, SyncError> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    // Fresh mtimes: tools that cache by mtime and size (Python's .pyc) must see the change.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let tar_err = |path: &Path, source| SyncError::Io { action: "archive", path: path.to_path_buf(), source };
    for rel in paths {
        let Some(entry) = files.get(*rel) else { continue };
        let path = worktree.join(rel);
        let mut header = tar::Header::new_gnu();
        header.set_mtime(now);
        if entry.mode == SYMLINK_MODE {
            let target = std::fs::read_link(&path).map_err(|source| SyncError::Io {
                action: "read link",
                path: path.clone(),
                source,
            })?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            builder.append_link(&mut header, rel.as_str(), &target).map_err(|e| tar_err(&path, e))?;
            continue;
        }
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            // Deleted since the manifest was taken: the next sync notices.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SyncError::Io { action: "read", path, source }),
        };
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(if entry.mode == EXEC_MODE { 0o755 } else { 0o644 });
        builder.append_data(&mut header, rel.as_str(), data.as_slice()).map_err(|e| tar_err(&path, e))?;
    }
    builder.into_inner().map_err(|e| tar_err(worktree, e))
}

fn utf8(bytes: &[u8]) -> Result<String, SyncError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| SyncError::NonUtf8Path { path: String::from_utf8_lossy(bytes).into_owned() })
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
