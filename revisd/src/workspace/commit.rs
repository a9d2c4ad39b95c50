//! Commits on a session branch and restores of earlier states, inside the session worktree.
//! Links into the project are never staged and never deleted by a restore.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{BranchType, IndexAddOption, Repository, Signature, StatusOptions};

use super::meta::{self, SessionMeta};
use super::root::open_main;
use super::{GitContext, WorkspaceError, links};

/// Stages everything (new, modified and deleted files; not ignored files, not the links) and
/// commits it on the worktree's branch. An unchanged tree still gets its commit: an iteration
/// may change only the command line, and its commit carries the trailers.
pub fn commit_all(worktree: &Path, message: &str) -> Result<String, WorkspaceError> {
    let repo = meta::open_worktree(worktree)?;
    let tree_id = stage_all(&repo, worktree)?;
    let tree = repo.find_tree(tree_id).git(|| format!("find tree {tree_id}"))?;
    let parent =
        repo.head().and_then(|h| h.peel_to_commit()).git(|| format!("resolve HEAD of {}", worktree.display()))?;
    let signature = signature(&repo)?;
    let id = repo
        .commit(Some("HEAD"), &signature, &signature, message, &tree, &[&parent])
        .git(|| format!("commit in {}", worktree.display()))?;
    Ok(id.to_string())
}

/// Stages everything in `worktree` (new, modified and deleted files; not ignored files, not the
/// links) and writes the index's tree.
pub(super) fn stage_all(repo: &Repository, worktree: &Path) -> Result<git2::Oid, WorkspaceError> {
    let meta = meta::read(repo)?.unwrap_or_default();
    let mut index = repo.index().git(|| format!("read the index of {}", worktree.display()))?;
    // Returning 1 tells libgit2 to skip the path.
    let mut skip_links = |path: &Path, _: &[u8]| i32::from(meta.is_link(path));
    index
        .add_all(["*"], IndexAddOption::DEFAULT, Some(&mut skip_links))
        .git(|| "stage new and changed files".into())?;
    index.update_all(["*"], Some(&mut skip_links)).git(|| "stage deleted files".into())?;
    index.write().git(|| "write the index".into())?;
    index.write_tree().git(|| "write the tree".into())
}

/// Makes the worktree's files and index equal to `commit`'s tree without moving the branch,
/// so the next `commit_all` records "restore + change" on top of the current head.
/// Untracked files that are not ignored and not in that tree are removed.
pub fn restore_tree(worktree: &Path, commit: &str) -> Result<(), WorkspaceError> {
    let repo = meta::open_worktree(worktree)?;
    let meta = meta::read(&repo)?.unwrap_or_default();
    let target =
        repo.revparse_single(commit).and_then(|o| o.peel_to_commit()).git(|| format!("find commit {commit}"))?;
    let tree = target.tree().git(|| format!("read the tree of {commit}"))?;
    // Links are taken out of checkout's reach: an unignored link is "untracked" to it, and
    // nothing here may ever delete the user's data behind one.
    links::unmake(worktree, &meta.links)?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    let checked_out =
        repo.checkout_tree(tree.as_object(), Some(&mut checkout)).git(|| format!("check out the tree of {commit}"));
    // Put the links back even when the checkout failed half-way.
    links::make(worktree, &meta.links)?;
    checked_out?;
    let mut index = repo.index().git(|| "read the index".into())?;
    index.read_tree(&tree).git(|| format!("load the tree of {commit} into the index"))?;
    index.write().git(|| "write the index".into())
}

/// The commit the worktree's HEAD points at.
pub fn head_commit(worktree: &Path) -> Result<String, WorkspaceError> {
    let repo = meta::open_worktree(worktree)?;
    let head =
        repo.head().and_then(|h| h.peel_to_commit()).git(|| format!("resolve HEAD of {}", worktree.display()))?;
    Ok(head.id().to_string())
}

/// Whether the worktree's HEAD commit holds the same files as `commit` (equal trees).
pub fn head_has_tree_of(worktree: &Path, commit: &str) -> Result<bool, WorkspaceError> {
    let repo = meta::open_worktree(worktree)?;
    let head =
        repo.head().and_then(|h| h.peel_to_commit()).git(|| format!("resolve HEAD of {}", worktree.display()))?;
    let other =
        repo.revparse_single(commit).and_then(|o| o.peel_to_commit()).git(|| format!("find commit {commit}"))?;
    Ok(head.tree_id() == other.tree_id())
}

/// The commit a local branch points at; `None` when there is no such branch.
pub fn branch_head(project: &Path, branch: &str) -> Result<Option<String>, WorkspaceError> {
    let (repo, _) = open_main(project)?;
    let Ok(found) = repo.find_branch(branch, BranchType::Local) else {
        return Ok(None);
    };
    let commit = found.get().peel_to_commit().git(|| format!("resolve branch {branch}"))?;
    Ok(Some(commit.id().to_string()))
}

