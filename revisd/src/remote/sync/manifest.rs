//! The scan: which files of a worktree are shipped, with their mode and blob id, read with
//! libgit2. Blocking work (it stats and hashes files): callers run it on a blocking thread.

use std::collections::BTreeMap;
use std::path::Path;

use git2::{ObjectType, Oid, Repository, Status, StatusOptions};

use super::SyncError;

const GITLINK_MODE: u32 = 0o160000;
pub(super) const SYMLINK_MODE: u32 = 0o120000;
pub(super) const EXEC_MODE: u32 = 0o100755;
const FILE_MODE: u32 = 0o100644;

/// One file of the worktree as it will be shipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) mode: u32,
    pub(super) id: Oid,
}

impl Entry {
    /// How the sync state remembers it: "<octal mode> <blob id>".
    pub(super) fn key(&self) -> String {
        format!("{:o} {}", self.mode, self.id)
    }
}

/// The files to ship: the index (tracked files) corrected by the working tree's changes, plus
/// new files git does not ignore. Unchanged files take their id from the index, so only
/// modified files are hashed.
pub(super) fn manifest(worktree: &Path) -> Result<BTreeMap<String, Entry>, SyncError> {
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

fn utf8(bytes: &[u8]) -> Result<String, SyncError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| SyncError::NonUtf8Path { path: String::from_utf8_lossy(bytes).into_owned() })
}
