//! What the model may see: `context.deny` globs with gitignore-like semantics, plus files that
//! are always hidden (`.git`, `.revis`, `.env`, `.env.*`), and the one entry point that turns a
//! path named by the model into a real path inside the worktree.
//!
//! A hidden path must be indistinguishable from a missing one, so every refusal for a denied
//! path uses the exact wording of "no such file" and nothing here ever reads a file's content.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::changes::{ChangeError, confine};

/// Names hidden whatever `context.deny` says: repository internals, Revis's own state and the
/// usual secret files. Without `/`, they match at any depth.
const ALWAYS_DENIED: &[&str] = &[".git", ".revis", ".env", ".env.*"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetyError {
    #[error("invalid context.deny pattern `{pattern}`: {reason}")]
    BadPattern { pattern: String, reason: String },
    /// `..`, absolute paths, symlinks that lead outside the worktree.
    #[error("path `{path}` is not allowed: {reason}")]
    Refused { path: String, reason: String },
    /// Used for missing *and* denied paths alike, so the model cannot tell them apart.
    #[error("no such file or directory: {path}")]
    NotFound { path: String },
    #[error("cannot resolve `{path}`: {message}")]
    Unavailable { path: String, message: String },
}

/// The compiled deny list. A path is denied when it, or any directory above it, matches.
#[derive(Debug, Clone)]
pub struct Deny {
    set: GlobSet,
}

impl Deny {
    /// Compile `patterns` (gitignore-like): `*` stays within a segment and `**` crosses them; a
    /// pattern without `/` matches a name at any depth; a leading `/` anchors at the root;
    /// `dir/` and `dir/**` hide `dir` and everything below it. `!` negation is not supported
    /// (hiding is never undone). Blank patterns and `#` comments are ignored.
    pub fn new(patterns: &[String]) -> Result<Self, SafetyError> {
        let mut builder = GlobSetBuilder::new();
        let all = ALWAYS_DENIED.iter().copied().chain(patterns.iter().map(String::as_str));
        for pattern in all {
            for glob in translate(pattern) {
                let compiled = GlobBuilder::new(&glob).literal_separator(true).build().map_err(|e| {
                    SafetyError::BadPattern { pattern: pattern.to_string(), reason: e.kind().to_string() }
                })?;
                builder.add(compiled);
            }
        }
        let set = builder
            .build()
            .map_err(|e| SafetyError::BadPattern { pattern: patterns.join(", "), reason: e.to_string() })?;
        Ok(Self { set })
    }

    /// Whether `rel` (relative to the worktree root) is hidden, itself or through a parent.
    /// Paths that are not plain relative paths (`..`, absolute) count as denied: callers must
    /// confine first, and erring on the hidden side is the safe answer.
    pub fn is_denied(&self, rel: &Path) -> bool {
        let mut prefix = PathBuf::new();
        for component in rel.components() {
            match component {
                Component::Normal(part) => prefix.push(part),
                Component::CurDir => continue,
                Component::ParentDir | Component::RootDir | Component::Prefix(_) => return true,
            }
            if self.set.is_match(&prefix) {
                return true;
            }
        }
        false
    }
}

/// The globs one gitignore-like pattern stands for (empty for blanks and comments).
fn translate(pattern: &str) -> Vec<String> {
    let trimmed = pattern.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Vec::new();
    }
    let (anchored, body) = match trimmed.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    // `dir/` names the directory; the parent-walk in `is_denied` hides what is below it.
    let body = body.trim_end_matches('/');
    if body.is_empty() {
        return Vec::new();
    }
    // gitignore: a slash anywhere but at the end anchors the pattern at the root.
    let anchored = anchored || body.contains('/');
    let glob = if anchored || body.starts_with("**") { body.to_string() } else { format!("**/{body}") };
    let mut globs = vec![glob.clone()];
    // `dir/**` matches only what is below `dir`; the directory itself is hidden too, so that it
    // does not even show up in a listing.
    if let Some(dir) = glob.strip_suffix("/**")
        && !dir.is_empty()
    {
        globs.push(dir.to_string());
    }
    globs
}

