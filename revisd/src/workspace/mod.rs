//! The git side of a session: its own linked worktree on branch `revis/<name>`, commits with
//! trailers, restores for the ratchet, and clean-up. Local repositories only (git2 with a
//! vendored libgit2); pushing is the `git` CLI's job elsewhere, with the user's credentials.
//!
//! It must never touch the user's checkout: not its files, its index nor its current branch.
//! The one shared thing it writes is the repository's `info/exclude` (see `links`).
//! A session starts from the user's HEAD commit: uncommitted changes are not carried over.

mod commit;
mod links;
mod meta;
mod root;
mod session;
mod slots;
mod trailers;
pub mod view;

#[cfg(test)]
mod commit_tests;
#[cfg(test)]
mod session_tests;
#[cfg(test)]
mod test_repo;

use std::io;
use std::path::{Path, PathBuf};

pub use commit::{
    branch_head, commit_all, commit_patch, diff_patch, diff_stat, file_at, head_commit, head_has_tree_of, restore_tree,
};
pub use root::{project_root, uncommitted_changes};
pub use session::{create, open, remove};
pub use slots::{check_out_detached, clear_stale_locks, commit_onto_branch, create_slot, remove_slots, slot_path};
pub use trailers::{commit_message, find_commit_with_trailer};

/// A session's worktree as `create` made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWorkspace {
    /// The main repository's work dir.
    pub project: PathBuf,
    /// `<project>/.revis/worktrees/<name>`
    pub worktree: PathBuf,
    /// `revis/<name>`
    pub branch: String,
    /// The user's branch when the session started, or "HEAD" when it was detached.
    pub base_branch: String,
    pub base_commit: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{path} is not inside a git repository: {source}")]
    NotARepo {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("{path} is a bare repository; a session needs a work tree")]
    Bare { path: PathBuf },
    #[error("the repository at {path} has no commits yet; commit once before starting a session")]
    NoCommits { path: PathBuf },
    #[error("invalid session name {0:?}: use letters, digits, '_' and '-', not starting with '-'")]
    InvalidName(String),
    #[error("branch {0} already exists")]
    BranchExists(String),
    #[error("worktree path {0} already exists")]
    WorktreeExists(PathBuf),
    #[error("no session worktree {name:?} in {project}")]
    NotFound { project: PathBuf, name: String },
    #[error("link {entry:?}: {reason}")]
    BadLink { entry: String, reason: String },
    #[error("link {entry:?}: {path} does not exist")]
    MissingLink { entry: String, path: PathBuf },
    #[error("bad session metadata {path}: {reason}")]
    Metadata { path: PathBuf, reason: String },
    #[error("git: {context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl WorkspaceError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), source }
    }
}

/// Adds what the git call was doing to a `git2::Error`.
pub(crate) trait GitContext<T> {
    fn git(self, context: impl FnOnce() -> String) -> Result<T, WorkspaceError>;
}

impl<T> GitContext<T> for Result<T, git2::Error> {
    fn git(self, context: impl FnOnce() -> String) -> Result<T, WorkspaceError> {
        self.map_err(|source| WorkspaceError::Git { context: context(), source })
    }
}

/// `revis/<name>`
pub fn branch_name(name: &str) -> String {
    format!("revis/{name}")
}

/// `<project>/.revis/worktrees/<name>`
pub fn worktree_path(project: &Path, name: &str) -> PathBuf {
    project.join(".revis").join("worktrees").join(name)
}

/// Session names become branch components, directory names and tmux session names.
pub(crate) fn validate_name(name: &str) -> Result<(), WorkspaceError> {
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok { Ok(()) } else { Err(WorkspaceError::InvalidName(name.to_string())) }
}
