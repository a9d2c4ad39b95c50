//! The worktrees of a session's slots when it runs several trials at once. Each is a detached
//! checkout beside the session's worktree (`<name>.slot<k>`), with the same links into the
//! project; its trials' commits go onto the session branch in the order they are made, and the
//! session's own worktree follows the branch so it always shows the branch head.

use std::path::{Path, PathBuf};

use git2::{Oid, WorktreePruneOptions};

use super::commit::{restore_tree, signature, stage_all};
use super::meta;
use super::root::open_main;
use super::session::admin_name;
use super::{GitContext, WorkspaceError, worktree_path};

/// `<name>.slot<k>`: a session name never holds a `.`, so this never collides with a session.
fn slot_name(name: &str, index: u32) -> String {
    format!("{name}.slot{index}")
}

/// Where slot `index` of session `name` keeps its checkout.
pub fn slot_path(project: &Path, name: &str, index: u32) -> PathBuf {
    worktree_path(project, &slot_name(name, index))
}

/// Makes slot `index`'s worktree at `commit` (detached), with the session worktree's links.
/// Nothing happens when it exists; one a crash left half made, or a leftover admin entry of a
/// deleted one, is made again.
pub fn create_slot(project: &Path, name: &str, index: u32, commit: &str) -> Result<PathBuf, WorkspaceError> {
    let (repo, root) = open_main(project)?;
    let path = slot_path(&root, name, index);
    // Its metadata is written last: a slot that has it is whole.
    let whole = path.join(".git").exists()
        && git2::Repository::open(&path).is_ok_and(|r| r.head().is_ok() && meta::read(&r).is_ok_and(|m| m.is_some()));
    if whole {
        return Ok(path);
    }
    let admin = admin_name(&slot_name(name, index));
    let admin_dir = repo.commondir().join("worktrees").join(&admin);
    if admin_dir.exists() {
        std::fs::remove_dir_all(&admin_dir).map_err(|e| WorkspaceError::io("remove", &admin_dir, e))?;
    }
    if path.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&path).map_err(|e| WorkspaceError::io("remove", &path, e))?;
    }
    let target =
        repo.revparse_single(commit).and_then(|o| o.peel_to_commit()).git(|| format!("find commit {commit}"))?;
    add_detached(&admin_dir, &path, target.id())?;
    restore_tree(&path, &target.id().to_string())?;
    let wt_repo = meta::open_worktree(&path)?;
    let session = meta::open_worktree(&worktree_path(&root, name))?;
    let session_meta = meta::read(&session)?.unwrap_or_default();
    let links = super::links::make(&path, &session_meta.links)?;
    meta::write(&wt_repo, &meta::SessionMeta { links, ..session_meta })?;
    Ok(path)
}

/// Registers `path` as a linked worktree detached at `commit`, in git's own layout
/// (gitrepository-layout(5): `worktrees/<admin>/{gitdir,commondir,HEAD}` and the worktree's
/// `.git` file), as `git worktree add --detach` does before its checkout. Not libgit2's
/// `git_worktree_add`: that one only adds a worktree on a branch, and both adding it and
/// deleting the branch afterwards open every other worktree of the repository to check that
/// the branch is not checked out there, which made the slots of a wide session cost O(n²).
fn add_detached(admin_dir: &Path, path: &Path, commit: Oid) -> Result<(), WorkspaceError> {
    let write =
        |file: PathBuf, text: String| std::fs::write(&file, text).map_err(|e| WorkspaceError::io("write", &file, e));
    std::fs::create_dir_all(admin_dir).map_err(|e| WorkspaceError::io("create", admin_dir, e))?;
    std::fs::create_dir_all(path).map_err(|e| WorkspaceError::io("create", path, e))?;
    write(admin_dir.join("HEAD"), format!("{commit}\n"))?;
    write(admin_dir.join("commondir"), "../..\n".to_string())?;
    write(admin_dir.join("gitdir"), format!("{}\n", path.join(".git").display()))?;
    write(path.join(".git"), format!("gitdir: {}\n", admin_dir.display()))
}

/// Makes a slot's files, index and HEAD those of `commit` (a trial about to run there).
pub fn check_out_detached(worktree: &Path, commit: &str) -> Result<(), WorkspaceError> {
    restore_tree(worktree, commit)?;
    let repo = meta::open_worktree(worktree)?;
    let id = Oid::from_str(commit).git(|| format!("parse commit id {commit}"))?;
    repo.set_head_detached(id).git(|| format!("detach HEAD of {} at {commit}", worktree.display()))
}

