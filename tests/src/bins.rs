//! Finds the `revis` and `revisd` binaries built by `cargo build --workspace --bins`.
//! Must not build them: a missing binary is reported with the command that builds it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static CHOSEN: OnceLock<PathBuf> = OnceLock::new();

/// Use `dir` for every binary from now on (the benchmarks measure release builds).
pub fn set_bin_dir(dir: PathBuf) {
    let _ = CHOSEN.set(dir);
}

/// The directory holding `revis` and `revisd` (e.g. `target/debug`).
///
/// The directory given to `set_bin_dir`, else, in order: the test executable's `../..` (it lives in `target/<profile>/deps`), then
/// `$CARGO_TARGET_DIR/debug`, then this workspace's `target/debug`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = CHOSEN.get() {
        return dir.clone();
    }
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent().and_then(Path::parent)
    {
        candidates.push(dir.to_path_buf());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let target = PathBuf::from(target);
        let target = if target.is_absolute() { target } else { workspace_root().join(target) };
        candidates.push(target.join("debug"));
    }
    candidates.push(workspace_root().join("target").join("debug"));
    for dir in &candidates {
        if dir.join("revis").is_file() && dir.join("revisd").is_file() {
            return dir.clone();
        }
    }
    panic!(
        "revis/revisd binaries not found (looked in {candidates:?}): \
         run `cargo build --workspace --bins` first"
    );
}

pub fn revis_bin() -> PathBuf {
    bin_dir().join("revis")
}

pub fn revisd_bin() -> PathBuf {
    bin_dir().join("revisd")
}

/// The repository root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}
