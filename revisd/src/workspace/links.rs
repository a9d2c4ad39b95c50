//! Linking what training needs but git does not track (data dirs, `.venv`, `.env`) from the
//! project into a session worktree.
//!
//! A symlink to a directory is a file to git, so the user's `data/` pattern does not hide the
//! link `data`: links of ignored entries are added, anchored (`/data`), to the repository's
//! `info/exclude`. That file is shared with the user's checkout, where those entries are
//! ignored already, so nothing changes there. Explicit links of entries the user does NOT
//! ignore are kept out of that shared file (it would hide them from the user's `git status`);
//! commits and restores skip them through the session metadata instead.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use git2::Repository;

use super::meta::LinkRecord;
use super::{GitContext, WorkspaceError};

/// Never linked: git's own dir and the directory holding the worktrees themselves.
const NEVER: [&str; 2] = [".git", ".revis"];

/// A link to make, and whether the user's ignore rules already cover it.
pub(crate) struct Planned {
    pub record: LinkRecord,
    pub ignored: bool,
}

/// Every ignored top-level entry of the project plus the explicit `link` entries, checked
/// before anything is created.
pub(crate) fn plan(repo: &Repository, project: &Path, explicit: &[String]) -> Result<Vec<Planned>, WorkspaceError> {
    let mut seen = BTreeSet::new();
    let mut planned = Vec::new();
    let entries = std::fs::read_dir(project).map_err(|e| WorkspaceError::io("list", project, e))?;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| WorkspaceError::io("list", project, e))?;
        // Names that are not UTF-8 cannot be written to info/exclude reliably; skip them.
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        if NEVER.contains(&name.as_str()) {
            continue;
        }
        let ignored = repo.status_should_ignore(Path::new(&name)).git(|| format!("check whether {name} is ignored"))?;
        if ignored && seen.insert(name.clone()) {
            planned.push(Planned { record: record(project, &name), ignored });
        }
    }
    for entry in explicit {
        let path = normalize(entry)?;
        if !project.join(&path).exists() {
            return Err(WorkspaceError::MissingLink { entry: entry.clone(), path: project.join(&path) });
        }
        if seen.insert(path.clone()) {
            let ignored =
                repo.status_should_ignore(Path::new(&path)).git(|| format!("check whether {path} is ignored"))?;
            planned.push(Planned { record: record(project, &path), ignored });
        }
    }
    Ok(planned)
}

/// Creates the links that do not exist in the worktree yet. A path the worktree already has
/// (tracked content, or an earlier link covering it) is skipped. Returns the links made.
pub(crate) fn make(worktree: &Path, links: &[LinkRecord]) -> Result<Vec<LinkRecord>, WorkspaceError> {
    let mut made = Vec::new();
    for link in links {
        let at = worktree.join(&link.path);
        if at.symlink_metadata().is_ok() || at.exists() {
            continue;
        }
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).map_err(|e| WorkspaceError::io("create", parent, e))?;
        }
        std::os::unix::fs::symlink(&link.target, &at).map_err(|e| WorkspaceError::io("link", &at, e))?;
        made.push(link.clone());
    }
    Ok(made)
}

/// Removes the links (only symlinks: anything else at that path is not ours).
pub(crate) fn unmake(worktree: &Path, links: &[LinkRecord]) -> Result<(), WorkspaceError> {
    for link in links {
        let at = worktree.join(&link.path);
        if at.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&at).map_err(|e| WorkspaceError::io("unlink", &at, e))?;
        }
    }
    Ok(())
}

/// Appends the patterns missing from the repository's shared `info/exclude`.
pub(crate) fn exclude(repo: &Repository, patterns: &[String]) -> Result<(), WorkspaceError> {
    let info = repo.commondir().join("info");
    let path = info.join("exclude");
    let current = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(WorkspaceError::io("read", &path, e)),
    };
    let present: BTreeSet<&str> = current.lines().map(str::trim).collect();
    let missing: Vec<&String> = patterns.iter().filter(|p| !present.contains(p.as_str())).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut text = current.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# Added by revis: session worktrees and their links.\n");
    for pattern in missing {
        text.push_str(pattern);
        text.push('\n');
    }
    std::fs::create_dir_all(&info).map_err(|e| WorkspaceError::io("create", &info, e))?;
    std::fs::write(&path, text).map_err(|e| WorkspaceError::io("write", &path, e))
}

/// The anchored pattern that matches exactly this entry, file, dir or symlink.
pub(crate) fn anchored(path: &str) -> String {
    let escaped: String = path
        .chars()
        .flat_map(|c| {
            let special = matches!(c, '*' | '?' | '[' | '\\' | '!' | '#' | ' ');
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect();
    format!("/{escaped}")
}

fn record(project: &Path, path: &str) -> LinkRecord {
    LinkRecord { path: path.to_string(), target: project.join(path) }
}

/// `data/raw/` → `data/raw`; absolute paths, `..` and git's own dirs are refused.
fn normalize(entry: &str) -> Result<String, WorkspaceError> {
    let bad = |reason: &str| WorkspaceError::BadLink { entry: entry.to_string(), reason: reason.into() };
    let mut parts = Vec::new();
    for component in Path::new(entry).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or_else(|| bad("not valid UTF-8"))?),
            Component::CurDir => {}
            _ => {
                return Err(bad("must be a relative path inside the project, without '..'"));
            }
        }
    }
    match parts.first() {
        None => Err(bad("empty path")),
        Some(first) if NEVER.contains(first) => Err(bad("git's and revis's own dirs are never linked")),
        Some(_) => Ok(parts.join("/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_entries_are_normalized_or_refused() {
        assert_eq!(normalize("data/raw/").expect("ok"), "data/raw");
        assert_eq!(normalize("./.venv").expect("ok"), ".venv");
        for bad in ["", "/etc", "../x", "a/../../b", ".git", ".revis/x"] {
            assert!(normalize(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(anchored("data"), "/data");
        assert_eq!(anchored("a*b [1]"), "/a\\*b\\ \\[1]");
    }
}
