//! `path_confinement`: `Deny::new`, `Deny::is_denied`, `resolve` and `resolve_existing` never
//! panic on any deny patterns and model-named path, against one fixed worktree that holds
//! files, nested directories, always-hidden files (`.env`, `.git/`), `secrets/` and `private/` (denied when the input says so), and
//! symlinks pointing inside, into denied places, outside (relative and absolute), nowhere, and
//! in a loop; the directory outside holds symlinks back in. For every `Ok(path)`:
//! - it is inside the canonical worktree root;
//! - neither the name asked for nor the real path is denied, itself or through a parent, and
//!   no component is one of the always-hidden names;
//! - walking the name from the root never passes through a symlink that leads outside;
//! - `resolve_existing` only returns paths that exist.
//!
//! Errors are only `Refused` or `NotFound` (the root always resolves). Input: deny patterns one
//! per line, the path on the last line; `fuzz/dicts/path_confinement.dict` holds the fixture's
//! names and typical patterns.
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use revisd::path_policy::{Deny, PolicyError, resolve, resolve_existing};

/// A fixed worktree and a sibling "outside" directory, built once per process.
struct Fixture {
    root: PathBuf,
    outside: PathBuf,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn build() -> std::io::Result<Fixture> {
    let base = tempfile::Builder::new().prefix("revis-fuzz-paths-").tempdir()?.keep();
    let root = base.join("wt");
    let outside = base.join("outside");
    let files = [
        "train.py",
        "configs/base.yaml",
        "configs/nested/deep/x.yaml",
        ".env",
        ".env.local",
        "sub/.env",
        ".git/config",
        ".revis/state.db",
        "secrets/key.yaml",
        "private/token.txt",
        "data/train.csv",
    ];
    for file in files {
        let path = root.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, "x: 1\n")?;
    }
    std::fs::create_dir_all(&outside)?;
    std::fs::write(outside.join("o.txt"), "outside\n")?;
    let links: [(&str, PathBuf); 11] = [
        ("link_in", "train.py".into()),
        ("link_dir", "configs".into()),
        ("link_private", "private/token.txt".into()),
        ("link_secrets", "secrets".into()),
        ("link_out", "../outside".into()),
        ("link_out_file", "../outside/o.txt".into()),
        ("link_abs_out", outside.join("o.txt")),
        ("link_dangling", "nope".into()),
        ("link_loop", "link_loop".into()),
        ("link_up", "..".into()),
        ("link_self", ".".into()),
    ];
    for (name, target) in links {
        std::os::unix::fs::symlink(target, root.join(name))?;
    }
    std::os::unix::fs::symlink("../wt/configs", outside.join("back"))?;
    std::os::unix::fs::symlink("../wt/secrets", outside.join("back_secret"))?;
    let root = root.canonicalize()?;
    let outside = outside.canonicalize()?;
    Ok(Fixture { root, outside })
}

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| match build() {
        Ok(fixture) => fixture,
        Err(e) => panic!("cannot build the fuzz worktree: {e}"),
    })
}

fn always_hidden(name: &str) -> bool {
    matches!(name, ".git" | ".revis" | ".env") || name.starts_with(".env.")
}

/// Walks `rel` from the root the way the kernel would open it; fails on the first existing
/// prefix whose real location is outside the root.
fn check_walk(root: &Path, rel: &str) {
    let mut current = root.to_path_buf();
    for component in Path::new(rel).components() {
        let Component::Normal(part) = component else { continue };
        current.push(part);
        if std::fs::symlink_metadata(&current).is_err() {
            return;
        }
        match current.canonicalize() {
            Ok(real) => assert!(
                real.starts_with(root),
                "{rel:?} was accepted but its prefix {} leads outside, to {}",
                current.display(),
                real.display()
            ),
            Err(e) => panic!("{rel:?} was accepted but its prefix {} does not resolve: {e}", current.display()),
        }
    }
}

fn check(fix: &Fixture, deny: &Deny, rel: &str, existing: bool) {
    let _ = deny.is_denied(Path::new(rel));
    let result = if existing { resolve_existing(&fix.root, rel, deny) } else { resolve(&fix.root, rel, deny) };
    let real = match result {
        Ok(real) => real,
        Err(PolicyError::Refused { .. } | PolicyError::NotFound { .. }) => return,
        Err(e) => panic!("unexpected error kind for {rel:?}: {e:?}"),
    };
    assert!(real.starts_with(&fix.root), "{rel:?} resolved outside the root: {}", real.display());
    assert!(!real.starts_with(&fix.outside), "{rel:?} resolved into the outside directory");
    let inside = real.strip_prefix(&fix.root).unwrap_or(&real);
    assert!(!deny.is_denied(Path::new(rel)), "{rel:?} is denied as named but was resolved");
    assert!(!deny.is_denied(inside), "{rel:?} resolved to denied {}", inside.display());
    for component in Path::new(rel).components().chain(inside.components()) {
        if let Component::Normal(name) = component {
            let name = name.to_string_lossy();
            assert!(!always_hidden(&name), "{rel:?} resolved through always-hidden {name:?}");
        }
    }
    check_walk(&fix.root, rel);
    if existing {
        assert!(std::fs::symlink_metadata(&real).is_ok(), "resolve_existing({rel:?}) gave a missing path");
    }
}

fuzz_target!(|data: &[u8]| {
    let fix = fixture();
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Input: deny patterns one per line, then the path asked for on the last line.
    let mut lines: Vec<&str> = text.split('\n').collect();
    let rel = lines.pop().unwrap_or_default();
    let patterns: Vec<String> = lines.into_iter().map(str::to_string).collect();
    let Ok(deny) = Deny::new(&patterns) else { return };
    check(fix, &deny, rel, false);
    check(fix, &deny, rel, true);
});