/// Paths that differ from HEAD (staged or not, untracked included; links and ignored files
/// not), sorted: for commit messages and reports.
pub fn diff_stat(worktree: &Path) -> Result<Vec<String>, WorkspaceError> {
    let repo = meta::open_worktree(worktree)?;
    let meta = meta::read(&repo)?.unwrap_or_default();
    changed_paths(&repo, &meta, worktree)
}

fn changed_paths(repo: &Repository, meta: &SessionMeta, worktree: &Path) -> Result<Vec<String>, WorkspaceError> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts)).git(|| format!("read the status of {}", worktree.display()))?;
    let mut paths: Vec<String> = statuses
        .iter()
        .filter_map(|entry| entry.path().ok().map(str::to_string))
        .filter(|path| !meta.is_link(Path::new(path)))
        .collect();
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// The repository's configured user, else `Revis <revis@localhost>`.
pub(super) fn signature(repo: &Repository) -> Result<Signature<'static>, WorkspaceError> {
    match repo.signature() {
        Ok(signature) => Ok(signature),
        Err(_) => Signature::now("Revis", "revis@localhost").git(|| "make a signature".into()),
    }
}

/// The worktree's changes against HEAD as a unified diff (new files included, links and
/// ignored files not), cut at `max_bytes`: what a coding agent or a human did, for the record.
pub fn diff_patch(worktree: &Path, max_bytes: usize) -> Result<String, WorkspaceError> {
    let repo = meta::open_worktree(worktree)?;
    let meta = meta::read(&repo)?.unwrap_or_default();
    let head = repo.head().and_then(|h| h.peel_to_tree()).git(|| format!("read HEAD of {}", worktree.display()))?;
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&head), Some(&mut opts))
        .git(|| format!("diff {}", worktree.display()))?;
    let skip = |delta: &git2::DiffDelta| {
        let path = delta.new_file().path().or_else(|| delta.old_file().path());
        path.is_some_and(|p| meta.is_link(p))
    };
    print_patch(&diff, max_bytes, &skip).git(|| format!("print the diff of {}", worktree.display()))
}

/// `diff` as a unified patch without the files `skip` names, cut at `max_bytes`.
fn print_patch(
    diff: &git2::Diff<'_>,
    max_bytes: usize,
    skip: &dyn Fn(&git2::DiffDelta) -> bool,
) -> Result<String, git2::Error> {
    let mut out = String::new();
    let mut truncated = false;
    diff.print(git2::DiffFormat::Patch, |delta, _hunk, line| {
        if skip(&delta) {
            return true;
        }
        if out.len() >= max_bytes {
            truncated = true;
            return false;
        }
        if matches!(line.origin(), '+' | '-' | ' ') {
            out.push(line.origin());
        }
        out.push_str(&String::from_utf8_lossy(line.content()));
        true
    })
    .or_else(|e| if truncated { Ok(()) } else { Err(e) })?;
    if truncated {
        out.push_str("\n… (diff cut)\n");
    }
    Ok(out)
}

/// A commit of the repository at `repo_dir` against its first parent as a unified diff, cut
/// at `max_bytes`, without the files for which `hidden` holds (their names included): an
/// iteration's change as a page shows it.
pub fn commit_patch(
    repo_dir: &Path,
    commit: &str,
    max_bytes: usize,
    hidden: &dyn Fn(&Path) -> bool,
) -> Result<String, WorkspaceError> {
    let repo = Repository::open(repo_dir).git(|| format!("open the repository {}", repo_dir.display()))?;
    let found =
        repo.revparse_single(commit).and_then(|o| o.peel_to_commit()).git(|| format!("find commit {commit}"))?;
    let tree = found.tree().git(|| format!("read the tree of {commit}"))?;
    let parent = match found.parent(0) {
        Ok(parent) => Some(parent.tree().git(|| format!("read the parent tree of {commit}"))?),
        Err(_) => None,
    };
    let diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&tree), None).git(|| format!("diff {commit}"))?;
    let skip =
        |delta: &git2::DiffDelta| [delta.old_file().path(), delta.new_file().path()].into_iter().flatten().any(hidden);
    print_patch(&diff, max_bytes, &skip).git(|| format!("print the diff of {commit}"))
}

/// The text of `path` in `commit` of the repository at `repo`, or `None` when the commit has
/// no such file (or it is not text).
pub fn file_at(repo: &Repository, commit: &str, path: &Path) -> Result<Option<String>, WorkspaceError> {
    let found =
        repo.revparse_single(commit).and_then(|o| o.peel_to_commit()).git(|| format!("find commit {commit}"))?;
    let tree = found.tree().git(|| format!("read the tree of {commit}"))?;
    let Ok(entry) = tree.get_path(path) else { return Ok(None) };
    let blob =
        entry.to_object(repo).and_then(|o| o.peel_to_blob()).git(|| format!("read {} at {commit}", path.display()))?;
    Ok(std::str::from_utf8(blob.content()).ok().map(str::to_string))
}
