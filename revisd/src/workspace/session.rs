//! Creating, reopening and removing a session's worktree and branch.

use std::path::Path;

use git2::{BranchType, ErrorCode, Repository, WorktreeAddOptions, WorktreePruneOptions};

use super::links::{self, Planned};
use super::meta::{self, SessionMeta};
use super::root::open_main;
use super::{GitContext, SessionWorkspace, WorkspaceError, branch_name, validate_name, worktree_path};

/// The worktree's admin dir under `.git/worktrees/`; prefixed so it never collides with a
/// worktree the user made by hand.
pub(super) fn admin_name(name: &str) -> String {
    format!("revis-{name}")
}

/// A linked worktree at `<project>/.revis/worktrees/<name>` on a new branch `revis/<name>`
/// at the user's HEAD commit, with the project's ignored top-level entries and `link` linked
/// in. The user's checkout, index and branch are left alone; uncommitted changes stay there.
pub fn create(project: &Path, name: &str, link: &[String]) -> Result<SessionWorkspace, WorkspaceError> {
    validate_name(name)?;
    let (repo, root) = open_main(project)?;
    let head = match repo.head() {
        Ok(head) => head,
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
            return Err(WorkspaceError::NoCommits { path: root });
        }
        Err(e) => return Err(e).git(|| format!("read HEAD of {}", root.display())),
    };
    let base = head.peel_to_commit().git(|| "resolve HEAD to a commit".into())?;
    let base_branch =
        if head.is_branch() { head.shorthand().unwrap_or("HEAD").to_string() } else { "HEAD".to_string() };
    let branch = branch_name(name);
    if repo.find_branch(&branch, BranchType::Local).is_ok() {
        return Err(WorkspaceError::BranchExists(branch));
    }
    let worktree = worktree_path(&root, name);
    if worktree.symlink_metadata().is_ok() {
        return Err(WorkspaceError::WorktreeExists(worktree));
    }
    let planned = links::plan(&repo, &root, link)?;
    let mut patterns = vec!["/.revis/".to_string()];
    patterns.extend(planned.iter().filter(|p| p.ignored).map(|p| links::anchored(&p.record.path)));
    links::exclude(&repo, &patterns)?;
    prune_stale(&repo, name)?;

    let parent = worktree.parent().unwrap_or(&root);
    std::fs::create_dir_all(parent).map_err(|e| WorkspaceError::io("create", parent, e))?;
    let reference = repo.branch(&branch, &base, false).git(|| format!("create branch {branch}"))?.into_reference();
    let made = add_worktree(&repo, name, &worktree, &reference).and_then(|wt_repo| {
        let meta = SessionMeta {
            base_branch: base_branch.clone(),
            base_commit: base.id().to_string(),
            links: links::make(&worktree, &records(&planned))?,
        };
        meta::write(&wt_repo, &meta)
    });
    if let Err(e) = made {
        // Best effort: the error that made us roll back is the one worth reporting.
        let _ = remove(&root, name, false);
        return Err(e);
    }
    Ok(SessionWorkspace { project: root, worktree, branch, base_branch, base_commit: base.id().to_string() })
}

fn add_worktree(
    repo: &Repository,
    name: &str,
    worktree: &Path,
    reference: &git2::Reference<'_>,
) -> Result<Repository, WorkspaceError> {
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(reference));
    let wt = repo
        .worktree(&admin_name(name), worktree, Some(&opts))
        .git(|| format!("add worktree {}", worktree.display()))?;
    Repository::open_from_worktree(&wt).git(|| format!("open worktree {}", worktree.display()))
}

fn records(planned: &[Planned]) -> Vec<meta::LinkRecord> {
    planned.iter().map(|p| p.record.clone()).collect()
}

/// An admin entry whose directory is gone (deleted by hand) would block a new worktree.
fn prune_stale(repo: &Repository, name: &str) -> Result<(), WorkspaceError> {
    let Ok(wt) = repo.find_worktree(&admin_name(name)) else {
        return Ok(());
    };
    if wt.validate().is_err() {
        wt.prune(None).git(|| format!("prune stale worktree entry {}", admin_name(name)))?;
    }
    Ok(())
}

/// The workspace of an existing session.
pub fn open(project: &Path, name: &str) -> Result<SessionWorkspace, WorkspaceError> {
    validate_name(name)?;
    let (repo, root) = open_main(project)?;
    let not_found = || WorkspaceError::NotFound { project: root.clone(), name: name.to_string() };
    let wt = repo.find_worktree(&admin_name(name)).map_err(|_| not_found())?;
    wt.validate().map_err(|_| not_found())?;
    let wt_repo = Repository::open_from_worktree(&wt).git(|| format!("open worktree {}", wt.path().display()))?;
    let meta = meta::read(&wt_repo)?.ok_or_else(|| WorkspaceError::Metadata {
        path: wt_repo.path().join("revis.json"),
        reason: "missing".into(),
    })?;
    let head = wt_repo.head().git(|| format!("read HEAD of {}", wt.path().display()))?;
    Ok(SessionWorkspace {
        project: root.clone(),
        worktree: worktree_path(&root, name),
        branch: head.shorthand().unwrap_or_default().to_string(),
        base_branch: meta.base_branch,
        base_commit: meta.base_commit,
    })
}

/// Removes the worktree (files included) and, unless `keep_branch`, its branch. Whatever is
/// already gone is skipped, so a half-finished removal can simply be repeated.
pub fn remove(project: &Path, name: &str, keep_branch: bool) -> Result<(), WorkspaceError> {
    validate_name(name)?;
    super::slots::remove_slots(project, name)?;
    let (repo, root) = open_main(project)?;
    let worktree = worktree_path(&root, name);
    if worktree.symlink_metadata().is_ok() {
        // std's remove_dir_all unlinks symlinks without following them: linked data survives.
        std::fs::remove_dir_all(&worktree).map_err(|e| WorkspaceError::io("remove", &worktree, e))?;
    }
    if let Ok(wt) = repo.find_worktree(&admin_name(name)) {
        let mut opts = WorktreePruneOptions::new();
        opts.valid(true).working_tree(false);
        wt.prune(Some(&mut opts)).git(|| format!("prune worktree {}", admin_name(name)))?;
    }
    if !keep_branch {
        let branch = branch_name(name);
        if let Ok(mut b) = repo.find_branch(&branch, BranchType::Local) {
            b.delete().git(|| format!("delete branch {branch}"))?;
        }
    }
    Ok(())
}