/// Commits what the slot's worktree holds onto `branch` (its head as the parent: commits stay
/// in the order they are made) and leaves the slot detached at that commit. The branch moves
/// only if it is still where it was read, so nothing made elsewhere is ever lost. The
/// session's worktree (where the branch is checked out) is not touched: its files are brought
/// to the best state when the session ends, a checkout per trial saved.
pub fn commit_onto_branch(slot: &Path, branch: &str, message: &str) -> Result<String, WorkspaceError> {
    let repo = meta::open_worktree(slot)?;
    let tree_id = stage_all(&repo, slot)?;
    let tree = repo.find_tree(tree_id).git(|| format!("find tree {tree_id}"))?;
    let refname = format!("refs/heads/{branch}");
    let parent =
        repo.find_reference(&refname).and_then(|r| r.peel_to_commit()).git(|| format!("resolve branch {branch}"))?;
    let signature = signature(&repo)?;
    let id = repo.commit(None, &signature, &signature, message, &tree, &[&parent]).git(|| "write the commit".into())?;
    repo.reference_matching(&refname, id, true, parent.id(), "revis: trial commit")
        .git(|| format!("move branch {branch} (it was moved by someone else)"))?;
    repo.set_head_detached(id).git(|| format!("detach HEAD of {}", slot.display()))?;
    Ok(id.to_string())
}

/// Removes every slot worktree of session `name` (and its admin entry). Repeatable.
pub fn remove_slots(project: &Path, name: &str) -> Result<(), WorkspaceError> {
    let (repo, root) = open_main(project)?;
    let dir = worktree_path(&root, name);
    let parent = dir.parent().map(Path::to_path_buf).unwrap_or(root.clone());
    let prefix = format!("{name}.slot");
    if let Ok(entries) = std::fs::read_dir(&parent) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.strip_prefix(&prefix).is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_digit())) {
                let path = entry.path();
                std::fs::remove_dir_all(&path).map_err(|e| WorkspaceError::io("remove", &path, e))?;
            }
        }
    }
    let admin_prefix = admin_name(&prefix);
    let names = repo.worktrees().git(|| "list worktrees".into())?;
    let admins: Vec<String> =
        (0..names.len()).filter_map(|i| names.get(i).ok().flatten().map(str::to_string)).collect();
    for admin in admins.iter().filter(|n| n.starts_with(admin_prefix.as_str())) {
        if let Ok(wt) = repo.find_worktree(admin) {
            let mut opts = WorktreePruneOptions::new();
            opts.valid(true).working_tree(false);
            wt.prune(Some(&mut opts)).git(|| format!("prune worktree {admin}"))?;
        }
    }
    Ok(())
}

/// Removes the lock files a daemon killed in the middle of a git operation left in session
/// `name`'s worktrees (their `HEAD.lock`, `index.lock`) and on its branch. Only the session's
/// own actor writes there, and it calls this before its first step, so any lock is stale. The
/// user's checkout and other branches are never touched. Returns the locks removed.
pub fn clear_stale_locks(project: &Path, name: &str, branch: &str) -> Result<Vec<PathBuf>, WorkspaceError> {
    let (repo, _) = open_main(project)?;
    let git_dir = repo.commondir().to_path_buf();
    let session_admin = admin_name(name);
    let slot_prefix = admin_name(&format!("{name}.slot"));
    let mut candidates = vec![git_dir.join("refs/heads").join(format!("{branch}.lock"))];
    if let Ok(entries) = std::fs::read_dir(git_dir.join("worktrees")) {
        for entry in entries.flatten() {
            let admin = entry.file_name().to_string_lossy().into_owned();
            if admin == session_admin || admin.starts_with(&slot_prefix) {
                candidates.extend(["HEAD.lock", "index.lock"].map(|f| entry.path().join(f)));
            }
        }
    }
    let mut removed = Vec::new();
    for lock in candidates {
        match std::fs::remove_file(&lock) {
            Ok(()) => removed.push(lock),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WorkspaceError::io("remove", &lock, e)),
        }
    }
    Ok(removed)
}
