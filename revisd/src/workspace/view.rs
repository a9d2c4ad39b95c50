//! The coding agent's view of a session worktree: a separate directory holding a copy of the
//! files the agent may see, as the single commit of a fresh repository, and the way its edits
//! come back.
//!
//! Hidden files must be absent, not merely unreadable: an agent lists directories, runs
//! `git status` and `git log -p`, and builds repository maps from tracked names. So the view
//! is not a worktree of the project's repository (whose index and history hold the hidden
//! files) but a new repository with no history, in a directory whose path says nothing of the
//! project, holding no links into it (linked data directories and `.venv` stay behind: the
//! caller verifies the change in the real worktree afterwards).
//!
//! Must not: write anywhere in the session worktree except through `bring_back`, or write
//! through a symbolic link there (a link may lead into the user's data).

use std::fs;
use std::path::{Component, Path, PathBuf};

use git2::{IndexAddOption, Repository, Signature, StatusOptions};

use super::{GitContext, WorkspaceError, meta};

/// A built view: where it is and the commit the agent started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentView {
    pub dir: PathBuf,
    pub base: String,
    /// Files copied in (for the record and for tests).
    pub files: usize,
    /// Paths of the worktree that were left out (hidden files, the session's links, links that
    /// lead outside or to a hidden file, submodules): a change may not create, replace or
    /// write under any of them, since the agent never saw what is there.
    pub left_out: Vec<PathBuf>,
}

/// What the agent did to one path of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewChange {
    /// Added or modified: the view's content goes to the worktree.
    Written(String),
    Deleted(String),
}

impl ViewChange {
    pub fn path(&self) -> &str {
        match self {
            ViewChange::Written(path) | ViewChange::Deleted(path) => path,
        }
    }
}

/// Makes `dir` a fresh view of `worktree`: every tracked or untracked-but-not-ignored file
/// except those `hidden` says no to, the session's links and submodules. Whatever `dir` held
/// before is removed first.
pub fn build(worktree: &Path, dir: &Path, hidden: &dyn Fn(&Path) -> bool) -> Result<AgentView, WorkspaceError> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| WorkspaceError::io("remove the old agent view", dir, e))?;
    }
    fs::create_dir_all(dir).map_err(|e| WorkspaceError::io("create the agent view", dir, e))?;
    let repo = meta::open_worktree(worktree)?;
    let session_meta = meta::read(&repo)?.unwrap_or_default();
    let mut files = 0;
    let mut left_out: Vec<PathBuf> = session_meta.links.iter().map(|l| PathBuf::from(&l.path)).collect();
    left_out.extend(submodules(&repo, worktree)?);
    for rel in visible_files(&repo, worktree)? {
        let rel_path = Path::new(&rel);
        if session_meta.is_link(rel_path) || hidden(rel_path) {
            left_out.push(rel_path.to_path_buf());
            continue;
        }
        if copy_entry(worktree, dir, rel_path, hidden)? {
            files += 1;
        } else {
            left_out.push(rel_path.to_path_buf());
        }
    }
    let base = commit_view(dir, &repo)?;
    Ok(AgentView { dir: dir.to_path_buf(), base, files, left_out })
}

/// The submodules' paths (index entries of mode 160000): their checkouts are not copied.
fn submodules(repo: &Repository, worktree: &Path) -> Result<Vec<PathBuf>, WorkspaceError> {
    let index = repo.index().git(|| format!("read the index of {}", worktree.display()))?;
    Ok(index
        .iter()
        .filter(|entry| entry.mode == 0o160000)
        .filter_map(|entry| String::from_utf8(entry.path).ok().map(PathBuf::from))
        .collect())
}

