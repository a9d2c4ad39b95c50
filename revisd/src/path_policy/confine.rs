//! Resolving a path named relative to the worktree without letting it escape: no absolute
//! paths, no `..`, no symlink that leads outside. Deny lists are checked by `resolve`.

use std::path::{Component, Path, PathBuf};

use super::PolicyError;

/// The real location of `rel` inside `worktree`. The path need not exist yet: the deepest
/// existing ancestor is canonicalized (resolving symlinks) and must stay inside the worktree.
pub fn confine(worktree: &Path, rel: &str) -> Result<PathBuf, PolicyError> {
    let outside = |reason: &str| PolicyError::Refused { path: rel.to_string(), reason: reason.to_string() };
    if rel.trim().is_empty() {
        return Err(outside("the path is empty"));
    }
    let rel_path = Path::new(rel);
    let mut rest = Vec::new();
    for component in rel_path.components() {
        match component {
            Component::Normal(part) => rest.push(part.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => return Err(outside("`..` is not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(outside("absolute paths are not allowed"));
            }
        }
    }
    let root = worktree.canonicalize().map_err(|e| PolicyError::Unavailable {
        path: rel.to_string(),
        message: format!("cannot resolve the worktree {}: {e}", worktree.display()),
    })?;

    // Walk down while the path exists, so a symlinked directory or file is resolved.
    let mut resolved = root.clone();
    let mut remaining = rest.into_iter().peekable();
    while let Some(part) = remaining.peek() {
        let candidate = resolved.join(part);
        if std::fs::symlink_metadata(&candidate).is_err() {
            break;
        }
        // A dangling symlink cannot be proven to stay inside, so it is refused.
        resolved = candidate.canonicalize().map_err(|_| outside("it is a symlink whose target does not exist"))?;
        // Every step must stay inside, not only the end: a path that leaves through one link
        // and comes back through another depends on a directory someone else may control.
        if !resolved.starts_with(&root) {
            return Err(outside("it resolves outside the worktree through a symlink"));
        }
        remaining.next();
    }
    Ok(remaining.fold(resolved, |path, part| path.join(part)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree() -> tempfile::TempDir {
        tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
    }

    #[test]
    fn refuses_parent_and_absolute_paths() {
        let dir = worktree();
        for bad in ["../x", "configs/../../x", "/etc/passwd", ""] {
            let err = confine(dir.path(), bad);
            assert!(matches!(err, Err(PolicyError::Refused { .. })), "{bad}: {err:?}");
        }
    }

    #[test]
    fn accepts_existing_and_new_paths_inside() {
        let dir = worktree();
        std::fs::create_dir(dir.path().join("configs")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("configs/a.yaml"), "a: 1\n").unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let got = confine(dir.path(), "./configs/a.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, root.join("configs/a.yaml"));
        let new = confine(dir.path(), "configs/new/b.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new, root.join("configs/new/b.yaml"));
    }

    #[test]
    fn refuses_symlinks_that_lead_outside() {
        let dir = worktree();
        let outside = worktree();
        std::fs::write(outside.path().join("secret.yaml"), "a: 1\n").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(outside.path(), dir.path().join("escape")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), dir.path().join("s.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        for bad in ["escape/secret.yaml", "escape/new.yaml", "s.yaml"] {
            let err = confine(dir.path(), bad);
            assert!(matches!(err, Err(PolicyError::Refused { .. })), "{bad}: {err:?}");
        }
    }

    /// Found by the path_confinement fuzz target: leaving through one link and coming back
    /// through another ended inside, so only the end was checked.
    #[test]
    fn refuses_paths_that_leave_and_come_back() {
        let dir = worktree();
        let outside = worktree();
        std::fs::create_dir(dir.path().join("configs")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("configs/base.yaml"), "a: 1\n").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link_out")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(dir.path().join("configs"), outside.path().join("back"))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = confine(dir.path(), "link_out/back/base.yaml");
        assert!(matches!(err, Err(PolicyError::Refused { .. })), "{err:?}");
    }

    #[test]
    fn follows_symlinks_that_stay_inside() {
        let dir = worktree();
        std::fs::write(dir.path().join("real.yaml"), "a: 1\n").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("real.yaml", dir.path().join("link.yaml")).unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let got = confine(dir.path(), "link.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, root.join("real.yaml"));
    }
}
