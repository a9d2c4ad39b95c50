//! What a session worktree remembers about itself, kept in its private git admin dir
//! (`.git/worktrees/<admin>/revis.json`): git ignores the file there and it goes away when
//! the worktree is pruned.

use std::path::{Path, PathBuf};

use git2::Repository;
use serde::{Deserialize, Serialize};

use super::{GitContext, WorkspaceError};

const FILE: &str = "revis.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SessionMeta {
    pub base_branch: String,
    pub base_commit: String,
    /// Symlinks into the project that must never be committed or deleted by a restore.
    pub links: Vec<LinkRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LinkRecord {
    /// Relative to the worktree root, `/`-separated.
    pub path: String,
    pub target: PathBuf,
}

impl SessionMeta {
    pub fn is_link(&self, path: &Path) -> bool {
        self.links.iter().any(|l| path.starts_with(&l.path))
    }
}

/// The admin dir of the worktree repository `repo` (its own `.git/worktrees/<admin>`).
fn file(repo: &Repository) -> PathBuf {
    repo.path().join(FILE)
}

pub(crate) fn write(repo: &Repository, meta: &SessionMeta) -> Result<(), WorkspaceError> {
    let path = file(repo);
    let json = serde_json::to_vec_pretty(meta)
        .map_err(|e| WorkspaceError::Metadata { path: path.clone(), reason: e.to_string() })?;
    std::fs::write(&path, json).map_err(|e| WorkspaceError::io("write", &path, e))
}

/// The main checkout, or a worktree without the file (one made by hand), has no links.
pub(crate) fn read(repo: &Repository) -> Result<Option<SessionMeta>, WorkspaceError> {
    if !repo.is_worktree() {
        return Ok(None);
    }
    let path = file(repo);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(WorkspaceError::io("read", &path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| WorkspaceError::Metadata { path, reason: e.to_string() })
}

/// Opens the repository whose work tree is exactly `worktree`.
pub(crate) fn open_worktree(worktree: &Path) -> Result<Repository, WorkspaceError> {
    let repo = Repository::open(worktree).git(|| format!("open {}", worktree.display()))?;
    if repo.is_bare() {
        return Err(WorkspaceError::Bare { path: worktree.to_path_buf() });
    }
    Ok(repo)
}