/// Tracked files (index entries that are not submodules) plus untracked, not ignored ones.
fn visible_files(repo: &Repository, worktree: &Path) -> Result<Vec<String>, WorkspaceError> {
    let index = repo.index().git(|| format!("read the index of {}", worktree.display()))?;
    let mut paths: Vec<String> = index
        .iter()
        .filter(|entry| entry.mode != 0o160000)
        .filter_map(|entry| String::from_utf8(entry.path).ok())
        .collect();
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_ignored(false).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut opts)).git(|| format!("read the status of {}", worktree.display()))?;
    paths.extend(
        statuses
            .iter()
            .filter(|s| s.status().contains(git2::Status::WT_NEW))
            .filter_map(|s| s.path().ok().map(str::to_string)),
    );
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Copies one entry; a symbolic link is kept only when it points, relatively, at a visible
/// place inside the tree. Returns whether anything was copied.
fn copy_entry(
    from_root: &Path,
    to_root: &Path,
    rel: &Path,
    hidden: &dyn Fn(&Path) -> bool,
) -> Result<bool, WorkspaceError> {
    let source = from_root.join(rel);
    let Ok(meta) = fs::symlink_metadata(&source) else {
        return Ok(false); // deleted in the worktree and not staged: not part of the state
    };
    let target = to_root.join(rel);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| WorkspaceError::io("create a directory of the agent view", parent, e))?;
    }
    if meta.file_type().is_symlink() {
        let link = fs::read_link(&source).map_err(|e| WorkspaceError::io("read a link", &source, e))?;
        match link_inside(rel, &link) {
            Some(resolved) if !hidden(&resolved) => {
                std::os::unix::fs::symlink(&link, &target)
                    .map_err(|e| WorkspaceError::io("make a link in the agent view", &target, e))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    } else if meta.is_file() {
        fs::copy(&source, &target).map_err(|e| WorkspaceError::io("copy into the agent view", &source, e))?;
        Ok(true)
    } else {
        Ok(false)
    }
}

/// Where a relative link at `rel` points, as a path relative to the root, if it stays inside.
fn link_inside(rel: &Path, link: &Path) -> Option<PathBuf> {
    if link.has_root() {
        return None;
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    let parent = rel.parent().unwrap_or(Path::new(""));
    for component in parent.components().chain(link.components()) {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// What an agent's own test runs leave behind; never part of a change.
const VIEW_EXCLUDES: &str = "__pycache__/\n*.py[cod]\n.pytest_cache/\n.mypy_cache/\n.ruff_cache/\n.aider*\n";

/// `git init` plus one commit of everything copied, so the agent sees a clean repository. The
/// project's own `info/exclude` applies in the view too, with the caches of test runs.
fn commit_view(dir: &Path, project: &Repository) -> Result<String, WorkspaceError> {
    let repo = Repository::init(dir).git(|| format!("create a repository in {}", dir.display()))?;
    let own = fs::read_to_string(project.commondir().join("info/exclude")).unwrap_or_default();
    let exclude = repo.path().join("info/exclude");
    if let Some(parent) = exclude.parent() {
        fs::create_dir_all(parent).map_err(|e| WorkspaceError::io("create the view's info dir", parent, e))?;
    }
    fs::write(&exclude, format!("{own}\n{VIEW_EXCLUDES}"))
        .map_err(|e| WorkspaceError::io("write the view's exclude file", &exclude, e))?;
    let mut index = repo.index().git(|| "read the agent view's index".into())?;
    // FORCE: a file the project tracks although its .gitignore matches it is still part of
    // the state the agent starts from.
    index.add_all(["*"], IndexAddOption::FORCE, None).git(|| "stage the agent view".into())?;
    index.write().git(|| "write the agent view's index".into())?;
    let tree_id = index.write_tree().git(|| "write the agent view's tree".into())?;
    let tree = repo.find_tree(tree_id).git(|| format!("find tree {tree_id}"))?;
    let signature = Signature::now("Revis", "revis@localhost").git(|| "make a signature".into())?;
    let id = repo
        .commit(Some("HEAD"), &signature, &signature, "The files of the experiment", &tree, &[])
        .git(|| format!("commit in {}", dir.display()))?;
    Ok(id.to_string())
}

/// What changed in the view since `view.base`: edits, new files (not ignored by the view's
/// own .gitignore) and deletions, whether or not the agent staged or committed them.
pub fn changes(view: &AgentView) -> Result<Vec<ViewChange>, WorkspaceError> {
    let repo = Repository::open(&view.dir).git(|| format!("open the agent view {}", view.dir.display()))?;
    // The agent can write the view's .git/config: a `core.worktree` there must not move the diff.
    repo.set_workdir(&view.dir, false).git(|| format!("use {} as the work tree", view.dir.display()))?;
    let base = repo
        .revparse_single(&view.base)
        .and_then(|o| o.peel_to_tree())
        .git(|| format!("read the agent view's first commit {}", view.base))?;
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true).include_typechange(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&base), Some(&mut opts))
        .git(|| format!("diff the agent view {}", view.dir.display()))?;
    let mut out = Vec::new();
    for delta in diff.deltas() {
        let path = |file: git2::DiffFile<'_>| file.path().and_then(Path::to_str).map(str::to_string);
        match delta.status() {
            git2::Delta::Deleted => out.extend(path(delta.old_file()).map(ViewChange::Deleted)),
            git2::Delta::Added | git2::Delta::Untracked | git2::Delta::Modified | git2::Delta::Typechange => {
                out.extend(path(delta.new_file()).map(ViewChange::Written))
            }
            git2::Delta::Renamed | git2::Delta::Copied => {
                if delta.status() == git2::Delta::Renamed {
                    out.extend(path(delta.old_file()).map(ViewChange::Deleted));
                }
                out.extend(path(delta.new_file()).map(ViewChange::Written));
            }
            _ => {}
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    out.dedup();
    Ok(out)
}

/// Applies `changes` from the view to the worktree: deletions first (so a directory can become
/// a file), then writes. Everything is checked before anything is written, and each write again
/// just before it happens. Refused: a path that is not plain, that passes through or is a
/// symbolic link of the worktree, that lies in a submodule, that touches a path the view left
/// out, or a link the agent made (a link could lead training to a hidden or frozen file under a
/// visible name).
pub fn bring_back(view: &AgentView, worktree: &Path, changes: &[ViewChange]) -> Result<(), WorkspaceError> {
    let refuse = |path: &str, reason: String| WorkspaceError::BadLink { entry: path.to_string(), reason };
    for change in changes {
        let rel = Path::new(change.path());
        if let Some(problem) = unsafe_target(worktree, rel).or_else(|| left_out_problem(view, rel)) {
            return Err(refuse(change.path(), problem));
        }
        if let ViewChange::Written(path) = change {
            let source = view.dir.join(path);
            let meta = fs::symlink_metadata(&source)
                .map_err(|e| WorkspaceError::io("read a file the agent wrote", &source, e))?;
            if !meta.is_file() {
                return Err(refuse(path, "the agent made a link or a special file; only plain files come back".into()));
            }
        }
    }
    let mut deleted: Vec<&str> =
        changes.iter().filter(|c| matches!(c, ViewChange::Deleted(_))).map(ViewChange::path).collect();
    deleted.sort_by_key(|p| std::cmp::Reverse(Path::new(p).components().count()));
    for path in deleted {
        let target = worktree.join(path);
        match fs::remove_file(&target) {
            Ok(()) => prune_empty_parents(worktree, &target),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WorkspaceError::io("delete a file the agent deleted", &target, e)),
        }
    }
    for change in changes {
        let ViewChange::Written(path) = change else { continue };
        let rel = Path::new(path);
        if let Some(problem) = unsafe_target(worktree, rel) {
            return Err(refuse(path, problem));
        }
        let (source, target) = (view.dir.join(path), worktree.join(path));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| WorkspaceError::io("create a directory", parent, e))?;
        }
        match fs::symlink_metadata(&target) {
            // A directory the deletions emptied, now a file.
            Ok(m) if m.is_dir() => {
                fs::remove_dir(&target).map_err(|e| WorkspaceError::io("replace a directory by a file", &target, e))?
            }
            Ok(_) => fs::remove_file(&target).map_err(|e| WorkspaceError::io("replace a file", &target, e))?,
            Err(_) => {}
        }
        fs::copy(&source, &target).map_err(|e| WorkspaceError::io("copy the agent's file", &source, e))?;
    }
    Ok(())
}

/// Removes the directories a deletion left empty, up to (not including) the root.
fn prune_empty_parents(root: &Path, removed: &Path) {
    let mut dir = removed.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Why a change at `rel` would touch what the agent never saw.
fn left_out_problem(view: &AgentView, rel: &Path) -> Option<String> {
    view.left_out
        .iter()
        .find(|out| rel.starts_with(out) || out.starts_with(rel))
        .map(|out| format!("{} was not in the agent's view (hidden, a link or a submodule)", out.display()))
}

/// Why writing `rel` under `root` is not safe: it is not a plain relative path, it or one of
/// its parent directories in the worktree is a symbolic link (a linked data directory, say),
/// or a parent directory is a repository of its own (a submodule).
fn unsafe_target(root: &Path, rel: &Path) -> Option<String> {
    let mut at = root.to_path_buf();
    let parts: Vec<Component<'_>> = rel.components().collect();
    for (i, component) in parts.iter().enumerate() {
        let Component::Normal(part) = component else {
            return Some("not a plain path inside the project".into());
        };
        at.push(part);
        if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(format!(
                "{} is a link in the session worktree; Revis does not write through it",
                at.display()
            ));
        }
        if i + 1 < parts.len() && at.join(".git").exists() {
            return Some(format!("{} is a repository of its own (a submodule)", at.display()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::test_repo::{TestRepo, read, write};

    fn session(repo: &TestRepo) -> crate::workspace::SessionWorkspace {
        crate::workspace::create(&repo.root, "s", &[]).unwrap()
    }

    fn hide_secrets(path: &Path) -> bool {
        path.starts_with("secrets") || path == Path::new(".env")
    }

    #[test]
    fn hidden_files_are_absent_from_the_view_and_its_history() {
        let repo = TestRepo::new();
        repo.write("train.py", "LR = 0.1\n");
        repo.write("secrets/key.txt", "CANARY\n");
        repo.commit("add files");
        let ws = session(&repo);
        write(&ws.worktree, "notes.md", "untracked but visible\n");
        let dir = tempfile::tempdir().unwrap();
        let view_dir = dir.path().join("view");
        let view = build(&ws.worktree, &view_dir, &hide_secrets).unwrap();
        assert_eq!(read(&view_dir, "train.py"), "LR = 0.1\n");
        assert_eq!(read(&view_dir, "notes.md"), "untracked but visible\n");
        assert!(!view_dir.join("secrets").exists());
        let view_repo = Repository::open(&view_dir).unwrap();
        let head = view_repo.head().unwrap().peel_to_commit().unwrap();
        assert_eq!(head.parent_count(), 0, "the view has no history");
        let names = crate::workspace::test_repo::tree_paths(&view_repo, &view.base);
        assert!(names.iter().all(|n| !n.contains("secrets")), "{names:?}");
        assert!(changes(&view).unwrap().is_empty());
    }

    #[test]
    fn edits_additions_and_deletions_come_back() {
        let repo = TestRepo::new();
        repo.write("train.py", "LR = 0.1\n");
        repo.write("old.py", "x = 1\n");
        repo.commit("add files");
        let ws = session(&repo);
        let dir = tempfile::tempdir().unwrap();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        write(&view.dir, "train.py", "LR = 0.05\n");
        write(&view.dir, "models/new.py", "y = 2\n");
        fs::remove_file(view.dir.join("old.py")).unwrap();
        let found = changes(&view).unwrap();
        assert_eq!(
            found,
            vec![
                ViewChange::Written("models/new.py".into()),
                ViewChange::Deleted("old.py".into()),
                ViewChange::Written("train.py".into()),
            ]
        );
        bring_back(&view, &ws.worktree, &found).unwrap();
        assert_eq!(read(&ws.worktree, "train.py"), "LR = 0.05\n");
        assert_eq!(read(&ws.worktree, "models/new.py"), "y = 2\n");
        assert!(!ws.worktree.join("old.py").exists());
    }

    #[test]
    fn a_committed_change_still_counts() {
        let repo = TestRepo::new();
        repo.write("train.py", "LR = 0.1\n");
        repo.commit("add files");
        let ws = session(&repo);
        let dir = tempfile::tempdir().unwrap();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        write(&view.dir, "train.py", "LR = 0.2\n");
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qam", "agent commit"])
            .current_dir(&view.dir)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(changes(&view).unwrap(), vec![ViewChange::Written("train.py".into())]);
    }

    #[test]
    fn writing_through_a_worktree_link_is_refused() {
        let repo = TestRepo::new();
        let ws = session(&repo);
        assert!(fs::symlink_metadata(ws.worktree.join("data")).unwrap().file_type().is_symlink());
        let dir = tempfile::tempdir().unwrap();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        assert!(!view.dir.join("data").exists(), "linked entries stay behind");
        assert!(!view.dir.join(".venv").exists());
        write(&view.dir, "data/evil.txt", "x\n");
        // Ignored by the project's .gitignore, so not a change at all...
        assert!(changes(&view).unwrap().is_empty());
        // ...and refused if it were one.
        let forced = [ViewChange::Written("data/evil.txt".into())];
        assert!(bring_back(&view, &ws.worktree, &forced).is_err());
        assert!(!repo.root.join("data/evil.txt").exists());
    }

    #[test]
    fn the_executable_bit_and_a_directory_that_becomes_a_file_come_back() {
        use std::os::unix::fs::PermissionsExt;
        let repo = TestRepo::new();
        repo.write("tools/run.sh", "echo old\n");
        repo.write("models/a.py", "a\n");
        repo.commit("tools");
        let ws = session(&repo);
        let dir = tempfile::tempdir().unwrap();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        write(&view.dir, "tools/run.sh", "echo new\n");
        fs::set_permissions(view.dir.join("tools/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::remove_dir_all(view.dir.join("models")).unwrap();
        write(&view.dir, "models", "now a file\n");
        let found = changes(&view).unwrap();
        bring_back(&view, &ws.worktree, &found).unwrap();
        let mode = fs::metadata(ws.worktree.join("tools/run.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
        assert_eq!(read(&ws.worktree, "models"), "now a file\n");
    }

    #[test]
    fn a_link_the_agent_makes_and_a_path_left_out_are_refused() {
        let repo = TestRepo::new();
        repo.write("secrets/holdout.csv", "labels\n");
        repo.commit("holdout");
        let ws = session(&repo);
        let dir = tempfile::tempdir().unwrap();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        assert!(view.left_out.iter().any(|p| p == Path::new("secrets/holdout.csv")));
        std::os::unix::fs::symlink("secrets/holdout.csv", view.dir.join("labels.csv")).unwrap();
        let found = changes(&view).unwrap();
        assert_eq!(found, vec![ViewChange::Written("labels.csv".into())]);
        assert!(bring_back(&view, &ws.worktree, &found).is_err());
        assert!(fs::symlink_metadata(ws.worktree.join("labels.csv")).is_err());
        // Writing where a hidden file is (the agent cannot know what it replaces) is refused.
        write(&view.dir, "secrets/holdout.csv", "mine\n");
        let forced = [ViewChange::Written("secrets/holdout.csv".into())];
        assert!(bring_back(&view, &ws.worktree, &forced).is_err());
        assert_eq!(read(&ws.worktree, "secrets/holdout.csv"), "labels\n");
        // And so is replacing a session link (`data`) by a file.
        write(&view.dir, "data", "not a directory\n");
        assert!(bring_back(&view, &ws.worktree, &[ViewChange::Written("data".into())]).is_err());
        assert!(fs::symlink_metadata(ws.worktree.join("data")).unwrap().file_type().is_symlink());
    }

    #[test]
    fn caches_of_the_agents_test_runs_are_not_changes() {
        let repo = TestRepo::new();
        let ws = session(&repo);
        let dir = tempfile::tempdir().unwrap();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        write(&view.dir, "__pycache__/train.cpython-311.pyc", "x");
        write(&view.dir, ".pytest_cache/v/cache", "x");
        assert!(changes(&view).unwrap().is_empty());
    }

    /// `cargo test -p revisd --release --lib view_benchmark -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark: prints figures"]
    fn view_benchmark() {
        let repo = TestRepo::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        // 2,000 source files of 1 KB in 40 directories, and 50 MB of tracked binaries.
        for d in 0..40 {
            for f in 0..50 {
                let text: String = (0..40).map(|i| format!("x_{i} = {}\n", d * f + i)).collect();
                repo.write(&format!("pkg{d:02}/mod{f:02}.py"), &text);
            }
        }
        for i in 0..50 {
            let data = crate::test_data::incompressible(1024 * 1024, &mut seed);
            fs::create_dir_all(repo.root.join("assets")).unwrap();
            fs::write(repo.root.join(format!("assets/blob{i:02}.bin")), data).unwrap();
        }
        repo.commit("big");
        let ws = session(&repo);
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let view = build(&ws.worktree, &dir.path().join("view"), &hide_secrets).unwrap();
        let built = started.elapsed();
        write(&view.dir, "pkg07/mod07.py", "changed\n");
        let started = std::time::Instant::now();
        let found = changes(&view).unwrap();
        let diffed = started.elapsed();
        let started = std::time::Instant::now();
        bring_back(&view, &ws.worktree, &found).unwrap();
        let brought = started.elapsed();
        println!(
            "view of {} files (2,000 x 1 KB + 50 x 1 MB): build {built:?}, changes {diffed:?}, bring back {brought:?}",
            view.files
        );
    }

    #[test]
    fn links_are_kept_only_inside_and_visible() {
        assert_eq!(link_inside(Path::new("a/b"), Path::new("../c")), Some(PathBuf::from("c")));
        assert_eq!(link_inside(Path::new("a"), Path::new("../c")), None);
        assert_eq!(link_inside(Path::new("a"), Path::new("/etc/passwd")), None);
    }
}
