//! The compiled form of `context.deny` (and `context.frozen`, which uses the same matcher):
//! globs with gitignore-like semantics, plus files that are always hidden (`.git`, `.revis`,
//! `.env`, `.env.*`). It matches names only; where a name really leads is `resolve`'s concern.

use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::PolicyError;

/// Names hidden whatever `context.deny` says: repository internals, Revis's own state and the
/// usual secret files. Without `/`, they match at any depth.
const ALWAYS_DENIED: &[&str] = &[".git", ".revis", ".env", ".env.*"];

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
    pub fn new(patterns: &[String]) -> Result<Self, PolicyError> {
        let mut builder = GlobSetBuilder::new();
        let all = ALWAYS_DENIED.iter().copied().chain(patterns.iter().map(String::as_str));
        for pattern in all {
            for glob in translate(pattern) {
                let compiled = GlobBuilder::new(&glob).literal_separator(true).build().map_err(|e| {
                    PolicyError::BadPattern { pattern: pattern.to_string(), reason: e.kind().to_string() }
                })?;
                builder.add(compiled);
            }
        }
        let set = builder
            .build()
            .map_err(|e| PolicyError::BadPattern { pattern: patterns.join(", "), reason: e.to_string() })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn deny(patterns: &[&str]) -> Deny {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Deny::new(&owned).unwrap_or_else(|e| panic!("{e}"))
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
        assert!(matches!(err, Err(PolicyError::BadPattern { .. })), "{err:?}");
    }
}