/// The real path of `rel` inside `root`, refusing escapes (`..`, absolute paths, symlinks that
/// lead outside) and denied paths, either as named or where a symlink leads. The path need not
/// exist; callers that need it to exist report [`SafetyError::NotFound`] for a missing one too.
pub fn resolve(root: &Path, rel: &str, deny: &Deny) -> Result<PathBuf, SafetyError> {
    let real = confine(root, rel).map_err(|e| match e {
        ChangeError::OutsideWorktree { path, reason } => SafetyError::Refused { path, reason },
        other => SafetyError::Unavailable { path: rel.to_string(), message: other.to_string() },
    })?;
    let not_found = || SafetyError::NotFound { path: rel.to_string() };
    if deny.is_denied(Path::new(rel)) {
        return Err(not_found());
    }
    let canonical_root =
        root.canonicalize().map_err(|e| SafetyError::Unavailable { path: rel.to_string(), message: e.to_string() })?;
    // `confine` proved the real path is inside; where a symlink led matters as much as the name.
    match real.strip_prefix(&canonical_root) {
        Ok(inside) if !deny.is_denied(inside) => Ok(real),
        _ => Err(not_found()),
    }
}

/// Like [`resolve`], but the path must exist (a missing path reads exactly like a denied one).
pub fn resolve_existing(root: &Path, rel: &str, deny: &Deny) -> Result<PathBuf, SafetyError> {
    let real = resolve(root, rel, deny)?;
    if std::fs::symlink_metadata(&real).is_err() {
        return Err(SafetyError::NotFound { path: rel.to_string() });
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
    fn deny_semantics_follow_gitignore() {
        // (pattern, path, denied)
        let table: &[(&str, &str, bool)] = &[
            ("secret.txt", "secret.txt", true),
            ("secret.txt", "a/b/secret.txt", true),
            ("secret.txt", "secret.txt.bak", false),
            ("*.key", "k.key", true),
            ("*.key", "deep/dir/k.key", true),
            ("*.key", "k.keys", false),
            ("data/*.csv", "data/train.csv", true),
            ("data/*.csv", "data/sub/train.csv", false),
            ("data/*.csv", "other/data/train.csv", false),
            ("data/**", "data", true),
            ("data/**", "data/a/b/c.csv", true),
            ("data/**", "database.txt", false),
            ("data/**", "x/data/a.csv", false),
            ("data/", "data/a.csv", true),
            ("data/", "x/data/a.csv", true),
            ("data/", "data", true),
            ("/top.txt", "top.txt", true),
            ("/top.txt", "sub/top.txt", false),
            ("**/cache/*.bin", "a/b/cache/x.bin", true),
            ("**/cache/*.bin", "cache/x.bin", true),
            ("**/cache/*.bin", "cache/sub/x.bin", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/**/z", "b/a/z", false),
            ("secrets", "secrets/deep/file.yaml", true),
            ("conf?.yaml", "conf1.yaml", true),
            ("conf?.yaml", "conf/.yaml", false),
        ];
        for (pattern, path, want) in table {
            let got = deny(&[pattern]).is_denied(Path::new(path));
            assert_eq!(got, *want, "pattern {pattern:?} on {path:?}");
        }
    }

    #[test]
    fn some_files_are_always_denied() {
        let d = deny(&[]);
        for hidden in [".git", ".git/config", ".revis/state.db", ".env", ".env.local", "sub/.env", "sub/.git/HEAD"] {
            assert!(d.is_denied(Path::new(hidden)), "{hidden}");
        }
        for visible in ["train.py", ".envrc", "env/.gitignore", "configs/base.yaml", ".", ""] {
            assert!(!d.is_denied(Path::new(visible)), "{visible}");
        }
        assert!(d.is_denied(Path::new("./.env")));
        assert!(d.is_denied(Path::new("../x")), "non-relative paths count as denied");
    }

    #[test]
    fn blank_and_comment_patterns_are_ignored_and_bad_ones_reported() {
        let d = deny(&["", "  ", "# note"]);
        assert!(!d.is_denied(Path::new("note")));
        let err = Deny::new(&["a[".to_string()]);
        assert!(matches!(err, Err(SafetyError::BadPattern { .. })), "{err:?}");
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
            assert!(matches!(err, Err(SafetyError::Refused { .. })), "{rel}: {err:?}");
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
            assert_eq!(err, Err(SafetyError::NotFound { path: rel.to_string() }), "{rel}");
        }
        let root = dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolve(dir.path(), "alias.txt", &d), Ok(root.join("ok.txt")));
    }
}
