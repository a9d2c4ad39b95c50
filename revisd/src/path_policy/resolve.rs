//! The one entry point that turns a path named from outside (by the model, in a decision) into
//! a real path inside the worktree that is neither denied as named nor where a symlink leads.
//!
//! A hidden path must be indistinguishable from a missing one, so every refusal for a denied
//! path uses the exact wording of "no such file".

use std::path::{Path, PathBuf};

use super::{Deny, PolicyError, confine};

/// The real path of `rel` inside `root`, refusing escapes (`..`, absolute paths, symlinks that
/// lead outside) and denied paths, either as named or where a symlink leads. The path need not
/// exist; callers that need it to exist report [`PolicyError::NotFound`] for a missing one too.
pub fn resolve(root: &Path, rel: &str, deny: &Deny) -> Result<PathBuf, PolicyError> {
    let real = confine(root, rel)?;
    let not_found = || PolicyError::NotFound { path: rel.to_string() };
    if deny.is_denied(Path::new(rel)) {
        return Err(not_found());
    }
    let canonical_root =
        root.canonicalize().map_err(|e| PolicyError::Unavailable { path: rel.to_string(), message: e.to_string() })?;
    // `confine` proved the real path is inside; where a symlink led matters as much as the name.
    match real.strip_prefix(&canonical_root) {
        Ok(inside) if !deny.is_denied(inside) => Ok(real),
        _ => Err(not_found()),
    }
}

/// Like [`resolve`], but the path must exist (a missing path reads exactly like a denied one).
pub fn resolve_existing(root: &Path, rel: &str, deny: &Deny) -> Result<PathBuf, PolicyError> {
    let real = resolve(root, rel, deny)?;
    if std::fs::symlink_metadata(&real).is_err() {
        return Err(PolicyError::NotFound { path: rel.to_string() });
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(patterns: &[&str]) -> Deny {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Deny::new(&owned).unwrap_or_else(|e| panic!("{e}"))
    }

    fn mkfile(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write: {e}"));
    }

    #[test]
    fn denied_paths_read_like_missing_ones() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        mkfile(dir.path(), "secrets/key.yaml", "k: 1\n");
        mkfile(dir.path(), ".env", "TOKEN=x\n");
        let d = deny(&["secrets/"]);
        for rel in ["secrets/key.yaml", ".env", "secrets", "missing.yaml"] {
            let err = resolve_existing(dir.path(), rel, &d).err();
            assert_eq!(err.map(|e| e.to_string()), Some(format!("no such file or directory: {rel}")), "{rel}");
        }
        assert!(resolve_existing(dir.path(), "secrets/nope.yaml", &d).is_err());
    }

    #[test]
    fn escapes_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        mkfile(outside.path(), "o.txt", "outside\n");
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap_or_else(|e| panic!("{e}"));
        let d = deny(&[]);
        let abs = outside.path().join("o.txt").display().to_string();
        for rel in ["../o.txt", "a/../../o.txt", abs.as_str(), "out/o.txt", "out"] {
            let err = resolve(dir.path(), rel, &d);
            assert!(matches!(err, Err(PolicyError::Refused { .. })), "{rel}: {err:?}");
        }
    }

    #[test]
    fn symlinks_into_denied_paths_are_hidden() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        mkfile(dir.path(), "private/token.txt", "canary\n");
        mkfile(dir.path(), "ok.txt", "fine\n");
        std::os::unix::fs::symlink("private/token.txt", dir.path().join("link.txt")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("private", dir.path().join("door")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink("ok.txt", dir.path().join("alias.txt")).unwrap_or_else(|e| panic!("{e}"));
        let d = deny(&["private/**"]);
        for rel in ["link.txt", "door/token.txt", "door"] {
            let err = resolve(dir.path(), rel, &d);
            assert_eq!(err, Err(PolicyError::NotFound { path: rel.to_string() }), "{rel}");
        }
        let root = dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolve(dir.path(), "alias.txt", &d), Ok(root.join("ok.txt")));
    }
}
