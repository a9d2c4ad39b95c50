//! Finding the main repository from anywhere inside it, including from a session worktree.

use std::path::{Path, PathBuf};

use git2::Repository;

use super::{GitContext, WorkspaceError};

/// The main repository's work dir for any dir inside it, or inside one of its linked
/// worktrees (a session's `.revis/worktrees/<name>` included).
pub fn project_root(dir: &Path) -> Result<PathBuf, WorkspaceError> {
    let repo =
        Repository::discover(dir).map_err(|source| WorkspaceError::NotARepo { path: dir.to_path_buf(), source })?;
    // A linked worktree's common dir is the main repository's git dir.
    let main = if repo.is_worktree() {
        Repository::open(repo.commondir()).git(|| format!("open the main repository of {}", dir.display()))?
    } else {
        repo
    };
    main_workdir(&main, dir)
}

/// Opens the repository at `project` (a dir inside it is fine) and insists on a work tree.
pub(crate) fn open_main(project: &Path) -> Result<(Repository, PathBuf), WorkspaceError> {
    let root = project_root(project)?;
    let repo = Repository::open(&root).git(|| format!("open {}", root.display()))?;
    Ok((repo, root))
}

fn main_workdir(repo: &Repository, dir: &Path) -> Result<PathBuf, WorkspaceError> {
    let workdir = repo
        .workdir()
        .filter(|_| !repo.is_bare())
        .ok_or_else(|| WorkspaceError::Bare { path: repo.path().to_path_buf() })?;
    std::fs::canonicalize(workdir).map_err(|e| WorkspaceError::io("resolve", dir, e))
}

/// Tracked files of the user's checkout that differ from HEAD (staged or not). A session starts
/// from HEAD, so these are *not* part of it; the caller warns the user.
pub fn uncommitted_changes(project: &Path) -> Result<Vec<String>, WorkspaceError> {
    let (repo, root) = open_main(project)?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts)).git(|| format!("read the status of {}", root.display()))?;
    let mut paths: Vec<String> = statuses.iter().filter_map(|e| e.path().ok().map(str::to_string)).collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}
